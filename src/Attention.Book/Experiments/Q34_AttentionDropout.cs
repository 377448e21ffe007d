using System.Diagnostics;
using Attention.Autograd;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q34 · Attention dropout: inverted dropout (Srivastava et al., 2014) applied to the attention weights
/// P = softmax(Q·Kᵀ/√Dh) before they multiply V, as in the Transformer's reference code
/// (Vaswani et al., 2017, §5.4 regularises with dropout; BERT and GPT-2 add it on P):
/// <code>
///   P̃ = P ⊙ m / (1 − p),  m_ij ~ Bernoulli(1 − p)      (training only; eval uses P)
///   E[P̃] = P,   Var(Σ_j P̃_ij) = p/(1 − p) · Σ_j P_ij²     (rows sum to 1 only in expectation)
/// </code>
/// Part 1 measures those statistics on a P taken from a trained model and compares DropKey (mask the
/// logits, then renormalise). Part 2 trains a one-block Transformer with a [CLS] readout on 64 noisy
/// examples of a counting task with attention dropout p ∈ {0, 0.1, 0.3} (and residual dropout for
/// comparison) and reports the train/validation gap. Page: docs/answers/34-attention-dropout.md
/// </summary>
public sealed class Q34_AttentionDropout : Experiment
{
    public override int Question => 34;
    public override string Title => "Attention dropout: where it acts and what it changes";

    /// <summary>Tokens 0 and 1 are counted, 2..5 are distractors; id <see cref="Vocab"/> is [CLS].</summary>
    public const int Vocab = 6;
    /// <summary>Tokens per sequence, [CLS] not counted.</summary>
    public const int Length = 11;
    public const int Dim = 32, Heads = 2;
    public const int TrainSize = 64;
    /// <summary>Fraction of training labels flipped: what a model that fits the training set has to memorise.</summary>
    public const double LabelNoise = 0.2;
    public const float LearningRate = 3e-3f;

    /// <summary>Attention-dropout rates trained in part 2.</summary>
    public static readonly float[] Rates = [0f, 0.1f, 0.3f];
    /// <summary>Rates whose mask statistics part 1 measures.</summary>
    public static readonly float[] StatisticRates = [0.1f, 0.3f, 0.5f];

    private sealed record Config(string Label, string Key, float AttentionDropout, float ResidualDropout);

    private sealed record Run1(double TrainLoss, double ValLoss, double TrainAcc, double ValAcc, double Memorised,
                               double BestValLoss, int BestStep, double[] TrainCurve, double[] ValCurve);

    public override ExperimentResult Run(ExperimentContext context)
    {
        int seeds = context.Full ? 6 : 2;
        int steps = context.Full ? 600 : 100;
        int validationSize = context.Full ? 512 : 256;
        int evalEvery = context.Full ? 20 : 10;
        int trials = context.Full ? 20000 : 3000;
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();

        var configs = Rates.Select(p => new Config($"attention p = {p:0.0#}", $"p{p * 100:00}", p, 0f)).ToList();
        // residual dropout for comparison: the full run only, to keep the quick run within seconds
        if (context.Full) configs.Add(new Config("residual p = 0.1 (no attention dropout)", "residual10", 0f, 0.1f));

        // ---- part 2 first: the trained models supply the P that part 1 measures
        var runs = new Run1[configs.Count, seeds];
        ClsModel? plainModel = null, droppedModel = null;
        int[]? probeIds = null;
        var evalSteps = Enumerable.Range(0, steps).Where(t => t % evalEvery == 0 || t == steps - 1).ToArray();
        for (int seed = 0; seed < seeds; seed++)
        {
            ulong baseSeed = (ulong)context.Seed * 1_000_003UL + (ulong)seed;
            var data = new Rng(baseSeed);
            var (trainIds, trainLabels, flipped) = MakeData(data, TrainSize, LabelNoise);
            var (valIds, valLabels, _) = MakeData(data, validationSize, 0);
            // every configuration of one seed starts from the same weights, so only the dropout differs
            var initial = new ClsModel(0f, 0f, new Rng(baseSeed ^ 0x9E3779B97F4A7C15UL)).StateDict();
            for (int c = 0; c < configs.Count; c++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                context.Report((seed * configs.Count + c) / (double)(seeds * configs.Count + 1), $"seed {seed + 1}/{seeds}, {configs[c].Label}");
                var model = new ClsModel(configs[c].AttentionDropout, configs[c].ResidualDropout, new Rng(baseSeed + 17UL * (ulong)(c + 1)));
                model.LoadStateDict(initial);
                runs[c, seed] = Train(model, trainIds, trainLabels, flipped, valIds, valLabels, steps, evalSteps);
                if (seed == 0 && configs[c].AttentionDropout == 0f && configs[c].ResidualDropout == 0f) plainModel = model;
                if (seed == 0 && configs[c].AttentionDropout == Rates[^1]) droppedModel = model;
            }
            if (seed == 0) probeIds = valIds.AsSpan(0, Length + 1).ToArray();
        }

        // ---- part 1: statistics of the dropped-out P, on P from the trained p = 0 model (one validation sequence)
        double trainingSeconds = clock.Elapsed.TotalSeconds;
        context.Report(seeds * configs.Count / (double)(seeds * configs.Count + 1), "mask statistics");
        plainModel!.Eval();
        Tensor probabilities;
        using (Var.NoGrad())
            probabilities = plainModel.Block.Attention.ForwardWithProbabilities(plainModel.Block.Ln1.Forward(plainModel.Embed(probeIds!, 1))).Probabilities.Value;
        int s = Length + 1, rows = Heads * s;
        var p0 = probabilities.ToArray();                                              // (1, H, L, S) read as (H·L, S)
        var statRng = new Rng((ulong)context.Seed ^ 0xD1B54A32D192ED03UL);
        var stats = new Table($"Dropout on a trained P ({rows} rows of {s} keys: {Heads} heads × {s} queries of one validation sequence), {trials} masks per rate",
            "p", "mean row sum", "Var(row sum) measured / p/(1−p)·Σp² (mean over rows)", "worst row ratio",
            "max |E[P̃] − P| in standard errors", "fraction zeroed", "mean ‖E[row] − P‖₁", "DropKey: max |row sum − 1|", "DropKey: mean ‖E[row] − P‖₁");
        var perRow = new Table("Row sums of P̃ row by row (head 0): the spread follows Σ_j P_ij²",
            ["query", "max P", "Σ P²", .. StatisticRates.SelectMany(p => new[] { $"sd formula p={p:0.0}", $"sd measured p={p:0.0}" })]);
        var rowFormula = new double[StatisticRates.Length][];
        var rowMeasured = new double[StatisticRates.Length][];
        for (int ri = 0; ri < StatisticRates.Length; ri++)
        {
            float rate = StatisticRates[ri];
            var m = MaskStatistics(p0, rows, s, rate, trials, statRng);
            rowFormula[ri] = m.FormulaVariance; rowMeasured[ri] = m.MeasuredVariance;
            var ratios = m.MeasuredVariance.Zip(m.FormulaVariance, (a, b) => a / b).ToArray();
            double meanRatio = ratios.Average(), worst = ratios.Max(r => Math.Abs(r - 1));
            // standard error of the grand mean row sum: rows are independent, so Var = Σ_i Var_i / (rows²·T)
            double meanSe = Math.Sqrt(m.FormulaVariance.Sum()) / (rows * Math.Sqrt(trials));
            double zeroSe = Math.Sqrt(rate * (1 - rate) / ((double)rows * s * trials));
            stats.AddRow($"{rate:0.0}", m.MeanRowSum, meanRatio, ratios.MaxBy(r => Math.Abs(r - 1)),
                         m.MaxElementZ, m.ZeroFraction, m.DropoutBias, m.DropKeyMaxRowError, m.DropKeyBias);
            string k = $"p{rate * 100:00}";
            result.Metrics[$"row_sum_mean_{k}"] = m.MeanRowSum;
            result.Metrics[$"row_sum_variance_ratio_{k}"] = meanRatio;
            result.Metrics[$"row_sum_variance_worst_row_deviation_{k}"] = worst;
            result.Metrics[$"element_mean_max_z_{k}"] = m.MaxElementZ;
            result.Metrics[$"zeroed_fraction_{k}"] = m.ZeroFraction;
            result.Metrics[$"dropout_mean_l1_bias_{k}"] = m.DropoutBias;
            result.Metrics[$"dropkey_max_row_error_{k}"] = m.DropKeyMaxRowError;
            result.Metrics[$"dropkey_mean_l1_bias_{k}"] = m.DropKeyBias;
            result.Check($"p = {rate:0.0}: the mean row sum of P̃ is 1 within 5 standard errors (E[P̃] = P)",
                Math.Abs(m.MeanRowSum - 1) <= 5 * meanSe, $"mean {m.MeanRowSum:F5}, standard error {meanSe:E2}");
            result.Check($"p = {rate:0.0}: every element's mean over the masks is within 5 standard errors of P",
                m.MaxElementZ <= 5, $"largest deviation {m.MaxElementZ:F2} standard errors over {rows * s} elements");
            result.Check($"p = {rate:0.0}: row-sum variance matches p/(1−p)·Σ_j P_ij² (mean ratio in [0.95, 1.05], every row within 25%)",
                Math.Abs(meanRatio - 1) <= 0.05 && worst <= 0.25, $"mean ratio {meanRatio:F3}, worst row off by {worst:P1}");
            result.Check($"p = {rate:0.0}: the fraction of zeroed weights is p within 5 standard errors",
                Math.Abs(m.ZeroFraction - rate) <= 5 * zeroSe, $"{m.ZeroFraction:F4} (standard error {zeroSe:E2})");
            result.Check($"p = {rate:0.0}: DropKey rows (masked logits, renormalised) sum to 1 within 1e-5 in every draw",
                m.DropKeyMaxRowError <= 1e-5, $"max |row sum − 1| = {m.DropKeyMaxRowError:E2}");
        }
        for (int i = 0; i < s; i++)
        {
            var row = p0.AsSpan(i * s, s);
            double max = 0, sq = 0;
            foreach (float w in row) { max = Math.Max(max, w); sq += (double)w * w; }
            var cells = new List<object> { i == 0 ? "[CLS]" : $"{i}", max, sq };
            for (int ri = 0; ri < StatisticRates.Length; ri++) { cells.Add(Math.Sqrt(rowFormula[ri][i])); cells.Add(Math.Sqrt(rowMeasured[ri][i])); }
            perRow.AddRow([.. cells]);
        }
        result.Tables.Add(stats);
        result.Tables.Add(perRow);

        // ---- train vs eval behaviour of the layer itself (the p = 0.3 model's attention)
        var attention = droppedModel!.Block.Attention;
        droppedModel.Eval();
        Var x;
        Tensor evalOut, composedOut, train1, train2;
        int layerTrials = context.Full ? 10000 : 1000;
        double maxZ;
        using (Var.NoGrad())
        {
            x = droppedModel.Block.Ln1.Forward(droppedModel.Embed(probeIds!, 1));
            evalOut = attention.Forward(x).Value;                                     // fused kernel, no dropout
            composedOut = attention.ForwardWithProbabilities(x).Output.Value;          // composed path, eval: no dropout either
            attention.Train();
            train1 = attention.Forward(x).Value;
            train2 = attention.Forward(x).Value;
            var sum = new double[evalOut.Length]; var sumSq = new double[evalOut.Length];
            for (int t = 0; t < layerTrials; t++)
            {
                var y = attention.Forward(x).Value.AsSpan();
                for (int i = 0; i < y.Length; i++) { sum[i] += y[i]; sumSq[i] += (double)y[i] * y[i]; }
            }
            attention.Eval();
            maxZ = 0;
            var e = evalOut.AsSpan();
            for (int i = 0; i < sum.Length; i++)
            {
                double mean = sum[i] / layerTrials, variance = Math.Max(0, sumSq[i] / layerTrials - mean * mean);
                double se = Math.Sqrt(variance / layerTrials);
                maxZ = Math.Max(maxZ, Math.Abs(mean - e[i]) / Math.Max(se, 1e-12));
            }
        }
        double pathDiff = MaxAbsDiff(evalOut.AsSpan(), composedOut.AsSpan());
        double trainDiff = MaxAbsDiff(train1.AsSpan(), train2.AsSpan());
        result.Metrics["layer_eval_fused_vs_composed_max_abs"] = pathDiff;
        result.Metrics["layer_train_two_calls_max_abs"] = trainDiff;
        result.Metrics["layer_train_mean_vs_eval_max_z"] = maxZ;
        result.Check("in eval mode the layer ignores its dropout: the fused kernel and the composed path agree within 1e-5",
            pathDiff <= 1e-5, $"max |Δ| = {pathDiff:E2}");
        result.Check("in training mode two calls on the same input differ (new masks each call)",
            trainDiff > 1e-4, $"max |Δ| = {trainDiff:E2}");
        result.Check($"the mean of {layerTrials} training-mode outputs is the eval output within 5 standard errors (output is linear in P̃)",
            maxZ <= 5, $"largest deviation {maxZ:F2} standard errors over {evalOut.Length} outputs");

        // ---- part 2 tables, curves and metrics
        var training = new Table(
            $"One pre-LN block, E = {Dim}, H = {Heads}, [CLS] readout; {TrainSize} training sequences with {LabelNoise:P0} of labels flipped, "
            + $"{validationSize} clean validation sequences; AdamW lr {LearningRate}, {steps} full-batch steps; mean ± sd over {seeds} seeds",
            "configuration", "train loss", "val loss", "gap (val − train)", "train acc", "flipped labels memorised", "val acc", "best val loss", "step of best");
        var series = new List<Series>();
        var xs = evalSteps.Select(v => (double)v).ToArray();
        for (int c = 0; c < configs.Count; c++)
        {
            var r = Enumerable.Range(0, seeds).Select(i => runs[c, i]).ToArray();
            var gaps = r.Select(v => v.ValLoss - v.TrainLoss).ToArray();
            training.AddRow(configs[c].Label, Pm(r.Select(v => v.TrainLoss)), Pm(r.Select(v => v.ValLoss)), Pm(gaps),
                Pm(r.Select(v => v.TrainAcc)), Pm(r.Select(v => v.Memorised)), Pm(r.Select(v => v.ValAcc)),
                Pm(r.Select(v => v.BestValLoss)), r.Select(v => (double)v.BestStep).Average());
            string k = configs[c].Key;
            result.Metrics[$"train_loss_{k}"] = r.Average(v => v.TrainLoss);
            result.Metrics[$"val_loss_{k}"] = r.Average(v => v.ValLoss);
            result.Metrics[$"gap_{k}"] = gaps.Average();
            result.Metrics[$"val_acc_{k}"] = r.Average(v => v.ValAcc);
            result.Metrics[$"memorised_{k}"] = r.Average(v => v.Memorised);
            result.Metrics[$"best_val_loss_{k}"] = r.Average(v => v.BestValLoss);
            for (int i = 0; i < seeds; i++) result.Metrics[$"gap_{k}_seed{i}"] = gaps[i];
            if (configs[c].ResidualDropout == 0f)
            {
                var train = xs.Select((_, j) => r.Average(v => v.TrainCurve[j])).ToArray();
                var val = xs.Select((_, j) => r.Average(v => v.ValCurve[j])).ToArray();
                series.Add(new Series($"train, p = {configs[c].AttentionDropout:0.0}", xs, train));
                series.Add(new Series($"val, p = {configs[c].AttentionDropout:0.0}", xs, val));
            }
        }
        result.Tables.Add(training);
        // the claims compare every seed, not the means: a claim that held only on average would not be robust
        int plain = 0, strongest = Rates.Length - 1;
        var gapLower = Enumerable.Range(0, seeds).Select(i => runs[strongest, i].ValLoss - runs[strongest, i].TrainLoss < runs[plain, i].ValLoss - runs[plain, i].TrainLoss).ToArray();
        var trainHigher = Enumerable.Range(0, seeds).Select(i => runs[strongest, i].TrainLoss > runs[plain, i].TrainLoss).ToArray();
        result.Check($"in every seed, attention dropout p = {Rates[^1]:0.0} ends with a smaller val − train loss gap than p = 0",
            gapLower.All(v => v), string.Join(", ", Enumerable.Range(0, seeds).Select(i =>
                $"seed {i}: {runs[strongest, i].ValLoss - runs[strongest, i].TrainLoss:F3} vs {runs[plain, i].ValLoss - runs[plain, i].TrainLoss:F3}")));
        result.Check($"in every seed, attention dropout p = {Rates[^1]:0.0} ends with a higher training loss than p = 0 (it resists fitting the flipped labels)",
            trainHigher.All(v => v), string.Join(", ", Enumerable.Range(0, seeds).Select(i => $"seed {i}: {runs[strongest, i].TrainLoss:E2} vs {runs[plain, i].TrainLoss:E2}")));
        var curvePath = context.FigurePath("q34-curves.png");
        Charts.Lines(curvePath, $"Cross-entropy (eval mode), mean of {seeds} seeds", "step", "loss", series);
        result.Figures.Add(new Figure(curvePath, "Train (noisy labels) and validation (clean labels) loss for each attention-dropout rate."));

        // ---- why a fused kernel keeps the RNG state rather than the mask
        var memory = new Table("What backward needs to see the forward's mask again, per head and layer (L = S = N)",
            "N", "mask as float32 (this library's composed path)", "mask as bits", "RNG seed + offset (FlashAttention)");
        foreach (long n in new long[] { 1024, 8192, 65536 })
            memory.AddRow(n, Bytes(4 * n * n), Bytes(n * n / 8), "16 B");
        result.Tables.Add(memory);

        result.Notes.Add($"Part 1 masks come from Var.Dropout, the op MultiHeadAttention applies to P in training mode; {trials} masks per rate. "
            + "DropKey sets dropped logits to −∞ before the softmax (a row with every key dropped becomes uniform, as with a large finite negative).");
        result.Notes.Add($"Losses and accuracies are measured in eval mode (no dropout) on the noisy training labels and the clean validation labels; "
            + $"curves every {evalEvery} steps. Run time {clock.Elapsed.TotalSeconds:F1} s, of which training {trainingSeconds:F1} s.");
        return result;
    }

    /// <summary>Row-sum and element statistics of Var.Dropout applied to P (rows × s), and of DropKey on the same rows.</summary>
    public static MaskStats MaskStatistics(float[] p, int rows, int s, float rate, int trials, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(rng);
        if (rows <= 0 || s <= 0 || p.Length != rows * s)
            throw new ArgumentException($"expected P with rows × s = {rows} × {s} elements, got {p.Length}", nameof(p));
        if (!(rate > 0f && rate < 1f)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "expected a dropout rate in (0, 1)");
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, 2);
        var pv = Var.Constant(Tensor.FromArray((float[])p.Clone(), rows, s));
        var sum = new double[rows]; var sumSq = new double[rows];
        var elementSum = new double[p.Length];
        var dropKeySum = new double[p.Length];
        double dropKeyMaxError = 0;
        long zeros = 0;
        var keep = new bool[s];
        using (Var.NoGrad())
            for (int t = 0; t < trials; t++)
            {
                var d = pv.Dropout(rate, rng, training: true).Value.AsSpan();
                for (int i = 0; i < rows; i++)
                {
                    double r = 0;
                    for (int j = 0; j < s; j++)
                    {
                        float v = d[i * s + j];
                        r += v; elementSum[i * s + j] += v;
                        if (v == 0f) zeros++;
                    }
                    sum[i] += r; sumSq[i] += r * r;
                }
                // DropKey (Li et al., 2023): drop keys at the logits, i.e. P'_j = P_j·m_j / Σ_k P_k·m_k.
                for (int i = 0; i < rows; i++)
                {
                    var row = p.AsSpan(i * s, s);
                    float z = 0; int kept = 0;
                    for (int j = 0; j < s; j++) { keep[j] = rng.NextDouble() >= rate; if (keep[j]) { z += row[j]; kept++; } }
                    float total = 0;
                    for (int j = 0; j < s; j++)
                    {
                        float w = kept == 0 ? 1f / s : keep[j] ? row[j] / z : 0f;
                        dropKeySum[i * s + j] += w; total += w;
                    }
                    dropKeyMaxError = Math.Max(dropKeyMaxError, Math.Abs(total - 1.0));
                }
            }
        var formula = new double[rows]; var measured = new double[rows];
        double grand = 0, maxZ = 0, dropoutBias = 0, dropKeyBias = 0;
        double factor = rate / (1.0 - rate);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < s; j++)
            {
                double pij = p[i * s + j];
                double mean = elementSum[i * s + j] / trials;
                double se = pij * Math.Sqrt(factor / trials);                     // Var(P̃_ij) = P_ij²·p/(1−p)
                if (se > 0) maxZ = Math.Max(maxZ, Math.Abs(mean - pij) / se);
                dropoutBias += Math.Abs(mean - pij);
                dropKeyBias += Math.Abs(dropKeySum[i * s + j] / trials - pij);
            }
            formula[i] = RowSumVariance(p.AsSpan(i * s, s), rate);
            double m = sum[i] / trials;
            measured[i] = (sumSq[i] - trials * m * m) / (trials - 1);
            grand += m;
        }
        return new MaskStats(grand / rows, formula, measured, maxZ, zeros / ((double)trials * rows * s),
                             dropoutBias / rows, dropKeyMaxError, dropKeyBias / rows);
    }

    /// <summary>Measured statistics of <see cref="MaskStatistics"/>: per-row variances (formula and measured) and summaries.</summary>
    public sealed record MaskStats(double MeanRowSum, double[] FormulaVariance, double[] MeasuredVariance, double MaxElementZ,
                                     double ZeroFraction, double DropoutBias, double DropKeyMaxRowError, double DropKeyBias);

    /// <summary>
    /// Var(Σ_j P̃_j) for one row under inverted dropout at rate p: the masks m_j ~ Bernoulli(1 − p) are independent and
    /// Var(m_j/(1 − p)) = (1 − p)·p/(1 − p)² = p/(1 − p), so Var(Σ_j P_j·m_j/(1 − p)) = p/(1 − p) · Σ_j P_j².
    /// </summary>
    public static double RowSumVariance(ReadOnlySpan<float> row, double p)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "expected a dropout rate in [0, 1)");
        double sq = 0;
        foreach (float x in row) sq += (double)x * x;
        return p / (1 - p) * sq;
    }

    /// <summary>
    /// n sequences [CLS] x₁..x_L with x ∈ {0..5}; the label is 0 when token 0 occurs more often than token 1,
    /// else 1 (ties are redrawn). A fraction <paramref name="noise"/> of labels is flipped.
    /// </summary>
    public static (int[] Ids, int[] Labels, bool[] Flipped) MakeData(Rng rng, int n, double noise)
    {
        var ids = new int[n * (Length + 1)];
        var labels = new int[n];
        var flipped = new bool[n];
        for (int e = 0; e < n; e++)
        {
            int zeros, ones;
            do
            {
                zeros = ones = 0;
                ids[e * (Length + 1)] = Vocab;
                for (int t = 1; t <= Length; t++)
                {
                    int token = rng.NextInt(Vocab);
                    ids[e * (Length + 1) + t] = token;
                    if (token == 0) zeros++; else if (token == 1) ones++;
                }
            } while (zeros == ones);
            labels[e] = zeros > ones ? 0 : 1;
            if (noise > 0 && rng.NextDouble() < noise) { labels[e] = 1 - labels[e]; flipped[e] = true; }
        }
        return (ids, labels, flipped);
    }

    private static Run1 Train(ClsModel model, int[] trainIds, int[] trainLabels, bool[] flipped, int[] valIds, int[] valLabels,
                              int steps, int[] evalSteps)
    {
        var opt = new AdamW(model.Parameters(), LearningRate, weightDecay: 0.01f);
        var trainCurve = new double[evalSteps.Length]; var valCurve = new double[evalSteps.Length];
        var best = new EarlyStopping(patience: int.MaxValue);
        int next = 0;
        for (int step = 0; step < steps; step++)
        {
            model.Train();
            var loss = Var.CrossEntropy(model.Forward(trainIds, TrainSize), trainLabels);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
            if (next < evalSteps.Length && evalSteps[next] == step)
            {
                trainCurve[next] = Evaluate(model, trainIds, trainLabels, TrainSize).Loss;
                valCurve[next] = Evaluate(model, valIds, valLabels, valLabels.Length).Loss;
                best.Report(valCurve[next]);
                next++;
            }
        }
        var (trainLoss, trainAcc, predicted) = Evaluate(model, trainIds, trainLabels, TrainSize);
        var (valLoss, valAcc, _) = Evaluate(model, valIds, valLabels, valLabels.Length);
        int noisy = flipped.Count(f => f);
        double memorised = noisy == 0 ? 0 : Enumerable.Range(0, TrainSize).Count(i => flipped[i] && predicted[i] == trainLabels[i]) / (double)noisy;
        return new Run1(trainLoss, valLoss, trainAcc, valAcc, memorised, best.Best, evalSteps[best.BestEpoch], trainCurve, valCurve);
    }

    /// <summary>Cross-entropy, accuracy and predictions in eval mode (no dropout, no graph).</summary>
    private static (double Loss, double Accuracy, int[] Predicted) Evaluate(ClsModel model, int[] ids, int[] labels, int n)
    {
        model.Eval();
        using var _ = Var.NoGrad();
        var logits = model.Forward(ids, n);
        double loss = Var.CrossEntropy(logits, labels).Item();
        var l = logits.Value.AsSpan();
        var predicted = new int[n];
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            predicted[i] = l[2 * i + 1] > l[2 * i] ? 1 : 0;
            if (predicted[i] == labels[i]) correct++;
        }
        return (loss, correct / (double)n, predicted);
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    private static string Pm(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double mean = v.Average();
        double sd = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return $"{Table.FormatNumber(mean)} ± {Table.FormatNumber(sd)}";
    }

    private static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.#} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.#} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):0.#} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>
    /// Token and position embeddings → one pre-LN <see cref="TransformerBlock"/> → LayerNorm → linear head on the
    /// [CLS] position. All information about the tokens reaches the head through the attention weights of the
    /// [CLS] query, which is what attention dropout perturbs. ids (B, L + 1) → logits (B, 2).
    /// </summary>
    internal sealed class ClsModel : Module
    {
        public Embedding Tokens { get; }
        public Embedding Positions { get; }
        public TransformerBlock Block { get; }
        public LayerNorm Final { get; }
        public Linear Head { get; }
        private readonly int[] _positions = Enumerable.Range(0, Length + 1).ToArray();

        public ClsModel(float attentionDropout, float residualDropout, Rng rng)
        {
            Tokens = RegisterModule("tok", new Embedding(Vocab + 1, Dim, rng));
            Positions = RegisterModule("pos", new Embedding(Length + 1, Dim, rng));
            Block = RegisterModule("block", new TransformerBlock(Dim, Heads, 2 * Dim, rng, preNorm: true,
                                                                 dropout: residualDropout, attentionDropout: attentionDropout));
            Final = RegisterModule("ln_f", new LayerNorm(Dim));
            Head = RegisterModule("head", new Linear(Dim, 2, rng));
        }

        /// <summary>ids (B, L + 1) → (B, L + 1, E).</summary>
        public Var Embed(int[] ids, int b) => Tokens.Forward(ids, b, Length + 1) + Positions.Forward(_positions);

        public Var Forward(int[] ids, int b)
        {
            var h = Block.Forward(Embed(ids, b));                                  // (B, L + 1, E)
            return Head.Forward(Final.Forward(h.Slice(1, 0, 1).Reshape(b, Dim))); // [CLS] row → (B, 2)
        }
    }
}
