using System.Diagnostics;
using Attention.Data;
using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 35: attention over sequences of different lengths. (1) A sequence alone, inside a right-padded batch with a key
/// mask, and inside a packed batch (<see cref="FlashAttention.ForwardVarlen"/>, the cu_seqlens layout of
/// flash_attn_varlen_func) give the same output; the same batch without the mask, or packed without the boundaries, does
/// not. (2) The work padding wastes, and the time of padding against packing, on the real length distributions of CMU
/// dictionary words and KJV verses. (3) Random batches, length buckets and packing in a training step (attention forward
/// and backward). (4) Left against right padding for batched decoding, and the paged cache that needs no padding.
/// (5) The fully-masked-row NaN: a naive masked softmax gives NaN; every kernel here gives zeros.
/// Page: docs/answers/35-variable-lengths.md
/// </summary>
public sealed class Q35_VariableLengths : Experiment
{
    public override int Question => 35;
    public override string Title => "Attention for variable-length sequences";

    /// <summary>The sizes of one run.</summary>
    /// <param name="Batches">Random batches drawn per dataset for the waste and time table.</param>
    /// <param name="BatchSize">Sequences per batch.</param>
    /// <param name="StepSequences">Verses in the training-step comparison.</param>
    /// <param name="Repetitions">Timed runs per case (best kept).</param>
    public sealed record Settings(int Batches, int BatchSize, int StepSequences, int Repetitions);

    /// <summary>Quick: a few batches. Full: the published setting.</summary>
    public static Settings For(bool full) => full
        ? new Settings(Batches: 16, BatchSize: 32, StepSequences: 512, Repetitions: 3)
        : new Settings(Batches: 3, BatchSize: 32, StepSequences: 96, Repetitions: 1);

    private const int Heads = 4, HeadDim = 64;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var s = For(context.Full);
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();
        string load = LoadAverage();
        var rng = new Random(context.Seed);

        var words = CmuDict.LoadRepoCopy().Entries.Where(e => e.IsAlphabetic).Select(e => e.Word.Length).ToArray();
        var verses = Kjv.LoadRepoCopy().Verses.Select(v => v.Text.Length).ToArray();

        context.Report(0.02, "equivalence");
        Equivalence(result, verses, rng);
        context.Report(0.1, "padding waste");
        Waste(result, s, load, words, verses, rng);
        context.Report(0.5, "training step");
        TrainingStep(result, s, load, verses, rng);
        context.Report(0.85, "decoding");
        Decoding(result, verses, rng);
        context.Report(0.95, "fully masked rows");
        FullyMasked(result);
        LengthFigure(context, result, words, verses);

        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        result.Notes.Add($"Timings: one thread, {Measure.Machine()}; load average {load} at the start, {LoadAverage()} at the end. Shown, not asserted; read the ratios.");
        return result;
    }

    // ---------------------------------------------------------------- (1) equivalence

    private static void Equivalence(ExperimentResult result, int[] verses, Random rng)
    {
        const int b = 8, kvHeads = 2, d = 32;
        var lens = Enumerable.Range(0, b).Select(_ => Math.Min(200, verses[rng.Next(verses.Length)])).ToArray();
        var table = new Table($"Max |difference| from each sequence computed alone ({b} KJV verses, lengths {string.Join(", ", lens)}; H = {Heads}, {kvHeads} KV heads, D = {d})",
            "batch layout", "non-causal (encoder)", "causal (decoder)");
        var seqs = lens.Select(l => Seq(l, Heads, kvHeads, d, rng)).ToArray();
        var errors = new Dictionary<string, double[]>();
        foreach (bool causal in new[] { false, true })
        {
            var options = new AttentionOptions { Causal = causal };
            var alone = seqs.Select(x => AloneOutput(x, options)).ToArray();
            var padded = Pad(seqs, rightAligned: false, out int lmax);
            var shape = new AttentionShape(b, Heads, kvHeads, lmax, lmax, d);
            var o = new float[padded.Q.Length];
            FlashAttention.Forward(padded.Q, padded.K, padded.V, o, shape, options with { KeyLengths = lens });
            double masked = CompareHeadMajor(o, alone, lens, lmax, d);
            FlashAttention.Forward(padded.Q, padded.K, padded.V, o, shape, options);
            double unmasked = CompareHeadMajor(o, alone, lens, lmax, d);
            var packed = Pack(seqs, out var cu);
            var op = new float[packed.Q.Length];
            FlashAttention.ForwardVarlen(packed.Q, packed.K, packed.V, op, cu, cu, Heads, kvHeads, d, options);
            double varlen = CompareTokenMajor(op, alone, cu, d);
            int total = cu[^1];
            FlashAttention.ForwardVarlen(packed.Q, packed.K, packed.V, op, [0, total], [0, total], Heads, kvHeads, d, options);
            double joined = CompareTokenMajor(op, alone, cu, d);
            foreach (var (name, err) in new[] { ("right padding + key mask (KeyLengths)", masked), ("right padding, no mask", unmasked),
                                                ("packed, ForwardVarlen with cu_seqlens", varlen), ("packed, no boundaries (one long sequence)", joined) })
            {
                if (!errors.TryGetValue(name, out var e)) errors[name] = e = new double[2];
                e[causal ? 1 : 0] = err;
            }
        }
        foreach (var (name, e) in errors) table.AddRow(name, e[0], e[1]);
        result.Tables.Add(table);
        var good = errors["right padding + key mask (KeyLengths)"].Concat(errors["packed, ForwardVarlen with cu_seqlens"]).Max();
        result.Metrics["max_error_mask_or_packed"] = good;
        result.Metrics["error_packed_without_boundaries"] = errors["packed, no boundaries (one long sequence)"].Min();
        result.Metrics["error_padding_without_mask_noncausal"] = errors["right padding, no mask"][0];
        result.Check("Padding + key mask and packing both reproduce every sequence computed alone (within 1e-5)", good <= 1e-5, $"largest difference {good:e1}");
        result.Check("Packing without sequence boundaries mixes the sequences (difference > 0.01, both masks)",
            errors["packed, no boundaries (one long sequence)"].Min() > 0.01);
        result.Check("Without the key mask, padding changes the non-causal outputs (difference > 0.01)", errors["right padding, no mask"][0] > 0.01);
        result.Check("Right padding with a causal mask needs no key mask for the real rows: pads come after every real query",
            errors["right padding, no mask"][1] <= 1e-5, $"difference {errors["right padding, no mask"][1]:e1}");
    }

    /// <summary>One sequence: q (1, H, L, D), k and v (1, G, L, D), head-major.</summary>
    private sealed record Sequence(int Length, int Heads, int KvHeads, int Dim, float[] Q, float[] K, float[] V);

    private static Sequence Seq(int l, int h, int g, int d, Random rng)
    {
        var shape = new AttentionShape(1, h, g, l, l, d);
        var (q, k, v) = Measure.AttentionInputs(shape, rng);
        return new Sequence(l, h, g, d, q, k, v);
    }

    private static float[] AloneOutput(Sequence x, AttentionOptions options)
    {
        var o = new float[x.Q.Length];
        FlashAttention.Forward(x.Q, x.K, x.V, o, new AttentionShape(1, x.Heads, x.KvHeads, x.Length, x.Length, x.Dim), options);
        return o;
    }

    /// <summary>(B, H, Lmax, D) and (B, G, Lmax, D) batches; pad rows hold random values (what a pad token's projection would
    /// give), right-padded, or left-padded when <paramref name="rightAligned"/>.</summary>
    private static (float[] Q, float[] K, float[] V) Pad(IReadOnlyList<Sequence> seqs, bool rightAligned, out int lmax)
    {
        int b = seqs.Count, h = seqs[0].Heads, g = seqs[0].KvHeads, d = seqs[0].Dim;
        lmax = seqs.Max(x => x.Length);
        var q = new float[b * h * lmax * d];
        var k = new float[b * g * lmax * d];
        var v = new float[k.Length];
        var fill = new Random(99);
        Measure.FillNormal(q, fill); Measure.FillNormal(k, fill); Measure.FillNormal(v, fill);
        for (int i = 0; i < b; i++)
        {
            var x = seqs[i];
            int offset = rightAligned ? lmax - x.Length : 0;
            for (int head = 0; head < h; head++)
                x.Q.AsSpan(head * x.Length * d, x.Length * d).CopyTo(q.AsSpan(((i * h + head) * lmax + offset) * d));
            for (int head = 0; head < g; head++)
            {
                x.K.AsSpan(head * x.Length * d, x.Length * d).CopyTo(k.AsSpan(((i * g + head) * lmax + offset) * d));
                x.V.AsSpan(head * x.Length * d, x.Length * d).CopyTo(v.AsSpan(((i * g + head) * lmax + offset) * d));
            }
        }
        return (q, k, v);
    }

    /// <summary>Token-major packed (ΣL, H, D) and (ΣL, G, D), with cu_seqlens.</summary>
    private static (float[] Q, float[] K, float[] V) Pack(IReadOnlyList<Sequence> seqs, out int[] cu)
    {
        int h = seqs[0].Heads, g = seqs[0].KvHeads, d = seqs[0].Dim;
        cu = new int[seqs.Count + 1];
        for (int i = 0; i < seqs.Count; i++) cu[i + 1] = cu[i] + seqs[i].Length;
        var q = new float[cu[^1] * h * d];
        var k = new float[cu[^1] * g * d];
        var v = new float[k.Length];
        for (int i = 0; i < seqs.Count; i++)
        {
            var x = seqs[i];
            for (int t = 0; t < x.Length; t++)
            {
                for (int head = 0; head < h; head++)
                    x.Q.AsSpan((head * x.Length + t) * d, d).CopyTo(q.AsSpan(((cu[i] + t) * h + head) * d));
                for (int head = 0; head < g; head++)
                {
                    x.K.AsSpan((head * x.Length + t) * d, d).CopyTo(k.AsSpan(((cu[i] + t) * g + head) * d));
                    x.V.AsSpan((head * x.Length + t) * d, d).CopyTo(v.AsSpan(((cu[i] + t) * g + head) * d));
                }
            }
        }
        return (q, k, v);
    }

    private static double CompareHeadMajor(float[] o, float[][] alone, int[] lens, int lmax, int d)
    {
        double max = 0;
        for (int i = 0; i < lens.Length; i++)
            for (int head = 0; head < Heads; head++)
                for (int t = 0; t < lens[i]; t++)
                    for (int c = 0; c < d; c++)
                        max = Math.Max(max, Math.Abs(o[(((i * Heads + head) * lmax) + t) * d + c] - alone[i][(head * lens[i] + t) * d + c]));
        return max;
    }

    private static double CompareTokenMajor(float[] o, float[][] alone, int[] cu, int d)
    {
        double max = 0;
        for (int i = 0; i + 1 < cu.Length; i++)
        {
            int l = cu[i + 1] - cu[i];
            for (int head = 0; head < Heads; head++)
                for (int t = 0; t < l; t++)
                    for (int c = 0; c < d; c++)
                        max = Math.Max(max, Math.Abs(o[((cu[i] + t) * Heads + head) * d + c] - alone[i][(head * l + t) * d + c]));
        }
        return max;
    }

    // ---------------------------------------------------------------- (2) waste and time

    private static void Waste(ExperimentResult result, Settings s, string load, int[] words, int[] verses, Random rng)
    {
        var table = new Table($"Padding against packing on real lengths: {s.Batches} random batches of {s.BatchSize}, H = {Heads}, D = {HeadDim}, one thread " +
                              $"(best of {s.Repetitions} CPU-time runs; load average {load})",
            "data (mask)", "mean length", "mean longest in batch", "useful share of padded tokens", "useful share of padded attention pairs",
            "padded + KeyLengths, ms", "packed (ForwardVarlen), ms", "padded / packed");
        var one = new AttentionOptions { MaxThreads = 1 };
        foreach (var (name, lengths, causal) in new[] { ("CMU words, letters (non-causal)", words, false), ("KJV verses, characters (causal)", verses, true) })
        {
            var options = one with { Causal = causal };
            double realTokens = 0, padTokens = 0, realPairs = 0, padPairs = 0, padMs = 0, packMs = 0, sumMax = 0, sumLen = 0;
            for (int batch = 0; batch < s.Batches; batch++)
            {
                var lens = Enumerable.Range(0, s.BatchSize).Select(_ => lengths[rng.Next(lengths.Length)]).ToArray();
                int lmax = lens.Max();
                sumMax += lmax; sumLen += lens.Average();
                realTokens += lens.Sum(); padTokens += s.BatchSize * lmax;
                realPairs += lens.Sum(l => Pairs(l, causal)); padPairs += s.BatchSize * Pairs(lmax, causal);
                var (q, k, v) = Measure.AttentionInputs(new AttentionShape(s.BatchSize, Heads, Heads, lmax, lmax, HeadDim), rng);
                var o = new float[q.Length];
                var shape = new AttentionShape(s.BatchSize, Heads, Heads, lmax, lmax, HeadDim);
                var masked = options with { KeyLengths = lens };
                int total = lens.Sum();
                var cu = new int[lens.Length + 1];
                for (int i = 0; i < lens.Length; i++) cu[i + 1] = cu[i] + lens[i];
                var (qp, kp, vp) = Measure.AttentionInputs(new AttentionShape(1, Heads, Heads, total, total, HeadDim), rng);
                var op = new float[qp.Length];
                FlashAttention.Forward(q, k, v, o, shape, masked);
                FlashAttention.ForwardVarlen(qp, kp, vp, op, cu, cu, Heads, Heads, HeadDim, options);
                padMs += Measure.BestCpuMilliseconds(() => FlashAttention.Forward(q, k, v, o, shape, masked), s.Repetitions);
                packMs += Measure.BestCpuMilliseconds(() => FlashAttention.ForwardVarlen(qp, kp, vp, op, cu, cu, Heads, Heads, HeadDim, options), s.Repetitions);
            }
            table.AddRow(name, sumLen / s.Batches, sumMax / s.Batches, realTokens / padTokens, realPairs / padPairs, padMs, packMs, padMs / packMs);
            string key = causal ? "kjv" : "cmu";
            result.Metrics[$"useful_token_share_padded_{key}"] = realTokens / padTokens;
            result.Metrics[$"useful_pair_share_padded_{key}"] = realPairs / padPairs;
            result.Metrics[$"time_padded_over_packed_{key}"] = padMs / packMs;
            if (causal)
                result.Check("On KJV verses packing is faster than padding + key mask", packMs < padMs, $"{padMs:0.#} vs {packMs:0.#} ms", timing: true);
        }
        result.Tables.Add(table);
        result.Check("Padding wastes work on both real distributions: under 70% of the padded attention pairs are real",
            result.Metrics["useful_pair_share_padded_cmu"] < 0.7 && result.Metrics["useful_pair_share_padded_kjv"] < 0.7);
    }

    /// <summary>Query–key pairs of one sequence of length l.</summary>
    private static double Pairs(int l, bool causal) => causal ? l * (l + 1) / 2.0 : (double)l * l;

    // ---------------------------------------------------------------- (3) training step

    private static void TrainingStep(ExperimentResult result, Settings s, string load, int[] verses, Random rng)
    {
        int m = s.StepSequences, bs = s.BatchSize;
        var lens = Enumerable.Range(0, m).Select(_ => verses[rng.Next(verses.Length)]).ToArray();
        var seqs = lens.Select(l => Seq(l, Heads, Heads, HeadDim, rng)).ToArray();
        var options = new AttentionOptions { Causal = true, MaxThreads = 1 };
        var randomBatches = Enumerable.Range(0, m / bs).Select(i => seqs.Skip(i * bs).Take(bs).ToArray()).ToArray();
        var sorted = seqs.OrderBy(x => x.Length).ToArray();
        var buckets = Enumerable.Range(0, m / bs).Select(i => sorted.Skip(i * bs).Take(bs).ToArray()).ToArray();

        var table = new Table($"One training step's attention (forward + backward) over {m / bs * bs} KJV verses in batches of {bs}, causal, H = {Heads}, D = {HeadDim}, one thread " +
                              $"(best of {s.Repetitions}; load average {load})",
            "batching", "tokens computed (real + pad)", "useful share", "forward, ms", "forward + backward, ms", "relative to packing");
        var rows = new List<(string Name, long Tokens, double Forward, double Total)>();
        foreach (var (name, batches) in new[] { ("random batches, padded + key mask", randomBatches), ("length buckets (sorted), padded + key mask", buckets) })
        {
            var prepared = batches.Select(batch => PreparePadded(batch, options)).ToArray();
            long tokens = prepared.Sum(p => (long)p.Shape.Batch * p.Shape.QueryLength);
            double fwd = Measure.BestCpuMilliseconds(() => { foreach (var p in prepared) p.Forward(); }, s.Repetitions);
            double both = Measure.BestCpuMilliseconds(() => { foreach (var p in prepared) { p.Forward(); p.Backward(); } }, s.Repetitions);
            rows.Add((name, tokens, fwd, both));
        }
        {
            var prepared = randomBatches.Select(batch => PreparePacked(batch, options)).ToArray();
            long tokens = prepared.Sum(p => (long)p.Total);
            double fwd = Measure.BestCpuMilliseconds(() => { foreach (var p in prepared) p.Forward(); }, s.Repetitions);
            double both = Measure.BestCpuMilliseconds(() => { foreach (var p in prepared) p.ForwardAndBackward(); }, s.Repetitions);
            rows.Add(("random batches, packed (forward: ForwardVarlen; forward + backward: per sequence, no padding)", tokens, fwd, both));
        }
        long real = rows[^1].Tokens;
        foreach (var r in rows) table.AddRow(r.Name, r.Tokens, real / (double)r.Tokens, r.Forward, r.Total, r.Total / rows[^1].Total);
        result.Tables.Add(table);
        result.Metrics["step_useful_share_random"] = real / (double)rows[0].Tokens;
        result.Metrics["step_useful_share_bucketed"] = real / (double)rows[1].Tokens;
        result.Metrics["step_time_random_over_packed"] = rows[0].Total / rows[2].Total;
        result.Metrics["step_time_bucketed_over_packed"] = rows[1].Total / rows[2].Total;
        result.Check("Length buckets cut the padding of random batches (useful share of tokens higher)", rows[1].Tokens < rows[0].Tokens,
            $"{real / (double)rows[0].Tokens:P0} → {real / (double)rows[1].Tokens:P0}");
    }

    private sealed class PaddedBatch
    {
        private readonly AttentionOptions _options;
        private readonly float[] _q, _k, _v, _o, _lse, _dO, _dq, _dk, _dv;

        public PaddedBatch(AttentionShape shape, AttentionOptions options, float[] q, float[] k, float[] v)
        {
            (Shape, _options, _q, _k, _v) = (shape, options, q, k, v);
            _o = new float[q.Length];
            _lse = new float[shape.Batch * shape.Heads * shape.QueryLength];
            _dO = Filled(q.Length);
            (_dq, _dk, _dv) = (new float[q.Length], new float[k.Length], new float[v.Length]);
        }

        public AttentionShape Shape { get; }
        public void Forward() => FlashAttention.Forward(_q, _k, _v, _o, Shape, _options, _lse);
        public void Backward() => FlashAttention.Backward(_q, _k, _v, _o, _lse, _dO, _dq, _dk, _dv, Shape, _options);
    }

    private static PaddedBatch PreparePadded(Sequence[] batch, AttentionOptions options)
    {
        var (q, k, v) = Pad(batch, rightAligned: false, out int lmax);
        var shape = new AttentionShape(batch.Length, Heads, Heads, lmax, lmax, HeadDim);
        return new PaddedBatch(shape, options with { KeyLengths = batch.Select(x => x.Length).ToArray() }, q, k, v);
    }

    private sealed class PackedBatch
    {
        private readonly (float[] Q, float[] K, float[] V) _packed;
        private readonly int[] _cu;
        private readonly float[] _o;
        private readonly PaddedBatch[] _alone;
        private readonly AttentionOptions _options;

        public PackedBatch(Sequence[] batch, AttentionOptions options)
        {
            _options = options;
            _packed = Pack(batch, out _cu);
            _o = new float[_cu[^1] * Heads * HeadDim];
            _alone = batch.Select(x => new PaddedBatch(new AttentionShape(1, Heads, Heads, x.Length, x.Length, HeadDim), options, x.Q, x.K, x.V)).ToArray();
        }

        public int Total => _cu[^1];
        public void Forward() => FlashAttention.ForwardVarlen(_packed.Q, _packed.K, _packed.V, _o, _cu, _cu, Heads, Heads, HeadDim, _options);
        // the library has no packed backward: each sequence's own forward (for its logSumExp) and backward, no padding
        public void ForwardAndBackward() { foreach (var a in _alone) { a.Forward(); a.Backward(); } }
    }

    private static PackedBatch PreparePacked(Sequence[] batch, AttentionOptions options) => new(batch, options);

    private static float[] Filled(int n)
    {
        var a = new float[n];
        Measure.FillNormal(a, new Random(n));
        return a;
    }

    // ---------------------------------------------------------------- (4) batched decoding

    private static void Decoding(ExperimentResult result, int[] verses, Random rng)
    {
        const int b = 6, d = 32;
        var lens = Enumerable.Range(0, b).Select(_ => Math.Min(300, verses[rng.Next(verses.Length)])).ToArray();
        var seqs = lens.Select(l => Seq(l, Heads, Heads, d, rng)).ToArray();
        var options = new AttentionOptions { Causal = true };
        // reference: each sequence's newest token (its last query) against its own keys
        var reference = new float[b][];
        var queries = new float[b * Heads * d];
        for (int i = 0; i < b; i++)
        {
            var x = seqs[i];
            for (int head = 0; head < Heads; head++) x.Q.AsSpan((head * x.Length + x.Length - 1) * d, d).CopyTo(queries.AsSpan((i * Heads + head) * d));
            reference[i] = new float[Heads * d];
            DecodeAttention.Forward(queries.AsSpan(i * Heads * d, Heads * d), x.K, x.V, reference[i], new AttentionShape(1, Heads, Heads, 1, x.Length, d), options);
        }
        double Error(float[] o)
        {
            double max = 0;
            for (int i = 0; i < b; i++)
                for (int c = 0; c < Heads * d; c++) max = Math.Max(max, Math.Abs(o[i * Heads * d + c] - reference[i][c]));
            return max;
        }
        var table = new Table($"Batched decoding: {b} KJV-verse lengths ({string.Join(", ", lens)}), one new query per sequence, error against each sequence decoded alone",
            "cache layout", "mask given to the kernel", "max |error|", "KV rows allocated");
        int lmax = lens.Max();
        var o = new float[b * Heads * d];
        var shape = new AttentionShape(b, Heads, Heads, 1, lmax, d);
        var (_, kr, vr) = Pad(seqs, rightAligned: false, out _);
        var (_, kl, vl) = Pad(seqs, rightAligned: true, out _);
        var cases = new List<(string Layout, string Mask, double Error, long Rows)>();
        DecodeAttention.Forward(queries, kr, vr, o, shape, options with { KeyLengths = lens });
        cases.Add(("right padding", "KeyLengths = each length", Error(o), (long)b * lmax));
        DecodeAttention.Forward(queries, kr, vr, o, shape, options);
        cases.Add(("right padding", "none", Error(o), (long)b * lmax));
        DecodeAttention.Forward(queries, kl, vl, o, shape, options);
        cases.Add(("left padding", "none", Error(o), (long)b * lmax));
        DecodeAttention.Forward(queries, kl, vl, o, shape, options with { KeyLengths = lens });
        cases.Add(("left padding", "KeyLengths = each length (masks the wrong end)", Error(o), (long)b * lmax));

        const int blockSize = 16;
        var cache = new PagedKvCache(numBlocks: lens.Sum(l => (l + blockSize - 1) / blockSize), kvHeads: Heads, blockSize: blockSize, headDim: d);
        var ids = new int[b];
        var row = new float[Heads * d];
        var rowV = new float[Heads * d];
        for (int i = 0; i < b; i++)
        {
            ids[i] = cache.AddSequence();
            var x = seqs[i];
            for (int t = 0; t < x.Length; t++)
            {
                for (int head = 0; head < Heads; head++)
                {
                    x.K.AsSpan((head * x.Length + t) * d, d).CopyTo(row.AsSpan(head * d));
                    x.V.AsSpan((head * x.Length + t) * d, d).CopyTo(rowV.AsSpan(head * d));
                }
                cache.Append(ids[i], row, rowV);
            }
        }
        var (blockTable, seqLens, maxBlocks) = cache.Tables(ids);
        DecodeAttention.ForwardPaged(queries, cache.Keys, cache.Values, o, blockTable, seqLens, blockSize, new AttentionShape(b, Heads, Heads, 1, maxBlocks * blockSize, d), options);
        cases.Add(($"paged, blocks of {blockSize} (no padding)", "seqLens = each length", Error(o), (long)(cache.NumBlocks - cache.FreeBlocks) * blockSize));
        foreach (var c in cases) table.AddRow(c.Layout, c.Mask, c.Error, c.Rows);
        result.Tables.Add(table);
        result.Metrics["decode_error_right_padding_masked"] = cases[0].Error;
        result.Metrics["decode_error_left_padding_unmasked"] = cases[2].Error;
        result.Metrics["decode_error_paged"] = cases[4].Error;
        result.Check("Right padding with per-sequence lengths, and the paged cache, decode every sequence as if alone (within 1e-5)",
            cases[0].Error <= 1e-5 && cases[4].Error <= 1e-5, $"{cases[0].Error:e1}, {cases[4].Error:e1}");
        result.Check("Unmasked pads (left or right) and a right-end mask on a left-padded cache all change the result (error > 0.01)",
            cases[1].Error > 0.01 && cases[2].Error > 0.01 && cases[3].Error > 0.01);
    }

    // ---------------------------------------------------------------- (5) fully masked rows

    private static void FullyMasked(ExperimentResult result)
    {
        var table = new Table("Rows that see no key at all (an empty sequence, a query before the first key): NaN count and largest |output| of those rows",
            "implementation", "case", "NaN values", "max |output| of the masked rows");

        // the naive masked softmax: m = max(−∞, …) = −∞, exp(s − m) = exp(NaN)
        var scores = new[] { float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity };
        float mx = scores.Max();
        var p = scores.Select(x => MathF.Exp(x - mx)).ToArray();
        float sum = p.Sum();
        int naiveNaN = p.Count(x => float.IsNaN(x / sum));
        table.AddRow("naive softmax(s − max s) with −∞ for masked", "one row, 3 keys, all masked", naiveNaN, "NaN");

        const int d = 16, h = 2;
        var rng = new Random(5);
        // KeyLengths with a zero
        var shape = new AttentionShape(3, h, h, 4, 6, d);
        var (q, k, v) = Measure.AttentionInputs(shape, rng);
        var o = new float[q.Length];
        var lse = new float[3 * h * 4];
        var opts = new AttentionOptions { KeyLengths = [6, 0, 3] };
        FlashAttention.Forward(q, k, v, o, shape, opts, lse);
        table.AddRow("FlashAttention.Forward", "KeyLengths = [6, 0, 3]: batch item 1 has no key", o.Count(float.IsNaN), MaxAbs(o.AsSpan(h * 4 * d, h * 4 * d)));
        int nan = o.Count(float.IsNaN);
        bool zero = MaxAbs(o.AsSpan(h * 4 * d, h * 4 * d)) == 0 && lse.AsSpan(h * 4, h * 4).ToArray().All(float.IsNegativeInfinity);

        var dO = new float[o.Length]; Measure.FillNormal(dO, rng);
        var dq = new float[q.Length]; var dk = new float[k.Length]; var dv = new float[v.Length];
        FlashAttention.Backward(q, k, v, o, lse, dO, dq, dk, dv, shape, opts);
        int gradNaN = dq.Count(float.IsNaN) + dk.Count(float.IsNaN) + dv.Count(float.IsNaN);
        table.AddRow("FlashAttention.Backward", "the same batch: dQ, dK, dV", gradNaN, MaxAbs(dq.AsSpan(h * 4 * d, h * 4 * d)));
        nan += gradNaN;
        zero &= MaxAbs(dq.AsSpan(h * 4 * d, h * 4 * d)) == 0;

        var pm = new float[3 * h * 4 * 6];
        MathAttention.Forward(q, k, v, o, shape, opts, pm);
        table.AddRow("MathAttention.Forward (materialised P)", "the same batch", o.Count(float.IsNaN) + pm.Count(float.IsNaN), MaxAbs(o.AsSpan(h * 4 * d, h * 4 * d)));
        nan += o.Count(float.IsNaN) + pm.Count(float.IsNaN);

        // causal with more queries than keys: the first L − S rows see nothing (bottom-right alignment)
        var tall = new AttentionShape(1, h, h, 7, 3, d);
        var (qt, kt, vt) = Measure.AttentionInputs(tall, rng);
        var ot = new float[qt.Length];
        FlashAttention.Forward(qt, kt, vt, ot, tall, new AttentionOptions { Causal = true });
        double tallMax = 0;
        for (int head = 0; head < h; head++) tallMax = Math.Max(tallMax, MaxAbs(ot.AsSpan(head * 7 * d, 4 * d)));
        table.AddRow("FlashAttention.Forward", "causal, L = 7 queries, S = 3 keys: rows 0–3 see nothing", ot.Count(float.IsNaN), tallMax);
        nan += ot.Count(float.IsNaN);
        zero &= tallMax == 0;

        // packed: a sequence with queries and no keys
        int[] cuQ = [0, 3, 6, 8], cuK = [0, 4, 4, 9];
        var qv = new float[8 * h * d]; var kv = new float[9 * h * d]; var vv = new float[9 * h * d];
        Measure.FillNormal(qv, rng); Measure.FillNormal(kv, rng); Measure.FillNormal(vv, rng);
        var ov = new float[qv.Length];
        FlashAttention.ForwardVarlen(qv, kv, vv, ov, cuQ, cuK, h, h, d, AttentionOptions.Default);
        double varlenMax = MaxAbs(ov.AsSpan(3 * h * d, 3 * h * d));
        table.AddRow("FlashAttention.ForwardVarlen", "sequence 1 has 3 queries and 0 keys", ov.Count(float.IsNaN), varlenMax);
        nan += ov.Count(float.IsNaN);
        zero &= varlenMax == 0;

        result.Tables.Add(table);
        result.Metrics["naive_softmax_nan"] = naiveNaN;
        result.Metrics["kernel_nan_fully_masked"] = nan;
        result.Check("The naive masked softmax turns a fully masked row into NaN (the bug class exists)", naiveNaN > 0);
        result.Check("No kernel here gives NaN for a fully masked row (forward, backward, math path, varlen); those rows come out 0 with logSumExp −∞", nan == 0 && zero);
    }

    private static double MaxAbs(ReadOnlySpan<float> x)
    {
        double m = 0;
        foreach (float f in x) m = Math.Max(m, Math.Abs(f));
        return m;
    }

    private static void LengthFigure(ExperimentContext context, ExperimentResult result, int[] words, int[] verses)
    {
        var series = new List<Series>();
        foreach (var (name, lengths, binWidth) in new[] { ("CMU words (letters)", words, 1), ("KJV verses (characters, bins of 10)", verses, 10) })
        {
            var groups = lengths.GroupBy(l => l / binWidth).OrderBy(g => g.Key).ToArray();
            series.Add(new Series(name, groups.Select(g => (double)(g.Key * binWidth)).ToArray(), groups.Select(g => g.Count() / (double)lengths.Length).ToArray()));
        }
        string path = context.FigurePath("q35-lengths.png");
        Charts.Lines(path, "The two length distributions", "length", "share of sequences", series, logX: true);
        result.Figures.Add(new Figure(path, $"CMU dictionary words ({words.Length:N0}, mean {words.Average():0.#} letters, longest {words.Max()}) and KJV verses ({verses.Length:N0}, mean {verses.Average():0} characters, longest {verses.Max()}): a batch is as long as its longest member."));
    }

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }
}
