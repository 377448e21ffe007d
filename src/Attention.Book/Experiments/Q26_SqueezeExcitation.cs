using System.Diagnostics;
using System.Globalization;
using Attention.Autograd;
using Attention.Data;
using Attention.Interpret;
using Attention.Mechanisms;
using Attention.Models;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q26 · Squeeze-and-Excitation. The same small CNN (three 3×3 conv stages) on real MNIST digits, plain, with an SE block
/// after every stage (r = 4), and with ECA (Wang et al., 2020) instead: accuracy, parameters, training time and the cost of a
/// forward pass. Then the gates themselves: per stage, how much of their variance lies between classes (Hu et al. report
/// class-agnostic excitations early and class-specific ones late), and the class-mean gates drawn per channel.
/// Page: docs/answers/26-squeeze-and-excitation.md
/// </summary>
public sealed class Q26_SqueezeExcitation : Experiment
{
    public override int Question => 26;
    public override string Title => "Squeeze-and-Excitation (SE) attention";

    private static readonly int[] Channels = [16, 32, 64];
    private const int Reduction = 4;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        int trainCount = context.Full ? 8000 : 2000, testCount = context.Full ? 2000 : 500, epochs = context.Full ? 8 : 3;
        var (train, test) = VisionLab.Digits(trainCount, testCount);
        var kinds = new[] { (CnnAttention.None, "CNN"), (CnnAttention.SqueezeExcitation, $"SE-CNN (r = {Reduction})"), (CnnAttention.Eca, "ECA-CNN") };

        var table = new Table($"The same CNN (channels {string.Join("-", Channels)}) on {train.Count:N0} MNIST digits, {epochs} epochs, tested on {test.Count:N0} held-out digits",
                              "model", "parameters", "attention parameters", "test accuracy", "training time (s)", "forward, 100 digits (ms)");
        var models = new Dictionary<CnnAttention, SmallCnn>();
        long plainParams = 0;
        double plainForward = 0;
        int done = 0;
        foreach (var (kind, name) in kinds)
        {
            var model = new SmallCnn(new SmallCnnOptions { Channels = Channels, Attention = kind, Reduction = Reduction }, new Rng((ulong)context.Seed + 26));
            var report = VisionLab.Train(model, train, epochs, (ulong)context.Seed, context, 0.85 * done / 3, 0.85 * (done + 1) / 3, name);
            double accuracy = ImageClassification.Accuracy(model, test);
            var (batch, _) = test.Batch(Enumerable.Range(0, 100).ToArray());
            double forwardMs = Measure.BestMilliseconds(() => { using var _ = Var.NoGrad(); model.Forward(Var.Constant(batch)); }, 5);
            if (kind == CnnAttention.None) { plainParams = model.ParameterCount; plainForward = forwardMs; }
            long extra = model.ParameterCount - plainParams;
            table.AddRow(name, model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture), extra.ToString("N0", CultureInfo.InvariantCulture), $"{accuracy:0.0000}", $"{report.Seconds:0.0}", $"{forwardMs:0.0}");
            string key = kind switch { CnnAttention.None => "cnn", CnnAttention.SqueezeExcitation => "se", _ => "eca" };
            result.Metrics[$"{key}_accuracy"] = accuracy;
            result.Metrics[$"{key}_parameters"] = model.ParameterCount;
            result.Metrics[$"{key}_forward_ms_per_100"] = forwardMs;
            if (kind != CnnAttention.None) result.Metrics[$"{key}_forward_time_ratio"] = forwardMs / plainForward;
            models[kind] = model;
            done++;
        }
        result.Tables.Add(table);

        // SE's extra parameters follow from the block: per stage 2C²/r + C/r + C (two linear layers with biases)
        long seExpected = Channels.Sum(c => 2L * c * (c / Reduction) + c / Reduction + c);
        result.Check("SE adds exactly Σ(2C²/r + C/r + C) parameters, ECA only k per stage",
                     result.Metrics["se_parameters"] - plainParams == seExpected
                     && result.Metrics["eca_parameters"] - plainParams == Channels.Sum(c => EfficientChannelAttention.KernelSizeFor(c)),
                     $"SE +{result.Metrics["se_parameters"] - plainParams} (formula {seExpected}), ECA +{result.Metrics["eca_parameters"] - plainParams}");
        double floor = context.Full ? 0.95 : 0.8;
        result.Check($"all three models learn the digits (test accuracy above {floor:0.00})",
                     kinds.All(k => result.Metrics[$"{(k.Item1 == CnnAttention.None ? "cnn" : k.Item1 == CnnAttention.SqueezeExcitation ? "se" : "eca")}_accuracy"] > floor),
                     string.Join(", ", kinds.Select(k => $"{k.Item2} {result.Metrics[$"{(k.Item1 == CnnAttention.None ? "cnn" : k.Item1 == CnnAttention.SqueezeExcitation ? "se" : "eca")}_accuracy"]:0.000}")));
        result.Check("a forward pass with SE costs less than 1.5× the plain CNN's (timing)", result.Metrics["se_forward_time_ratio"] < 1.5,
                     $"{result.Metrics["se_forward_time_ratio"]:0.00}×", timing: true);

        // ---- the gates: class-specific or not, per stage ----
        context.Report(0.88, "gates per class");
        var gatesTable = new Table("The gates on the test digits, per stage: share of their variance that lies between classes (0 = every class gets the same gates, 1 = the gates tell the class; 0 also when the gates do not vary at all), mean, and how much they vary from image to image",
                                   "model", "stage (channels, resolution)", "between-class share", "mean gate", "spread across images (sd per channel, mean)");
        var shares = new Dictionary<(CnnAttention, int), double>();
        var classMeans = new Dictionary<int, float[,]>();
        foreach (var kind in new[] { CnnAttention.SqueezeExcitation, CnnAttention.Eca })
        {
            var model = models[kind];
            var gates = Channels.Select(c => new float[test.Count * c]).ToArray();
            ImageClassification.Predict(model, test, 100, (_, _, _) => { }, (start, n) =>
            {
                for (int s = 0; s < Channels.Length; s++)
                    model.ChannelGates(s)!.AsSpan()[..(n * Channels[s])].CopyTo(gates[s].AsSpan(start * Channels[s]));
            });
            var labels = Enumerable.Range(0, test.Count).Select(test.Label).ToArray();
            for (int s = 0; s < Channels.Length; s++)
            {
                double share = VisionProbes.BetweenClassShare(gates[s], labels, Channels[s]);
                shares[(kind, s)] = share;
                double mean = gates[s].Average(v => (double)v), sd = VisionProbes.AcrossImageSpread(gates[s], test.Count, Channels[s]);
                int side = 28 >> s;
                gatesTable.AddRow(kind == CnnAttention.Eca ? "ECA" : "SE", $"{s + 1} ({Channels[s]}, {side}×{side})", $"{share:0.000}", $"{mean:0.000}", $"{sd:0.000}");
                result.Metrics[$"{(kind == CnnAttention.Eca ? "eca" : "se")}_between_class_share_stage{s + 1}"] = share;
                result.Metrics[$"{(kind == CnnAttention.Eca ? "eca" : "se")}_gate_spread_stage{s + 1}"] = sd;
                if (kind == CnnAttention.SqueezeExcitation)
                {
                    var m = new float[10, Channels[s]];
                    var counts = new int[10];
                    for (int i = 0; i < test.Count; i++)
                    {
                        counts[labels[i]]++;
                        for (int c = 0; c < Channels[s]; c++) m[labels[i], c] += gates[s][i * Channels[s] + c];
                    }
                    for (int k = 0; k < 10; k++)
                        for (int c = 0; c < Channels[s]; c++) m[k, c] /= Math.Max(1, counts[k]);
                    classMeans[s] = m;
                }
            }
        }
        result.Tables.Add(gatesTable);
        double first = shares[(CnnAttention.SqueezeExcitation, 0)], last = shares[(CnnAttention.SqueezeExcitation, Channels.Length - 1)];
        result.Check("SE's gates are more class-specific in the last stage than in the first (Hu et al.'s observation)", last > first,
                     $"between-class share {first:0.000} at stage 1, {last:0.000} at stage {Channels.Length}");

        var digitLabels = Enumerable.Range(0, 10).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        foreach (int s in new[] { 0, Channels.Length - 1 })
        {
            string path = context.FigurePath($"q26-se-gates-stage{s + 1}.png");
            var chLabels = Enumerable.Range(0, Channels[s]).Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Charts.Heatmap(path, classMeans[s], $"SE stage {s + 1}: mean gate per class (row) and channel (column)", digitLabels, chLabels, "channel", "digit class");
            result.Figures.Add(new Figure(path, $"SE gates at stage {s + 1}, averaged over the test digits of each class: " +
                                                (s == 0 ? "columns that look alike down the rows are class-agnostic." : "rows that differ are class-specific."))
                               { Heatmap = classMeans[s], RowLabels = digitLabels, ColumnLabels = chLabels });
        }

        result.Notes.Add($"SmallCnn: per stage conv 3×3 (padding 1) → ReLU → attention → 2×2 max-pool (not after the last), then global average pooling and a linear head; " +
                         $"SE with r = {Reduction}, ECA with k = ψ(C) = {string.Join(", ", Channels.Select(c => EfficientChannelAttention.KernelSizeFor(c)))}. Adam, lr 6e-3 with cosine decay, batch 16, seed {context.Seed}.");
        result.Notes.Add("Timing columns are wall-clock on a shared machine: read the ratios between rows (measured in one process), not the absolute values.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}; load average at the end {VisionLab.LoadAverage()}.");
        return result;
    }
}
