using System.Diagnostics;
using System.Globalization;
using Attention.Autograd;
using Attention.Data;
using Attention.Interpret;
using Attention.Models;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 12: why several heads. (a) <see cref="TwoRelationTask"/> needs two relations at every position (the previous
/// symbol and the marked symbol); one-layer attention-only models of width 64 with 1 head of 64, 4 of 16 and 8 of 8 —
/// the same parameter count, measured — are trained on the same batches. (b) Each head of the 4-head model is zeroed
/// in turn (<see cref="HeadAblation"/>). (c) The low-rank limit: a head of width Dh has logits Q·Kᵀ of rank ≤ Dh, measured
/// on the trained heads and by fitting target patterns of known logit rank with heads of every width. (d) The 72 heads
/// of all-MiniLM-L6-v2 compared with each other (Jensen–Shannon distance between heads of a layer, and the
/// <see cref="HeadStatistics"/> of answer 22).
/// Page: docs/answers/12-multi-head-attention.md
/// </summary>
public sealed class Q12_MultiHeadAttention : Experiment
{
    public override int Question => 12;
    public override string Title => "How multi-head attention improves on a single head";

    /// <summary>The head layouts compared at width 64.</summary>
    public static readonly int[] HeadCounts = [1, 4, 8];

    /// <summary>The sizes of one run.</summary>
    /// <param name="Vocab">Symbols V.</param>
    /// <param name="Time">Sequence length T.</param>
    /// <param name="Dim">Model width E.</param>
    /// <param name="Steps">AdamW steps per model.</param>
    /// <param name="BatchSize">Rows per step.</param>
    /// <param name="LearningRate">Peak learning rate.</param>
    /// <param name="EvalRows">Held-out rows.</param>
    /// <param name="FitLength">Sequence length of the low-rank fits.</param>
    /// <param name="FitSteps">Adam steps per low-rank fit.</param>
    /// <param name="SentenceStride">Every k-th sentence of the corpus for the MiniLM comparison.</param>
    public sealed record Settings(int Vocab, int Time, int Dim, int Steps, int BatchSize, float LearningRate, int EvalRows,
                                  int FitLength, int FitSteps, int SentenceStride);

    /// <summary>Quick: seconds. Full: longer training, more held-out rows, longer fits, the whole corpus.</summary>
    public static Settings For(bool full) => full
        ? new Settings(Vocab: 16, Time: 16, Dim: 64, Steps: 2000, BatchSize: 32, LearningRate: 3e-3f, EvalRows: 1024, FitLength: 32, FitSteps: 1500, SentenceStride: 1)
        : new Settings(Vocab: 16, Time: 16, Dim: 64, Steps: 600, BatchSize: 32, LearningRate: 3e-3f, EvalRows: 256, FitLength: 32, FitSteps: 400, SentenceStride: 8);

    private sealed record Accuracy(double Previous, double Marked, double Both);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var s = For(context.Full);
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var evalBatch = TwoRelationTask.Sample(s.EvalRows, s.Time, s.Vocab, new Rng((ulong)context.Seed + 2));

        // (a) 1 × 64, 4 × 16, 8 × 8 on the same batches
        var compare = new Table($"Two relations at once (V = {s.Vocab}, T = {s.Time}), one attention-only layer of width {s.Dim}, {s.Steps} steps, {s.EvalRows} held-out rows",
            "heads × width", "parameters (model)", "parameters (attention layer)", "accuracy: previous symbol", "accuracy: marked symbol", "accuracy: both", "final training loss");
        var models = new Dictionary<int, AttentionOnlyTransformer>();
        var accuracy = new Dictionary<int, Accuracy>();
        var curves = new List<Series>();
        for (int m = 0; m < HeadCounts.Length; m++)
        {
            int h = HeadCounts[m];
            var model = NewModel(s, h, context.Seed);
            var (losses, curve) = Train(model, s, evalBatch, new Rng((ulong)context.Seed + 3), context, m / (double)HeadCounts.Length * 0.6);
            models[h] = model;
            accuracy[h] = Evaluate(model, evalBatch);
            compare.AddRow($"{h} × {s.Dim / h}", model.ParameterCount, model.Layers[0].ParameterCount, accuracy[h].Previous, accuracy[h].Marked, accuracy[h].Both,
                           losses.Skip(losses.Length * 9 / 10).Average());
            curves.Add(new Series($"{h} × {s.Dim / h}", curve.Select(c => (double)c.Step).ToArray(), curve.Select(c => c.Both).ToArray()));
        }
        result.Tables.Add(compare);
        string curvePath = context.FigurePath("q12-heads-training.png");
        Charts.Lines(curvePath, "Held-out accuracy (both symbols right) while training", "step", "accuracy", curves);
        result.Figures.Add(new Figure(curvePath, "Same width, same parameter count, same batches: the models with several heads learn both relations; one head of 64 does not."));

        // (b) ablation of each head of the 4-head model
        var four = models[4];
        var ablation = new Table("Zeroing one head of the 4 × 16 model (its columns of W_O; heads numbered from 0 as in the figure): held-out accuracy, and where the head looks",
            "head zeroed", "previous symbol", "marked symbol", "both", "head's mean weight on t − 1", "head's mean weight on the marked key");
        var (prevWeight, markWeight) = WhereHeadsLook(four, evalBatch);
        ablation.AddRow("none", accuracy[4].Previous, accuracy[4].Marked, accuracy[4].Both, "—", "—");
        var drops = new List<(int Head, Accuracy A)>();
        for (int h = 0; h < 4; h++)
        {
            Accuracy a;
            using (HeadAblation.Zero(four.Layers[0], h)) a = Evaluate(four, evalBatch);
            drops.Add((h, a));
            ablation.AddRow($"H{h}", a.Previous, a.Marked, a.Both, prevWeight[h], markWeight[h]);
        }
        result.Tables.Add(ablation);
        DrawHeads(context, result, four, evalBatch);
        int prevHead = Enumerable.Range(0, 4).MaxBy(h => prevWeight[h]);
        var withoutPrev = drops[prevHead].A;
        int markedReaders = Enumerable.Range(0, 4).Count(h => markWeight[h] > 0.5);

        // (c) the low-rank limit
        var rankTable = new Table($"Measured rank of each trained head's logits S = Q·Kᵀ/√Dh over one held-out row (T = {s.Time}; singular values above 1e-6 of the largest)",
            "model", "head width Dh", "largest rank over heads", "bound min(Dh, T)");
        var ranks = new Dictionary<int, int>();
        foreach (var h in HeadCounts)
        {
            ranks[h] = MaxLogitRank(models[h], evalBatch);
            rankTable.AddRow($"{h} × {s.Dim / h}", s.Dim / h, ranks[h], Math.Min(s.Dim / h, s.Time));
        }
        result.Tables.Add(rankTable);
        context.Report(0.65, "low-rank fits");
        int[] targetRanks = [2, 8, s.FitLength];
        int[] widths = [1, 2, 4, 8, 16, 32];
        var fit = new Table($"Fitting one head's pattern to a target P* = softmax(A·Bᵀ) of known logit rank r over T = {s.FitLength} positions: " +
                            $"smallest KL(P* ‖ P) reached (nats per row, {s.FitSteps} Adam steps, free queries and keys of width Dh)",
            ["head width Dh", .. targetRanks.Select(r => $"target rank {r}")]);
        var kl = new double[widths.Length, targetRanks.Length];
        var fitRng = new Rng((ulong)context.Seed + 5);
        var targets = targetRanks.Select(r => LowRankTarget(s.FitLength, r, fitRng)).ToArray();
        for (int w = 0; w < widths.Length; w++)
        {
            var row = new List<object> { widths[w] };
            for (int r = 0; r < targetRanks.Length; r++)
            {
                kl[w, r] = FitHead(targets[r], s.FitLength, widths[w], s.FitSteps, new Rng((ulong)context.Seed + 6 + (ulong)w));
                row.Add(kl[w, r]);
            }
            fit.AddRow(row.ToArray());
        }
        result.Tables.Add(fit);
        string fitPath = context.FigurePath("q12-low-rank.png");
        Charts.Lines(fitPath, $"Best KL to a target pattern (T = {s.FitLength}) against head width", "head width Dh", "KL (nats per row)",
            targetRanks.Select((r, ri) => new Series($"target logit rank {r}", widths.Select(v => (double)v).ToArray(),
                                                     Enumerable.Range(0, widths.Length).Select(w => Math.Max(kl[w, ri], 1e-6)).ToArray())).ToList(), logX: true, logY: true);
        result.Figures.Add(new Figure(fitPath, "A head fits a pattern only when its width reaches the rank of the pattern's logits; below it the error stays high however long it trains."));

        // (d) MiniLM's heads
        context.Report(0.85, "MiniLM heads");
        var (minilmTable, minilmLayers, distinct) = MiniLmHeads(s);
        result.Tables.Add(minilmTable);

        // metrics and checks
        foreach (var h in HeadCounts)
        {
            result.Metrics[$"accuracy_both_{h}x{s.Dim / h}"] = accuracy[h].Both;
            result.Metrics[$"accuracy_previous_{h}x{s.Dim / h}"] = accuracy[h].Previous;
            result.Metrics[$"accuracy_marked_{h}x{s.Dim / h}"] = accuracy[h].Marked;
            result.Metrics[$"parameters_{h}x{s.Dim / h}"] = models[h].ParameterCount;
            result.Metrics[$"max_logit_rank_{h}x{s.Dim / h}"] = ranks[h];
        }
        for (int w = 0; w < widths.Length; w++)
            for (int r = 0; r < targetRanks.Length; r++) result.Metrics[$"fit_kl_width{widths[w]}_rank{targetRanks[r]}"] = kl[w, r];
        result.Metrics["ablation_previous_accuracy_without_offset_head"] = withoutPrev.Previous;
        result.Metrics["minilm_mean_js_between_heads"] = minilmLayers.Average();
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;

        var counts = HeadCounts.Select(h => models[h].ParameterCount).Distinct().ToList();
        result.Check("1 × 64, 4 × 16 and 8 × 8 have exactly the same number of parameters (measured from the models)", counts.Count == 1,
            string.Join(", ", HeadCounts.Select(h => $"{h} × {s.Dim / h}: {models[h].ParameterCount:N0}")));
        result.Check("several heads solve both relations (both symbols right > 90% with 4 × 16 and with 8 × 8)",
            accuracy[4].Both > 0.9 && accuracy[8].Both > 0.9, $"{accuracy[4].Both:P1} and {accuracy[8].Both:P1}");
        result.Check("one head of 64 cannot: both symbols right < 50%, at least 40 points below 4 × 16",
            accuracy[1].Both < 0.5 && accuracy[4].Both - accuracy[1].Both > 0.4, $"{accuracy[1].Both:P1} vs {accuracy[4].Both:P1}");
        result.Check("heads specialise: zeroing the 4 × 16 head that reads t − 1 drops previous-symbol accuracy below 50% and leaves the marked symbol above 90%",
            withoutPrev.Previous < 0.5 && withoutPrev.Marked > 0.9, $"without H{prevHead}: previous {withoutPrev.Previous:P0}, marked {withoutPrev.Marked:P0}");
        result.Check("the model keeps spare heads: at least two heads of 4 × 16 put more than half their weight on the marked key",
            markedReaders >= 2, $"{markedReaders} heads; zeroing any one of them leaves the marked symbol at ≥ {drops.Where(d => d.Head != prevHead).Min(d => d.A.Marked):P0}");
        result.Check("the rank of a trained head's logits is capped by its width: 8 × 8 heads stay at rank ≤ 8 over 16 positions, the 64-wide head goes above 8",
            ranks[8] <= 8 && ranks[4] <= 16 && ranks[1] > 8, $"8 × 8: {ranks[8]}; 4 × 16: {ranks[4]}; 1 × 64: {ranks[1]}");
        int ri8 = Array.IndexOf(targetRanks, 8), wi4 = Array.IndexOf(widths, 4), wi8 = Array.IndexOf(widths, 8), wi32 = Array.IndexOf(widths, 32);
        int riFull = targetRanks.Length - 1;
        result.Check("a head narrower than the target's logit rank cannot fit it: for rank 8, width 4 leaves at least 10 × the KL of width 8",
            kl[wi4, ri8] > 10 * kl[wi8, ri8], $"{Table.FormatNumber(kl[wi4, ri8])} vs {Table.FormatNumber(kl[wi8, ri8])} nats");
        result.Check($"a full-rank pattern over {s.FitLength} positions needs a head as wide as the sequence: width 32 fits it at least 10 × better than width 8",
            kl[wi32, riFull] * 10 < kl[wi8, riFull], $"{Table.FormatNumber(kl[wi32, riFull])} vs {Table.FormatNumber(kl[wi8, riFull])} nats");
        result.Check("MiniLM's heads differ: in every layer the mean Jensen–Shannon divergence between two heads' attention rows exceeds 0.1 nats",
            minilmLayers.Min() > 0.1, $"smallest layer mean {minilmLayers.Min():0.###}");

        result.Notes.Add($"Task: V = {s.Vocab} symbols, T = {s.Time}, one marked position per row; targets at every position t: x[t − 1] (none at t = 0) and x[m]. " +
                         $"Model: symbol + mark + learned position embeddings (std {EmbeddingScale}), one {s.Dim}-wide bidirectional attention layer in a residual branch, " +
                         $"final LayerNorm, a readout of 2V logits (two softmaxes); {s.Steps} AdamW steps of {s.BatchSize} fresh rows, the same rows for every model.");
        result.Notes.Add($"Low-rank fits: A, B ~ N(0, 1) of shape (T, r), logits A·Bᵀ·3/√r; the head's logits are U·Vᵀ with U, V free (T, Dh), the best any queries and keys of width Dh can do " +
                         "(KL values below about 1e-5 are float32 rounding; 0 means the fit reached it); " +
                         $"{distinct}. Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    /// <summary>Standard deviation of the initial embeddings.</summary>
    public const float EmbeddingScale = 1f;

    /// <summary>A one-layer attention-only model with H heads for the two-relation task (the readout holds both relations' V logits).</summary>
    public static AttentionOnlyTransformer NewModel(Settings s, int heads, int seed)
    {
        ArgumentNullException.ThrowIfNull(s);
        return new AttentionOnlyTransformer(s.Vocab, s.Time, s.Dim, heads, layers: 1, outputs: 2 * s.Vocab, new Rng((ulong)seed + 1),
                                            types: 2, preNorm: false, finalNorm: true, embeddingScale: EmbeddingScale);
    }

    private static Var Loss(AttentionOnlyTransformer model, TwoRelationBatch batch)
    {
        int v = model.Outputs / 2;
        var logits = model.Forward(batch.Symbols, batch.Batch, batch.Time, causal: false, types: batch.Marks);   // (B, T, 2V)
        return Var.CrossEntropy(logits.Slice(2, 0, v), batch.Previous, TwoRelationTask.Ignore)
             + Var.CrossEntropy(logits.Slice(2, v, v), batch.Marked, TwoRelationTask.Ignore);
    }

    private static (double[] Losses, List<(int Step, double Both)> Curve) Train(AttentionOnlyTransformer model, Settings s, TwoRelationBatch evalBatch, Rng rng,
                                                                               ExperimentContext context, double progressStart)
    {
        var optimizer = new AdamW(model.Parameters(), s.LearningRate, weightDecay: 0.01f);
        var schedule = new WarmupCosineSchedule(s.LearningRate, Math.Max(1, s.Steps / 20), s.Steps, s.LearningRate / 10);
        var losses = new double[s.Steps];
        var curve = new List<(int, double)> { (0, Evaluate(model, evalBatch).Both) };
        int every = Math.Max(1, s.Steps / 20);
        for (int step = 1; step <= s.Steps; step++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var batch = TwoRelationTask.Sample(s.BatchSize, s.Time, s.Vocab, rng);
            var loss = Loss(model, batch);
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ByGlobalNorm(optimizer.Parameters, 1f);
            optimizer.LearningRate = schedule.At(step);
            optimizer.Step();
            losses[step - 1] = loss.Item();
            if (step % every == 0)
            {
                curve.Add((step, Evaluate(model, evalBatch).Both));
                context.Report(progressStart + 0.2 * step / s.Steps, $"{model.Layers[0].Heads} heads, step {step}: loss {losses[step - 1]:0.000}");
            }
        }
        model.Eval();
        return (losses, curve);
    }

    private static Accuracy Evaluate(AttentionOnlyTransformer model, TwoRelationBatch batch)
    {
        using var _ = Var.NoGrad();
        int v = model.Outputs / 2, t = batch.Time;
        var logits = model.Forward(batch.Symbols, batch.Batch, t, causal: false, types: batch.Marks).Value.ToArray();
        long prevRight = 0, markRight = 0, both = 0, n = 0;
        for (int r = 0; r < batch.Batch * t; r++)
        {
            if (batch.Previous[r] == TwoRelationTask.Ignore) continue;
            bool p = ArgMax(logits.AsSpan(r * 2 * v, v)) == batch.Previous[r];
            bool m = ArgMax(logits.AsSpan(r * 2 * v + v, v)) == batch.Marked[r];
            n++;
            if (p) prevRight++;
            if (m) markRight++;
            if (p && m) both++;
        }
        return new Accuracy((double)prevRight / n, (double)markRight / n, (double)both / n);
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int arg = 0;
        for (int c = 1; c < row.Length; c++) if (row[c] > row[arg]) arg = c;
        return arg;
    }

    /// <summary>Per head: mean P[t, t − 1] over t ≥ 1 and mean P[t, m] over all t, on the held-out batch.</summary>
    private static (double[] Previous, double[] Marked) WhereHeadsLook(AttentionOnlyTransformer model, TwoRelationBatch batch)
    {
        using var _ = Var.NoGrad();
        var probabilities = new List<Var>();
        model.Forward(batch.Symbols, batch.Batch, batch.Time, causal: false, types: batch.Marks, probabilities: probabilities);
        var p = probabilities[0].Value.AsSpan();
        int heads = probabilities[0].Shape[1], t = batch.Time;
        var prev = new double[heads]; var mark = new double[heads];
        for (int b = 0; b < batch.Batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < t; i++)
                {
                    var row = p.Slice((((b * heads) + h) * t + i) * t, t);
                    if (i >= 1) prev[h] += row[i - 1] / (batch.Batch * (t - 1.0));
                    mark[h] += row[batch.MarkedPositions[b]] / (batch.Batch * (double)t);
                }
        return (prev, mark);
    }

    private static void DrawHeads(ExperimentContext context, ExperimentResult result, AttentionOnlyTransformer model, TwoRelationBatch batch)
    {
        using var _ = Var.NoGrad();
        var probabilities = new List<Var>();
        int t = batch.Time;
        var one = batch.Symbols.AsSpan(0, t).ToArray();
        var marks = batch.Marks.AsSpan(0, t).ToArray();
        model.Forward(one, 1, t, causal: false, types: marks, probabilities: probabilities);
        var p = probabilities[0].Value.ToArray();
        int heads = probabilities[0].Shape[1];
        var labels = Enumerable.Range(0, t).Select(i => marks[i] == 1 ? $"*{one[i]}" : one[i].ToString(CultureInfo.InvariantCulture)).ToList();
        var grid = new List<IReadOnlyList<float[,]>> { Enumerable.Range(0, heads).Select(h =>
        {
            var m = new float[t, t];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++) m[i, j] = p[(h * t + i) * t + j];
            return m;
        }).ToList() };
        string path = context.FigurePath("q12-four-heads.png");
        HeadGrid.Write(path, grid, labels, "4 × 16 model, one held-out row (* = marked)");
        result.Figures.Add(new Figure(path, "The four heads of the 4 × 16 model on one row: rows are queries, columns keys; the marked key is starred. " +
                                            "A sub-diagonal is a previous-symbol head, a bright column a marked-key head."));
    }

    /// <summary>
    /// The largest numerical rank over heads of the logit matrix S_h = Q_h·K_hᵀ/√Dh (T × T) on the first held-out row, computed
    /// from the model's own embeddings and projections (the model reads raw embeddings: no LayerNorm before attention).
    /// </summary>
    public static int MaxLogitRank(AttentionOnlyTransformer model, TwoRelationBatch batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(batch);
        using var _ = Var.NoGrad();
        int t = batch.Time;
        var layer = model.Layers[0];
        var x = model.Tokens.Forward(batch.Symbols.AsSpan(0, t), 1, t) + model.TypeEmbedding!.Forward(batch.Marks.AsSpan(0, t), 1, t)
              + model.Positions.Forward(Enumerable.Range(0, t).ToArray());
        var q = layer.Q.Forward(x).Value.ToArray();                                      // (1, T, H·Dh)
        var k = layer.K.Forward(x).Value.ToArray();
        int heads = layer.Heads, dh = layer.HeadDim, width = heads * dh, best = 0;
        for (int h = 0; h < heads; h++)
        {
            var logits = new double[t, t];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < dh; c++) dot += (double)q[i * width + h * dh + c] * k[j * width + h * dh + c];
                    logits[i, j] = dot / Math.Sqrt(dh);
                }
            best = Math.Max(best, SingularValues.Rank(logits, 1e-6));
        }
        return best;
    }

    /// <summary>P* = softmax(A·Bᵀ·3/√r), A, B ~ N(0, 1) of shape (T, r): a pattern whose logits have rank r.</summary>
    public static float[] LowRankTarget(int t, int rank, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(t);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rank);
        var a = rng.NormalArray(t * rank); var b = rng.NormalArray(t * rank);
        var p = new float[t * t];
        double scale = 3 / Math.Sqrt(rank);
        for (int i = 0; i < t; i++)
        {
            var logits = new double[t];
            for (int j = 0; j < t; j++)
            {
                double dot = 0;
                for (int k = 0; k < rank; k++) dot += a[i * rank + k] * b[j * rank + k];
                logits[j] = scale * dot;
            }
            double max = logits.Max(), sum = logits.Sum(z => Math.Exp(z - max));
            for (int j = 0; j < t; j++) p[i * t + j] = (float)(Math.Exp(logits[j] - max) / sum);
        }
        return p;
    }

    /// <summary>
    /// The smallest KL(P* ‖ softmax(U·Vᵀ)) per row that Adam finds for free U, V of shape (T, width): the best a head of that
    /// width can do with any queries and keys. Returns the final KL in nats per row.
    /// </summary>
    public static double FitHead(float[] target, int t, int width, int steps, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (t <= 0 || target.Length != t * t)
            throw new ArgumentException($"expected a {t}×{t} target pattern, got {target.Length} values", nameof(target));
        var u = Var.Parameter(rng.NormalTensor([t, width], 0f, 0.5f));
        var v = Var.Parameter(rng.NormalTensor([t, width], 0f, 0.5f));
        var optimizer = new Adam([u, v], 0.05f);
        var pStar = Var.Constant(Tensor.FromArray(target, t, t));
        double entropy = 0;
        foreach (var q in target) if (q > 0) entropy -= q * Math.Log(q);
        double best = double.PositiveInfinity;
        for (int step = 1; step <= steps; step++)
        {
            var logp = Var.MatMul(u, v, transposeB: true).LogSoftmax(-1);
            var crossEntropy = (pStar * logp).Sum() * (-1f / t);                      // −(1/T) Σ P* log P
            optimizer.ZeroGrad();
            crossEntropy.Backward();
            optimizer.Step();
            best = Math.Min(best, crossEntropy.Item() - entropy / t);
        }
        return Math.Max(0, best);
    }

    /// <summary>
    /// Runs all-MiniLM-L6-v2 on every k-th sentence of the corpus and compares its heads: per layer, the mean Jensen–Shannon
    /// divergence between the attention rows of two heads (over every pair, sentence and query), the most similar pair,
    /// and how many heads have a job answer 22's statistics name.
    /// </summary>
    private static (Table Table, double[] LayerMeans, string Note) MiniLmHeads(Settings s)
    {
        var model = BertModel.LoadMiniLm();
        var sentences = SentenceCorpus.LoadRepoCopy().All.Where((_, i) => i % s.SentenceStride == 0).ToList();
        var attention = ModelProbe.Attend(model, sentences);
        int layers = model.Config.Layers, heads = model.Config.Heads;
        var stats = ModelProbe.Statistics(attention, layers, heads);
        var table = new Table($"all-MiniLM-L6-v2's 12 heads per layer compared ({sentences.Count} sentences): Jensen–Shannon divergence between two heads' rows (nats, at most ln 2 = 0.693)",
            "layer", "mean over head pairs", "most similar pair", "its divergence", "most different pair", "its divergence",
            "heads > 0.5 on [CLS]", "heads > 0.5 on previous or next token");
        var means = new double[layers];
        for (int l = 0; l < layers; l++)
        {
            var js = new double[heads, heads];
            long rows = 0;
            foreach (var sentence in attention)
            {
                int n = sentence.Length;
                var p = sentence.Layers[l];
                for (int i = 0; i < n; i++)
                {
                    rows++;
                    for (int a = 0; a < heads; a++)
                        for (int b = a + 1; b < heads; b++)
                            js[a, b] += JensenShannon(p.AsSpan((a * n + i) * n, n), p.AsSpan((b * n + i) * n, n));
                }
            }
            var pairs = new List<(int A, int B, double D)>();
            for (int a = 0; a < heads; a++)
                for (int b = a + 1; b < heads; b++) pairs.Add((a, b, js[a, b] / rows));
            means[l] = pairs.Average(x => x.D);
            var near = pairs.MinBy(x => x.D); var far = pairs.MaxBy(x => x.D);
            var hs = stats.All().Where(h => h.Layer == l).ToList();
            table.AddRow(l, means[l], $"H{near.A} & H{near.B}", near.D, $"H{far.A} & H{far.B}", far.D,
                         hs.Count(h => h.ToCls > 0.5), hs.Count(h => h.ToPrevious > 0.5 || h.ToNext > 0.5));
        }
        double meanLength = attention.Average(x => x.Length);
        return (table, means, $"MiniLM: heads of width {model.Config.Hidden / heads}, sentences of {meanLength:0.#} tokens on average, so its logits are not rank-limited here");
    }

    /// <summary>JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, in nats.</summary>
    public static double JensenShannon(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        if (p.Length != q.Length) throw new ArgumentException($"expected distributions of equal length, got {p.Length} and {q.Length}", nameof(q));
        double d = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double m = 0.5 * (p[i] + q[i]);
            if (p[i] > 0) d += 0.5 * p[i] * Math.Log(p[i] / m);
            if (q[i] > 0) d += 0.5 * q[i] * Math.Log(q[i] / m);
        }
        return d;
    }
}
