using System.Diagnostics;
using System.Globalization;
using Attention.Data;
using Attention.Interpret;
using Attention.Models;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q25 · Spatial and channel attention. CBAM's two halves (Woo et al., 2018) in the same small CNN on cluttered MNIST (a real
/// digit placed at random on a larger canvas with fragments of other digits around it): no attention, the channel module
/// alone, the spatial module alone, and both in sequence. Accuracy, and where the spatial maps put their mass: the share
/// inside the digit's box, against the box's share of the canvas (chance) and the share of all ink that is the digit's.
/// Page: docs/answers/25-spatial-and-channel-attention.md
/// </summary>
public sealed class Q25_SpatialAndChannelAttention : Experiment
{
    public override int Question => 25;
    public override string Title => "Spatial attention and channel attention";

    private static readonly int[] Channels = [16, 32, 64];
    private const int Canvas = 36, Fragments = 4, FragmentSize = 6;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        int trainCount = context.Full ? 5000 : 1500, testCount = context.Full ? 2000 : 400, epochs = context.Full ? 6 : 4;
        var (trainCanvases, testCanvases) = VisionLab.Cluttered(trainCount, testCount, Canvas, Fragments, FragmentSize);
        var train = ImageSet.From(trainCanvases);
        var test = ImageSet.From(testCanvases);

        // reference levels on the test canvases: the box's share of the area, and the digit's share of all ink
        double chance = 0, inkShare = 0;
        for (int i = 0; i < testCanvases.Count; i++)
        {
            var box = testCanvases.Box(i);
            chance += (double)box.Area / (Canvas * Canvas);
            inkShare += VisionProbes.MassInBox(testCanvases.Image(i), Canvas, Canvas, box, Canvas);
        }
        chance /= testCanvases.Count; inkShare /= testCanvases.Count;
        result.Metrics["box_area_share"] = chance;
        result.Metrics["ink_share_in_box"] = inkShare;

        var kinds = new[] { (CnnAttention.None, "none", "no attention"), (CnnAttention.CbamChannel, "channel", "channel only"),
                            (CnnAttention.CbamSpatial, "spatial", "spatial only"), (CnnAttention.Cbam, "cbam", "channel → spatial (CBAM)") };
        var table = new Table($"Cluttered MNIST ({Canvas}×{Canvas} canvas, {Fragments} fragments of {FragmentSize}×{FragmentSize}), {train.Count:N0} training canvases, {epochs} epochs, {test.Count:N0} test canvases",
                              "attention", "parameters", "test accuracy", "spatial mass in box, stage 1", "stage 2", "stage 3");
        var maps = new Dictionary<CnnAttention, SmallCnn>();
        int done = 0;
        foreach (var (kind, key, name) in kinds)
        {
            var model = new SmallCnn(new SmallCnnOptions { Channels = Channels, Attention = kind, Reduction = 4, SpatialKernel = 7 }, new Rng((ulong)context.Seed + 25));
            VisionLab.Train(model, train, epochs, (ulong)context.Seed, context, 0.9 * done / kinds.Length, 0.9 * (done + 1) / kinds.Length, name, 4e-3f);
            double accuracy = ImageClassification.Accuracy(model, test);
            result.Metrics[$"{key}_accuracy"] = accuracy;
            var cells = new List<object> { name, model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture), $"{accuracy:0.0000}" };
            bool spatial = kind is CnnAttention.CbamSpatial or CnnAttention.Cbam;
            var share = new double[Channels.Length];
            if (spatial)
            {
                ImageClassification.Predict(model, test, 100, (_, _, _) => { }, (start, n) =>
                {
                    for (int s = 0; s < Channels.Length; s++)
                    {
                        var m = model.SpatialMap(s)!;
                        int side = m.Dim(1);
                        var span = m.AsSpan();
                        for (int i = 0; i < n; i++)
                            share[s] += VisionProbes.MassInBox(span.Slice(i * side * side, side * side), side, side, testCanvases.Box(start + i), Canvas);
                    }
                });
                for (int s = 0; s < Channels.Length; s++)
                {
                    share[s] /= test.Count;
                    result.Metrics[$"{key}_mass_in_box_stage{s + 1}"] = share[s];
                    cells.Add($"{share[s]:0.000}");
                }
                maps[kind] = model;
            }
            else cells.AddRange(["–", "–", "–"]);
            table.AddRow([.. cells]);
            done++;
        }
        result.Tables.Add(table);

        double floor = context.Full ? 0.5 : 0.3;
        result.Check($"every variant learns the cluttered digits (test accuracy above {floor:0.00}; chance 0.10)",
                     kinds.All(k => result.Metrics[$"{k.Item2}_accuracy"] > floor),
                     string.Join(", ", kinds.Select(k => $"{k.Item3} {result.Metrics[$"{k.Item2}_accuracy"]:0.000}")));
        foreach (var key in new[] { "spatial", "cbam" })
        {
            int best = Enumerable.Range(1, Channels.Length).MaxBy(s => result.Metrics[$"{key}_mass_in_box_stage{s}"]);
            double top = result.Metrics[$"{key}_mass_in_box_stage{best}"];
            result.Check($"{(key == "cbam" ? "CBAM's" : "the spatial-only")} map puts more of its mass inside the digit's box than a uniform map would (best stage)",
                         top > chance, $"stage {best}: {top:0.000} against chance {chance:0.000}");
        }
        result.Notes.Add($"Reference levels on the test canvases: the digit's box covers {chance:0.000} of the canvas on average (chance for a uniform map); " +
                         $"{inkShare:0.000} of all ink is inside the box (a map that simply copied the ink would score that).");

        // figures: the spatial maps of CBAM at the first and last stage over one canvas per class, the box outlined
        var picks = Enumerable.Range(0, 10).Select(k => Enumerable.Range(0, test.Count).First(i => test.Label(i) == k)).ToArray();
        var cbam = maps[CnnAttention.Cbam];
        var (batch, _) = test.Batch(picks);
        using (Attention.Autograd.Var.NoGrad()) cbam.Forward(Attention.Autograd.Var.Constant(batch));
        foreach (int s in new[] { 0, Channels.Length - 1 })
        {
            var m = cbam.SpatialMap(s)!;
            int side = m.Dim(1);
            var panels = picks.Select((idx, i) => new OverlayPanel(VisionLab.Grid(test.Image(idx), Canvas),
                                                                   VisionLab.Grid(m.AsSpan().Slice(i * side * side, side * side), side),
                                                                   $"{test.Label(idx)}", Box(testCanvases.Box(idx)))).ToList();
            result.Figures.Add(VisionLab.Overlay(context, $"q25-cbam-spatial-stage{s + 1}.png", $"CBAM spatial map, stage {s + 1} ({side}×{side}), digit box in cyan", panels,
                $"CBAM's spatial attention at stage {s + 1} ({side}×{side}) over one test canvas per class, each map scaled to its own range; the cyan box is the digit."));
        }

        result.Notes.Add($"SmallCnn channels {string.Join("-", Channels)}: conv 3×3 → ReLU → attention → 2×2 max-pool per stage (stage 1 at {Canvas}×{Canvas}, stage 2 at {Canvas / 2}×{Canvas / 2}, stage 3 at {Canvas / 4}×{Canvas / 4}), " +
                         $"global average pooling, linear head. Channel MLP r = 4 (avg- and max-pooled descriptors through one MLP), spatial conv 7×7 over [mean; max] across channels. " +
                         $"Adam lr 4e-3 with cosine decay, batch 16, seed {context.Seed}. Mass in box: Σ map inside the box / Σ map, each map cell counted by the canvas pixels it covers.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}; load average at the end {VisionLab.LoadAverage()}.");
        return result;
    }

    private static (int, int, int, int) Box(PixelBox b) => (b.Top, b.Left, b.Bottom, b.Right);
}
