using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Attention.Kernels;

/// <summary>
/// The FlashAttention-2 backward loop (<see cref="FlashAttentionBackward"/> states what it computes).
/// <para>Work partition. A work item is (batch b, key/value head g, chunk c). It owns the dK and dV rows of head g
/// for the key blocks j ≡ c (mod C), so no two threads ever write the same dK/dV element, and it sums the
/// contributions of all H / KvHeads query heads of the group into them in a fixed order. dQ rows receive
/// contributions from every key block; chunk c adds its share into its own partial buffer (chunk 0 straight into
/// dQuery when D is a multiple of 16), and <see cref="Finish"/> adds the C partials in chunk order. C = 1 whenever
/// there are at least as many (b, g) pairs as threads; otherwise C = ⌈threads / (B·KvHeads)⌉ (at most the number
/// of key blocks). Nothing depends on which thread takes which item, so the result is bit-for-bit the same for a
/// given thread count (and MaxThreads = 0 means the core count).</para>
/// <para>The loop per item, for each 64-key block j of its chunk (Kᵀ, Vᵀ and K packed once per block), for each
/// query head of the group, for each 64-row query block i that sees any key of j (causal, window and padding
/// skip the rest):</para>
/// <code>
///   pass 1: S₂ = (scale·log₂e·Qᵢ)·Kⱼᵀ, dP = dOᵢ·Vⱼᵀ  (64×64 each; micro-kernel 4 rows × 4 key-vectors)
///   pass 2: P  = 2^(S₂ − lse·log₂e), masked only on tiles that straddle a row's [lo, hi) edge
///           dS = P ∘ (dP − Δ)
///   pass 3: dVⱼ += Pᵀ·dOᵢ,  dKⱼ += dSᵀ·(scale·log₂e·Qᵢ)   (64×D; micro-kernel 4 keys × 4 d-vectors, summed over rows)
///   pass 4: dQᵢ += dS·Kⱼ                            (64×D; micro-kernel 4 rows × 4 d-vectors, summed over keys)
/// </code>
/// then dKⱼ·ln2 (= scale·dSᵀ·Qᵢ) and dVⱼ are written once, and dQ is scaled once at the end.
/// Why log₂ units with Q pre-scaled exactly as the forward does it: the logits then come out bit-for-bit as the
/// forward saw them, so P = 2^(s − lse) is consistent with the saved lse up to the lse's own rounding. Recomputing
/// s·scale in natural units instead left P, for large logits, three to four times less accurate than a plain
/// float32 softmax (measured in the tests' large-logit cases). Every product is the same 16-accumulator register block
/// (<see cref="AttentionTile.Block4x4"/>, which the forward's score and P·V kernels use too): per
/// step 4 vector loads, 4 broadcasts, 16 FMAs. Rows of Q, dO, K and the dK/dV/dQ accumulators are padded to
/// Dp = ⌈D/16⌉·16 floats so that any D runs full vectors; D = 64 is exactly four.
/// <para>Measured (bench/results/backward.md; B = 1, H = 8, D = 64, one thread, on a shared 2-core AMD EPYC whose
/// measured FMA peak is 205–226 GFLOP/s), over several runs: at N = 2048 64–76% of the FMA peak on CPU time
/// (64% in the run of 2026-11-28), 1.4–1.7× faster than the composed Gemm backward then (1.12× in the run of 2026-12-05: the GEMM got faster, 80% of peak for this kernel), with 273 KiB
/// of workspace instead of 32 MiB; at N = 8192 52–64%, 2.0–2.3× faster, 657 KiB instead of 512 MiB. Per FLOP it runs
/// about as fast as the forward kernel (backward/forward time 2.6–2.9 for 2.5× the FLOPs). At N = 256 the fixed
/// costs (row statistics, packing, zeroing) hold it near 40%. The dip those runs showed at N = 4096 (57% against 65%
/// at 2048) did not come back on the Zen 5 (2026-12-04, `chrt -f 50`, load average 15–45 from other jobs, peak
/// 279–288 GFLOP/s in the same runs): N = 2048 76–80%, 4096 73–79%, 8192 78% of the peak over four runs, and a
/// neighbour streaming 256 MiB on the other core changed nothing (2048 75%, 4096 76%). Q, dO and dQ of a head (3 MiB
/// at 4096, 1.5 MiB at 2048) do outgrow the 1 MiB L2 and are re-read for every 64-key block, but sequentially and at
/// ~5 GB/s at this speed, which the prefetchers and memory sustain; so the old dip was the machine of the time, not
/// the loop. Not done: the Vector512 code is slow on CPUs without AVX-512, where .NET emulates it.</para>
/// <para>Memory beyond the arguments: lse·log₂e and Δ per row (2·B·H·L floats), the dQ partials (C − 1 or C
/// copies of B·H·L·Dp), and per worker 2·D·64 + 5·64·Dp + 2·64·64 floats of tiles: O(L + S), never L·S.</para>
/// </summary>
internal sealed unsafe class FlashAttentionBackwardKernel : AttentionJob
{
    private const int Block = 64;                 // query rows per block = keys per tile = four Vector512
    private const float Log2E = 1.44269504088896341f, Ln2 = 0.693147180559945309f;
    private const double Log2EDouble = 1.44269504088896341;

    /// <summary>Sizes decided before any memory is touched, shared by the kernel and <see cref="FlashAttentionBackward.WorkspaceBytes"/>.</summary>
    internal readonly record struct Plan(int Threads, int Chunks, int PaddedDim, bool DirectDQ, long SharedFloats, long ScratchFloats)
    {
        public long WorkspaceFloats => SharedFloats + Threads * ScratchFloats;

        public static Plan For(AttentionShape shape, AttentionOptions options)
        {
            var (batch, heads, kvHeads, L, S, D) = shape;
            int pairs = Math.Max(1, batch * kvHeads), keyBlocks = Math.Max(1, (S + Block - 1) / Block);
            int threads = options.MaxThreads == 0 ? Environment.ProcessorCount : options.MaxThreads;
            int chunks = threads <= pairs ? 1 : Math.Min(keyBlocks, (threads + pairs - 1) / pairs);
            threads = Math.Max(1, Math.Min(threads, pairs * chunks));
            int dp = (D + 15) / 16 * 16;
            bool direct = dp == D;
            long rows = (long)batch * heads * L;
            long shared = 2 * rows + (direct ? chunks - 1 : chunks) * rows * dp;
            long scratch = 2L * D * Block + 5L * Block * dp + 2L * Block * Block + 5 * Block;
            return new Plan(threads, chunks, dp, direct, shared, scratch);
        }
    }

    private readonly float* _q, _k, _v, _o, _lse, _dO, _dQ, _dK, _dV;
    private readonly AttentionShape _shape;
    private readonly AttentionOptions _options;
    private readonly float _scale, _scaleLog2;
    private readonly bool _fastExp;
    private readonly Plan _plan;
    private readonly float* _lse2, _delta, _partials;   // (B·H·L), (B·H·L), (C or C−1)·(B·H·L·Dp)
    private readonly int _keyBlocks;
    private readonly float _cap2;                 // SoftCap in log₂ units (0 = off)
    private readonly float[]? _alibi;
    private readonly bool _general;               // soft-cap, ALiBi or sink tokens: pass 2 takes RowGeneral

    public FlashAttentionBackwardKernel(float* q, float* k, float* v, float* o, float* lse, float* dO,
                                        float* dQ, float* dK, float* dV, AttentionShape shape, AttentionOptions options,
                                        float scale, bool fastExp, Plan plan, float* shared)
    {
        _q = q; _k = k; _v = v; _o = o; _lse = lse; _dO = dO; _dQ = dQ; _dK = dK; _dV = dV;
        (_shape, _options, _scale, _fastExp, _plan) = (shape, options, scale, fastExp, plan);
        _scaleLog2 = scale * Log2E;
        long rows = (long)shape.Batch * shape.Heads * shape.QueryLength;
        _lse2 = shared; _delta = shared + rows; _partials = shared + 2 * rows;
        _keyBlocks = (shape.KeyLength + Block - 1) / Block;
        _cap2 = options.SoftCap * Log2E;
        _alibi = options.AlibiSlopes;
        _general = _cap2 > 0 || _alibi != null || options.SinkTokens > 0;
    }

    public override int Items => checked(_shape.Batch * _shape.KvHeads * _plan.Chunks);
    public override long ScratchFloats => _plan.ScratchFloats;

    /// <summary>dQ accumulator of chunk c for row (b·H + h)·L + i: dQuery itself for chunk 0 when rows need no padding.</summary>
    private float* Accumulator(int chunk, long row)
    {
        long rows = (long)_shape.Batch * _shape.Heads * _shape.QueryLength;
        if (_plan.DirectDQ)
            return chunk == 0 ? _dQ + row * _shape.HeadDim : _partials + ((chunk - 1) * rows + row) * _plan.PaddedDim;
        return _partials + (chunk * rows + row) * _plan.PaddedDim;
    }

    /// <summary>Row statistics and zeroed accumulators, before the items run.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Prepare()
    {
        var (batch, heads, _, L, _, D) = _shape;
        long rows = (long)batch * heads * L;
        for (long r = 0; r < rows; r++)
        {
            float lse = _lse[r];
            // lse = −∞: the row saw no key. Using +∞ makes 2^(s − lse) exactly 0 instead of ∞, so it contributes nothing.
            _lse2[r] = float.IsNegativeInfinity(lse) ? float.PositiveInfinity : (float)(lse * Log2EDouble);
            _delta[r] = TensorPrimitives.Dot(new ReadOnlySpan<float>(_dO + r * D, D), new ReadOnlySpan<float>(_o + r * D, D));
        }
        if (_plan.DirectDQ) new Span<float>(_dQ, checked((int)(rows * D))).Clear();
        long partialFloats = (_plan.DirectDQ ? _plan.Chunks - 1 : _plan.Chunks) * rows * _plan.PaddedDim;
        for (long start = 0; start < partialFloats; start += int.MaxValue / 2)
            new Span<float>(_partials + start, (int)Math.Min(int.MaxValue / 2, partialFloats - start)).Clear();
    }

    /// <summary>dQ = scale · Σ_c partial_c, in chunk order (deterministic).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Finish()
    {
        var (batch, heads, _, L, _, D) = _shape;
        long rows = (long)batch * heads * L;
        for (long r = 0; r < rows; r++)
        {
            var dq = new Span<float>(_dQ + r * D, D);
            if (!_plan.DirectDQ) new ReadOnlySpan<float>(Accumulator(0, r), D).CopyTo(dq);
            for (int c = 1; c < _plan.Chunks; c++)
                TensorPrimitives.Add(dq, new ReadOnlySpan<float>(Accumulator(c, r), D), dq);
            TensorPrimitives.Multiply(dq, _scale, dq);
        }
    }

    // Optimised at first call: the tier-0 code of these loops (no inlining of the exponential) is many times slower,
    // and a training step calls the backward only a few times per shape.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int item, float* scratch)
    {
        var (_, heads, kvHeads, L, S, D) = _shape;
        int chunks = _plan.Chunks, dp = _plan.PaddedDim, group = heads / kvHeads;
        int chunk = item % chunks, pair = item / chunks;
        int b = pair / kvHeads, g = pair % kvHeads;

        // per-worker tiles
        float* kt = scratch, vt = kt + D * Block;          // Kⱼᵀ, Vⱼᵀ (D × 64)
        float* kp = vt + D * Block;                        // Kⱼ (64 × Dp)
        float* dkAcc = kp + Block * dp, dvAcc = dkAcc + Block * dp;   // (64 × Dp)
        float* qp = dvAcc + Block * dp, dop = qp + Block * dp;        // Qᵢ, dOᵢ (64 × Dp)
        float* sp = dop + Block * dp, ds = sp + Block * Block;        // S then P; dP then dS (64 × 64, row-major by query row)
        int* loRow = (int*)(ds + Block * Block), hiRow = loRow + Block;
        float* lseRow = (float*)(hiRow + Block), deltaRow = lseRow + Block;
        int* sinkRow = (int*)(deltaRow + Block);

        var range = new KeyRange(_shape, _options, b);
        nint kvOffset = (nint)(b * kvHeads + g) * S * D;
        float* kHead = _k + kvOffset, vHead = _v + kvOffset, dkHead = _dK + kvOffset, dvHead = _dV + kvOffset;

        for (int j = chunk; j < _keyBlocks; j += chunks)
        {
            int c0 = j * Block, nc = Math.Min(Block, S - c0);
            // Rows that see any key of [c0, c0 + nc): both interval ends grow with i, so they form one run [iBegin, iEnd).
            int iBegin = FirstRow(range, L, c0, upper: true), iEnd = FirstRow(range, L, c0 + nc, upper: false);
            if (range.HasSinks && range.SinkEnd(L - 1) > c0)
            {
                // rows that see a sink key of the block: [sBegin, L) (SinkEnd grows with i); cover both runs, mask the rest
                int sBegin = FirstSinkRow(range, L, c0);
                iBegin = iBegin < iEnd ? Math.Min(iBegin, sBegin) : sBegin;
                iEnd = L;
            }
            if (iBegin >= iEnd)
            {
                new Span<float>(dkHead + (nint)c0 * D, nc * D).Clear();
                new Span<float>(dvHead + (nint)c0 * D, nc * D).Clear();
                continue;
            }

            PackKeys(kHead + (nint)c0 * D, vHead + (nint)c0 * D, nc, D, dp, kt, vt, kp);
            new Span<float>(dkAcc, 2 * Block * dp).Clear();   // dkAcc and dvAcc are adjacent

            for (int hg = 0; hg < group; hg++)
            {
                int bh = b * heads + g * group + hg;
                for (int i0 = iBegin; i0 < iEnd; i0 += Block)
                {
                    int rows = Math.Min(Block, iEnd - i0);
                    long row0 = (long)bh * L + i0;
                    Tile(row0, i0, rows, c0, nc, range, kt, vt, kp, dkAcc, dvAcc, qp, dop, sp, ds,
                         loRow, hiRow, lseRow, deltaRow, sinkRow, Accumulator(chunk, row0),
                         _alibi == null ? 0 : _alibi[g * group + hg] * Log2E);
                }
            }

            for (int c = 0; c < nc; c++)
            {
                float* dkRow = dkHead + (nint)(c0 + c) * D, dvRow = dvHead + (nint)(c0 + c) * D;
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(dkAcc + c * dp, D), Ln2, new Span<float>(dkRow, D));
                new ReadOnlySpan<float>(dvAcc + c * dp, D).CopyTo(new Span<float>(dvRow, D));
            }
        }
    }

    /// <summary>First query row i with hi(i) &gt; key (upper) or lo(i) ≥ key (lower); L when none (binary search, both ends monotone).</summary>
    private static int FirstRow(in KeyRange range, int L, int key, bool upper)
    {
        int a = 0, z = L;
        while (a < z)
        {
            int mid = (a + z) >>> 1;
            range.Of(mid, out int lo, out int hi);
            bool past = upper ? hi > key : lo >= key;
            if (past) z = mid; else a = mid + 1;
        }
        return a;
    }

    /// <summary>First query row whose sink keys reach past <paramref name="key"/> (SinkEnd(i) &gt; key); L when none.</summary>
    private static int FirstSinkRow(in KeyRange range, int L, int key)
    {
        int a = 0, z = L;
        while (a < z)
        {
            int mid = (a + z) >>> 1;
            if (range.SinkEnd(mid) > key) z = mid; else a = mid + 1;
        }
        return a;
    }

    private static void PackKeys(float* k, float* v, int nc, int D, int dp, float* kt, float* vt, float* kp)
    {
        for (int d = 0; d < D; d++)
        {
            float* ktd = kt + d * Block, vtd = vt + d * Block;
            for (int c = 0; c < nc; c++) { ktd[c] = k[c * D + d]; vtd[c] = v[c * D + d]; }
            for (int c = nc; c < Block; c++) { ktd[c] = 0; vtd[c] = 0; }
        }
        for (int c = 0; c < Block; c++)
        {
            var dst = new Span<float>(kp + c * dp, dp);
            if (c < nc) { new ReadOnlySpan<float>(k + c * D, D).CopyTo(dst); dst[D..].Clear(); }
            else dst.Clear();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Tile(long row0, int i0, int rows, int c0, int nc, in KeyRange range,
                      float* kt, float* vt, float* kp, float* dkAcc, float* dvAcc, float* qp, float* dop,
                      float* sp, float* ds, int* loRow, int* hiRow, float* lseRow, float* deltaRow, int* sinkRow,
                      float* dqAcc, float slope2)
    {
        int D = _shape.HeadDim, dp = _plan.PaddedDim;
        int rows4 = (rows + 3) & ~3;   // passes 1–2 run whole groups of 4 rows; the padding rows are zeros

        int maxLo = 0, minHi = int.MaxValue;
        for (int r = 0; r < rows4; r++)
        {
            var qDst = new Span<float>(qp + r * dp, dp);
            var oDst = new Span<float>(dop + r * dp, dp);
            if (r < rows)
            {
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(_q + (row0 + r) * D, D), _scaleLog2, qDst[..D]); qDst[D..].Clear();
                new ReadOnlySpan<float>(_dO + (row0 + r) * D, D).CopyTo(oDst); oDst[D..].Clear();
                range.Visible(i0 + r, out int lo, out int hi, out int sinkEnd);
                loRow[r] = lo; hiRow[r] = hi; sinkRow[r] = sinkEnd;
                maxLo = Math.Max(maxLo, lo); minHi = Math.Min(minHi, hi);
                lseRow[r] = _lse2[row0 + r]; deltaRow[r] = _delta[row0 + r];
            }
            else
            {
                qDst.Clear(); oDst.Clear();
                loRow[r] = 0; hiRow[r] = int.MaxValue; sinkRow[r] = 0; lseRow[r] = float.PositiveInfinity; deltaRow[r] = 0;
            }
        }
        // The padded keys (c ≥ nc) lie past S ≥ hi, so a partial tile always counts as straddling an edge.
        bool mask = c0 < maxLo || c0 + Block > minHi;

        // pass 1: S₂ = Qᵢ·Kⱼᵀ in log₂ units (Qᵢ packed pre-scaled) and dP = dOᵢ·Vⱼᵀ, 64 keys wide
        for (int r = 0; r < rows4; r += 4)
        {
            AttentionTile.Block4x4(qp + r * dp, 1, dp, kt, Block, D, sp + r * Block, Block, accumulate: false);
            AttentionTile.Block4x4(dop + r * dp, 1, dp, vt, Block, D, ds + r * Block, Block, accumulate: false);
        }

        // pass 2: P = 2^(S₂ − lse·log₂e), dS = P∘(dP − Δ)
        for (int r = 0; r < rows; r++)
        {
            float* s = sp + r * Block, t = ds + r * Block;
            if (_general) RowGeneral(s, t, lseRow[r], deltaRow[r], mask, c0, loRow[r], hiRow[r], sinkRow[r],
                                     i0 + r + _shape.KeyLength - _shape.QueryLength, slope2);
            else if (_fastExp) Softmax16(s, t, lseRow[r], deltaRow[r], mask, c0, loRow[r], hiRow[r]);
            else
            {
                for (int c = 0; c < Block; c++)
                {
                    int key = c0 + c;
                    float p = mask && (key < loRow[r] || key >= hiRow[r]) ? 0 : float.Exp2(s[c] - lseRow[r]);
                    s[c] = p;
                    t[c] = p * (t[c] - deltaRow[r]);
                }
            }
        }

        // pass 3: dVⱼ += Pᵀ·dOᵢ and dKⱼ += dSᵀ·Qᵢ, summed over the block's rows
        for (int c = 0; c < Block; c += 4)
        {
            int d = 0;
            for (; d + 64 <= dp; d += 64)
            {
                AttentionTile.Block4x4(sp + c, Block, 1, dop + d, dp, rows, dvAcc + c * dp + d, dp, accumulate: true);
                AttentionTile.Block4x4(ds + c, Block, 1, qp + d, dp, rows, dkAcc + c * dp + d, dp, accumulate: true);
            }
            for (; d < dp; d += 16)
            {
                AttentionTile.Block4x1(sp + c, Block, 1, dop + d, dp, rows, dvAcc + c * dp + d, dp);
                AttentionTile.Block4x1(ds + c, Block, 1, qp + d, dp, rows, dkAcc + c * dp + d, dp);
            }
        }

        // pass 4: dQᵢ += dS·Kⱼ (scale applied once at the end), summed over the tile's keys
        int r4 = 0;
        for (; r4 + 4 <= rows; r4 += 4)
        {
            int d = 0;
            for (; d + 64 <= dp; d += 64)
                AttentionTile.Block4x4(ds + r4 * Block, 1, Block, kp + d, dp, nc, dqAcc + r4 * dp + d, dp, accumulate: true);
            for (; d < dp; d += 16)
                AttentionTile.Block4x1(ds + r4 * Block, 1, Block, kp + d, dp, nc, dqAcc + r4 * dp + d, dp);
        }
        for (; r4 < rows; r4++)
        {
            // the accumulator's row stride is Dp (dQuery itself only when Dp = D), so whole padded rows are safe
            float* dsr = ds + r4 * Block, dqr = dqAcc + r4 * dp;
            for (int c = 0; c < nc; c++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(kp + c * dp, dp), dsr[c],
                                             new ReadOnlySpan<float>(dqr, dp), new Span<float>(dqr, dp));
        }
    }

    /// <summary>One row of pass 2 when options change the scores: soft-cap t = tanh(s/c) and s ← c·t (log₂ units), ALiBi
    /// s ← s − slope·log₂e·|pos − j|, P = 2^(s − lse) masked to [0, sinkEnd) ∪ [lo, hi), dS = P∘(dP − Δ)∘(1 − t²)
    /// (the soft-cap's derivative; 1 without it). The forward computed the same scores the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RowGeneral(float* s, float* t, float lse2, float delta, bool mask, int c0, int lo, int hi, int sinkEnd,
                            int pos, float slope2)
    {
        float* x = stackalloc float[16];
        bool cap = _cap2 > 0;
        var modifier = new ScoreModifier(_cap2, slope2);
        var vl = Vector512.Create(lse2); var vd = Vector512.Create(delta);
        var vp = Vector512.Create(pos);
        for (int v = 0; v < Block; v += 16)
        {
            var key = Vector512.Create(c0 + v) + Vector512<int>.Indices;
            var z = modifier.Apply(Vector512.Load(s + v), vp - key, out var tv);
            Vector512<float> p;
            if (_fastExp) p = FastExp.Exp2(z - vl);
            else
            {
                (z - vl).Store(x);
                for (int e = 0; e < 16; e++) x[e] = float.Exp2(x[e]);
                p = Vector512.Load(x);
            }
            if (mask)
            {
                var visible = AttentionTile.Visible(key, Vector512.Create(lo), Vector512.Create(hi), Vector512.Create(sinkEnd));
                p = Vector512.ConditionalSelect(visible.AsSingle(), p, Vector512<float>.Zero);
            }
            p.Store(s + v);
            var g = p * (Vector512.Load(t + v) - vd);
            if (cap) g *= Vector512<float>.One - tv * tv;
            g.Store(t + v);
        }
    }

    /// <summary>One row of pass 2 with the AVX-512 exponential: 64 keys as four vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Softmax16(float* s, float* t, float lse2, float delta, bool mask, int c0, int lo, int hi)
    {
        var vl = Vector512.Create(lse2); var vd = Vector512.Create(delta);
        for (int v = 0; v < Block; v += 16)
        {
            var p = FastExp.Exp2(Vector512.Load(s + v) - vl);
            if (mask)
            {
                var key = Vector512.Create(c0 + v) + Vector512<int>.Indices;
                p = Vector512.ConditionalSelect(AttentionTile.Visible(key, Vector512.Create(lo), Vector512.Create(hi)).AsSingle(), p, Vector512<float>.Zero);
            }
            p.Store(s + v);
            (p * (Vector512.Load(t + v) - vd)).Store(t + v);
        }
    }
}
