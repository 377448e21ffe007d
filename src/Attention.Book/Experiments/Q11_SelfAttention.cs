using System.Diagnostics;
using System.Globalization;
using Attention.Autograd;
using Attention.Data;
using Attention.Interpret;
using Attention.Models;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 11: self-attention. (a) Without positions, a self-attention layer is permutation-equivariant:
/// Y(πX) = π·Y(X), to float rounding; adding position embeddings or the causal mask breaks it. (b) Induction heads
/// (Olsson et al., 2022; Elhage et al., 2021): a 2-layer attention-only Transformer trained on random tokens whose
/// second copy repeats the first (<see cref="RepeatedTokensTask"/>) learns to predict the second copy and not the
/// first; the accuracy on the second copy jumps during training (the phase change), a layer-1 head becomes a
/// previous-token head and a layer-2 head an induction head, found by their <see cref="PatternScores"/>; zeroing
/// either head (<see cref="HeadAblation"/>) breaks the second copy.
/// Page: docs/answers/11-self-attention.md
/// </summary>
public sealed class Q11_SelfAttention : Experiment
{
    public override int Question => 11;
    public override string Title => "What self-attention is and how it works";

    /// <summary>The sizes of one run.</summary>
    /// <param name="Vocab">Tokens including BOS.</param>
    /// <param name="Time">Sequence length T.</param>
    /// <param name="MinHalf">Shortest repeated block.</param>
    /// <param name="MaxHalf">Longest repeated block.</param>
    /// <param name="Dim">Model width E.</param>
    /// <param name="Heads">Heads per layer.</param>
    /// <param name="Steps">AdamW steps (fresh random batches each step).</param>
    /// <param name="BatchSize">Rows per step.</param>
    /// <param name="LearningRate">Peak learning rate (warm-up, then cosine to a tenth).</param>
    /// <param name="EvalEvery">Steps between evaluations on the fixed held-out batch.</param>
    /// <param name="EvalRows">Rows of the held-out batch.</param>
    public sealed record Settings(int Vocab, int Time, int MinHalf, int MaxHalf, int Dim, int Heads, int Steps, int BatchSize,
                                  float LearningRate, int EvalEvery, int EvalRows);

    /// <summary>Quick: seconds on two cores. Full: a longer, wider run.</summary>
    /// <remarks>The same training in both (same seed, same steps); the full run evaluates on four times as many held-out rows, twice as
    /// often. Small initial embeddings (std 0.1) matter: with N(0, 1) tables the heads did not form within this step budget.</remarks>
    public static Settings For(bool full) => full
        ? new Settings(Vocab: 24, Time: 21, MinHalf: 4, MaxHalf: 10, Dim: 32, Heads: 2, Steps: 1200, BatchSize: 32, LearningRate: 1e-2f, EvalEvery: 25, EvalRows: 512)
        : new Settings(Vocab: 24, Time: 21, MinHalf: 4, MaxHalf: 10, Dim: 32, Heads: 2, Steps: 1200, BatchSize: 32, LearningRate: 1e-2f, EvalEvery: 50, EvalRows: 128);

    /// <summary>Standard deviation of the initial token and position embeddings.</summary>
    public const float EmbeddingScale = 0.1f;

    /// <summary>max |Y(πX) − π·Y(X)| for one self-attention layer on random X (B = 1, T, E), with the options named.</summary>
    public static double EquivarianceError(MultiHeadAttention layer, Tensor x, int[] permutation, Tensor? positions = null, bool causal = false)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(permutation);
        int t = x.Shape[1], e = x.Shape[2];
        if (x.Rank != 3 || x.Shape[0] != 1 || permutation.Length != t)
            throw new ArgumentException($"expected x (1, T, E) and a permutation of T, got x {string.Join("×", x.Shape.ToArray())} and {permutation.Length} indices");
        var permuted = Permute(x, permutation);
        using var _ = Var.NoGrad();
        Var Run(Tensor input)
        {
            var v = Var.Constant(input);
            if (positions is not null) v = v + Var.Constant(positions);        // position p is added to whatever token sits at p
            return layer.Forward(v, causal: causal);
        }
        var y = Run(x).Value;
        var yPermuted = Run(permuted).Value;
        var expected = Permute(y, permutation);
        double worst = 0;
        var a = yPermuted.AsSpan(); var b = expected.AsSpan();
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        return worst;
    }

    /// <summary>Rows of (1, T, E) reordered: out[i] = x[π(i)].</summary>
    public static Tensor Permute(Tensor x, int[] permutation)
    {
        int t = x.Shape[1], e = x.Shape[2];
        var output = Tensor.Zeros(1, t, e);
        for (int i = 0; i < t; i++) x.AsSpan().Slice(permutation[i] * e, e).CopyTo(output.AsSpan().Slice(i * e, e));
        return output;
    }

    private sealed record Evaluation(int Step, double LossFirst, double LossSecond, double AccuracyFirst, double AccuracySecond,
                                     double BestPrevious, double BestInduction);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var s = For(context.Full);
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };

        // (a) permutation equivariance of one layer
        var eqRng = new Rng((ulong)context.Seed);
        const int eqTime = 9, eqDim = 16;
        var layer = new MultiHeadAttention(eqDim, 4, eqRng);
        var x = eqRng.NormalTensor([1, eqTime, eqDim]);
        var positions = eqRng.NormalTensor([1, eqTime, eqDim]);
        var perm = Batching.Permutation(eqTime, eqRng);
        double plain = EquivarianceError(layer, x, perm);
        double withPositions = EquivarianceError(layer, x, perm, positions);
        double causal = EquivarianceError(layer, x, perm, causal: true);
        double scale = Math.Abs(layer.Forward(Var.Constant(x)).Value.ToArray().Max(v => Math.Abs(v)));
        var eqTable = new Table($"max |Y(πX) − π·Y(X)|, one 4-head self-attention layer, X ~ N(0, 1) of shape ({eqTime}, {eqDim}), π = [{string.Join(" ", perm)}]",
            "layer input", "max error", "relative to max |Y|");
        eqTable.AddRow("tokens only (no positions), bidirectional", plain, plain / scale);
        eqTable.AddRow("tokens + position embeddings", withPositions, withPositions / scale);
        eqTable.AddRow("tokens only, causal mask", causal, causal / scale);
        result.Tables.Add(eqTable);

        // (b) induction heads
        var model = new AttentionOnlyTransformer(s.Vocab, s.Time, s.Dim, s.Heads, layers: 2, outputs: s.Vocab, new Rng((ulong)context.Seed + 1),
                                                 embeddingScale: EmbeddingScale);
        var evalBatch = RepeatedTokensTask.Sample(s.EvalRows, s.Time, s.MinHalf, s.MaxHalf, s.Vocab, new Rng((ulong)context.Seed + 2));
        var curve = Train(model, s, evalBatch, new Rng((ulong)context.Seed + 3), context, 0, 0.75, scores: true);
        var final = curve[^1];
        // the control: one attention layer, same data, same steps; Elhage et al. find no induction heads in one-layer models
        var oneLayer = new AttentionOnlyTransformer(s.Vocab, s.Time, s.Dim, s.Heads, layers: 1, outputs: s.Vocab, new Rng((ulong)context.Seed + 1),
                                                    embeddingScale: EmbeddingScale);
        var control = Train(oneLayer, s, evalBatch, new Rng((ulong)context.Seed + 3), context, 0.75, 0.15, scores: false)[^1];

        // the heads, by their scores on the held-out batch
        var (scores, probabilities) = HeadScores(model, evalBatch);
        int layers = 2, heads = s.Heads;
        var headTable = new Table($"Pattern scores of every head on {s.EvalRows} held-out rows (queries of the second copy for the induction score)",
            "head", "previous-token score", "induction score", "second-copy accuracy with this head zeroed", "first-copy accuracy with this head zeroed");
        var ablated = new Dictionary<(int, int), (double First, double Second)>();
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < heads; h++)
            {
                Evaluation e;
                using (HeadAblation.Zero(model.Layers[l], h)) e = Evaluate(model, evalBatch, s.Steps, scores: false);
                ablated[(l, h)] = (e.AccuracyFirst, e.AccuracySecond);
                headTable.AddRow($"L{l + 1} H{h + 1}", scores[l, h].PreviousToken, scores[l, h].Induction, e.AccuracySecond, e.AccuracyFirst);
            }
        headTable.AddRow("none zeroed", "—", "—", final.AccuracySecond, final.AccuracyFirst);
        var uniformHead = UniformScores(evalBatch);
        headTable.AddRow("(a head attending uniformly to keys 0..i)", uniformHead.PreviousToken, uniformHead.Induction, "—", "—");
        result.Tables.Add(headTable);
        var prevHead = Enumerable.Range(0, heads).MaxBy(h => scores[0, h].PreviousToken);
        var indHead = Enumerable.Range(0, heads).MaxBy(h => scores[1, h].Induction);
        double prevScore = scores[0, prevHead].PreviousToken, indScore = scores[1, indHead].Induction;
        var uniform = UniformScores(evalBatch);

        var accuracyTable = new Table($"Held-out next-token prediction after {s.Steps} steps ({s.EvalRows} rows; chance = 1/{s.Vocab - 1})",
            "queries", "accuracy", "loss (nats)");
        accuracyTable.AddRow("2 layers: filler and first copy (next token is a fresh random draw)", final.AccuracyFirst, final.LossFirst);
        accuracyTable.AddRow("2 layers: second copy (next token appeared earlier in the row)", final.AccuracySecond, final.LossSecond);
        accuracyTable.AddRow("1 layer (control, same data and steps): filler and first copy", control.AccuracyFirst, control.LossFirst);
        accuracyTable.AddRow("1 layer (control, same data and steps): second copy", control.AccuracySecond, control.LossSecond);
        result.Tables.Insert(1, accuracyTable);

        // the phase change: the first evaluation where second-copy accuracy passes 50%, and how long 10% → 90% took
        int Cross(double level) => curve.FirstOrDefault(c => c.AccuracySecond >= level)?.Step ?? -1;
        int at10 = Cross(0.1), at50 = Cross(0.5), at90 = Cross(0.9);

        // figures
        var steps = curve.Select(c => (double)c.Step).ToArray();
        string curvePath = context.FigurePath("q11-phase-change.png");
        Charts.Lines(curvePath, "Induction heads form: accuracy and head scores during training", "step", "accuracy / score",
        [
            new Series("accuracy, second copy", steps, curve.Select(c => c.AccuracySecond).ToArray()),
            new Series("accuracy, first copy", steps, curve.Select(c => c.AccuracyFirst).ToArray()),
            new Series("best induction score (layer 2)", steps, curve.Select(c => c.BestInduction).ToArray()),
            new Series("best previous-token score (layer 1)", steps, curve.Select(c => c.BestPrevious).ToArray()),
        ]);
        result.Figures.Add(new Figure(curvePath,
            "Held-out accuracy on the two halves and the best head scores, every " + s.EvalEvery + " steps. After a plateau the second copy goes from chance to " +
            "nearly solved; the best induction score climbs with it, a little behind (the two layer-2 heads share the job); the first copy stays at chance."));
        DrawHeads(context, result, evalBatch, probabilities, (0, prevHead), (1, indHead));

        result.Metrics["equivariance_error_no_positions"] = plain;
        result.Metrics["equivariance_error_with_positions"] = withPositions;
        result.Metrics["equivariance_error_causal"] = causal;
        result.Metrics["accuracy_first_copy"] = final.AccuracyFirst;
        result.Metrics["accuracy_second_copy"] = final.AccuracySecond;
        result.Metrics["loss_first_copy"] = final.LossFirst;
        result.Metrics["loss_second_copy"] = final.LossSecond;
        result.Metrics["one_layer_accuracy_second_copy"] = control.AccuracySecond;
        result.Metrics["previous_token_score"] = prevScore;
        result.Metrics["induction_score"] = indScore;
        result.Metrics["second_copy_accuracy_without_induction_head"] = ablated[(1, indHead)].Second;
        result.Metrics["second_copy_accuracy_without_previous_token_head"] = ablated[(0, prevHead)].Second;
        result.Metrics["step_second_copy_accuracy_10pct"] = at10;
        result.Metrics["step_second_copy_accuracy_50pct"] = at50;
        result.Metrics["step_second_copy_accuracy_90pct"] = at90;
        result.Metrics["previous_token_score_uniform_head"] = uniform.PreviousToken;
        result.Metrics["induction_score_uniform_head"] = uniform.Induction;
        result.Metrics["parameters"] = model.ParameterCount;
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;

        double chance = 1.0 / (s.Vocab - 1);
        result.Check("without positions self-attention is permutation-equivariant: Y(πX) = π·Y(X) within 1e-5",
            plain < 1e-5, $"max error {plain:e1}");
        result.Check("position embeddings break it (error > 0.01), and so does the causal mask",
            withPositions > 0.01 && causal > 0.01, $"{withPositions:0.###} and {causal:0.###}");
        result.Check("the second copy is predicted (held-out accuracy > 90%), the first is not (< 3 × chance)",
            final.AccuracySecond > 0.9 && final.AccuracyFirst < 3 * chance, $"{final.AccuracySecond:P1} vs {final.AccuracyFirst:P1} (chance {chance:P1})");
        result.Check("one layer is not enough: a one-layer model trained the same way stays below 30% on the second copy",
            control.AccuracySecond < 0.3, $"{control.AccuracySecond:P1} vs {final.AccuracySecond:P1} with two layers");
        result.Check("a layer-1 head is a previous-token head: its score is more than twice that of a head attending uniformly to the visible keys",
            prevScore > 2 * uniform.PreviousToken, $"L1 H{prevHead + 1}: {prevScore:0.###} vs uniform {uniform.PreviousToken:0.###}");
        result.Check("a layer-2 head is an induction head: its score is more than 5 times the uniform head's and above 0.3",
            indScore > 5 * uniform.Induction && indScore > 0.3, $"L2 H{indHead + 1}: {indScore:0.###} vs uniform {uniform.Induction:0.###}");
        result.Check("zeroing the induction head, or the previous-token head it reads through, costs the second copy more than 40% of its accuracy",
            ablated[(1, indHead)].Second < 0.6 * final.AccuracySecond && ablated[(0, prevHead)].Second < 0.6 * final.AccuracySecond,
            $"{final.AccuracySecond:P0} → {ablated[(1, indHead)].Second:P0} and {ablated[(0, prevHead)].Second:P0}");
        result.Check("a plateau, then the jump: second-copy accuracy is below 10% for the first fifth of training and above 90% at the end",
            at10 > s.Steps / 5 && final.AccuracySecond > 0.9, $"10% first reached at step {at10}, 50% at {at50}, 90% at {at90} of {s.Steps}");

        result.Notes.Add($"Model: 2 attention-only layers (pre-LN, no MLP), width {s.Dim}, {s.Heads} heads of {s.Dim / s.Heads}, learned absolute positions, " +
                         $"final LayerNorm and readout; {model.ParameterCount:N0} parameters. Data: T = {s.Time}, BOS, random filler, then a block of " +
                         $"{s.MinHalf}–{s.MaxHalf} tokens twice (vocabulary {s.Vocab - 1} plus BOS, no repeats inside filler + first copy); " +
                         $"{s.Steps} AdamW steps of {s.BatchSize} fresh rows, warm-up + cosine from {s.LearningRate}.");
        result.Notes.Add("Scores: previous-token = mean P[i, i−1] over queries i ≥ 1; induction = mean P[i, j+1] over second-copy queries i whose token " +
                         "occurred before at j. Zeroing a head = zeroing its columns of W_O.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    /// <summary>AdamW with warm-up and cosine decay on fresh batches; returns the held-out evaluations (step 0, every EvalEvery steps and the last).</summary>
    private static List<Evaluation> Train(AttentionOnlyTransformer model, Settings s, RepeatedTokensBatch evalBatch, Rng dataRng,
                                          ExperimentContext context, double progressStart, double progressSpan, bool scores)
    {
        var optimizer = new AdamW(model.Parameters(), s.LearningRate, weightDecay: 0.01f);
        var schedule = new WarmupCosineSchedule(s.LearningRate, Math.Max(1, s.Steps / 20), s.Steps, s.LearningRate / 10);
        var curve = new List<Evaluation> { Evaluate(model, evalBatch, 0, scores) };
        for (int step = 1; step <= s.Steps; step++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var batch = RepeatedTokensTask.Sample(s.BatchSize, s.Time, s.MinHalf, s.MaxHalf, s.Vocab, dataRng);
            var logits = model.Forward(batch.Inputs, batch.Batch, batch.Time, causal: true);
            var loss = Var.CrossEntropy(logits, batch.Targets, RepeatedTokensTask.Ignore);
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ByGlobalNorm(optimizer.Parameters, 1f);
            optimizer.LearningRate = schedule.At(step);
            optimizer.Step();
            if (step % s.EvalEvery == 0 || step == s.Steps)
            {
                curve.Add(Evaluate(model, evalBatch, step, scores));
                context.Report(progressStart + progressSpan * step / s.Steps,
                               $"{model.Layers.Count} layer(s), step {step}: loss {loss.Item():0.000}, second-copy accuracy {curve[^1].AccuracySecond:P0}");
            }
        }
        model.Eval();
        return curve;
    }

    /// <summary>Loss and accuracy on the two halves, and the best head scores, on the fixed held-out batch.</summary>
    private static Evaluation Evaluate(AttentionOnlyTransformer model, RepeatedTokensBatch batch, int step, bool scores = true)
    {
        using var _ = Var.NoGrad();
        var probabilities = scores ? new List<Var>() : null;
        var logits = model.Forward(batch.Inputs, batch.Batch, batch.Time, causal: true, probabilities: probabilities).Value.ToArray();
        int v = model.Outputs, t = batch.Time;
        double lossFirst = 0, lossSecond = 0; long nFirst = 0, nSecond = 0, rightFirst = 0, rightSecond = 0;
        for (int b = 0; b < batch.Batch; b++)
            for (int i = 0; i < t - 1; i++)
            {
                var row = logits.AsSpan((b * t + i) * v, v);
                int target = batch.Targets[b * t + i];
                double max = double.NegativeInfinity; int arg = 0;
                for (int c = 0; c < v; c++) if (row[c] > max) { max = row[c]; arg = c; }
                double sum = 0;
                for (int c = 0; c < v; c++) sum += Math.Exp(row[c] - max);
                double nll = Math.Log(sum) + max - row[target];
                if (batch.InSecondCopy(b, i)) { lossSecond += nll; nSecond++; if (arg == target) rightSecond++; }
                else if (batch.BeforeSecondCopy(b, i) && i >= 1) { lossFirst += nll; nFirst++; if (arg == target) rightFirst++; }
            }
        double bestPrev = double.NaN, bestInd = double.NaN;
        if (probabilities is not null)
        {
            var s = ScoresOf(probabilities, batch);
            bestPrev = Enumerable.Range(0, s.GetLength(1)).Max(h => s[0, h].PreviousToken);
            bestInd = Enumerable.Range(0, s.GetLength(1)).Max(h => s[s.GetLength(0) - 1, h].Induction);
        }
        return new Evaluation(step, lossFirst / nFirst, lossSecond / nSecond, (double)rightFirst / nFirst, (double)rightSecond / nSecond, bestPrev, bestInd);
    }

    /// <summary>The scores of a head that spreads its weight evenly over the keys it may see (causal: 1/(i + 1) on keys 0..i).</summary>
    private static PatternScores UniformScores(RepeatedTokensBatch batch)
    {
        int t = batch.Time;
        var p = new float[t * t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j <= i; j++) p[i * t + j] = 1f / (i + 1);
        var scores = new PatternScores();
        for (int b = 0; b < batch.Batch; b++) scores.Add(p, batch.Inputs.AsSpan(b * t, t));
        return scores;
    }

    private static (PatternScores[,] Scores, List<float[]> Probabilities) HeadScores(AttentionOnlyTransformer model, RepeatedTokensBatch batch)
    {
        using var _ = Var.NoGrad();
        var probabilities = new List<Var>();
        model.Forward(batch.Inputs, batch.Batch, batch.Time, causal: true, probabilities: probabilities);
        return (ScoresOf(probabilities, batch), probabilities.Select(p => p.Value.ToArray()).ToList());
    }

    /// <summary>Per layer and head: previous-token score over all queries i ≥ 1, induction score over the queries whose token occurred before (the second copy).</summary>
    private static PatternScores[,] ScoresOf(List<Var> probabilities, RepeatedTokensBatch batch)
    {
        int layers = probabilities.Count, heads = probabilities[0].Shape[1], t = batch.Time;
        var scores = new PatternScores[layers, heads];
        for (int l = 0; l < layers; l++)
        {
            var p = probabilities[l].Value.AsSpan();                                   // (B, H, T, T)
            for (int h = 0; h < heads; h++)
            {
                var score = scores[l, h] = new PatternScores();
                for (int b = 0; b < batch.Batch; b++)
                    score.Add(p.Slice(((b * heads) + h) * t * t, t * t), batch.Inputs.AsSpan(b * t, t));
            }
        }
        return scores;
    }

    private static void DrawHeads(ExperimentContext context, ExperimentResult result, RepeatedTokensBatch batch, List<float[]> probabilities,
                                  (int Layer, int Head) previous, (int Layer, int Head) induction)
    {
        int t = batch.Time, heads = probabilities[0].Length / (batch.Batch * t * t);
        // the held-out row with the longest repeated block shows the pattern best
        int b = Enumerable.Range(0, batch.Batch).MaxBy(r => batch.Halves[r]);
        var labels = Enumerable.Range(0, t).Select(i => batch.Inputs[b * t + i] == RepeatedTokensTask.Bos ? "BOS" : batch.Inputs[b * t + i].ToString(CultureInfo.InvariantCulture)).ToList();
        foreach (var (which, (l, h), file, caption) in new[]
        {
            ("previous-token head", previous, "q11-previous-token-head.png",
             "The layer-1 head with the highest previous-token score: each query spreads its weight over the two or three keys just before it, most on " +
             "i − 1 (the band below the diagonal) — a soft previous-token head. Early queries rest on BOS."),
            ("induction head", induction, "q11-induction-head.png",
             $"The induction head on the same row: in the second copy (from position {batch.Starts[b] + batch.Halves[b]}) each query attends to the key just after " +
             "the earlier occurrence of its own token — an off-diagonal stripe n − 1 to the left of the diagonal — and copies it."),
        })
        {
            var heat = new float[t, t];
            var p = probabilities[l];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++) heat[i, j] = p[(((b * heads) + h) * t + i) * t + j];
            string path = context.FigurePath(file);
            Charts.Heatmap(path, heat, $"L{l + 1} H{h + 1}, the {which} (block of {batch.Halves[b]} repeated)", labels, labels, "key (token read)", "query");
            result.Figures.Add(new Figure(path, caption) { Heatmap = heat, RowLabels = labels, ColumnLabels = labels });
        }
    }
}
