using System.Globalization;
using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q06 · Additive (Bahdanau et al., 2014) vs multiplicative (Luong et al., 2015) attention. Two measurements:
/// (1) time per decoder step — one query against S keys — of <see cref="AlignmentScores.Dot"/> (a GEMV, GEMM-shaped)
/// and <see cref="AlignmentScores.Additive"/> (S·Da tanh per step) as the key dimension d grows;
/// (2) a learned retrieval task — pool S = 16 value vectors with weights computed from projected queries and keys,
/// loss on the pooled vector — trained with unscaled dot, scaled dot (Vaswani et al., 2017, §3.2.1) and additive
/// scores for d ∈ {8 … 512}: accuracy and the logit spread at initialisation.
/// Page: docs/answers/06-additive-vs-multiplicative.md
/// </summary>
public sealed class Q06_AdditiveVsMultiplicative : Experiment
{
    public override int Question => 6;
    public override string Title => "Additive vs multiplicative attention";

    public static readonly int[] TimingDims = [16, 64, 256, 1024];
    public static readonly int[] TaskDims = [8, 32, 128, 512];
    public static readonly string[] Variants = ["dot", "scaled dot", "additive, no bias", "additive, b = 0 at init", "additive"];
    private static readonly string[] VariantKeys = ["dot", "scaled_dot", "additive_no_bias", "additive_zero_bias_init", "additive"];
    private const int Dot = 0, Scaled = 1, NoBias = 2, ZeroBias = 3, Additive = 4;
    public const int Keys = 16, InputDim = 16, ValueDim = 8, Batch = 64;
    public const float QueryNoise = 0.5f;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        int steps = context.Full ? 600 : 150, repeats = context.Full ? 3 : 1, testSize = context.Full ? 4000 : 1000;

        // (1) time per decoder step: 1 query · S = 128 keys, Da = d for additive. In a recurrent decoder U·kⱼ (+ b) is
        // computed once per source sentence, so a step pays W·q (a d×d matrix–vector product) and then S·Da tanh.
        const int timingKeys = 128;
        var timing = new Table($"Time per decoder step: 1 query against S = {timingKeys} keys (best of many runs, µs; additive with Da = d, U·kⱼ + b cached per source)",
            "d", "dot (µs)", "additive, per-pair part (µs)", "additive incl. W·q (µs)", "ratio additive/dot (per-pair part)");
        var rng = new Rng((ulong)context.Seed);
        var ratios = new double[TimingDims.Length];
        for (int di = 0; di < TimingDims.Length; di++)
        {
            int d = TimingDims[di];
            context.Report(0.1 * di / TimingDims.Length, $"timing d = {d}");
            var q = rng.NormalArray(d); var k = rng.NormalArray(timingKeys * d);
            var w = rng.NormalArray(d * d, 0, 1f / MathF.Sqrt(d)); var v = rng.NormalArray(d, 0, 1f / MathF.Sqrt(d));
            var scores = new float[timingKeys];
            var projectedQuery = new float[d];
            int reps = context.Full ? 400 : 60;
            double dot = Measure.BestMilliseconds(() => AlignmentScores.Dot(q, k, scores, 1, timingKeys, d), reps) * 1000;
            // keys already projected and biased (U·kⱼ + b, cached per source): the per-pair part, then the whole step
            var projectedKeys = k;
            double additivePairs = Measure.BestMilliseconds(() => AdditiveCachedKeys(q, projectedKeys, v, scores, timingKeys, d), reps) * 1000;
            double additiveStep = Measure.BestMilliseconds(() =>
            {
                for (int r = 0; r < d; r++) projectedQuery[r] = System.Numerics.Tensors.TensorPrimitives.Dot(w.AsSpan(r * d, d), q);
                AdditiveCachedKeys(projectedQuery, projectedKeys, v, scores, timingKeys, d);
            }, reps) * 1000;
            ratios[di] = additivePairs / dot;
            timing.AddRow(d, dot, additivePairs, additiveStep, ratios[di]);
            result.Metrics[$"time_dot_us_{d}"] = dot;
            result.Metrics[$"time_additive_pairs_us_{d}"] = additivePairs;
            result.Metrics[$"time_additive_step_us_{d}"] = additiveStep;
            result.Metrics[$"time_ratio_additive_over_dot_{d}"] = ratios[di];
        }
        result.Tables.Add(timing);

        // (2) the learned retrieval task
        var accuracy = new double[Variants.Length, TaskDims.Length];
        var initSpread = new double[Variants.Length, TaskDims.Length];
        var finalLoss = new double[Variants.Length, TaskDims.Length];
        var trainMs = new double[Variants.Length, TaskDims.Length];
        var testRng = new Rng((ulong)context.Seed + 99);
        var test = Sample(testSize, testRng);
        int total = Variants.Length * TaskDims.Length * repeats, done = 0;
        for (int vi = 0; vi < Variants.Length; vi++)
            for (int di = 0; di < TaskDims.Length; di++)
                for (int r = 0; r < repeats; r++)
                {
                    context.Cancellation.ThrowIfCancellationRequested();
                    context.Report(0.1 + 0.9 * done++ / total, $"{Variants[vi]}, d = {TaskDims[di]}, run {r + 1}");
                    var model = new Retriever(Variants[vi], TaskDims[di], new Rng((ulong)(context.Seed + 31 * r + 1)));
                    initSpread[vi, di] += model.LogitStd(test) / repeats;
                    var dataRng = new Rng((ulong)(context.Seed + 1000 + r));
                    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                    double loss = 0;
                    var adam = new Adam(model.Parameters, 3e-3f);
                    for (int s = 0; s < steps; s++)
                    {
                        var batch = Sample(Batch, dataRng);
                        adam.ZeroGrad();
                        var l = model.Loss(batch);
                        l.Backward();
                        adam.Step();
                        if (s >= steps - 20) loss += l.Item() / 20;
                    }
                    trainMs[vi, di] += System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds / repeats;
                    finalLoss[vi, di] += loss / repeats;
                    accuracy[vi, di] += model.Accuracy(test) / repeats;
                }

        var acc = new Table($"Retrieval accuracy on {testSize} test queries after {steps} Adam steps (batch {Batch}, S = {Keys}; mean of {repeats} run{(repeats > 1 ? "s" : "")})",
            ["d", .. Variants.Select(v => $"{v} acc."), .. Variants.Select(v => $"{v} logit std at init")]);
        for (int di = 0; di < TaskDims.Length; di++)
        {
            var row = new List<object> { TaskDims[di] };
            for (int vi = 0; vi < Variants.Length; vi++) row.Add(accuracy[vi, di]);
            for (int vi = 0; vi < Variants.Length; vi++) row.Add(initSpread[vi, di]);
            acc.AddRow(row.ToArray());
            for (int vi = 0; vi < Variants.Length; vi++)
            {
                string key = VariantKeys[vi];
                result.Metrics[$"accuracy_{key}_{TaskDims[di]}"] = accuracy[vi, di];
                result.Metrics[$"init_logit_std_{key}_{TaskDims[di]}"] = initSpread[vi, di];
                result.Metrics[$"final_loss_{key}_{TaskDims[di]}"] = finalLoss[vi, di];
                result.Metrics[$"train_ms_{key}_{TaskDims[di]}"] = trainMs[vi, di];
            }
        }
        result.Tables.Add(acc);
        var cost = new Table("Training time of the whole run (ms, this machine; the additive score materialises a (B, S, d) tanh)",
            ["d", .. Variants]);
        for (int di = 0; di < TaskDims.Length; di++)
            cost.AddRow([TaskDims[di], .. Enumerable.Range(0, Variants.Length).Select(vi => (object)trainMs[vi, di])]);
        result.Tables.Add(cost);

        var xs = TaskDims.Select(d => (double)d).ToArray();
        var accPath = context.FigurePath("q06-accuracy.png");
        Charts.Lines(accPath, "Retrieval accuracy against the key dimension", "d", "test accuracy",
            Variants.Select((v, vi) => new Series(v, xs, TaskDims.Select((_, di) => accuracy[vi, di]).ToArray())).ToList(), logX: true);
        result.Figures.Add(new Figure(accPath, "With a bias inside the tanh the additive score learns the match as well as scaled dot products once Da is wide enough; without one (or with b stuck at 0) it is an odd function and stays far behind."));
        var timePath = context.FigurePath("q06-time.png");
        var txs = TimingDims.Select(d => (double)d).ToArray();
        Charts.Lines(timePath, $"One decoder step, S = {timingKeys} keys", "d", "µs",
        [
            new Series("dot (GEMV)", txs, TimingDims.Select(d => result.Metrics[$"time_dot_us_{d}"]).ToArray()),
            new Series("additive (per-pair tanh)", txs, TimingDims.Select(d => result.Metrics[$"time_additive_pairs_us_{d}"]).ToArray()),
        ], logX: true, logY: true);
        result.Figures.Add(new Figure(timePath, "The additive score pays S·Da tanh per step; the dot product is one matrix–vector product."));

        int last = TaskDims.Length - 1;
        result.Check("the additive score is slower per decoder step than the dot product at every d", ratios.All(r => r > 1),
            string.Join(", ", TimingDims.Select((d, i) => $"d={d}: ×{ratios[i]:F1}")), timing: true);
        result.Check("unscaled dot logits at init spread like √d (std at d = 512 over 4× that at d = 32)",
            initSpread[0, last] > 4 * initSpread[0, 1], $"{initSpread[0, 1]:F2} → {initSpread[0, last]:F2}");
        result.Check("scaled dot logits at init keep a std below 2 at every d",
            Enumerable.Range(0, TaskDims.Length).All(di => initSpread[1, di] < 2), string.Join(", ", Enumerable.Range(0, TaskDims.Length).Select(di => initSpread[1, di].ToString("F2", CultureInfo.InvariantCulture))));
        var additiveKinds = new[] { NoBias, ZeroBias, Additive };
        result.Check("additive logits at init stay below 2 at every d (tanh bounds them by ‖v‖₁)",
            additiveKinds.All(vi => Enumerable.Range(0, TaskDims.Length).All(di => initSpread[vi, di] < 2)),
            string.Join(", ", Enumerable.Range(0, TaskDims.Length).Select(di => initSpread[Additive, di].ToString("F2", CultureInfo.InvariantCulture))));
        result.Check($"at d = {TaskDims[last]} scaled dot is more accurate than unscaled dot", accuracy[Scaled, last] > accuracy[Dot, last],
            $"{accuracy[Scaled, last]:P1} vs {accuracy[Dot, last]:P1}");
        result.Check("the bias matters: additive with b ~ N(0, 1) at init beats the bias-free score by 20 points or more at every d ≥ 32",
            Enumerable.Range(1, TaskDims.Length - 1).All(di => accuracy[Additive, di] > accuracy[NoBias, di] + 0.2),
            string.Join(", ", TaskDims.Select((d, di) => $"d={d}: {accuracy[Additive, di]:P0} vs {accuracy[NoBias, di]:P0}")));
        result.Check($"a bias started at 0 also escapes the odd function, given steps: at d = {TaskDims[last]} it beats the bias-free score",
            accuracy[ZeroBias, last] > accuracy[NoBias, last] + 0.1,
            string.Join(", ", TaskDims.Select((d, di) => $"d={d}: {accuracy[ZeroBias, di]:P0} vs {accuracy[NoBias, di]:P0}")));
        result.Check($"with its bias and Da = d ≥ 128, additive is within 2 points of scaled dot or better",
            Enumerable.Range(2, TaskDims.Length - 2).All(di => accuracy[Additive, di] > accuracy[Scaled, di] - 0.02),
            string.Join(", ", TaskDims.Select((d, di) => $"d={d}: {accuracy[Additive, di]:P1} vs {accuracy[Scaled, di]:P1}")));
        result.Notes.Add($"Task: S = {Keys} keys xⱼ ~ N(0, I_{InputDim}), values vⱼ ~ N(0, I_{ValueDim}); the query is x_j* + N(0, {QueryNoise}²); " +
                         "q = W_Q·x, kⱼ = W_K·xⱼ (W ~ N(0, 1/16), so each component of q and k has unit variance), output Σ αⱼ vⱼ, loss ‖output − v_j*‖²; " +
                         "accuracy = argmax α is j*. Additive: vᵀtanh(q + kⱼ + b) with Da = d (the projections are W_Q and W_K, as Bahdanau's W_a and U_a; " +
                         "\"no bias\" drops b, \"b = 0 at init\" starts it at zero).");
        return result;
    }

    // vᵀ·tanh(q + kⱼ) with keys already projected (and the bias folded into them): the per (query, key) pair part.
    private static void AdditiveCachedKeys(float[] q, float[] keys, float[] v, float[] scores, int s, int d)
    {
        var h = new float[d];
        for (int j = 0; j < s; j++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(q, keys.AsSpan(j * d, d), h);
            System.Numerics.Tensors.TensorPrimitives.Tanh(h, h);
            scores[j] = System.Numerics.Tensors.TensorPrimitives.Dot(h, v);
        }
    }

    private sealed record TaskBatch(Tensor Keys, Tensor Queries, Tensor Values, int[] Answers, int Size);

    private static TaskBatch Sample(int n, Rng rng)
    {
        var keys = rng.NormalTensor([n, Keys, InputDim]);
        var values = rng.NormalTensor([n, Keys, ValueDim]);
        var answers = new int[n];
        var queries = Tensor.Zeros(n, InputDim);
        var ks = keys.AsSpan(); var qs = queries.AsSpan();
        for (int b = 0; b < n; b++)
        {
            answers[b] = rng.NextInt(Keys);
            for (int c = 0; c < InputDim; c++) qs[b * InputDim + c] = ks[(b * Keys + answers[b]) * InputDim + c] + rng.Normal(0, QueryNoise);
        }
        return new TaskBatch(keys, queries, values, answers, n);
    }

    private sealed class Retriever
    {
        private readonly string _kind;
        private readonly int _dim;
        private readonly Var _wq, _wk, _v;

        public Retriever(string kind, int dim, Rng rng)
        {
            _kind = kind; _dim = dim;
            float std = 1f / MathF.Sqrt(InputDim);
            _wq = Var.Parameter(rng.NormalTensor([InputDim, dim], 0, std), "W_Q");
            _wk = Var.Parameter(rng.NormalTensor([InputDim, dim], 0, std), "W_K");
            _v = Var.Parameter(rng.NormalTensor([dim, 1], 0, 1f / MathF.Sqrt(dim)), "v");
            // the bias starts spread out (N(0, 1)); at b = 0 the score is odd in (x_q, xⱼ) and, the data being symmetric
            // under x → −x, b's gradient is zero in expectation: it leaves 0 only by sampling noise (the "b = 0 at init" variant)
            _b = Var.Parameter(kind == "additive, b = 0 at init" ? Tensor.Zeros(1, 1, dim) : rng.NormalTensor([1, 1, dim], 0, 1f), "b");
        }

        private readonly Var _b;

        public IEnumerable<Var> Parameters => _kind switch
        {
            "additive" or "additive, b = 0 at init" => [_wq, _wk, _b, _v],
            "additive, no bias" => [_wq, _wk, _v],
            _ => [_wq, _wk],
        };

        public Var Scores(TaskBatch b)
        {
            var k = Var.Constant(b.Keys).MatMul(_wk);                             // (B, S, d)
            var q = Var.Constant(b.Queries).MatMul(_wq);                          // (B, d)
            return _kind switch
            {
                "additive" or "additive, b = 0 at init" => (k + q.Unsqueeze(1) + _b).Tanh().MatMul(_v).Reshape(b.Size, Keys),   // vᵀ tanh(W·x_q + U·xⱼ + b)
                "additive, no bias" => (k + q.Unsqueeze(1)).Tanh().MatMul(_v).Reshape(b.Size, Keys),                      // vᵀ tanh(W·x_q + U·xⱼ): odd
                "scaled dot" => k.MatMul(q.Unsqueeze(2)).Reshape(b.Size, Keys) * (1f / MathF.Sqrt(_dim)),
                _ => k.MatMul(q.Unsqueeze(2)).Reshape(b.Size, Keys),
            };
        }

        public Var Loss(TaskBatch b)
        {
            var alpha = Scores(b).Softmax(-1);                                    // (B, S)
            var output = alpha.Unsqueeze(1).MatMul(Var.Constant(b.Values));      // (B, 1, Dv)
            var target = Tensor.Zeros(b.Size, 1, ValueDim);
            var vs = b.Values.AsSpan(); var ts = target.AsSpan();
            for (int i = 0; i < b.Size; i++) vs.Slice((i * Keys + b.Answers[i]) * ValueDim, ValueDim).CopyTo(ts.Slice(i * ValueDim, ValueDim));
            return Var.Mse(output, Var.Constant(target));
        }

        public double Accuracy(TaskBatch b)
        {
            using var _ = Var.NoGrad();
            var s = Scores(b).Value.AsSpan();
            int right = 0;
            for (int i = 0; i < b.Size; i++)
            {
                var row = s.Slice(i * Keys, Keys);
                int best = 0;
                for (int j = 1; j < Keys; j++) if (row[j] > row[best]) best = j;
                if (best == b.Answers[i]) right++;
            }
            return (double)right / b.Size;
        }

        public double LogitStd(TaskBatch b)
        {
            using var _ = Var.NoGrad();
            var s = Scores(b).Value.AsSpan();
            double sum = 0, sq = 0;
            foreach (var x in s) { sum += x; sq += (double)x * x; }
            double mean = sum / s.Length;
            return Math.Sqrt(sq / s.Length - mean * mean);
        }
    }
}
