using System.Diagnostics;
using System.Globalization;
using Attention.Autograd;
using Attention.Interpret;
using Attention.Kernels;
using Attention.Mechanisms;
using Attention.Models;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 21: linear attention and its approximations. Three parts:
/// (a) how far each approximation is from exact softmax attention on the real queries, keys and values of
///     all-MiniLM-L6-v2 (every layer and head) on the sentence corpus packed into 128-token windows — Performer
///     (FAVOR+, 16 … 256 features), Nyström (4 … 64 landmarks), Linformer (k = 16 … 64, E and F a random
///     projection, mean pooling, or either of them fitted to the frozen model), and, for contrast, the elu + 1 kernel of linear attention on the same
///     q and k and plain averaging of the values;
/// (b) time and working memory against N of <see cref="LinearAttentionKernel"/> and <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>
///     on one thread, causal and not, with the crossover measured in one process run;
/// (c) held-out perplexity of the KJV character LM with softmax attention against the same model (same parameters, same
///     initial weights and batches) whose attention core is causal elu + 1 linear attention.
/// Page: docs/answers/21-linear-attention.md
/// </summary>
public sealed class Q21_LinearAttention : Experiment
{
    public override int Question => 21;
    public override string Title => "Linear attention and its approximations";

    /// <summary>The window length (tokens) of the MiniLM part.</summary>
    public const int WindowTokens = 128;

    /// <summary>AdamW's learning rate when fitting Linformer's E and F.</summary>
    public const float FitLearningRate = 3e-3f;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        string loadBefore = LoadAverage();
        Approximations(context, result);
        Timings(context, result, loadBefore);
        LanguageModels(context, result);
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        return result;
    }

    // ---------------------------------------------------------------- (a) approximation error on MiniLM's q, k, v

    private sealed record Heads(Tensor Q, Tensor K, Tensor V, Tensor Exact);

    private static void Approximations(ExperimentContext context, ExperimentResult result)
    {
        bool full = context.Full;
        context.Report(0.02, "MiniLM: queries, keys and values");
        var model = BertModel.LoadMiniLm();
        var corpus = SentenceCorpus.LoadRepoCopy();
        var windows = AttentionInputs.Pack(model, corpus.All, WindowTokens);
        if (!full) windows = windows.Take(6).ToList();
        var captured = AttentionInputs.Capture(model, windows, WindowTokens);
        // even windows fit Linformer's projections, odd windows are held out; every error below is on the odd ones
        int[] fitRows = Enumerable.Range(0, windows.Count).Where(i => i % 2 == 0).ToArray();
        int[] evalRows = Enumerable.Range(0, windows.Count).Where(i => i % 2 == 1).ToArray();
        var evalSet = captured.Select(l => ToHeads(Select(l, evalRows))).ToList();
        var fitSet = captured.Select(l => ToHeads(Select(l, fitRows))).ToList();
        int layers = captured.Count, heads = captured[0].Query.Dim(1), d = captured[0].Query.Dim(3);

        var rows = new List<(string Method, string Setting, double Mean, double[] PerLayer)>();
        // approximate(heads, layer, draw): the error is averaged over `draws` calls (independent random features)
        void Add(string method, string setting, Func<Heads, int, int, Var> approximate, int draws = 1)
        {
            var perLayer = new double[layers];
            for (int l = 0; l < layers; l++)
            {
                using var _ = Var.NoGrad();
                for (int r = 0; r < draws; r++) perLayer[l] += RelativeError(approximate(evalSet[l], l, r).Value, evalSet[l].Exact) / draws;
            }
            rows.Add((method, setting, perLayer.Average(), perLayer));
        }

        context.Report(0.05, "baselines");
        Add("mean of the values (uniform attention)", "—", (h, _, _) => Uniform(h));
        Add("elu + 1 linear attention, same q and k (a different kernel, not an approximation)", "F = D = 32",
            (h, _, _) => LinearAttention.Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V), causal: false));

        int draws = full ? 3 : 1;
        int[] features = full ? [16, 32, 64, 128, 256, 512, 1024] : [16, 32, 64, 128, 256];
        foreach (int m in features)
        {
            context.Report(0.06 + 0.04 * Array.IndexOf(features, m), $"Performer, {m} features");
            Add("Performer (FAVOR+, orthogonal)", $"M = {m}", (h, l, r) =>
                new Performer(d, m, new Rng((ulong)(context.Seed + 1000 * m + 10 * l + r))).Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V), causal: false), draws);
        }
        Add("Performer (FAVOR+, i.i.d. rows)", "M = 256", (h, l, r) =>
            new Performer(d, 256, new Rng((ulong)(context.Seed + 77 + 10 * l + r)), orthogonal: false).Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V), causal: false), draws);

        int[] landmarks = [4, 8, 16, 32, 64];
        foreach (int m in landmarks)
            Add("Nyström (segment-mean landmarks, 6 pinv steps)", $"m = {m}",
                (h, _, _) => new Nystromformer(m).Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V)));

        int[] projected = [16, 32, 64];
        int fitSteps = full ? 150 : 40;
        foreach (int k in projected)
        {
            context.Report(0.3 + 0.1 * Array.IndexOf(projected, k), $"Linformer, k = {k}");
            var random = Enumerable.Range(0, layers).Select(l => new Linformer(WindowTokens, k, new Rng((ulong)(context.Seed + 500 + 7 * k + l)))).ToArray();
            Add("Linformer, E and F random N(0, 1/k)", $"k = {k}", (h, l, _) => random[l].Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V)));
            var fitted = Enumerable.Range(0, layers).Select(l => Fit(new Linformer(WindowTokens, k, new Rng((ulong)(context.Seed + 500 + 7 * k + l))), fitSet[l], fitSteps)).ToArray();
            Add($"Linformer, E and F fitted from the random start ({fitSteps} AdamW steps on the other windows)", $"k = {k}", (h, l, _) => fitted[l].Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V)));
            var pooling = new Linformer(WindowTokens, k, new Rng(1));
            SetToSegmentMeans(pooling);
            Add("Linformer, E = F = segment means (mean pooling, untrained)", $"k = {k}", (h, _, _) => pooling.Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V)));
            var fittedPooling = Enumerable.Range(0, layers).Select(l =>
            {
                var lin = new Linformer(WindowTokens, k, new Rng(1));
                SetToSegmentMeans(lin);
                return Fit(lin, fitSet[l], fitSteps);
            }).ToArray();
            Add($"Linformer, E and F fitted from mean pooling ({fitSteps} AdamW steps on the other windows)", $"k = {k}", (h, l, _) => fittedPooling[l].Forward(Var.Constant(h.Q), Var.Constant(h.K), Var.Constant(h.V)));
        }

        // the logits' spread, to read the table by (FAVOR+'s variance grows like exp(‖q̂ + k̂‖²): the norms matter, not the logits alone)
        var logitStd = new double[layers];
        for (int l = 0; l < layers; l++) logitStd[l] = LogitStd(evalSet[l]);
        rows.Insert(0, ("(scale) standard deviation of the logits q·k/√D within a head", "—", logitStd.Average(), logitStd));
        var table = new Table($"Relative error ‖Ô − O‖/‖O‖ of each head's output against exact softmax attention, all-MiniLM-L6-v2, " +
                              $"{evalRows.Length} held-out windows of {WindowTokens} tokens × {layers} layers × {heads} heads (head width {d})",
                              ["method", "setting", "mean over layers", .. Enumerable.Range(0, layers).Select(l => $"layer {l}")]);
        foreach (var r in rows) table.AddRow([r.Method, r.Setting, r.Mean, .. r.PerLayer.Cast<object>()]);
        result.Tables.Add(table);

        rows.RemoveAt(0);
        result.Metrics["logit_std"] = logitStd.Average();
        double Err(string methodStart, string setting) => rows.First(r => r.Method.StartsWith(methodStart, StringComparison.Ordinal) && r.Setting == setting).Mean;
        foreach (var r in rows)
        {
            string key = r.Method switch
            {
                var s when s.StartsWith("mean of", StringComparison.Ordinal) => "err_uniform",
                var s when s.StartsWith("elu", StringComparison.Ordinal) => "err_elu_linear",
                var s when s.StartsWith("Performer (FAVOR+, orth", StringComparison.Ordinal) => $"err_performer_{r.Setting[4..]}",
                var s when s.StartsWith("Performer (FAVOR+, i.i.d", StringComparison.Ordinal) => "err_performer_iid_256",
                var s when s.StartsWith("Nyström", StringComparison.Ordinal) => $"err_nystrom_{r.Setting[4..]}",
                var s when s.StartsWith("Linformer, E and F random", StringComparison.Ordinal) => $"err_linformer_random_{r.Setting[4..]}",
                var s when s.StartsWith("Linformer, E = F = segment", StringComparison.Ordinal) => $"err_linformer_pooling_{r.Setting[4..]}",
                var s when s.StartsWith("Linformer, E and F fitted from the random", StringComparison.Ordinal) => $"err_linformer_fitted_{r.Setting[4..]}",
                _ => $"err_linformer_fitted_pooling_{r.Setting[4..]}",
            };
            result.Metrics[key] = r.Mean;
        }

        var path = context.FigurePath("q21-approximation-error.png");
        var series = new List<Series>
        {
            new("Performer (M features)", features.Select(m => (double)m).ToArray(), features.Select(m => Err("Performer (FAVOR+, orth", $"M = {m}")).ToArray()),
            new("Nyström (m landmarks)", landmarks.Select(m => (double)m).ToArray(), landmarks.Select(m => Err("Nyström", $"m = {m}")).ToArray()),
            new("Linformer random (k)", projected.Select(k => (double)k).ToArray(), projected.Select(k => Err("Linformer, E and F random", $"k = {k}")).ToArray()),
            new("Linformer fitted from random (k)", projected.Select(k => (double)k).ToArray(), projected.Select(k => Err("Linformer, E and F fitted from the random", $"k = {k}")).ToArray()),
            new("Linformer mean pooling (k)", projected.Select(k => (double)k).ToArray(), projected.Select(k => Err("Linformer, E = F = segment", $"k = {k}")).ToArray()),
            new("Linformer fitted from pooling (k)", projected.Select(k => (double)k).ToArray(), projected.Select(k => Err("Linformer, E and F fitted from mean", $"k = {k}")).ToArray()),
        };
        Charts.Lines(path, $"Error against exact softmax on MiniLM's heads (N = {WindowTokens})", "features / landmarks / projected length", "relative output error", series, logX: true, logY: true);
        result.Figures.Add(new Figure(path, "Mean relative output error against exact softmax attention over MiniLM's 72 heads, by the size of each approximation."));

        double uniform = Err("mean of", "—");
        result.Check("Performer's error falls as features grow: 256 orthogonal features beat 16",
            Err("Performer (FAVOR+, orth", "M = 256") < Err("Performer (FAVOR+, orth", "M = 16"),
            $"{Err("Performer (FAVOR+, orth", "M = 16"):0.###} → {Err("Performer (FAVOR+, orth", "M = 256"):0.###}");
        result.Check("Nyström's error falls as landmarks grow: 64 landmarks beat 4",
            Err("Nyström", "m = 64") < Err("Nyström", "m = 4"), $"{Err("Nyström", "m = 4"):0.###} → {Err("Nyström", "m = 64"):0.###}");
        result.Check("Fitting Linformer's E and F to the model lowers its held-out error below a random projection at every k",
            projected.All(k => Err("Linformer, E and F fitted from the random", $"k = {k}") < Err("Linformer, E and F random", $"k = {k}")),
            string.Join(", ", projected.Select(k => $"k = {k}: {Err("Linformer, E and F random", $"k = {k}"):0.###} → {Err("Linformer, E and F fitted from the random", $"k = {k}"):0.###}")));
        result.Check("Fitting also improves on mean pooling at every k",
            projected.All(k => Err("Linformer, E and F fitted from mean", $"k = {k}") < Err("Linformer, E = F = segment", $"k = {k}")),
            string.Join(", ", projected.Select(k => $"k = {k}: {Err("Linformer, E = F = segment", $"k = {k}"):0.###} → {Err("Linformer, E and F fitted from mean", $"k = {k}"):0.###}")));
        result.Check("Swapping softmax for the elu + 1 kernel on a trained model's q and k is no approximation: its error is at least half that of plain averaging",
            Err("elu", "F = D = 32") >= 0.5 * uniform, $"{Err("elu", "F = D = 32"):0.###} vs uniform {uniform:0.###}");

        result.Notes.Add($"MiniLM part: the {corpus.All.Count} corpus sentences joined in order into {AttentionInputs.Pack(model, corpus.All, WindowTokens).Count} windows of {WindowTokens} tokens " +
                         $"([CLS] … [SEP], no padding){(full ? "" : $"; quick mode uses the first {windows.Count}")}; queries, keys and values captured from every layer of the fp32 model. " +
                         $"Even windows fit Linformer's E, F (one pair per layer shared by the 12 heads, AdamW lr {FitLearningRate} on the mean over heads of ‖Ô − O‖²/‖O‖² against exact attention, starting from the random projection or from mean pooling); " +
                         $"errors are on the {evalRows.Length} odd windows. The real Linformer learns E, F while the whole model trains; fitting them to a frozen model is the closest honest stand-in here. " +
                         $"Performer errors are averaged over {draws} independent draw(s) of the projection.");
    }

    private static LayerAttentionInputs Select(LayerAttentionInputs layer, int[] rows) =>
        new(layer.Layer, Rows(layer.Query, rows), Rows(layer.Key, rows), Rows(layer.Value, rows));

    private static Tensor Rows(Tensor t, int[] rows)
    {
        int per = t.Length / t.Dim(0);
        var shape = t.Shape.ToArray();
        shape[0] = rows.Length;
        var r = Tensor.Zeros(shape);
        for (int i = 0; i < rows.Length; i++) t.AsSpan().Slice(rows[i] * per, per).CopyTo(r.AsSpan().Slice(i * per, per));
        return r;
    }

    private static Heads ToHeads(LayerAttentionInputs l)
    {
        using var _ = Var.NoGrad();
        var exact = Var.Attention(Var.Constant(l.Query), Var.Constant(l.Key), Var.Constant(l.Value)).Value;
        return new Heads(l.Query, l.Key, l.Value, exact);
    }

    private static void SetToSegmentMeans(Linformer lin)
    {
        var means = Nystromformer.SegmentMeans(lin.MaxLength, lin.ProjectedLength).AsSpan();
        means.CopyTo(lin.KeyProjection.Value.AsSpan());
        means.CopyTo(lin.ValueProjection.Value.AsSpan());
    }

    // mean over (window, head) of the standard deviation of the T×T logits q·k/√D
    private static double LogitStd(Heads h)
    {
        using var _ = Var.NoGrad();
        int d = h.Q.Dim(3);
        var logits = (Var.MatMul(Var.Constant(h.Q), Var.Constant(h.K), transposeB: true) * (1f / MathF.Sqrt(d))).Value;
        int b = logits.Dim(0), heads = logits.Dim(1), per = logits.Length / (b * heads);
        var s = logits.AsSpan();
        double total = 0;
        for (int bh = 0; bh < b * heads; bh++)
        {
            double mean = 0, sq = 0;
            for (int i = bh * per; i < (bh + 1) * per; i++) { mean += s[i]; sq += (double)s[i] * s[i]; }
            mean /= per;
            total += Math.Sqrt(Math.Max(0, sq / per - mean * mean));
        }
        return total / (b * heads);
    }

    private static Var Uniform(Heads h)
    {
        var mean = Var.Constant(h.V).Mean(2, keepDim: true);                        // (B, H, 1, D)
        return mean + Var.Constant(Tensor.Zeros(h.Exact.Shape.ToArray()));
    }

    // mean over (window, head) of ‖Ô − O‖_F / ‖O‖_F
    private static double RelativeError(Tensor approx, Tensor exact)
    {
        int b = exact.Dim(0), h = exact.Dim(1), per = exact.Length / (b * h);
        var a = approx.AsSpan();
        var e = exact.AsSpan();
        double total = 0;
        for (int bh = 0; bh < b * h; bh++)
        {
            double num = 0, den = 0;
            for (int i = bh * per; i < (bh + 1) * per; i++) { num += Math.Pow(a[i] - e[i], 2); den += (double)e[i] * e[i]; }
            total += Math.Sqrt(num / den);
        }
        return total / (b * h);
    }

    private static Linformer Fit(Linformer lin, Heads data, int steps)
    {
        var optimizer = new AdamW(lin.Parameters(), FitLearningRate, weightDecay: 0f);
        var q = Var.Constant(data.Q);
        var k = Var.Constant(data.K);
        var v = Var.Constant(data.V);
        var target = Var.Constant(data.Exact);
        // the loss is the quantity the table reports, squared: mean over (window, head) of ‖Ô − O‖² / ‖O‖²
        int b = data.Exact.Dim(0), h = data.Exact.Dim(1);
        var inverseNorms = Tensor.Zeros(b, h);
        using (Var.NoGrad())
        {
            var norms = (target * target).Sum([2, 3]).Value.AsSpan();
            for (int i = 0; i < norms.Length; i++) inverseNorms.AsSpan()[i] = 1f / norms[i];
        }
        var weights = Var.Constant(inverseNorms);
        for (int step = 0; step < steps; step++)
        {
            optimizer.ZeroGrad();
            var diff = lin.Forward(q, k, v) - target;
            var loss = ((diff * diff).Sum([2, 3]) * weights).Mean();
            loss.Backward();
            optimizer.Step();
        }
        return lin;
    }

    // ---------------------------------------------------------------- (b) time and memory against N

    private static void Timings(ExperimentContext context, ExperimentResult result, string loadBefore)
    {
        bool full = context.Full;
        const int heads = 2, d = 64, performerFeatures = 256;
        int[] lengths = full ? [256, 512, 1024, 2048, 4096, 8192, 16384] : [256, 512, 1024, 2048];
        int reps = full ? 5 : 3;
        var table = new Table($"One thread, B = 1, H = {heads}, D = {d}: best of {reps} runs (ms) and bytes allocated per call. Machine load average (1, 5, 15 min) before: {loadBefore}",
            "N", "causal", "FlashAttention (ms)", "linear, elu + 1, F = 64 (ms)", $"linear, F = {performerFeatures} (Performer-sized, ms)",
            "flash ÷ linear (F = 64)", "flash allocates (KiB)", "linear allocates (KiB)", "softmax scores if materialised (MiB)");
        var crossover = new Dictionary<bool, int?> { [false] = null, [true] = null };
        var linearAlloc = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        var flashTimes = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        var linearTimes = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        var random = new Random(context.Seed);
        int done = 0;
        foreach (int n in lengths)
        {
            var shape = new AttentionShape(1, heads, heads, n, n, d);
            var (q, k, v) = Measure.AttentionInputs(shape, random);
            var o = new float[q.Length];
            var qWide = new float[heads * n * performerFeatures];
            var kWide = new float[qWide.Length];
            Measure.FillNormal(qWide, random); Measure.FillNormal(kWide, random);
            foreach (bool causal in new[] { false, true })
            {
                context.Report(0.45 + 0.2 * done++ / (2.0 * lengths.Length), $"timing N = {n}{(causal ? ", causal" : "")}");
                var options = new AttentionOptions { Causal = causal, MaxThreads = 1 };
                double flash = Measure.BestMilliseconds(() => FlashAttention.Forward(q, k, v, o, shape, options), reps);
                double linear = Measure.BestMilliseconds(() => LinearAttentionKernel.Forward(q, k, v, o, heads, n, d, d, causal, 64, 1), reps);
                double wide = Measure.BestMilliseconds(() => LinearAttentionKernel.Forward(qWide, kWide, v, o, heads, n, performerFeatures, d, causal, 64, 1), reps);
                long flashBytes = Measure.AllocatedBytes(() => FlashAttention.Forward(q, k, v, o, shape, options));
                long linearBytes = Measure.AllocatedBytes(() => LinearAttentionKernel.Forward(q, k, v, o, heads, n, d, d, causal, 64, 1));
                double scoresMiB = (double)heads * n * n * 4 / (1 << 20);
                table.AddRow(n, causal ? "yes" : "no", flash, linear, wide, flash / linear, flashBytes / 1024.0, linearBytes / 1024.0, scoresMiB);
                if (crossover[causal] is null && linear < flash) crossover[causal] = n;
                linearAlloc[causal].Add(linearBytes);
                flashTimes[causal].Add(flash);
                linearTimes[causal].Add(linear);
                string key = causal ? "causal" : "full";
                result.Metrics[$"ms_flash_{key}_{n}"] = flash;
                result.Metrics[$"ms_linear_{key}_{n}"] = linear;
                result.Metrics[$"ms_linear_f{performerFeatures}_{key}_{n}"] = wide;
            }
        }
        result.Tables.Add(table);
        string loadAfter = LoadAverage();
        result.Notes.Add($"Timing part: load average before {loadBefore}, after {loadAfter} (a shared machine; read the ratios, measured side by side in one process, not the absolute times). " +
                         "The linear kernel computes φ(Q), φ(K) and the chunkwise (C = 64) products per head; 'F = 256' runs it on 256-wide features, the attention cost of a Performer with 256 features (the random-feature projection itself, N·M·D more, is not included). " +
                         "Allocation is the managed and native bytes each call requested (the linear kernel's per-call workspace: φ(Q), φ(K), [V, 1], the state and one C × C block).");

        var path = context.FigurePath("q21-time-vs-n.png");
        var x = lengths.Select(n => (double)n).ToArray();
        Charts.Lines(path, "Forward time against sequence length (one thread, H = 2, D = 64)", "N (tokens)", "ms (best of runs)",
        [
            new("FlashAttention", x, flashTimes[false].ToArray()),
            new("FlashAttention, causal", x, flashTimes[true].ToArray()),
            new("linear (elu + 1)", x, linearTimes[false].ToArray()),
            new("linear, causal", x, linearTimes[true].ToArray()),
        ], logX: true, logY: true);
        result.Figures.Add(new Figure(path, "Time per forward against N on one thread: softmax (FlashAttention) grows like N², linear attention like N."));

        foreach (bool causal in new[] { false, true })
        {
            string key = causal ? "causal" : "full";
            result.Metrics[$"crossover_{key}"] = crossover[causal] ?? double.NaN;
            double slopeFlash = Measure.LogLogSlope(x[^3..], flashTimes[causal].ToArray()[^3..]);
            double slopeLinear = Measure.LogLogSlope(x[^3..], linearTimes[causal].ToArray()[^3..]);
            result.Metrics[$"slope_flash_{key}"] = slopeFlash;
            result.Metrics[$"slope_linear_{key}"] = slopeLinear;
            result.Check($"{(causal ? "Causal" : "Non-causal")}: linear attention is faster than FlashAttention at N = {lengths[^1]} on one thread (first faster at N = {crossover[causal]?.ToString(CultureInfo.InvariantCulture) ?? "none measured"})",
                linearTimes[causal][^1] < flashTimes[causal][^1], $"{flashTimes[causal][^1]:0.##} vs {linearTimes[causal][^1]:0.##} ms; log-log slopes {slopeFlash:0.##} vs {slopeLinear:0.##}", timing: true);
            var alloc = linearAlloc[causal];
            result.Check($"{(causal ? "Causal" : "Non-causal")}: the linear kernel's allocation grows no faster than N (×{lengths[^1] / lengths[0]} in N, at most ×{1.1 * lengths[^1] / lengths[0]:0.#} in bytes)",
                alloc[^1] <= 1.1 * alloc[0] * lengths[^1] / lengths[0], $"{alloc[0] / 1024:0.#} → {alloc[^1] / 1024:0.#} KiB");
        }
    }

    // ---------------------------------------------------------------- (c) perplexity on the KJV character LM

    /// <summary>The KJV models of part (c): smaller than answer 44's so that the full run stays within minutes.</summary>
    public static PositionLmSettings LmSettings(bool full) => full
        ? new PositionLmSettings(Dim: 32, Heads: 2, Layers: 2, Context: 128, Steps: G2PModels.FullSteps(400), Batch: 8, LearningRate: 4e-3f, EvalTokens: 16_384)
        : new PositionLmSettings(Dim: 32, Heads: 2, Layers: 2, Context: 128, Steps: 120, Batch: 8, LearningRate: 4e-3f, EvalTokens: 4096);

    private static void LanguageModels(ExperimentContext context, ExperimentResult result)
    {
        bool full = context.Full;
        var s = LmSettings(full);
        var corpus = PositionLms.Text;
        var config = new CharLmConfig(corpus.Vocabulary.Size, s.Dim, s.Heads, s.Layers, MaxPositions: s.Context);

        // the same model, weights and batches; only the attention core differs
        (CharLm Model, double[] Losses, double Seconds) Train(bool linear, double from, double to)
        {
            var model = new CharLm(config, PositionKind.None, new Rng((ulong)context.Seed + 44));
            if (linear)
                foreach (var block in model.Blocks)
                    block.Attention.Core = (q, k, v, causal) => LinearAttention.Forward(q, k, v, causal, LinearAttentionForm.Chunkwise, chunkSize: 64);
            string name = linear ? "linear-attention LM" : "softmax LM";
            var clock = Stopwatch.StartNew();
            var losses = model.Fit(corpus.Train, s.Context, s.Steps, s.Batch, s.LearningRate, new Rng((ulong)context.Seed + 45),
                (step, loss) => { if (step % 10 == 0) context.Report(from + (to - from) * step / s.Steps, $"{name}: step {step}/{s.Steps}, loss {loss:0.00}"); },
                context.Cancellation);
            return (model, losses, clock.Elapsed.TotalSeconds);
        }
        var softmax = Train(linear: false, 0.7, 0.82);
        var linearLm = Train(linear: true, 0.82, 0.95);

        var counts = new double[corpus.Vocabulary.Size];
        foreach (int t in corpus.Train) counts[t]++;
        int scored = Math.Min(corpus.Test.Length - 1, s.EvalTokens);
        double unigramNll = 0;
        for (int i = 1; i <= scored; i++) unigramNll -= Math.Log((counts[corpus.Test[i]] + 1) / (corpus.Train.Length + counts.Length));
        double unigram = Math.Exp(unigramNll / scored);

        int[] lengths = [s.Context, 4 * s.Context];
        var table = new Table($"Held-out perplexity per character (KJV test books, {s.EvalTokens:N0} characters per length), {s.Steps} steps at context {s.Context}, the same {softmax.Model.ParameterCount:N0} parameters",
            ["attention", "parameters", .. lengths.Select(l => l == s.Context ? $"L = {l} (trained)" : $"L = {l}"), "training (s, loaded machine)"]);
        var ppl = new Dictionary<(bool, int), double>();
        foreach (var (linear, name, m, seconds) in new[] { (false, "softmax (NoPE)", softmax.Model, softmax.Seconds), (true, "linear, elu + 1 (NoPE)", linearLm.Model, linearLm.Seconds) })
        {
            var row = new List<object> { name, m.ParameterCount };
            foreach (int l in lengths)
            {
                double p = PositionLms.Perplexity(m, l, s);
                ppl[(linear, l)] = p;
                row.Add(p);
                result.Metrics[$"ppl_{(linear ? "linear" : "softmax")}_{l}"] = p;
            }
            row.Add(seconds);
            table.AddRow([.. row]);
        }
        table.AddRow("character frequencies (unigram)", 0, unigram, unigram, "—");
        result.Metrics["ppl_unigram"] = unigram;
        result.Tables.Add(table);

        double soft = ppl[(false, s.Context)], lin = ppl[(true, s.Context)];
        result.Check("Both models have exactly the same parameters (only the attention core differs)",
            softmax.Model.ParameterCount == linearLm.Model.ParameterCount, $"{softmax.Model.ParameterCount:N0} vs {linearLm.Model.ParameterCount:N0}");
        result.Check($"Both beat character frequencies (perplexity below ¾ of the unigram {unigram:0.#})",
            soft < 0.75 * unigram && lin < 0.75 * unigram, $"softmax {soft:0.###}, linear {lin:0.###}");
        result.Notes.Add($"Language models: {s.Layers} pre-LN blocks, width {s.Dim}, {s.Heads} heads, no position encoding (the causal mask or the causal running sum orders the tokens), " +
                         $"{s.Steps} AdamW steps of {s.Batch} windows of {s.Context} characters, warm-up + cosine to {s.LearningRate}; the linear model is the softmax model with " +
                         $"MultiHeadAttention.Core set to causal chunkwise elu + 1 linear attention (same initial weights, same batches). " +
                         $"Final training loss: softmax {softmax.Losses[^1]:0.###}, linear {linearLm.Losses[^1]:0.###}. Perplexity as in answer 44: non-overlapping windows, every position scored.");
    }

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }
}
