using System.Diagnostics;
using Attention.Alignments;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Plots;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q27 · Attention in image captioning. "Show, Attend and Tell" (Xu et al., 2015) on MNIST strips: 3–5 real digits in
/// 5 cells (blank cells between them), caption = the digits left to right. Four models — soft or hard attention
/// (straight-through Gumbel-softmax), each with and without the doubly stochastic penalty λ Σ_i (1 − Σ_t α_ti)² —
/// trained for the same number of steps on fresh strips of training digits, then measured on strips of held-out digits:
/// caption exact match, digit accuracy, and the attention mass inside the cell of the digit being written at each step
/// (the gold location). Figures: where each model looks while it writes each digit. Page: docs/answers/27-attention-in-image-captioning.md
/// </summary>
public sealed class Q27_ImageCaptioning : Experiment
{
    public override int Question => 27;
    public override string Title => "Attention in image captioning";

    private sealed record Variant(string Name, string Key, bool Hard, float Lambda);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();
        bool full = context.Full;
        int steps = full ? 4000 : 400, batch = 32, testCount = full ? 1000 : 200;
        float lambda = 0.05f;
        var variants = new[]
        {
            new Variant("soft", "soft", false, 0f),
            new Variant($"soft + doubly stochastic (λ = {lambda})", "soft_ds", false, lambda),
            new Variant("hard (Gumbel-ST)", "hard", true, 0f),
            new Variant($"hard (Gumbel-ST) + doubly stochastic (λ = {lambda})", "hard_ds", true, lambda),
        };
        var split = Mnist.Split(Mnist.LoadRepoCopy());
        var test = MnistStrips.Generate(split.Test, testCount, new Rng((ulong)context.Seed + 2_700_001));

        var table = new Table($"MNIST strips (3–5 digits in 5 cells, blank cells between), {steps} Adam steps of {batch} fresh training strips; {testCount} test strips of held-out digits",
            "model", "caption exact match", "digit accuracy", "mass in the right cell", "mass on blank cells", "Σ_i (1 − Σ_t α_ti)²");
        var byStep = new Table("Attention mass inside the cell of the digit being written, by position in the caption (teacher-forced, test strips)",
            "model", "digit 1", "digit 2", "digit 3", "digit 4", "digit 5", "end token: mass on digits");
        var example = test.First(s => s.Digits.Length == 4 && s.CellOf[^1] - s.CellOf[0] > 3);
        var mass = new Dictionary<string, double>(); var exact = new Dictionary<string, double>(); var penalty = new Dictionary<string, double>();
        for (int v = 0; v < variants.Length; v++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var variant = variants[v];
            var config = new ShowAttendTellConfig();
            Func<int, int, Rng, IDecoderAttention>? hard = variant.Hard
                ? (n, d, rng) => new HardAttention(new BahdanauAttention(n, d, config.AttentionSize, rng), HardAttentionMode.GumbelStraightThrough, new Rng((ulong)context.Seed + 28))
                : null;
            var model = new ShowAttendTell(config, new Rng((ulong)context.Seed + 27), hard);
            Train(model, split.Train, steps, batch, variant.Lambda, new Rng((ulong)context.Seed + 2_700_002),
                  (f, s) => context.Report((v + f) / variants.Length, $"{variant.Name}: {s}"));
            var score = Evaluate(model, test);
            table.AddRow(variant.Name, score.Exact, score.DigitAccuracy, score.GoldMass, score.BlankMass, score.Penalty);
            byStep.AddRow([variant.Name, .. score.GoldMassByPosition.Select(m => (object)(double.IsNaN(m) ? "—" : Table.FormatNumber(m))), score.EndMassOnDigits]);
            result.Metrics[$"exact_match_{variant.Key}"] = score.Exact;
            result.Metrics[$"digit_accuracy_{variant.Key}"] = score.DigitAccuracy;
            result.Metrics[$"gold_mass_{variant.Key}"] = score.GoldMass;
            result.Metrics[$"blank_mass_{variant.Key}"] = score.BlankMass;
            result.Metrics[$"ds_penalty_{variant.Key}"] = score.Penalty;
            (mass[variant.Key], exact[variant.Key], penalty[variant.Key]) = (score.GoldMass, score.Exact, score.Penalty);
            if (v is 0 or 2) AddFigure(result, context, model, example, variant);
        }
        result.Tables.Add(table);
        result.Tables.Add(byStep);

        double uniform = 1.0 / 5;
        result.Check($"soft attention learns where to look: mass in the right cell well above the {uniform:0.0} a uniform spread gives (> 0.4)",
                     mass["soft"] > 0.4, $"{mass["soft"]:0.000}");
        result.Check("hard attention also finds the digit being written (mass in the right cell > 0.4)", mass["hard"] > 0.4, $"{mass["hard"]:0.000}");
        result.Check("the doubly stochastic penalty lowers Σ_i (1 − Σ_t α_ti)² on test strips, for soft and for hard attention",
                     penalty["soft_ds"] < penalty["soft"] && penalty["hard_ds"] < penalty["hard"],
                     $"soft {penalty["soft"]:0.00} → {penalty["soft_ds"]:0.00}, hard {penalty["hard"]:0.00} → {penalty["hard_ds"]:0.00}");
        if (full)
            result.Check("after the full budget soft attention captions most test strips exactly (> 0.8)", exact["soft"] > 0.8, $"{exact["soft"]:0.000}");
        result.Notes.Add("Encoder: 17 windows of 28 × 28 pixels at stride 7 (a two-layer patch MLP, written as a Conv2d, plus a learned position " +
                         "embedding); decoder: LSTM 96, embedding 32, attention MLP 64, gate β on. Adam lr 3e-3, gradient clipped at norm 5. " +
                         "'Mass in the right cell': each window's weight spread evenly over its 28 columns, summed over the digit's cell; " +
                         "hard attention measured with the location it reads at test time (argmax α). 'Σ_i (1 − Σ_t α_ti)²' is the penalty itself, per strip, over the caption's steps (end token included).");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    /// <summary>Adam on fresh strips every step: cross-entropy + λ · doubly stochastic penalty.</summary>
    public static void Train(ShowAttendTell model, MnistDigits digits, int steps, int batch, float lambda, Rng rng, Action<double, string>? progress = null)
    {
        var optimizer = new Adam(model.Parameters(), 3e-3f);
        model.Train();
        double smoothed = double.NaN;
        for (int s = 0; s < steps; s++)
        {
            var strips = MnistStrips.Generate(digits, batch, rng);
            optimizer.ZeroGrad();
            var output = model.Forward(strips);
            var loss = Var.CrossEntropy(output.Logits, ShowAttendTell.Targets(strips));
            if (lambda > 0)
                loss += lambda * ShowAttendTell.DoublyStochasticPenalty(output.Alphas, strips.Select(x => x.Digits.Length + 1).ToArray());
            loss.Backward();
            GradClip.ByGlobalNorm(model.Parameters(), 5f);
            optimizer.Step();
            double l = loss.Item();
            smoothed = double.IsNaN(smoothed) ? l : 0.95 * smoothed + 0.05 * l;
            if (s % 10 == 0) progress?.Invoke((double)s / steps, $"step {s}/{steps}, loss {smoothed:0.000}");
        }
        model.Eval();
    }

    /// <summary>What <see cref="Evaluate"/> measured.</summary>
    public sealed record CaptionScore(double Exact, double DigitAccuracy, double GoldMass, double BlankMass, double Penalty, double[] GoldMassByPosition, double EndMassOnDigits);

    /// <summary>Greedy captions for exact match and digit accuracy (position by position); teacher-forced weights for the masses.</summary>
    public static CaptionScore Evaluate(ShowAttendTell model, IReadOnlyList<MnistStrip> strips)
    {
        int right = 0, digitsRight = 0, digitsTotal = 0;
        double gold = 0, blank = 0, penalty = 0, endOnDigits = 0; int goldSteps = 0;
        var byPos = new double[5]; var byPosCount = new int[5];
        model.Eval();
        foreach (var chunk in strips.Chunk(100))
        {
            var captions = model.Greedy(chunk, 5);
            using var _ = Var.NoGrad();
            var output = model.Forward(chunk);
            int l = model.Locations;
            for (int i = 0; i < chunk.Length; i++)
            {
                var s = chunk[i];
                if (captions[i].Digits.SequenceEqual(s.Digits)) right++;
                for (int k = 0; k < s.Digits.Length; k++) if (k < captions[i].Digits.Length && captions[i].Digits[k] == s.Digits[k]) digitsRight++;
                digitsTotal += s.Digits.Length;
                var coverage = new double[l];
                for (int t = 0; t <= s.Digits.Length; t++)
                {
                    var w = output.Weights[t].Value.AsSpan().Slice(i * l, l);
                    var a = output.Alphas[t].Value.AsSpan().Slice(i * l, l);
                    for (int j = 0; j < l; j++) coverage[j] += a[j];
                    if (t == s.Digits.Length)
                    {
                        foreach (int c in s.CellOf) endOnDigits += model.MassInCell(w, c);
                        continue;
                    }
                    double m = model.MassInCell(w, s.CellOf[t]);
                    gold += m; goldSteps++;
                    byPos[t] += m; byPosCount[t]++;
                    for (int c = 0; c < s.Cells; c++) if (!s.CellOf.Contains(c)) blank += model.MassInCell(w, c);
                }
                penalty += coverage.Sum(x => (1 - x) * (1 - x));
            }
        }
        int n = strips.Count;
        return new CaptionScore((double)right / n, (double)digitsRight / digitsTotal, gold / goldSteps, blank / goldSteps, penalty / n,
                                byPos.Select((x, i) => byPosCount[i] == 0 ? double.NaN : x / byPosCount[i]).ToArray(), endOnDigits / n);
    }

    /// <summary>The row of band <paramref name="band"/> that gets its label: the heatmap labels every k-th row when there are more
    /// than 40 (k = ⌈rows / 30⌉), so pick the labelled row nearest the middle of the band's image.</summary>
    public static int LabelRow(int band, int bandHeight, int rows)
    {
        int every = rows <= 40 ? 1 : (int)Math.Ceiling(rows / 30.0), middle = band * bandHeight + MnistStrip.Height / 2;
        int below = middle / every * every;
        return below >= band * bandHeight ? below : below + every;
    }

    private static void AddFigure(ExperimentResult result, ExperimentContext context, ShowAttendTell model, MnistStrip strip, Variant variant)
    {
        var caption = model.Greedy([strip], 5)[0];
        int steps = caption.Attention.Length, band = 30, width = strip.Width;
        var map = new float[steps * band, width];
        var labels = new string[steps * band];
        for (int t = 0; t < steps; t++)
        {
            var columns = model.ColumnMass(caption.Attention[t]);
            float top = Math.Max(1e-6f, columns.Max());
            for (int r = 0; r < band; r++)
            {
                labels[t * band + r] = "";
                for (int c = 0; c < width; c++)
                    map[t * band + r, c] = r >= MnistStrip.Height ? float.NaN
                        : Math.Max(0.55f * columns[c] / top, strip.Pixels[r * width + c] * (0.15f + 0.85f * columns[c] / top));
            }
            string word = t < caption.Digits.Length ? caption.Digits[t].ToString(System.Globalization.CultureInfo.InvariantCulture) : "end";
            labels[LabelRow(t, band, steps * band)] = $"step {t + 1}: '{word}'";
        }
        string path = context.FigurePath($"q27-attention-{variant.Key}.png");
        string truth = string.Join(" ", strip.Digits);
        Charts.Heatmap(path, map, $"{variant.Name}: where the model looks at each step (truth: {truth})", labels, null, "pixel column of the strip", "output step");
        var small = new float[steps, strip.Cells];
        for (int t = 0; t < steps; t++) for (int c = 0; c < strip.Cells; c++) small[t, c] = (float)model.MassInCell(caption.Attention[t], c);
        result.Figures.Add(new Figure(path, $"{variant.Name}: one test strip (digits {truth} in cells {string.Join(", ", strip.CellOf.Select(c => c + 1))}); " +
                                            $"each band is the strip lit by the attention of one output step, labelled with the token written (caption: {string.Join(" ", caption.Digits)}).")
        {
            Heatmap = small,
            RowLabels = Enumerable.Range(0, steps).Select(t => t < caption.Digits.Length ? $"'{caption.Digits[t]}'" : "end").ToArray(),
            ColumnLabels = Enumerable.Range(0, strip.Cells).Select(c => strip.DigitInCell(c) < 0 ? $"cell {c + 1} (blank)" : $"cell {c + 1}").ToArray(),
        });
    }
}
