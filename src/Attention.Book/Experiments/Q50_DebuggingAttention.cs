using System.Diagnostics;
using Attention.Autograd;
using Attention.Interpret;
using Attention.Kernels;
using Attention.Models;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 50: debugging attention models, by a bug zoo. Eight real bug classes are injected one at a time into a
/// readable re-implementation of the all-MiniLM-L6-v2 encoder (built from the model's own weights) or, where the
/// bug lives in a kernel, into a readable attention routine checked against the library's kernels. Each bug has a
/// detector — an invariant or a test — that catches it; the clean code passes every detector; the symptom is
/// measured (how far the embedding moves, paraphrase retrieval accuracy, or the error of the kernel output).
/// Page: docs/answers/50-debugging-attention.md
/// </summary>
public sealed class Q50_DebuggingAttention : Experiment
{
    public override int Question => 50;
    public override string Title => "Debugging and improving attention models";

    /// <summary>The bugs. The first five live in the encoder; the last three in attention kernels.</summary>
    public enum Bug
    {
        None,
        /// <summary>softmax normalises each key's column over the queries instead of each query's row over the keys.</summary>
        SoftmaxWrongAxis,
        /// <summary>the key-padding mask hides the real tokens and keeps the padding (mask == 1 filled instead of mask == 0).</summary>
        MaskWrongPolarity,
        /// <summary>mean pooling divides by the padded length and sums the padding positions' hidden states too.</summary>
        PaddingInPooling,
        /// <summary>the post-LN layer run as pre-LN: x + f(LN(x)) instead of LN(x + f(x)), same weights.</summary>
        PreLnForPostLn,
        /// <summary>scores scaled by 1/d instead of 1/√d (the scale applied to Q and again to the scores).</summary>
        ScaledTwice,
        /// <summary>causal mask aligned top-left (j ≤ i) when L new queries meet S ≥ L keys; correct is j ≤ i + S − L.</summary>
        CausalWrongCorner,
        /// <summary>masked scores filled with −1e9 instead of −∞, so a row with every key masked averages all values instead of giving 0.</summary>
        MinusBillionFill,
        /// <summary>a decode loop that attends before appending the new token's key and value to the cache.</summary>
        KvCacheOffByOne,
    }

    public static readonly Bug[] EncoderBugs = [Bug.SoftmaxWrongAxis, Bug.MaskWrongPolarity, Bug.PaddingInPooling, Bug.PreLnForPostLn, Bug.ScaledTwice];
    public static readonly Bug[] KernelBugs = [Bug.CausalWrongCorner, Bug.MinusBillionFill, Bug.KvCacheOffByOne];

    /// <summary>The detectors: each is a check that a clean implementation passes.</summary>
    public enum Detector
    {
        /// <summary>every attention row sums to 1 over the keys (within 1e-4).</summary>
        RowsSumToOne,
        /// <summary>the embedding of a sentence alone equals its embedding padded by 5 [PAD] tokens (within 1e-5), and is finite.</summary>
        PaddingInvariance,
        /// <summary>the embeddings match the reference implementation (BertModel, itself matched to ONNX Runtime) within 1e-4.</summary>
        MatchesReference,
        /// <summary>L new queries against S keys give the last L rows of the full S × S causal attention (within 1e-5).</summary>
        ChunkedEqualsFull,
        /// <summary>a query whose every key is masked gets an output of exactly zero, never NaN (the library's contract).</summary>
        FullyMaskedRowIsZero,
        /// <summary>token-by-token decoding with a KV cache equals causal attention recomputed over the whole sequence (within 1e-5).</summary>
        CacheEqualsRecompute,
    }

    /// <summary>The detector that is meant to catch each bug (the cheapest one that does).</summary>
    public static Detector DetectorFor(Bug bug) => bug switch
    {
        Bug.SoftmaxWrongAxis => Detector.RowsSumToOne,
        Bug.MaskWrongPolarity => Detector.PaddingInvariance,
        Bug.PaddingInPooling => Detector.PaddingInvariance,
        Bug.PreLnForPostLn => Detector.MatchesReference,
        Bug.ScaledTwice => Detector.MatchesReference,
        Bug.CausalWrongCorner => Detector.ChunkedEqualsFull,
        Bug.MinusBillionFill => Detector.FullyMaskedRowIsZero,
        Bug.KvCacheOffByOne => Detector.CacheEqualsRecompute,
        _ => throw new ArgumentOutOfRangeException(nameof(bug), bug, "expected a bug, got None"),
    };

    /// <summary>
    /// The BERT encoder and sentence-transformers pooling written out with loops over plain arrays, one sentence at
    /// a time, so that a bug is one line: embeddings + LayerNorm; per layer Q, K, V, per-head softmax(Q·Kᵀ/√d + M)·V,
    /// output projection, residual + LayerNorm, GELU MLP, residual + LayerNorm; masked mean pooling; L2 normalisation.
    /// Linear weights are (out, in) as in <see cref="BertWeights"/>.
    /// </summary>
    public sealed class ReadableEncoder(BertWeights weights)
    {
        private readonly BertConfig _c = weights.Config;

        /// <summary>
        /// The embedding (Hidden) of token <paramref name="ids"/> (the first <paramref name="length"/> real, the rest padding),
        /// with <paramref name="bug"/> injected; each layer's probabilities (H, T, T) go to <paramref name="probabilities"/> when given.
        /// </summary>
        public float[] Embed(int[] ids, int length, Bug bug = Bug.None, List<float[]>? probabilities = null)
        {
            ArgumentNullException.ThrowIfNull(ids);
            int t = ids.Length, hd = _c.Hidden, nh = _c.Heads, d = _c.HeadDim;
            if (length < 1 || length > t) throw new ArgumentException($"expected 1 ≤ length ≤ {t}, got {length}", nameof(length));
            float eps = _c.LayerNormEps;
            // embeddings: word + position + token type 0, then LayerNorm
            var x = new float[t * hd];
            var word = weights["embeddings.word_embeddings.weight"].AsSpan();
            var pos = weights["embeddings.position_embeddings.weight"].AsSpan();
            var type = weights["embeddings.token_type_embeddings.weight"].AsSpan();
            for (int i = 0; i < t; i++)
                for (int k = 0; k < hd; k++)
                    x[i * hd + k] = word[ids[i] * hd + k] + pos[i * hd + k] + type[k];
            LayerNorm(x, t, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps);

            float scale = bug == Bug.ScaledTwice ? 1f / d : 1f / MathF.Sqrt(d);
            for (int l = 0; l < _c.Layers; l++)
            {
                string p = $"encoder.layer.{l}.";
                var ln1 = (W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"));
                var ln2 = (W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"));
                // attention sublayer; post-LN reads x, the pre-LN bug reads LN(x)
                var input = bug == Bug.PreLnForPostLn ? Normalised(x, t, ln1, eps) : x;
                var q = Linear(input, t, p + "attention.self.query");
                var k = Linear(input, t, p + "attention.self.key");
                var v = Linear(input, t, p + "attention.self.value");
                var ctx = new float[t * hd];
                var probs = new float[nh * t * t];
                for (int h = 0; h < nh; h++)
                {
                    var s = new float[t * t];
                    for (int i = 0; i < t; i++)
                        for (int j = 0; j < t; j++)
                        {
                            bool hidden = bug == Bug.MaskWrongPolarity ? j < length : j >= length;   // key-padding mask
                            s[i * t + j] = hidden ? float.NegativeInfinity
                                : scale * TensorPrimitives.Dot(q.AsSpan(i * hd + h * d, d), k.AsSpan(j * hd + h * d, d));
                        }
                    if (bug == Bug.SoftmaxWrongAxis) SoftmaxColumns(s, t); else SoftmaxRows(s, t, t);
                    s.CopyTo(probs, h * t * t);
                    for (int i = 0; i < t; i++)
                        for (int j = 0; j < t; j++)
                        {
                            float pij = s[i * t + j];
                            if (pij == 0) continue;
                            for (int e = 0; e < d; e++) ctx[i * hd + h * d + e] += pij * v[j * hd + h * d + e];
                        }
                }
                probabilities?.Add(probs);
                var attn = Linear(ctx, t, p + "attention.output.dense");
                if (bug == Bug.PreLnForPostLn) { Add(x, attn); }
                else { Add(x, attn); LayerNorm(x, t, ln1.Item1, ln1.Item2, eps); }
                // MLP sublayer
                var mlpIn = bug == Bug.PreLnForPostLn ? Normalised(x, t, ln2, eps) : x;
                var inner = Linear(mlpIn, t, p + "intermediate.dense");
                using (Var.NoGrad()) inner = Var.Constant(Attention.Tensors.Tensor.FromArray(inner, inner.Length)).Gelu().Value.ToArray();   // exact (erf) GELU
                var mlp = Linear(inner, t, p + "output.dense");
                if (bug == Bug.PreLnForPostLn) { Add(x, mlp); }
                else { Add(x, mlp); LayerNorm(x, t, ln2.Item1, ln2.Item2, eps); }
            }
            // mean pooling over the real tokens, then L2 normalisation
            int pooled = bug == Bug.PaddingInPooling ? t : length;
            var pool = new float[hd];
            for (int i = 0; i < pooled; i++) TensorPrimitives.Add(pool, x.AsSpan(i * hd, hd), pool);
            TensorPrimitives.Divide(pool, pooled, pool);
            TensorPrimitives.Divide(pool, TensorPrimitives.Norm(pool), pool);
            return pool;
        }

        private float[] W(string name) => weights[name].ToArray();

        // y = x·Wᵀ + b, x (T, in), W (out, in)
        private float[] Linear(float[] x, int t, string name)
        {
            var w = weights[name + ".weight"];
            var b = weights[name + ".bias"].AsSpan();
            int outDim = w.Dim(0), inDim = w.Dim(1);
            var ws = w.AsSpan();
            var y = new float[t * outDim];
            for (int i = 0; i < t; i++)
                for (int o = 0; o < outDim; o++)
                    y[i * outDim + o] = TensorPrimitives.Dot(x.AsSpan(i * inDim, inDim), ws.Slice(o * inDim, inDim)) + b[o];
            return y;
        }

        private static void Add(float[] x, float[] y) => TensorPrimitives.Add(x, y, x);

        private static float[] Normalised(float[] x, int t, (float[] G, float[] B) ln, float eps)
        {
            var copy = (float[])x.Clone();
            LayerNorm(copy, t, ln.G, ln.B, eps);
            return copy;
        }

        private static void LayerNorm(float[] x, int t, float[] gamma, float[] beta, float eps)
        {
            int hd = gamma.Length;
            for (int i = 0; i < t; i++)
            {
                var row = x.AsSpan(i * hd, hd);
                double mean = 0, var = 0;
                foreach (var v in row) mean += v;
                mean /= hd;
                foreach (var v in row) var += (v - mean) * (v - mean);
                float inv = (float)(1 / Math.Sqrt(var / hd + eps));
                for (int k = 0; k < hd; k++) row[k] = (float)((row[k] - mean) * inv) * gamma[k] + beta[k];
            }
        }
    }

    // softmax over each row; a row whose every entry is −∞ becomes NaN, as in a naive framework softmax
    private static void SoftmaxRows(float[] s, int rows, int cols)
    {
        for (int i = 0; i < rows; i++)
        {
            var row = s.AsSpan(i * cols, cols);
            float max = TensorPrimitives.Max(row);
            double sum = 0;
            for (int j = 0; j < cols; j++) sum += row[j] = MathF.Exp(row[j] - max);
            for (int j = 0; j < cols; j++) row[j] = (float)(row[j] / sum);
        }
    }

    private static void SoftmaxColumns(float[] s, int t)
    {
        for (int j = 0; j < t; j++)
        {
            float max = float.NegativeInfinity;
            for (int i = 0; i < t; i++) max = Math.Max(max, s[i * t + j]);
            double sum = 0;
            for (int i = 0; i < t; i++) sum += s[i * t + j] = max == float.NegativeInfinity ? 0 : MathF.Exp(s[i * t + j] - max);
            for (int i = 0; i < t; i++) s[i * t + j] = sum == 0 ? 0 : (float)(s[i * t + j] / sum);
        }
    }

    // ---------- the kernel-level routines: one head, Q (L, D), K and V (S, D), row-major ----------

    /// <summary>Readable causal attention of L queries that are the last L of S positions; the bug aligns the mask top-left.</summary>
    public static float[] CausalAttention(float[] q, float[] k, float[] v, int l, int s, int d, Bug bug = Bug.None)
    {
        var o = new float[l * d];
        var p = new float[s];
        float scale = 1f / MathF.Sqrt(d);
        for (int i = 0; i < l; i++)
        {
            int last = bug == Bug.CausalWrongCorner ? i : i + s - l;            // the last key query i may see
            for (int j = 0; j < s; j++) p[j] = j <= last ? scale * TensorPrimitives.Dot(q.AsSpan(i * d, d), k.AsSpan(j * d, d)) : float.NegativeInfinity;
            SoftmaxRows(p, 1, s);
            for (int j = 0; j < s; j++) TensorPrimitives.MultiplyAdd(v.AsSpan(j * d, d), p[j], o.AsSpan(i * d, d), o.AsSpan(i * d, d));
        }
        return o;
    }

    /// <summary>
    /// Readable padded attention of one query row over S keys of which the first <paramref name="visible"/> are real.
    /// Correct: masked scores are −∞ and a row with no visible key outputs 0 (the guard the library's kernels have);
    /// the bug fills −1e9, which turns a fully masked row into the plain average of every value.
    /// </summary>
    public static float[] PaddedRow(float[] q, float[] k, float[] v, int s, int d, int visible, Bug bug = Bug.None)
    {
        var o = new float[d];
        var p = new float[s];
        float fill = bug == Bug.MinusBillionFill ? -1e9f : float.NegativeInfinity;
        for (int j = 0; j < s; j++) p[j] = j < visible ? TensorPrimitives.Dot(q, k.AsSpan(j * d, d)) / MathF.Sqrt(d) : fill;
        if (TensorPrimitives.Max(p) == float.NegativeInfinity) return o;      // no key to attend to: zero, not NaN
        SoftmaxRows(p, 1, s);
        for (int j = 0; j < s; j++) TensorPrimitives.MultiplyAdd(v.AsSpan(j * d, d), p[j], o, o);
        return o;
    }

    /// <summary>Token-by-token decoding with a KV cache over sequences Q, K, V (T, D); the bug attends before it appends.</summary>
    public static float[] CachedDecode(float[] q, float[] k, float[] v, int t, int d, Bug bug = Bug.None)
    {
        var o = new float[t * d];
        var cacheK = new List<float>();
        var cacheV = new List<float>();
        for (int step = 0; step < t; step++)
        {
            if (bug != Bug.KvCacheOffByOne) { cacheK.AddRange(k.AsSpan(step * d, d)); cacheV.AddRange(v.AsSpan(step * d, d)); }
            int n = cacheK.Count / d;
            if (n > 0)
            {
                var row = PaddedRow(q.AsSpan(step * d, d).ToArray(), cacheK.ToArray(), cacheV.ToArray(), n, d, n);
                row.CopyTo(o, step * d);
            }
            if (bug == Bug.KvCacheOffByOne) { cacheK.AddRange(k.AsSpan(step * d, d)); cacheV.AddRange(v.AsSpan(step * d, d)); }
        }
        return o;
    }

    /// <summary>What one detector saw for one bug (or the clean code).</summary>
    public sealed record Verdict(Bug Bug, Detector Detector, bool Caught, double Measured, string Symptom);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var model = BertModel.LoadMiniLm();
        var encoder = new ReadableEncoder(model.Weights);
        var corpus = SentenceCorpus.LoadRepoCopy();
        var pairs = context.Full ? corpus.Pairs.ToList() : corpus.Pairs.Take(16).ToList();
        var texts = pairs.SelectMany(p => new[] { p.A, p.B }).ToList();

        // reference embeddings from the library model (matched to ONNX Runtime by its own tests)
        context.Report(0.02, "reference embeddings");
        var reference = model.Embed(texts);
        var ids = texts.Select(s => model.Tokenize([s]).Ids).ToList();
        int longest = ids.Max(x => x.Length);
        string probe = texts[0];
        var probeIds = ids[0];
        var probeRef = reference[0];

        // the model-level detectors, run on the clean encoder and on every encoder bug
        var bugs = new[] { Bug.None }.Concat(EncoderBugs).ToArray();
        var matrix = new Table("Which detector catches which encoder bug (✗ = caught, fails the check; ✓ = passes)",
            "bug", "rows sum to 1", "padding invariance", "matches reference (1e-4)");
        var verdicts = new List<Verdict>();
        var symptoms = new Table($"Symptoms of each encoder bug over {texts.Count} sentences ({pairs.Count} paraphrase pairs), each padded to the longest ({longest} tokens) as in one batch",
            "bug", "mean cosine to the correct embedding", "lowest cosine", $"paraphrase is the nearest of {texts.Count - 1} (top-1)", "NaN embeddings");
        double cleanAccuracy = 0;
        for (int bi = 0; bi < bugs.Length; bi++)
        {
            var bug = bugs[bi];
            context.Report(0.05 + 0.75 * bi / bugs.Length, $"encoder: {bug}");
            var probs = new List<float[]>();
            var alone = encoder.Embed(probeIds, probeIds.Length, bug, probs);
            double rowError = RowSumError(probs, probeIds.Length);
            var padded = probeIds.Concat(Enumerable.Repeat(model.Tokenizer.PadId, 5)).ToArray();
            var withPadding = encoder.Embed(padded, probeIds.Length, bug);
            double padDiff = MaxAbsDiff(alone, withPadding);
            double refDiff = MaxAbsDiff(alone, probeRef);
            bool rowsCaught = !(rowError < 1e-4), padCaught = !(padDiff < 1e-5) || alone.Any(float.IsNaN), refCaught = !(refDiff < 1e-4);
            verdicts.Add(new Verdict(bug, Detector.RowsSumToOne, rowsCaught, rowError, ""));
            verdicts.Add(new Verdict(bug, Detector.PaddingInvariance, padCaught, padDiff, ""));
            verdicts.Add(new Verdict(bug, Detector.MatchesReference, refCaught, refDiff, ""));
            matrix.AddRow(Describe(bug), Mark(rowsCaught, rowError), Mark(padCaught, padDiff), Mark(refCaught, refDiff));

            // symptom over the corpus: every sentence through the buggy encoder, right-padded to the longest one as in a batch
            var embeddings = ids.Select(x => encoder.Embed(x.Concat(Enumerable.Repeat(model.Tokenizer.PadId, longest - x.Length)).ToArray(), x.Length, bug)).ToList();
            var cosines = embeddings.Select((e, i) => (double)TensorPrimitives.Dot(e, reference[i])).ToList();
            int nan = embeddings.Count(e => e.Any(float.IsNaN));
            double accuracy = ParaphraseAccuracy(embeddings);
            if (bug == Bug.None) cleanAccuracy = accuracy;
            var finite = cosines.Where(double.IsFinite).ToList();
            symptoms.AddRow(Describe(bug), finite.Count > 0 ? finite.Average() : double.NaN, finite.Count > 0 ? finite.Min() : double.NaN, accuracy, nan);
            if (finite.Count > 0) result.Metrics[$"{Key(bug)}_mean_cosine_to_correct"] = finite.Average();
            result.Metrics[$"{Key(bug)}_nan_embeddings"] = nan;
            result.Metrics[$"{Key(bug)}_paraphrase_top1"] = accuracy;
        }
        result.Tables.Add(matrix);
        result.Tables.Add(symptoms);

        // the kernel-level bugs
        context.Report(0.85, "kernel bugs");
        var rng = new Random(context.Seed);
        int d = 32, sKeys = 24, lNew = 6;
        float[] Gaussian(int n) { var a = new float[n]; Measure.FillNormal(a, rng); return a; }
        var kernelTable = new Table("Kernel-level bugs: the detector compares two computations that must agree (one head, d = 32)",
            "bug", "detector", "clean: max |difference|", "bug: max |difference|", "symptom");

        // causal corner: L = 6 new queries at the end of S = 24 keys vs the full 24 × 24 causal attention (library FlashAttention)
        var qAll = Gaussian(sKeys * d); var kAll = Gaussian(sKeys * d); var vAll = Gaussian(sKeys * d);
        var full = new float[sKeys * d];
        FlashAttention.Forward(qAll, kAll, vAll, full, new AttentionShape(1, 1, 1, sKeys, sKeys, d), new AttentionOptions { Causal = true });
        var qNew = qAll.AsSpan((sKeys - lNew) * d).ToArray();
        var fullTail = full.AsSpan((sKeys - lNew) * d).ToArray();
        double cornerClean = MaxAbsDiff(CausalAttention(qNew, kAll, vAll, lNew, sKeys, d), fullTail);
        double cornerBug = MaxAbsDiff(CausalAttention(qNew, kAll, vAll, lNew, sKeys, d, Bug.CausalWrongCorner), fullTail);
        kernelTable.AddRow(Describe(Bug.CausalWrongCorner), "chunked = last rows of full", cornerClean, cornerBug,
            $"the first new query sees {1} of its {sKeys - lNew + 1} keys");
        verdicts.Add(new Verdict(Bug.None, Detector.ChunkedEqualsFull, !(cornerClean < 1e-5), cornerClean, ""));
        verdicts.Add(new Verdict(Bug.CausalWrongCorner, Detector.ChunkedEqualsFull, !(cornerBug < 1e-5), cornerBug, ""));

        // fully masked row: −∞ with the guard vs −1e9; the library kernel (KeyLengths = 0) as the contract
        var q1 = Gaussian(d); var k8 = Gaussian(8 * d); var v8 = Gaussian(8 * d);
        var clean = PaddedRow(q1, k8, v8, 8, d, 0);
        var billion = PaddedRow(q1, k8, v8, 8, d, 0, Bug.MinusBillionFill);
        var kernelOut = new float[d];
        FlashAttention.Forward(q1, k8, v8, kernelOut, new AttentionShape(1, 1, 1, 1, 8, d), new AttentionOptions { KeyLengths = [0] });
        double cleanNorm = TensorPrimitives.Norm(clean), billionNorm = TensorPrimitives.Norm(billion), kernelNorm = TensorPrimitives.Norm(kernelOut);
        var meanV = new float[d];
        for (int j = 0; j < 8; j++) TensorPrimitives.Add(meanV, v8.AsSpan(j * d, d), meanV);
        TensorPrimitives.Divide(meanV, 8, meanV);
        double billionVsMean = MaxAbsDiff(billion, meanV);
        kernelTable.AddRow(Describe(Bug.MinusBillionFill), "fully masked row → 0", cleanNorm, billionNorm,
            $"‖output‖ = {billionNorm:0.###}, the mean of the 8 masked values to {billionVsMean:e1}; FlashAttention gives ‖output‖ = {kernelNorm:0.#}");
        verdicts.Add(new Verdict(Bug.None, Detector.FullyMaskedRowIsZero, !(cleanNorm == 0 && kernelNorm == 0), cleanNorm, ""));
        verdicts.Add(new Verdict(Bug.MinusBillionFill, Detector.FullyMaskedRowIsZero, !(billionNorm == 0), billionNorm, ""));

        // KV cache: decode step by step vs causal recompute over the whole sequence (the library kernel)
        int tDecode = 16;
        var qd = Gaussian(tDecode * d); var kd = Gaussian(tDecode * d); var vd = Gaussian(tDecode * d);
        var recompute = new float[tDecode * d];
        FlashAttention.Forward(qd, kd, vd, recompute, new AttentionShape(1, 1, 1, tDecode, tDecode, d), new AttentionOptions { Causal = true });
        double cacheClean = MaxAbsDiff(CachedDecode(qd, kd, vd, tDecode, d), recompute);
        var offByOne = CachedDecode(qd, kd, vd, tDecode, d, Bug.KvCacheOffByOne);
        double cacheBug = MaxAbsDiff(offByOne, recompute);
        kernelTable.AddRow(Describe(Bug.KvCacheOffByOne), "cached decode = recompute", cacheClean, cacheBug,
            "step 0 outputs 0 (an empty cache); every later token never sees itself");
        verdicts.Add(new Verdict(Bug.None, Detector.CacheEqualsRecompute, !(cacheClean < 1e-5), cacheClean, ""));
        verdicts.Add(new Verdict(Bug.KvCacheOffByOne, Detector.CacheEqualsRecompute, !(cacheBug < 1e-5), cacheBug, ""));
        result.Tables.Add(kernelTable);

        // the claims
        foreach (var bug in EncoderBugs.Concat(KernelBugs))
        {
            var v = verdicts.First(x => x.Bug == bug && x.Detector == DetectorFor(bug));
            result.Check($"{Describe(bug)}: caught by '{DetectorText(DetectorFor(bug))}'", v.Caught, $"measured {Table.FormatNumber(v.Measured)}");
        }
        var cleanFails = verdicts.Where(v => v.Bug == Bug.None && v.Caught).ToList();
        result.Check("the clean code passes every detector", cleanFails.Count == 0,
            cleanFails.Count == 0 ? $"{verdicts.Count(v => v.Bug == Bug.None)} detectors" : string.Join(", ", cleanFails.Select(v => v.Detector)));
        double scaledTwiceRows = verdicts.First(v => v.Bug == Bug.ScaledTwice && v.Detector == Detector.RowsSumToOne).Measured;
        double scaledTwicePad = verdicts.First(v => v.Bug == Bug.ScaledTwice && v.Detector == Detector.PaddingInvariance).Measured;
        result.Check("attention scaled twice passes both invariants (rows sum to 1, padding invariance): only a reference comparison finds it",
            scaledTwiceRows < 1e-4 && scaledTwicePad < 1e-5, $"row error {scaledTwiceRows:e1}, padding change {scaledTwicePad:e1}");
        double cleanCos = result.Metrics[$"{Key(Bug.None)}_mean_cosine_to_correct"];
        result.Check("the readable encoder reproduces the reference embeddings (mean cosine > 0.99999)", cleanCos > 0.99999, $"{cleanCos:0.#######}");

        var silent = EncoderBugs.Where(b => result.Metrics[$"{Key(b)}_paraphrase_top1"] >= 0.95
                                            && result.Metrics.GetValueOrDefault($"{Key(b)}_mean_cosine_to_correct", 1) < 0.9).ToList();
        result.Check("a downstream metric misses bugs: at least two bugs move the embeddings (mean cosine to the correct one < 0.9) yet still find ≥ 95% of paraphrases",
            silent.Count >= 2, string.Join(", ", silent.Select(Describe)));
        result.Metrics["clean_paraphrase_top1"] = cleanAccuracy;
        result.Metrics["causal_wrong_corner_max_error"] = cornerBug;
        result.Metrics["minus_billion_fully_masked_output_norm"] = billionNorm;
        result.Metrics["kv_cache_off_by_one_max_error"] = cacheBug;
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        result.Notes.Add($"Encoder bugs: all-MiniLM-L6-v2's weights in a readable loop implementation (ReadableEncoder); detectors run on \"{probe}\" " +
                         $"(alone and padded by 5 [PAD] tokens); symptoms over {texts.Count} sentences. Paraphrase top-1: for each sentence, is its pair's other " +
                         $"sentence its nearest neighbour by cosine among all {texts.Count - 1} others?");
        result.Notes.Add($"Kernel bugs: seeded Gaussian Q, K, V; references from the library's FlashAttention.Forward. Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    /// <summary>Share of sentences whose nearest neighbour by cosine is their paraphrase; pairs sit side by side (2k, 2k + 1).</summary>
    public static double ParaphraseAccuracy(IReadOnlyList<float[]> e)
    {
        int hits = 0, n = e.Count;
        for (int i = 0; i < n; i++)
        {
            int best = -1; double bestSim = double.NegativeInfinity;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double sim = TensorPrimitives.Dot(e[i], e[j]);
                if (sim > bestSim) { bestSim = sim; best = j; }
            }
            if (best == (i ^ 1)) hits++;                                     // pairs sit side by side: 2k and 2k + 1
        }
        return (double)hits / n;
    }

    private static double RowSumError(List<float[]> layers, int t)
    {
        double worst = 0;
        foreach (var p in layers)
            for (int r = 0; r < p.Length / t; r++)
            {
                double s = 0;
                for (int j = 0; j < t; j++) s += p[r * t + j];
                worst = double.IsNaN(s) ? double.PositiveInfinity : Math.Max(worst, Math.Abs(1 - s));
            }
        return worst;
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double diff = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(diff)) return double.PositiveInfinity;
            m = Math.Max(m, diff);
        }
        return m;
    }

    private static string Mark(bool caught, double measured) => (caught ? "✗ " : "✓ ") + Table.FormatNumber(measured);

    private static string Key(Bug bug) => bug switch
    {
        Bug.None => "clean", Bug.SoftmaxWrongAxis => "softmax_wrong_axis", Bug.MaskWrongPolarity => "mask_wrong_polarity",
        Bug.PaddingInPooling => "padding_in_pooling", Bug.PreLnForPostLn => "pre_ln_for_post_ln", Bug.ScaledTwice => "scaled_twice",
        _ => bug.ToString().ToLowerInvariant(),
    };

    public static string Describe(Bug bug) => bug switch
    {
        Bug.None => "clean",
        Bug.SoftmaxWrongAxis => "softmax over the wrong axis",
        Bug.MaskWrongPolarity => "mask with the wrong polarity",
        Bug.PaddingInPooling => "padding in the mean pooling",
        Bug.PreLnForPostLn => "pre-LN run on post-LN weights",
        Bug.ScaledTwice => "attention scaled twice (1/d)",
        Bug.CausalWrongCorner => "causal mask in the wrong corner (L ≠ S)",
        Bug.MinusBillionFill => "−1e9 instead of −∞ (fully masked row)",
        Bug.KvCacheOffByOne => "KV cache appended after attending",
        _ => bug.ToString(),
    };

    public static string DetectorText(Detector d) => d switch
    {
        Detector.RowsSumToOne => "attention rows sum to 1",
        Detector.PaddingInvariance => "padding does not change the embedding",
        Detector.MatchesReference => "matches the reference model within 1e-4",
        Detector.ChunkedEqualsFull => "chunked causal attention equals the full one's last rows",
        Detector.FullyMaskedRowIsZero => "a fully masked row outputs 0",
        Detector.CacheEqualsRecompute => "cached decoding equals recomputation",
        _ => d.ToString(),
    };
}
