using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Attention.Kernels;

/// <summary>
/// Split-K decode attention (FlashDecoding). Work item = (batch, key/value head, chunk of keys); an item
/// handles every query row of the heads that share that key/value head (G = H / KvHeads heads × L queries),
/// so each key and value row is fetched from memory once per call. Per item and row:
/// <code>
///   pass 1: s[j] = scale · q·k[j] for the visible j of the chunk
///   pass 2: m = max s; p[j] = e^(s[j] − m); ℓ = Σ p
///   pass 3: o = Σ p[j]·v[j]                      (unnormalised; written with m and ℓ as a partial)
/// merge:   M = maxₖ mₖ; ℓ = Σₖ ℓₖ e^(mₖ−M); O = Σₖ oₖ e^(mₖ−M) / ℓ; logSumExp = M + ln ℓ
/// </code>
/// Chunks hold at most 512 keys (128 KiB of K and V at D = 64, L2-resident between passes) and are made
/// small enough that every thread gets several items.
/// Measured (1 query, H = KvHeads = 8, S = 4096, D = 64; 16.8 MB of K and V; shared 2-core AVX-512 EPYC, best of
/// 200 in thread CPU time): 0.39–0.49 ms on one thread (34–43 GB/s, memory bound), against ORT opset-23 Attention
/// 0.53 ms, ggml 0.71 ms and ORT MultiHeadAttention 2.4 ms (bench/results). Two threads split the same traffic.
/// </summary>
internal sealed unsafe class DecodeAttentionKernel : AttentionJob
{
    private const int MaxChunk = 512, MinChunk = 64;
    private readonly float* _q, _k, _v, _partials;
    private readonly AttentionShape _shape;
    private readonly AttentionOptions _options;
    private readonly float _scale;
    private readonly int _group, _groupRows, _chunk, _chunks;
    private readonly float _softCap;
    private readonly float[]? _alibi, _sinkLogits;
    // paged KV cache (ForwardPaged): key j of sequence b is row j % blockSize of block blockTable[b, j / blockSize]
    // in (numBlocks, KvHeads, blockSize, D); null table = contiguous (B, KvHeads, S, D)
    private readonly int* _blockTable, _seqLens;
    private readonly int _blockSize, _maxBlocks;
    // paged without sink tokens: an item is (batch, chunk) and reads every key/value head of each block in turn, so a
    // block's KvHeads runs, consecutive in the pool, are read as one stream instead of one 4 KiB run per item, with the
    // same head's rows a few blocks ahead prefetched row by row. Measured (bench/results/long-context.md, 8 sequences of
    // 1024–4096 keys, H = 8, D = 64, one thread, six quiet runs): 0.95–1.01× the contiguous decode's time at block 16, against 1.15×
    // with one head per item; 1.15–1.22× when the pool's blocks are shuffled
    private readonly bool _allHeads;

    private DecodeAttentionKernel(float* q, float* k, float* v, float* partials, AttentionShape shape,
                                  AttentionOptions options, float scale, int chunk, int chunks,
                                  int* blockTable = null, int* seqLens = null, int blockSize = 0)
    {
        _q = q; _k = k; _v = v; _partials = partials;
        _blockTable = blockTable; _seqLens = seqLens; _blockSize = blockSize;
        _maxBlocks = blockSize == 0 ? 0 : shape.KeyLength / blockSize;
        _allHeads = AllHeads(blockTable != null, shape, options);
        (_shape, _options, _scale, _chunk, _chunks) = (shape, options, scale, chunk, chunks);
        _group = shape.Heads / shape.KvHeads;
        _groupRows = _group * shape.QueryLength;
        (_softCap, _alibi, _sinkLogits) = (options.SoftCap, options.AlibiSlopes, options.SinkLogits);
    }

    public override int Items => checked(_shape.Batch * (_allHeads ? 1 : _shape.KvHeads) * _chunks);
    public override long ScratchFloats => _allHeads ? (long)_chunk * _shape.KvHeads * _groupRows : _chunk;

    /// <summary>The all-heads paged path needs no sink tokens, and keeps its per-row state (3 values on the stack) and its
    /// scores (a chunk per row) small: at most <see cref="MaxAllHeadsRows"/> query rows (Heads·L) per sequence.</summary>
    private static bool AllHeads(bool paged, AttentionShape shape, AttentionOptions options) =>
        paged && options.SinkTokens == 0 && (long)shape.Heads * shape.QueryLength <= MaxAllHeadsRows;

    private const int MaxAllHeadsRows = 256;

    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                               Span<float> output, AttentionShape shape, AttentionOptions options, Span<float> logSumExp)
    {
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options,
                                                  logSumExp.Length, nameof(logSumExp), (long)shape.Batch * shape.Heads * shape.QueryLength);
        if (query.Length == 0) return;
        Run(query, key, value, output, shape, options, logSumExp, scale, default, default, 0);
    }

    /// <summary>The paged form (contract and checks: <see cref="DecodeAttention.ForwardPaged"/>).</summary>
    public static void ForwardPaged(ReadOnlySpan<float> query, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
                                    Span<float> output, ReadOnlySpan<int> blockTable, ReadOnlySpan<int> seqLens,
                                    int blockSize, AttentionShape shape, AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (batch, heads, kvHeads, L, S, D) = shape;
        if (blockSize < 1) throw new ArgumentException($"blockSize: expected >= 1, got {blockSize}", nameof(blockSize));
        if (S % blockSize != 0)
            throw new ArgumentException($"KeyLength: expected maxBlocksPerSeq·blockSize (a multiple of {blockSize}), got {S}", nameof(shape));
        long blockFloats = (long)Math.Max(kvHeads, 1) * blockSize * Math.Max(D, 1);
        if (kCache.Length % blockFloats != 0)
            throw new ArgumentException($"kCache: expected numBlocks·KvHeads·blockSize·D (a multiple of {blockFloats}), got {kCache.Length}", nameof(kCache));
        if (vCache.Length != kCache.Length)
            throw new ArgumentException($"vCache: expected the length of kCache, {kCache.Length}, got {vCache.Length}", nameof(vCache));
        long kvExpected = (long)batch * kvHeads * S * D;   // lets Validate check everything else with its own messages
        float scale = AttentionArguments.Validate(query.Length, (int)Math.Min(kvExpected, int.MaxValue), (int)Math.Min(kvExpected, int.MaxValue),
                                                  output.Length, shape, options, 0, "logSumExp", 0);
        int maxBlocks = S / blockSize, numBlocks = (int)(kCache.Length / blockFloats);
        if (blockTable.Length != (long)batch * maxBlocks)
            throw new ArgumentException($"blockTable: expected B·maxBlocksPerSeq = {batch}·{maxBlocks} = {(long)batch * maxBlocks} entries, got {blockTable.Length}", nameof(blockTable));
        if (seqLens.Length != batch)
            throw new ArgumentException($"seqLens: expected {batch} entries (one per sequence), got {seqLens.Length}", nameof(seqLens));
        for (int b = 0; b < batch; b++)
        {
            if ((uint)seqLens[b] > (uint)S)
                throw new ArgumentException($"seqLens[{b}]: expected a value in [0, {S}] (KeyLength), got {seqLens[b]}", nameof(seqLens));
            for (int blk = 0; blk < (seqLens[b] + blockSize - 1) / blockSize; blk++)
                if ((uint)blockTable[b * maxBlocks + blk] >= (uint)numBlocks)
                    throw new ArgumentException($"blockTable[{b}, {blk}]: expected a block in [0, {numBlocks}), got {blockTable[b * maxBlocks + blk]}", nameof(blockTable));
        }
        if (query.Length == 0) return;
        Run(query, kCache, vCache, output, shape, options, default, scale, blockTable, seqLens, blockSize);
    }

    private static void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                            Span<float> output, AttentionShape shape, AttentionOptions options, Span<float> logSumExp, float scale,
                            ReadOnlySpan<int> blockTable, ReadOnlySpan<int> seqLens, int blockSize)
    {
        var (batch, heads, kvHeads, L, S, D) = shape;
        int threads = options.MaxThreads == 0 ? Environment.ProcessorCount : options.MaxThreads;
        long pairs = (long)batch * kvHeads, itemsPerChunk = AllHeads(blockSize != 0, shape, options) ? batch : pairs;
        int wantChunks = (int)Math.Max(1, (4L * threads + itemsPerChunk - 1) / itemsPerChunk);
        int chunk = Math.Clamp((S + wantChunks - 1) / wantChunks, Math.Min(MinChunk, Math.Max(S, 1)), MaxChunk);
        int chunks = Math.Max(1, (S + chunk - 1) / chunk);
        long partialFloats = pairs * chunks * (heads / kvHeads) * L * (D + 2L);
        var partials = GC.AllocateUninitializedArray<float>(checked((int)partialFloats));
        unsafe
        {
            fixed (float* q = query, k = key, v = value, o = output, lse = logSumExp, part = partials)
            fixed (int* table = blockTable, lens = seqLens)
            {
                var job = new DecodeAttentionKernel(q, k, v, part, shape, options, scale, chunk, chunks,
                                                    blockSize == 0 ? null : table, blockSize == 0 ? null : lens, blockSize);
                job.Run(AttentionArguments.Threads(options, job.Items));
                job.Merge(o, logSumExp.IsEmpty ? null : lse);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int item, float* scores)
    {
        if (_allHeads) { ExecuteAllHeads(item, scores); return; }
        var (_, heads, kvHeads, L, S, D) = _shape;
        int chunk = item % _chunks, pair = item / _chunks, b = pair / kvHeads, kvh = pair % kvHeads;
        if (_blockTable != null) S = _seqLens[b];   // paged: this sequence's own length, query i at key S − L + i
        int j0 = chunk * _chunk, j1 = Math.Min(S, j0 + _chunk);
        var range = _blockTable == null ? new KeyRange(_shape, _options, b) : new KeyRange(_shape with { KeyLength = S }, _options, b);
        float* kHead = _k + (nint)pair * S * D, vHead = _v + (nint)pair * S * D;
        if (_blockTable != null) { kHead = vHead = null; }
        for (int r = 0; r < _groupRows; r++)
        {
            int g = r / L, i = r % L, h = kvh * _group + g;
            float* q = _q + ((nint)(b * heads + h) * L + i) * D;
            float* part = _partials + ((nint)item * _groupRows + r) * (D + 2);
            range.Visible(i, out int lo, out int hi, out int sinkEnd);
            int a = Math.Max(lo, j0), e = Math.Min(hi, j1);
            int sa = j0, se = Math.Min(sinkEnd, j1);           // sinks [0, sinkEnd) apart from the window, if any
            int ns = Math.Max(0, se - sa), nw = Math.Max(0, e - a);
            if (ns + nw == 0)
            {
                part[0] = float.NegativeInfinity; part[1] = 0;
                new Span<float>(part + 2, D).Clear();
                continue;
            }
            // pass 1: the chunk's sink keys then its window keys, one run of scores
            float slope = _alibi == null ? 0 : _alibi[h];
            long p = (long)i + S - L;
            float m = float.NegativeInfinity;
            if (_blockTable == null)
            {
                if (ns > 0) m = Scores(q, kHead + (nint)sa * D, sa, ns, D, p, slope, scores);
                if (nw > 0) m = MathF.Max(m, Scores(q, kHead + (nint)a * D, a, nw, D, p, slope, scores + ns));
            }
            else
            {
                if (ns > 0) m = PagedScores(q, b, kvh, sa, ns, D, p, slope, scores);
                if (nw > 0) m = MathF.Max(m, PagedScores(q, b, kvh, a, nw, D, p, slope, scores + ns));
            }
            // pass 2
            float l = ExpInPlace(scores, ns + nw, m);
            // pass 3
            if (_blockTable == null)
            {
                if (ns > 0) WeightedSum(scores, vHead + (nint)sa * D, ns, D, part + 2, accumulate: false);
                if (nw > 0) WeightedSum(scores + ns, vHead + (nint)a * D, nw, D, part + 2, accumulate: ns > 0);
            }
            else
            {
                if (ns > 0) PagedWeightedSum(scores, b, kvh, sa, ns, D, part + 2, accumulate: false);
                if (nw > 0) PagedWeightedSum(scores + ns, b, kvh, a, nw, D, part + 2, accumulate: ns > 0);
            }
            part[0] = m; part[1] = l;
        }
    }

    /// <summary>The paged item (batch b, chunk) over every key/value head: pass 1 and pass 3 go block by block and, inside a
    /// block, head by head, which reads each block's KvHeads·blockSize·D floats front to back. Scores of head kvh's row r
    /// live at scratch[(kvh·groupRows + r)·chunk + key − first visible key]. No sink tokens (their split runs stay in
    /// <see cref="Execute"/>), so each row's visible keys in the chunk are one range.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ExecuteAllHeads(int item, float* scratch)
    {
        var (_, heads, kvHeads, L, _, D) = _shape;
        int chunk = item % _chunks, b = item / _chunks, S = _seqLens[b];
        int j0 = chunk * _chunk, j1 = Math.Min(S, j0 + _chunk), rows = kvHeads * _groupRows;
        var range = new KeyRange(_shape with { KeyLength = S }, _options, b);
        int* lo = stackalloc int[rows], hi = stackalloc int[rows];
        float* max = stackalloc float[rows];
        for (int x = 0; x < rows; x++)
        {
            range.Visible(x % _groupRows % L, out int a, out int e, out _);
            lo[x] = Math.Max(a, j0); hi[x] = Math.Min(e, j1); max[x] = float.NegativeInfinity;
        }
        int* table = _blockTable + (nint)b * _maxBlocks;
        int firstBlock = j0 / _blockSize, endBlock = j1 <= j0 ? firstBlock : (j1 + _blockSize - 1) / _blockSize;
        // pass 1: scores
        for (int block = firstBlock; block < endBlock; block++)
        {
            int k0 = Math.Max(block * _blockSize, j0), k1 = Math.Min((block + 1) * _blockSize, j1);
            for (int kvh = 0; kvh < kvHeads; kvh++)
            {
                float* run = Row(_k, table[block], kvh, 0, D) - (nint)block * _blockSize * D;   // run[key·D] is key's row
                // the same head's rows a few blocks ahead, prefetched row by row (the blocks are scattered in the pool)
                byte* ahead = block + PrefetchAhead < endBlock && Sse.IsSupported
                    ? (byte*)(Row(_k, table[block + PrefetchAhead], kvh, 0, D) - (nint)block * _blockSize * D) : null;
                for (int r = 0; r < _groupRows; r++)
                {
                    int x = kvh * _groupRows + r, a = Math.Max(k0, lo[x]), e = Math.Min(k1, hi[x]);
                    if (a >= e) continue;
                    int h = kvh * _group + r / L, i = r % L;
                    float* q = _q + ((nint)(b * heads + h) * L + i) * D;
                    float slope = _alibi == null ? 0 : _alibi[h];
                    float m = Scores(q, run + (nint)a * D, a, e - a, D, (long)i + S - L, slope, scratch + (nint)x * _chunk + (a - lo[x]),
                                     r == 0 && ahead != null ? ahead + (nint)a * D * sizeof(float) : null);
                    max[x] = MathF.Max(max[x], m);
                }
            }
        }
        // pass 2: exponentials; the partials start at zero for pass 3 to accumulate into
        for (int x = 0; x < rows; x++)
        {
            float* part = Partial(b, x / _groupRows, chunk, x % _groupRows, D);
            new Span<float>(part + 2, D).Clear();
            int n = hi[x] - lo[x];
            if (n <= 0) { part[0] = float.NegativeInfinity; part[1] = 0; continue; }
            part[0] = max[x];
            part[1] = ExpInPlace(scratch + (nint)x * _chunk, n, max[x]);
        }
        // pass 3: o = Σ p·v, block by block, head by head
        for (int block = firstBlock; block < endBlock; block++)
        {
            int k0 = Math.Max(block * _blockSize, j0), k1 = Math.Min((block + 1) * _blockSize, j1);
            for (int kvh = 0; kvh < kvHeads; kvh++)
            {
                float* run = Row(_v, table[block], kvh, 0, D) - (nint)block * _blockSize * D;
                byte* ahead = block + PrefetchAhead < endBlock && Sse.IsSupported
                    ? (byte*)(Row(_v, table[block + PrefetchAhead], kvh, 0, D) - (nint)block * _blockSize * D) : null;
                for (int r = 0; r < _groupRows; r++)
                {
                    int x = kvh * _groupRows + r, a = Math.Max(k0, lo[x]), e = Math.Min(k1, hi[x]);
                    if (a >= e) continue;
                    WeightedSum(scratch + (nint)x * _chunk + (a - lo[x]), run + (nint)a * D, e - a, D, Partial(b, kvh, chunk, r, D) + 2, accumulate: true,
                                r == 0 && ahead != null ? ahead + (nint)a * D * sizeof(float) : null);
                }
            }
        }
    }

    /// <summary>The partial (m, ℓ, o[D]) of (batch b, key/value head kvh, chunk, group row r), where <see cref="Merge"/> reads it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Partial(int b, int kvh, int chunk, int r, int D) =>
        _partials + (((nint)(b * _shape.KvHeads + kvh) * _chunks + chunk) * _groupRows + r) * (D + 2);

    /// <summary><see cref="Scores"/> over a paged cache: one call per run of keys inside one block.</summary>
    private float PagedScores(float* q, int b, int kvh, int first, int n, int D, long p, float slope, float* s)
    {
        float m = float.NegativeInfinity;
        int* table = _blockTable + (nint)b * _maxBlocks;
        int block = first / _blockSize, offset = first % _blockSize;
        for (int c = 0; c < n; block++, offset = 0)
        {
            int run = Math.Min(n - c, _blockSize - offset);
            byte* next = block + PrefetchAhead < _maxBlocks ? (byte*)Row(_k, table[block + PrefetchAhead], kvh, offset, D) : null;
            m = MathF.Max(m, Scores(q, Row(_k, table[block], kvh, offset, D), first + c, run, D, p, slope, s + c, Sse.IsSupported ? next : null));
            c += run;
        }
        return m;
    }

    /// <summary><see cref="WeightedSum"/> over a paged cache, block run by block run.</summary>
    private void PagedWeightedSum(float* w, int b, int kvh, int first, int n, int D, float* o, bool accumulate)
    {
        int* table = _blockTable + (nint)b * _maxBlocks;
        int block = first / _blockSize, offset = first % _blockSize, last = (first + n - 1) / _blockSize;
        for (int ahead = 0; ahead < PrefetchAhead && block + ahead <= last; ahead++) Prefetch(_v, table, block + ahead, kvh, D);
        for (int c = 0; c < n; block++, offset = 0)
        {
            int run = Math.Min(n - c, _blockSize - offset);
            byte* next = block + PrefetchAhead <= last && Sse.IsSupported ? (byte*)Row(_v, table[block + PrefetchAhead], kvh, offset, D) : null;
            WeightedSum(w + c, Row(_v, table[block], kvh, offset, D), run, D, o, accumulate || c > 0, next);
            c += run;
        }
    }

    /// <summary>How many blocks ahead the paged loops prefetch: about 8 KiB of rows (measured on the 2-core EPYC under load:
    /// 4 KiB blocks read at 1.8× the contiguous time without prefetch, 1.15–1.3× with 8 KiB ahead).</summary>
    private int PrefetchAhead => Math.Max(1, (8192 + _blockSize * _shape.HeadDim * sizeof(float) - 1) / (_blockSize * _shape.HeadDim * sizeof(float)));

    /// <summary>Prefetches one key or value row (D floats) into L1, spread over the loop that reads the current block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRow(byte* row, int D)
    {
        for (nint x = 0; x < (nint)D * sizeof(float); x += 64) Sse.Prefetch0(row + x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Row(float* cache, int block, int kvh, int offset, int D) =>
        cache + (((nint)block * _shape.KvHeads + kvh) * _blockSize + offset) * D;

    /// <summary>Asks for the rows of one block (head kvh) to be fetched into L2: a sequence's blocks are scattered through
    /// the pool, so the hardware's stream prefetchers, which follow contiguous addresses, do not find them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Prefetch(float* cache, int* table, int block, int kvh, int D)
    {
        if (!Sse.IsSupported || block >= _maxBlocks) return;
        byte* row = (byte*)Row(cache, table[block], kvh, 0, D);
        nint bytes = (nint)_blockSize * D * sizeof(float);
        for (nint x = 0; x < bytes; x += 64) Sse.Prefetch1(row + x);
    }

    /// <summary>s[c] = scale·q·k[c] for n consecutive key rows from <paramref name="k"/> (key index first + c), then soft-cap
    /// and ALiBi; returns their max.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private float Scores(float* q, float* k, int first, int n, int D, long p, float slope, float* s, byte* next = null)
    {
        float m = float.NegativeInfinity;
        for (int c = 0; c < n; c++)
        {
            int j = first + c;
            if (next != null) PrefetchRow(next + (nint)c * D * sizeof(float), D);
            float x = _scale * Dot(q, k + (nint)c * D, D);
            if (_softCap > 0) x = _softCap * MathF.Tanh(x / _softCap);
            if (slope != 0) x -= slope * Math.Abs(p - j);
            s[c] = x;
            m = MathF.Max(m, x);
        }
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Merge(float* output, float* lse)
    {
        var (batch, heads, kvHeads, L, _, D) = _shape;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < L; i++)
                {
                    int kvh = h / _group, r = (h % _group) * L + i;
                    nint row = ((nint)b * heads + h) * L + i;
                    float* o = output + row * D;
                    float* first = _partials + ((nint)((b * kvHeads + kvh) * _chunks) * _groupRows + r) * (D + 2);
                    nint stride = (nint)_groupRows * (D + 2);
                    float mMax = float.NegativeInfinity;
                    for (int c = 0; c < _chunks; c++) mMax = MathF.Max(mMax, first[c * stride]);
                    new Span<float>(o, D).Clear();
                    float sink = _sinkLogits == null ? float.NegativeInfinity : _sinkLogits[h];
                    if (float.IsNegativeInfinity(mMax))
                    {
                        if (lse != null) lse[row] = sink;
                        continue;
                    }
                    float l = 0;
                    for (int c = 0; c < _chunks; c++)
                    {
                        float* part = first + c * stride;
                        if (part[1] == 0) continue;         // chunk saw no key of this row
                        float w = MathF.Exp(part[0] - mMax);
                        l += w * part[1];
                        for (int d = 0; d < D; d++) o[d] += w * part[2 + d];
                    }
                    float inv = 1 / l, lseRow = mMax + MathF.Log(l);
                    if (sink != float.NegativeInfinity)
                    {
                        // the sink logit joins the denominator only
                        float top = MathF.Max(mMax, sink), w = MathF.Exp(mMax - top), total = l * w + MathF.Exp(sink - top);
                        inv = w / total;
                        lseRow = top + MathF.Log(total);
                    }
                    for (int d = 0; d < D; d++) o[d] *= inv;
                    if (lse != null) lse[row] = lseRow;
                }
    }

    /// <summary>q·k in the widest vectors the CPU runs. Two bodies rather than one generic over <see cref="ISimdFloat{TSelf}"/>
    /// (as <see cref="GeluKernel"/> does): through the wrapper struct the JIT (.NET 10) neither folds a load into the FMA nor
    /// accumulates in place, so the loop per 16 floats is two loads, an FMA and a register move on the accumulator's
    /// dependency chain, against one load and an FMA with a memory operand here (JitDisasm of Scores, 2026-12-05). Timing
    /// on the shared machine could not tell the two apart (the same decode code varied by 15% between interleaved runs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n)
    {
        int d = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; d + 16 <= n; d += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + d), Vector512.Load(b + d), acc);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; d + 8 <= n; d += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + d), Vector256.Load(b + d), acc);
            sum = Vector256.Sum(acc);
        }
        for (; d < n; d++) sum += a[d] * b[d];
        return sum;
    }

    /// <summary>p = e^(s − m) in place; returns Σ p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpInPlace(float* s, int n, float m)
    {
        int j = 0;
        float sum = 0;
        if (FastExp.IsSupported)
        {
            var mv = Vector512.Create(m);
            var acc = Vector512<float>.Zero;
            for (; j + 16 <= n; j += 16)
            {
                var p = FastExp.Exp(Vector512.Load(s + j) - mv);
                p.Store(s + j);
                acc += p;
            }
            sum = Vector512.Sum(acc);
        }
        for (; j < n; j++) { float p = MathF.Exp(s[j] - m); s[j] = p; sum += p; }
        return sum;
    }

    /// <summary>o (D) = Σ_j p[j]·v[j, :], v rows of stride D.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum(float* p, float* v, int n, int D, float* o, bool accumulate, byte* next = null)
    {
        int d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; d + 64 <= D; d += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                if (accumulate) { a0 = Vector512.Load(o + d); a1 = Vector512.Load(o + d + 16); a2 = Vector512.Load(o + d + 32); a3 = Vector512.Load(o + d + 48); }
                for (int j = 0; j < n; j++)
                {
                    if (next != null && d == 0) PrefetchRow(next + (nint)j * D * sizeof(float), D);
                    float* vj = v + (nint)j * D + d;
                    var w = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(vj), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(vj + 16), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(vj + 32), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(vj + 48), w, a3);
                }
                a0.Store(o + d); a1.Store(o + d + 16); a2.Store(o + d + 32); a3.Store(o + d + 48);
            }
            for (; d + 16 <= D; d += 16)
            {
                var a0 = accumulate ? Vector512.Load(o + d) : Vector512<float>.Zero;
                for (int j = 0; j < n; j++)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v + (nint)j * D + d), Vector512.Create(p[j]), a0);
                a0.Store(o + d);
            }
        }
        for (; d < D; d++)
        {
            float a = accumulate ? o[d] : 0;
            for (int j = 0; j < n; j++) a += p[j] * v[(nint)j * D + d];
            o[d] = a;
        }
    }
}
