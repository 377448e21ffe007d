using System.Diagnostics;
using System.Globalization;
using Attention.Autograd;
using Attention.Kernels;
using Attention.Models;
using Attention.Nn.Advances;
using Attention.Plots;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 48: recent advances in attention, measured side by side. One KJV character language model per attention
/// variant (<see cref="AttentionVariant"/>: MHA baseline, MQA, GQA, MLA, soft-cap, QK-norm, differential, sigmoid,
/// gated, learned sinks), same sizes, same batches, same step budget; plus a second-seed baseline (the noise floor), the
/// baseline with z-loss, and the baseline evaluated with an int8 KV cache. Reported: KV-cache numbers per token,
/// held-out perplexity and its change, and the training-time ratio (one process, one machine). Then the MLA absorbed
/// decode against the explicit form on the trained model, int8 KV error on attention outputs, ring attention across
/// simulated workers, and the slow-memory traffic of standard against tiled (Flash) attention.
/// Page: docs/answers/48-recent-advances.md
/// </summary>
public sealed class Q48_RecentAdvances : Experiment
{
    public override int Question => 48;
    public override string Title => "Recent advances in attention";

    /// <summary>Sizes and budget.</summary>
    public sealed record Settings(int Dim, int Heads, int Layers, int Context, int Steps, int Batch, float LearningRate, int EvalTokens,
                                  int RingLength, int IoLength, int IoHeadDim);

    /// <summary>Quick: seconds per model. Full: the published setting (about 15 minutes on one core).</summary>
    public static Settings For(bool full) => full
        ? new Settings(Dim: 48, Heads: 4, Layers: 2, Context: 128, Steps: G2PModels.FullSteps(400), Batch: 8, LearningRate: 3e-3f, EvalTokens: 32_768,
                       RingLength: 1024, IoLength: 1024, IoHeadDim: 64)
        : new Settings(Dim: 32, Heads: 4, Layers: 2, Context: 64, Steps: 50, Batch: 8, LearningRate: 5e-3f, EvalTokens: 4096,
                       RingLength: 256, IoLength: 256, IoHeadDim: 32);

    /// <summary>Table label and metric key of each variant.</summary>
    public static (string Label, string Key) Name(AttentionVariant v) => v switch
    {
        AttentionVariant.Baseline => ("MHA (baseline)", "baseline"),
        AttentionVariant.MultiQuery => ("MQA (1 KV head)", "mqa"),
        AttentionVariant.GroupedQuery => ("GQA (2 KV heads)", "gqa"),
        AttentionVariant.Latent => ("MLA (latent KV)", "mla"),
        AttentionVariant.SoftCap => ("soft-cap", "softcap"),
        AttentionVariant.QkNorm => ("QK-norm", "qknorm"),
        AttentionVariant.Differential => ("differential", "differential"),
        AttentionVariant.Sigmoid => ("sigmoid (b = −log n)", "sigmoid"),
        AttentionVariant.Gated => ("gated (head-wise σ gate)", "gated"),
        AttentionVariant.LearnedSinks => ("learned sinks", "sinks"),
        _ => (v.ToString(), v.ToString().ToLowerInvariant()),
    };

    private sealed record Trained(string Label, string Key, VariantCharLm Model, double Seconds, double StepMilliseconds, double[] Losses);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var s = For(context.Full);
        var corpus = PositionLms.Text;
        var config = new VariantLmConfig(corpus.Vocabulary.Size, s.Dim, s.Heads, s.Layers, GroupedKvHeads: 2, MatchParameters: true);

        // ---- 1. one model per variant, same batches -------------------------------------------------------------
        var runs = new List<(AttentionVariant? Variant, string Label, string Key, int InitSeed, int BatchSeed, float ZLoss)>();
        foreach (var v in Enum.GetValues<AttentionVariant>()) { var (label, key) = Name(v); runs.Add((v, label, key, 48, 49, 0f)); }
        runs.Add((AttentionVariant.Baseline, "MHA, second seed (noise floor)", "baseline_seed2", 148, 149, 0f));
        runs.Add((AttentionVariant.Baseline, "MHA + z-loss (10⁻⁴)", "zloss", 48, 49, 1e-4f));
        var trained = new List<Trained>();
        // warm-up: a throwaway fit of each variant, so JIT compilation does not land in the first model's step times
        foreach (var v in Enum.GetValues<AttentionVariant>())
            new VariantCharLm(config, v, new Rng(1)).Fit(corpus.Train, s.Context, 3, 2, s.LearningRate, new Rng(2), cancellation: context.Cancellation);
        for (int r = 0; r < runs.Count; r++)
        {
            var run = runs[r];
            var model = new VariantCharLm(config, run.Variant!.Value, new Rng((ulong)(context.Seed + run.InitSeed)));
            var watch = Stopwatch.StartNew();
            var stepTimes = new List<double>();
            double last = 0;
            var losses = model.Fit(corpus.Train, s.Context, s.Steps, s.Batch, s.LearningRate, new Rng((ulong)(context.Seed + run.BatchSeed)), run.ZLoss,
                (step, loss) =>
                {
                    double now = watch.Elapsed.TotalMilliseconds;
                    if (step > s.Steps / 2) stepTimes.Add(now - last);   // the second half: code fully tiered up
                    last = now;
                    if (step % 10 == 0) context.Report(0.8 * (r + (double)step / s.Steps) / runs.Count, $"{run.Label}: step {step}/{s.Steps}, loss {loss:0.00}");
                },
                context.Cancellation);
            stepTimes.Sort();
            trained.Add(new Trained(run.Label, run.Key, model, watch.Elapsed.TotalSeconds, stepTimes.Count > 0 ? stepTimes[stepTimes.Count / 2] : watch.Elapsed.TotalMilliseconds / s.Steps, losses));
        }
        context.Report(0.82, "evaluating");
        int windows = Math.Max(1, s.EvalTokens / s.Context);
        double Ppl(VariantCharLm m) => m.Perplexity(corpus.Test, s.Context, windows, windowsPerBatch: Math.Max(1, 1024 / s.Context));
        var baseline = trained[0];
        double basePpl = Ppl(baseline.Model), baseStep = baseline.StepMilliseconds;
        long AttentionParams(VariantCharLm m) => m.NamedParameters().Where(p => p.Name.Contains(".attn.")).Sum(p => (long)p.Parameter.Length);
        var table = new Table($"KJV character LM, one model per attention variant ({s.Layers} layers, width {s.Dim}, {s.Heads} query heads, {s.Steps} steps of {s.Batch}×{s.Context} characters): held-out perplexity (test books) at context {s.Context}",
            "variant", "attention parameters", "all parameters", "KV cache / token (numbers, all layers)", "KV bytes / token (fp32)", "perplexity", "Δ perplexity vs MHA", "training step time ÷ MHA (median)");
        var ppl = new Dictionary<string, double>();
        foreach (var t in trained)
        {
            double p = t == baseline ? basePpl : Ppl(t.Model);
            ppl[t.Key] = p;
            int kv = t.Model.KvCacheElementsPerToken;
            table.AddRow(t.Label, AttentionParams(t.Model), t.Model.ParameterCount, kv, 4 * kv, p, t == baseline ? "—" : Signed(p - basePpl), t.StepMilliseconds / baseStep);
            result.Metrics[$"ppl_{t.Key}"] = p;
            result.Metrics[$"kv_bytes_per_token_{t.Key}"] = 4 * kv;
            result.Metrics[$"train_time_ratio_{t.Key}"] = t.StepMilliseconds / baseStep;
        }
        // the trained baseline read through an int8 cache (keys per channel, values per token): no retraining
        baseline.Model.QuantizeKvInt8 = true;
        double int8Ppl = Ppl(baseline.Model);
        baseline.Model.QuantizeKvInt8 = false;
        int baseKv = baseline.Model.KvCacheElementsPerToken;
        table.AddRow("MHA read through an int8 KV cache", AttentionParams(baseline.Model), baseline.Model.ParameterCount, baseKv, $"{baseKv} + scales", int8Ppl, Signed(int8Ppl - basePpl), "—");
        result.Metrics["ppl_int8_kv"] = int8Ppl;
        result.Tables.Add(table);
        double noise = Math.Abs(ppl["baseline_seed2"] - basePpl);
        result.Metrics["ppl_seed_noise"] = noise;

        var counts = new double[corpus.Vocabulary.Size];
        foreach (int t in corpus.Train) counts[t]++;
        double unigramNll = 0;
        int scored = Math.Min(corpus.Test.Length - 1, s.EvalTokens);
        for (int i = 1; i <= scored; i++) unigramNll -= Math.Log((counts[corpus.Test[i]] + 1) / (corpus.Train.Length + counts.Length));
        double unigram = Math.Exp(unigramNll / scored);
        result.Metrics["ppl_unigram"] = unigram;
        result.Check($"every variant learns the text: perplexity below ¾ of the character-frequency baseline ({unigram:0.#})",
            trained.All(t => ppl[t.Key] < 0.75 * unigram), string.Join(", ", trained.Select(t => $"{t.Key} {ppl[t.Key]:0.##}")));
        result.Check("an int8 KV cache (keys per channel, values per token) changes the trained model's perplexity by under 1%",
            Math.Abs(int8Ppl - basePpl) < 0.01 * basePpl, $"{int8Ppl:0.####} vs {basePpl:0.####}");

        // ---- 2. MLA: absorbed decode = explicit form, on the trained model's first layer --------------------------
        context.Report(0.86, "MLA absorbed decode");
        var mlaModel = trained.Single(t => t.Key == "mla").Model;
        var mla = (LatentAttention)mlaModel.Attentions[0];
        int probeLength = Math.Min(s.Context, 64);
        var probeIds = corpus.Test.AsSpan(0, probeLength).ToArray();
        double mlaDiff = 0, mlaScale = 0;
        using (Var.NoGrad())
        {
            var x = mlaModel.AttentionInput(probeIds, 1, probeLength, 0);   // what layer 1's attention reads for a test window
            var explicitOut = mla.Forward(x, causal: true).Value.ToArray();
            var (latent, ropeKey) = mla.Cache(x);
            var lat = latent.Value.ToArray(); var rk = ropeKey.Value.ToArray(); var xs = x.Value.ToArray();
            for (int t = 0; t < probeLength; t++)
            {
                // decode token t from a cache holding tokens 0 … t
                var y = mla.DecodeAbsorbed(xs.AsSpan(t * s.Dim, s.Dim), lat.AsSpan(0, (t + 1) * mla.LatentDim), rk.AsSpan(0, (t + 1) * mla.RopeDim), t);
                for (int i = 0; i < s.Dim; i++)
                {
                    mlaDiff = Math.Max(mlaDiff, Math.Abs(y[i] - explicitOut[t * s.Dim + i]));
                    mlaScale = Math.Max(mlaScale, Math.Abs(explicitOut[t * s.Dim + i]));
                }
            }
        }
        result.Metrics["mla_absorbed_max_abs_diff"] = mlaDiff;
        var mlaTable = new Table("MLA: what is cached per token and layer, and the absorbed decode against the explicit form (trained model, layer 1)",
            "quantity", "value");
        mlaTable.AddRow("latent width d_c + decoupled RoPE width d_R (numbers cached per token and layer)", $"{mla.LatentDim} + {mla.RopeDim} = {mla.KvCacheElementsPerToken}");
        mlaTable.AddRow("MHA of the same heads caches 2·H·d_h", 2 * s.Heads * mla.HeadDim);
        mlaTable.AddRow($"max |absorbed − explicit| over {probeLength} decode steps (output scale {mlaScale:0.###})", mlaDiff);
        result.Tables.Add(mlaTable);
        result.Check("MLA's absorbed decode (attending over cached latents, W_UK and W_UV folded into query and output) equals the explicit form to float rounding (≤ 1e-5 relative to the output scale)",
            mlaDiff <= 1e-5 * Math.Max(1, mlaScale), $"max diff {mlaDiff:G3}, scale {mlaScale:G3}");

        // figures: perplexity against cache size; the differential model's two maps and their difference
        var scatter = context.FigurePath("q48-kv-vs-perplexity.png");
        Charts.Scatter(scatter, "KV cache per token against held-out perplexity (KJV, equal parameters)", "KV cache per token (bytes, fp32, all layers)", "perplexity per character",
            trained.Where(t => !t.Key.StartsWith("baseline_", StringComparison.Ordinal) && t.Key != "zloss")
                   .Select(t => new Series(t.Label, [4.0 * t.Model.KvCacheElementsPerToken], [ppl[t.Key]])).ToList());
        result.Figures.Add(new Figure(scatter, "Each variant's KV-cache bytes per token against its held-out perplexity; the second-seed baseline (table) shows how far apart two equal models land."));
        var diffModel = trained.Single(t => t.Key == "differential").Model;
        var diffLayer = (DifferentialAttention)diffModel.Attentions[^1];
        int mapLength = 32;
        var mapIds = corpus.Test.AsSpan(0, mapLength).ToArray();
        float[,] maps;
        using (Var.NoGrad())
        {
            var (first, second, difference) = diffLayer.Maps(diffModel.AttentionInput(mapIds, 1, mapLength, s.Layers - 1), head: 0);
            float lambda = diffLayer.Lambda().Value[0];
            maps = new float[mapLength, 3 * mapLength + 2];
            for (int i = 0; i < mapLength; i++)
            {
                maps[i, mapLength] = float.NaN; maps[i, 2 * mapLength + 1] = float.NaN;
                for (int j = 0; j < mapLength; j++)
                {
                    maps[i, j] = first[i, j];
                    maps[i, mapLength + 1 + j] = lambda * second[i, j];
                    maps[i, 2 * mapLength + 2 + j] = difference[i, j];
                }
            }
            result.Metrics["differential_lambda_last_layer"] = lambda;
        }
        var labels = corpus.Vocabulary.Decode(mapIds).Select(c => c == ' ' ? "␣" : c.ToString()).ToList();
        var heat = context.FigurePath("q48-differential-maps.png");
        Charts.Heatmap(heat, maps, "Differential attention, last layer, head 1: softmax₁ | λ·softmax₂ | difference", rowLabels: labels,
                       xLabel: "keys (three panels)", yLabel: "queries");
        result.Figures.Add(new Figure(heat, "The trained differential model's two softmax maps (left, middle: scaled by λ) and the map it uses (right) on the first 32 test characters; the difference is what multiplies the values.")
            { Heatmap = maps, RowLabels = labels });

        // ---- 3. int8 KV error on attention outputs ---------------------------------------------------------------
        context.Report(0.88, "int8 KV");
        var kvTable = new Table("Int8 KV cache: relative error of attention outputs (‖O_int8 − O‖ / ‖O‖), 4 heads × 256 keys × 64 dims, random queries",
            "keys", "keys per channel, values per token", "keys per token, values per token", "bytes ÷ fp32");
        double ratioBytes = 0;
        foreach (var (label, outlier) in new[] { ("Gaussian keys", 1f), ("keys with two channels 20× larger (as in LLMs)", 20f) })
        {
            var (perChannel, perToken, bytes) = Int8AttentionError(outlier, context.Seed);
            kvTable.AddRow(label, perChannel, perToken, bytes);
            ratioBytes = bytes;
            result.Metrics[outlier > 1 ? "int8_error_outlier_per_channel" : "int8_error_gaussian_per_channel"] = perChannel;
            result.Metrics[outlier > 1 ? "int8_error_outlier_per_token" : "int8_error_gaussian_per_token"] = perToken;
        }
        result.Tables.Add(kvTable);
        result.Check("with outlier key channels, per-channel key scales give a smaller attention-output error than per-token key scales",
            result.Metrics["int8_error_outlier_per_channel"] < result.Metrics["int8_error_outlier_per_token"],
            $"{result.Metrics["int8_error_outlier_per_channel"]:G3} vs {result.Metrics["int8_error_outlier_per_token"]:G3}");

        // ---- 4. ring attention ----------------------------------------------------------------------------------
        context.Report(0.9, "ring attention");
        var ringShape = new AttentionShape(1, 4, 4, s.RingLength, s.RingLength, 64);
        var ringRng = new Random(context.Seed + 7);
        var (rq, rk2, rv) = Measure.AttentionInputs(ringShape, ringRng);
        var single = new float[rq.Length];
        var ringTable = new Table($"Ring attention over P simulated workers (causal, N = {s.RingLength}, 4 heads of 64, float32): agreement with one-device FlashAttention and traffic",
            "workers P", "tokens per worker", "max |ring − one device|", "bytes each worker sends", "blocks computed (of P²)");
        FlashAttention.Forward(rq, rk2, rv, single, ringShape, new AttentionOptions { Causal = true });
        double ringWorst = 0;
        foreach (int p in new[] { 1, 2, 4, 8 })
        {
            var ring = new float[rq.Length];
            var traffic = RingAttention.Forward(rq, rk2, rv, ring, ringShape, new AttentionOptions { Causal = true }, p);
            double err = 0;
            for (int i = 0; i < ring.Length; i++) err = Math.Max(err, Math.Abs(ring[i] - single[i]));
            ringWorst = Math.Max(ringWorst, err);
            ringTable.AddRow(p, traffic.BlockLength, err, traffic.BytesSentPerWorker, $"{traffic.BlockComputations} of {p * p}");
            result.Metrics[$"ring_bytes_per_worker_p{p}"] = traffic.BytesSentPerWorker;
        }
        result.Tables.Add(ringTable);
        result.Metrics["ring_max_abs_diff"] = ringWorst;
        result.Check("ring attention (blockwise, log-sum-exp merge) equals single-device attention within 1e-5 for every worker count", ringWorst <= 1e-5, $"worst {ringWorst:G3}");

        // ---- 5. the IO counter -----------------------------------------------------------------------------------
        context.Report(0.93, "IO counter");
        int n = s.IoLength, d = s.IoHeadDim;
        var ioRng = new Rng((ulong)context.Seed + 8);
        double[] Normal() => ioRng.NormalTensor([n * d]).ToArray().Select(f => (double)f).ToArray();
        double[] iq = Normal(), ik = Normal(), iv = Normal();
        var o1 = new double[n * d]; var o2 = new double[n * d];
        var ioTable = new Table($"Slow-memory traffic of one attention head (N = {n}, d = {d}, numbers read + written) against on-chip memory M",
            "M (numbers)", "standard (Algorithm 0)", "tiled / Flash (Algorithm 1)", "N²d²/M", "tiled ÷ (N²d²/M)", "standard ÷ tiled");
        var ratios = new List<double>();
        double ioDiff = 0;
        var sizes = new List<long>();
        for (long m = 8L * d; m <= (long)n * d; m *= 2) sizes.Add(m);
        foreach (long m in sizes)
        {
            var standard = AttentionIoCounter.Standard(iq, ik, iv, o1, n, d, m);
            var tiled = AttentionIoCounter.Tiled(iq, ik, iv, o2, n, d, m);
            for (int i = 0; i < o1.Length; i++) ioDiff = Math.Max(ioDiff, Math.Abs(o1[i] - o2[i]));
            double bound = AttentionIoCounter.Bound(n, d, m);
            ratios.Add(tiled.Total / bound);
            ioTable.AddRow(m, standard.Total, tiled.Total, bound, tiled.Total / bound, (double)standard.Total / tiled.Total);
            result.Metrics[$"io_tiled_m{m}"] = tiled.Total;
            result.Metrics[$"io_standard_m{m}"] = standard.Total;
        }
        result.Tables.Add(ioTable);
        var banded = ratios.Skip(1).ToList();   // the smallest M rounds the block size down to a handful of rows
        result.Check($"tiled traffic tracks Θ(N²d²/M): its ratio to N²d²/M stays within a factor 2 for M from {sizes[1]} to {sizes[^1]}",
            banded.Max() / banded.Min() < 2, string.Join(", ", banded.Select(r => r.ToString("0.0", CultureInfo.InvariantCulture))));
        result.Check("standard attention never moves fewer than 3N² numbers (S and P go through slow memory), whatever M",
            sizes.All(m => result.Metrics[$"io_standard_m{m}"] >= 3.0 * n * n));
        result.Check("both IO-counted algorithms compute the same attention (max difference below 1e-10)", ioDiff < 1e-10, $"{ioDiff:G3}");

        result.Notes.Add($"Models: {s.Layers} pre-LN blocks, width {s.Dim}, {s.Heads} query heads of {s.Dim / s.Heads}, RoPE, GELU MLP 4×; {s.Steps} AdamW steps of {s.Batch} random windows of {s.Context} characters, warm-up + cosine to {s.LearningRate}, " +
                         $"the same batches for every variant; each variant's MLP is widened or narrowed by the attention parameters it saves or adds, so all have the baseline's parameter count within one MLP unit per layer. GQA: 2 KV heads; MLA: d_c = {config.EffectiveLatentDim}, d_R = {config.EffectiveLatentRopeDim}, queries not compressed; soft-cap c = {config.SoftCap}; differential: {s.Heads / 2} heads of 2×{s.Dim / s.Heads}; sigmoid: b = −ln {s.Context}. " +
                         $"Perplexity on {windows * s.Context:N0} characters of the test books ({string.Join(", ", corpus.Split.TestBooks.Select(b => Attention.Data.Kjv.BookNames[b]))}). The second-seed baseline differs by {noise:0.###}: differences smaller than that are noise.");
        result.Notes.Add($"Training time ratios are median wall-clock milliseconds per step over the second half of the steps (after a warm-up fit of every variant) divided by the baseline's, same process, load average {LoadAverage()} at the end; they compare this C# implementation on CPU (sigmoid and differential run on the composed path or several kernel calls), not the fused GPU kernels of the papers. " +
                         $"Training: {string.Join(", ", trained.Select(t => $"{t.Key} {t.Seconds:0.0} s ({t.StepMilliseconds:0} ms/step)"))}; run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        return result;
    }

    private static string Signed(double x) => (x >= 0 ? "+" : "−") + Table.FormatNumber(Math.Abs(x));

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }

    /// <summary>Attention output error with an int8 KV cache: (per-channel keys, per-token keys) relative errors, and bytes ÷ fp32.</summary>
    private static (double PerChannel, double PerToken, double BytesRatio) Int8AttentionError(float outlier, int seed)
    {
        int h = 4, sLen = 256, d = 64, l = 16;
        var rng = new Rng((ulong)seed + 9);
        var q = rng.NormalTensor([1, h, l, d]);
        var k = rng.NormalTensor([1, h, sLen, d]);
        var v = rng.NormalTensor([1, h, sLen, d]);
        var ks = k.AsSpan();
        for (int r = 0; r < h * sLen; r++) { ks[r * d + 5] *= outlier; ks[r * d + 40] *= outlier; }
        var shape = new AttentionShape(1, h, h, l, sLen, d);
        var options = new AttentionOptions { Scale = 1f / MathF.Sqrt(d) / (outlier > 1 ? 4 : 1) };
        float[] Attend(Tensor key, Tensor value)
        {
            var o = new float[h * l * d];
            FlashAttention.Forward(q.AsSpan(), key.AsSpan(), value.AsSpan(), o, shape, options);
            return o;
        }
        var exact = Attend(k, v);
        var vq = KvQuantization.RoundTrip(v, KvQuantization.Axis.PerToken);
        double Rel(float[] a)
        {
            double num = 0, den = 0;
            for (int i = 0; i < a.Length; i++) { num += (a[i] - exact[i]) * (double)(a[i] - exact[i]); den += exact[i] * (double)exact[i]; }
            return Math.Sqrt(num / den);
        }
        double perChannel = Rel(Attend(KvQuantization.RoundTrip(k, KvQuantization.Axis.PerChannel), vq));
        double perToken = Rel(Attend(KvQuantization.RoundTrip(k, KvQuantization.Axis.PerToken), vq));
        long bytes = KvQuantization.Quantize(k, KvQuantization.Axis.PerChannel).Bytes + KvQuantization.Quantize(v, KvQuantization.Axis.PerToken).Bytes;
        return (perChannel, perToken, bytes / (2.0 * 4 * k.Length));
    }
}
