using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Attention.Kernels;

/// <summary>
/// FlashAttention forward, AVX-512 kernel. Work item = (batch, head, block of 64 query rows), pulled from a
/// shared counter one head after another (its K and V stay in L2), within a head the heaviest causal blocks first. The query block is packed once, transposed and pre-multiplied
/// by scale·log₂e, into Qᵀ (D × 64), so the 64 rows of a block are exactly four Vector512 lanes wide and every
/// per-row quantity (max, sum, mask bounds) is a vector. Keys and values are read in place, never packed.
/// For each tile of 128 keys:
/// <code>
///   pass 1: Sᵀ (128 keys × 64 rows) = K_tile · Qᵀ     micro-kernel: 6 keys × 4 row-vectors = 24 accumulators,
///                                                     per d: 4 loads of Qᵀ, 6 broadcasts of K, 24 FMAs (4- and
///                                                     1-key blocks for the rest); it also folds its scores into
///                                                     the tile's column max
///   mask:   only tiles that straddle a row's [lo, hi) edge (causal diagonal, window edges, padding): −∞,
///           and the column max is taken again
///   pass 2: m' = max(m, column max of Sᵀ); if any lane grew by > 8 (log₂): α = 2^(m−m'), ℓ ← α·ℓ, Oᵀ ← α·Oᵀ
///   pass 3: P = 2^(Sᵀ − m) (FastExp.Exp2Bounded; ≤ 2^8 with a stale m), ℓ += Σ P
///   pass 4: Oᵀ (D × 64) += V_tileᵀ · P                micro-kernel: 4 dims × 4 row-vectors, per key 4 loads
///                                                     of P, 4 broadcasts of V, 16 FMAs
/// </code>
/// then O = Oᵀ / ℓ (transposed back once per block), logSumExp = ln2·(m + log₂ℓ). In the plain call (ExecuteDense)
/// a full, unmasked tile after the block's first fuses passes 1–3: six keys at a time (24 accumulators), the score
/// kernel takes P = 2^(s − m) with the max of the tiles before while the scores sit in registers, and the exponential
/// overlaps the next keys' FMAs; if some row's max then grew past the lazy slack, the tile is scored again and takes
/// the passes above (same m and summation order either way, so the same bits). Pass 4 runs 6 dims at a time, and Qᵀ
/// and O are transposed in 16×16 register blocks. Tiles left of the first
/// visible key or right of the last (causal: past the diagonal) are never visited. Any D works: d is the
/// broadcast side of both micro-kernels, odd D only adds 1-wide tail kernels.
/// Scratch per worker: Qᵀ, Oᵀ (64·D each) and Sᵀ (128·64) floats; 64 KiB at D = 64. The micro-kernels are the register
/// blocks of <see cref="AttentionTile"/>, which the backward kernel's products use too, and each pass of a tile is a
/// method both loops below call (the running max and sum of every row live in L1, not in registers, between them).
///
/// Measured (B=1, H=8, D=64, fp32, this 2-core AMD EPYC with AVX-512, 2026-11-27; the machine was shared with
/// 5 compiling helpers at load average 10–30, so times are the best of 10 runs in thread CPU time, which excludes
/// the time the thread sat descheduled; FmaPeak.MeasureGflops(1) gave 206–226 GFLOP/s in the same runs, not the
/// 116 of one 512-bit FMA per cycle, so this core retires two 512-bit FMAs per cycle):
/// <code>
///   N=2048 full,   1 thread   45.7 ms  188 GFLOP/s  ≈ 80–86 % of peak   naive C# (TensorPrimitives) 534 ms → 11.7×
///   N=2048 causal, 1 thread   24.3 ms  177 GFLOP/s  (FLOPs halved)       ORT MHA 125 ms, ggml 89 ms (bench/results)
///   N=1024 full,   1 thread   13.3 ms  162 GFLOP/s                       naive 127 ms → 9.5×
///   N=2048 full,   2 threads  49.2 ms of CPU in total, no extra work over 1 thread (wall time could not be measured
///                             under that load; on two idle cores it should be about half)
///   micro-kernels alone (hot L1): score 4×4 and P·V 4×4 both ≈ 205 GFLOP/s, exp pass ≈ 7 % of a tile
///   (best runs; repeats of the final version under the same load ranged 45.7–51.3 ms full, 24.3–29.0 ms causal)
/// </code>
/// History: first version 66.6 ms (heads interleaved across items, K/V of 8 heads thrashing L2) → one head at a
/// time 52.7 ms → fused tile max and a clamp-free exp2 48 ms → lazy rescaling 45.7 ms (causal 26.4 → 24.3 ms).
/// Key tiles of 32 were slower (67 ms), 128 the same. N=1024 and 2 threads were measured before lazy rescaling.
/// On the Zen 5 (2026-12-05, quiet, `chrt -f 50`, bench `forward`, the FMA peak measured in each run 287–290 GFLOP/s),
/// 128-key tiles beat 64: N = 2048 D = 64 84%, 84% of the peak (two runs) → 88%, 86%; D = 128 86% → 90–91%; D = 32 81% →
/// 80–82%; causal 2–5 points higher. Each micro-kernel call then reduces over 128 keys in pass 4 instead of 64, so its
/// fixed costs (loading and storing 24 accumulators) weigh half as much; Sᵀ (32 KiB) no longer fits in L1 beside Qᵀ and
/// Oᵀ, and that costs less. 96 keys gave 87% and 192 84% (D = 64).
/// On the Zen 5 (2026-12-04, 1 thread, B=1, H=8, CPU time, `chrt -f 50`, load average 8–22 from other jobs, each
/// build run twice beside the earlier one in two sessions, % of the FMA peak measured in the same process,
/// 286–289 GFLOP/s; run-to-run spread ±2 points): N=2048 D=64 81.0–82.6% → 81.9–84.2%, D=32 76.0–77.5% →
/// 77.8–78.3% (pass 4 as 4·6 + 2·4 dims rather than 5·6 + 2·1), D=128 84.8–86.7% → 85.3–86.1%;
/// N=512 77% → 82%, N=256 70% → 78.5% (fixed costs per query block, the scalar transposes above all). Bit for bit
/// the earlier results. What did not help: a 48-key tile (smaller L1 footprint); the exponential kept in registers
/// (the JIT spilled an accumulator inside the FMA loop: ExpRows reloads the scores from L1 instead); a degree-5
/// exp2 without the clamp measured the same within the noise and would have changed the bits. Removing the
/// exponential altogether (wrong results, a bound) gave 89%: it is ~12 FP operations per 16 scores beside 128 FMAs,
/// and the 6×4 blocks run at ~91% of the peak.
/// </summary>
internal sealed unsafe class FlashAttentionAvx512 : AttentionJob
{
    public static bool IsSupported => Avx512F.IsSupported && FastExp.IsSupported;

    private const int BlockRows = 64, TileKeys = 128;
    private const int SixKeyEnd = TileKeys - 8;   // a fused tile: 20 blocks of six keys, then two of four
    private const float Log2E = 1.44269504088896341f, Ln2 = 0.693147180559945309f;
    private const float LazyRescale = 8;   // log₂ units
    private readonly float* _q, _k, _v, _o, _lse;
    private readonly AttentionShape _shape;
    private readonly AttentionOptions _options;
    private readonly float _scaleLog2;
    private readonly int _blocks;
    private readonly float _cap2;                 // SoftCap in log₂ units (0 = off)
    private readonly float[]? _alibi, _sinkLogits;
    private readonly bool _modify;                // soft-cap or ALiBi: every tile is rewritten after pass 1
    private readonly PackedLayout? _packed;       // token-major packed sequences (ForwardVarlen); null = (B, H, L, D)
    private readonly BlockSparseLayout? _layout;  // block-sparse attention: zero blocks are skipped; null = dense
    private readonly bool _plain;                 // no option, sinks or layout (packing allowed): ExecuteDense

    public FlashAttentionAvx512(float* q, float* k, float* v, float* o, float* lse,
                                AttentionShape shape, AttentionOptions options, float scale, PackedLayout? packed = null,
                                BlockSparseLayout? layout = null)
    {
        _packed = packed;
        _layout = layout;
        _q = q; _k = k; _v = v; _o = o; _lse = lse;
        (_shape, _options) = (shape, options);
        _scaleLog2 = scale * Log2E;
        _blocks = (shape.QueryLength + BlockRows - 1) / BlockRows;
        _cap2 = options.SoftCap * Log2E;
        _alibi = options.AlibiSlopes;
        _sinkLogits = options.SinkLogits;
        _modify = _cap2 > 0 || _alibi != null;
        _plain = !_modify && _sinkLogits == null && options.SinkTokens == 0 && layout == null;
    }

    public override int Items => _packed?.Items ?? checked(_shape.Batch * _shape.Heads * _blocks);
    public override long ScratchFloats => 2L * BlockRows * _shape.HeadDim + TileKeys * BlockRows + 8 * BlockRows
                                          + 2L * (_layout?.KeyBlocks ?? 0);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int item, float* scratch)
    {
        if (_plain) ExecuteDense(item, scratch);
        else ExecuteGeneral(item, scratch);
    }

    /// <summary>The plain call (no soft-cap, ALiBi, sinks, sink logits or layout; dense or packed): the original loop, kept apart
    /// from <see cref="ExecuteGeneral"/>, with the fused passes and the 16×16 register transposes that only it has. (When
    /// the passes were written out inline, the general loop's extra locals also cost the JIT registers in the exp pass:
    /// the plain N = 2048 forward ran 3–7 % slower through it.) The tile passes themselves are shared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ExecuteDense(int item, float* scratch)
    {
        var (batch, heads, kvHeads, L, S, D) = _shape;
        var at = new ForwardItem(item, BlockRows, _blocks, _shape, _options, _packed, _q, _k, _v, _o, _lse);
        int block = at.Block;
        (L, S) = (at.L, at.S);
        float* qHead = at.Q, kHead = at.K, vHead = at.V, oHead = at.O, lseHead = at.Lse;
        nint qs = at.QStride, ks = at.KStride, ls = at.LseStride;   // row strides of query and output, of key and value, of logSumExp
        var range = at.Range;
        int i0 = block * BlockRows, rows = Math.Min(BlockRows, L - i0);
        float* qt = scratch, ot = qt + BlockRows * D, st = ot + BlockRows * D;
        int* loRow = (int*)(st + TileKeys * BlockRows), hiRow = loRow + BlockRows;
        float* mRow = (float*)(hiRow + BlockRows), lRow = mRow + BlockRows, tileMax = lRow + BlockRows;
        float* uRow = tileMax + BlockRows, ySum = uRow + BlockRows;   // the fused pass's max in use and row sums
        float* oBlock = oHead + i0 * qs;
        float* lseBlock = lseHead == null ? null : lseHead + i0 * ls;

        // Visible interval of every row; padding rows (past L) see everything so they never force masking.
        int kBegin = int.MaxValue, kEnd = 0, maxLo = 0, minHi = int.MaxValue;
        for (int r = 0; r < BlockRows; r++)
        {
            int lo = 0, hi = int.MaxValue;
            if (r < rows)
            {
                range.Of(i0 + r, out lo, out hi);
                if (lo < hi) { kBegin = Math.Min(kBegin, lo); kEnd = Math.Max(kEnd, hi); }
            }
            loRow[r] = lo; hiRow[r] = hi;
            maxLo = Math.Max(maxLo, lo); minHi = Math.Min(minHi, hi);
        }
        if (kBegin >= kEnd)
        {
            for (int r = 0; r < rows; r++)
            {
                new Span<float>(oBlock + r * qs, D).Clear();
                if (lseBlock != null) lseBlock[r * ls] = float.NegativeInfinity;
            }
            return;
        }

        // Qᵀ, scaled so that scores come out in log₂ units (exp becomes exp2: one multiply less per score);
        // 16×16 pieces in registers, the ragged rest one float at a time.
        float* qBlock = qHead + i0 * qs;
        int rows16 = rows & ~15, d16 = D & ~15;
        var scaleVec = Vector512.Create(_scaleLog2);
        for (int r0 = 0; r0 < rows16; r0 += 16)
            for (int d0 = 0; d0 < d16; d0 += 16)
                Transpose16(qBlock + r0 * qs + d0, qs, qt + d0 * BlockRows + r0, BlockRows, scaleVec, default);
        for (int r = 0; r < rows; r++)
            for (int d = r < rows16 ? d16 : 0; d < D; d++)
                qt[d * BlockRows + r] = qBlock[r * qs + d] * _scaleLog2;
        if (rows < BlockRows)
            for (int d = 0; d < D; d++)
                new Span<float>(qt + d * BlockRows + rows, BlockRows - rows).Clear();
        StartRows(ot, D, mRow, lRow);

        for (int c0 = kBegin; c0 < kEnd; c0 += TileKeys)
        {
            int nc = Math.Min(TileKeys, kEnd - c0);

            // a full, unmasked tile after the block's first: fused passes 1–3, unless some row's max grew past the slack
            if (nc == TileKeys && c0 > kBegin && c0 >= maxLo && c0 + nc <= minHi &&
                ScoreExpTile(qt, kHead + c0 * ks, ks, D, st, tileMax, mRow, lRow, uRow, ySum))
            {
                AccumulatePv(st, vHead + c0 * ks, ks, nc, D, ot);
                continue;
            }

            ScoreTile(qt, kHead + c0 * ks, ks, D, nc, st, tileMax);   // pass 1
            // tiles that cross a row's [lo, hi) edge get −∞ outside it, and their max is taken again
            if (c0 < maxLo || c0 + nc > minHi) MaskTile(st, nc, c0, loRow, hiRow, tileMax);
            UpdateRows(st, nc, D, tileMax, mRow, lRow, uRow, ySum, ot);   // passes 2–3
            AccumulatePv(st, vHead + c0 * ks, ks, nc, D, ot);             // pass 4
        }

        // O = Oᵀ / ℓ, logSumExp = ln2·(m + log₂ ℓ); ℓ = 0 means the row saw no key
        for (int r0 = 0; r0 < rows16; r0 += 16)
        {
            var l = Vector512.Load(lRow + r0);
            var none = Vector512.Equals(l, Vector512<float>.Zero);   // rows that saw no key: exactly 0
            var inv = Vector512<float>.One / l;
            for (int d0 = 0; d0 < d16; d0 += 16)
                Transpose16(ot + d0 * BlockRows + r0, BlockRows, oBlock + r0 * qs + d0, qs, inv, none);
        }
        for (int r = 0; r < rows; r++)
        {
            float l = lRow[r];
            float* oRow = oBlock + r * qs;
            if (l == 0)
            {
                for (int d = r < rows16 ? d16 : 0; d < D; d++) oRow[d] = 0;
                if (lseBlock != null) lseBlock[r * ls] = float.NegativeInfinity;
                continue;
            }
            float inv = 1 / l;
            for (int d = r < rows16 ? d16 : 0; d < D; d++) oRow[d] = ot[d * BlockRows + r] * inv;
            if (lseBlock != null) lseBlock[r * ls] = (mRow[r] + MathF.Log2(l)) * Ln2;
        }
    }

    /// <summary>dst[j·dstStride + i] = (zero[j] ? 0 : src[i·srcStride + j]·mul[j]) for i, j &lt; 16: a 16×16 block
    /// transposed in registers (two stages of in-lane unpacks, then two of 128-bit lane shuffles, 64 shuffles in all, written
    /// out so that the 16 rows stay in registers), each source row scaled lane-wise first. The same count of two-source
    /// permutes (vpermt2ps, which also overwrites a source) made the 128-token D = 32 forward 7% slower (191 against
    /// 205 GFLOP/s, one thread, quiet).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose16(float* src, nint srcStride, float* dst, nint dstStride, Vector512<float> mul, Vector512<float> zero)
    {
        var r0 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 0 * srcStride) * mul);
        var r1 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 1 * srcStride) * mul);
        var r2 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 2 * srcStride) * mul);
        var r3 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 3 * srcStride) * mul);
        var r4 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 4 * srcStride) * mul);
        var r5 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 5 * srcStride) * mul);
        var r6 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 6 * srcStride) * mul);
        var r7 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 7 * srcStride) * mul);
        var r8 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 8 * srcStride) * mul);
        var r9 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 9 * srcStride) * mul);
        var r10 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 10 * srcStride) * mul);
        var r11 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 11 * srcStride) * mul);
        var r12 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 12 * srcStride) * mul);
        var r13 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 13 * srcStride) * mul);
        var r14 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 14 * srcStride) * mul);
        var r15 = Vector512.ConditionalSelect(zero, Vector512<float>.Zero, Vector512.Load(src + 15 * srcStride) * mul);
        // stage 1: interleave the 32-bit elements of row pairs, stage 2 the 64-bit pairs (both within 128-bit lanes):
        // lane k of u(4g + e) then holds element 4k + e of rows 4g..4g+3
        Unpack32(ref r0, ref r1); Unpack32(ref r2, ref r3); Unpack32(ref r4, ref r5); Unpack32(ref r6, ref r7);
        Unpack32(ref r8, ref r9); Unpack32(ref r10, ref r11); Unpack32(ref r12, ref r13); Unpack32(ref r14, ref r15);
        Unpack64(ref r0, ref r2); Unpack64(ref r1, ref r3); Unpack64(ref r4, ref r6); Unpack64(ref r5, ref r7);
        Unpack64(ref r8, ref r10); Unpack64(ref r9, ref r11); Unpack64(ref r12, ref r14); Unpack64(ref r13, ref r15);
        // stages 3–4: gather lane k of the four row groups into output row 4k + e (128-bit lane shuffles)
        Lanes(ref r0, ref r4, ref r8, ref r12); Lanes(ref r2, ref r6, ref r10, ref r14);
        Lanes(ref r1, ref r5, ref r9, ref r13); Lanes(ref r3, ref r7, ref r11, ref r15);
        r0.Store(dst + 0 * dstStride);
        r2.Store(dst + 1 * dstStride);
        r1.Store(dst + 2 * dstStride);
        r3.Store(dst + 3 * dstStride);
        r4.Store(dst + 4 * dstStride);
        r6.Store(dst + 5 * dstStride);
        r5.Store(dst + 6 * dstStride);
        r7.Store(dst + 7 * dstStride);
        r8.Store(dst + 8 * dstStride);
        r10.Store(dst + 9 * dstStride);
        r9.Store(dst + 10 * dstStride);
        r11.Store(dst + 11 * dstStride);
        r12.Store(dst + 12 * dstStride);
        r14.Store(dst + 13 * dstStride);
        r13.Store(dst + 14 * dstStride);
        r15.Store(dst + 15 * dstStride);
    }

    /// <summary>(a, b) ← (unpacklo, unpackhi) of 32-bit elements: a0 b0 a1 b1 | a2 b2 a3 b3 in every 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack32(ref Vector512<float> a, ref Vector512<float> b)
    {
        var lo = Avx512F.UnpackLow(a, b);
        b = Avx512F.UnpackHigh(a, b);
        a = lo;
    }

    /// <summary>(a, b) ← (unpacklo, unpackhi) of 64-bit pairs within every 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack64(ref Vector512<float> a, ref Vector512<float> b)
    {
        var lo = Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();
        b = Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();
        a = lo;
    }

    /// <summary>Four vectors g0..g3 of 128-bit lanes (lane k of gj = its piece k) become (lane 0 of each, lane 1 of each,
    /// lane 2 of each, lane 3 of each): a 4×4 transpose of 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes(ref Vector512<float> g0, ref Vector512<float> g1, ref Vector512<float> g2, ref Vector512<float> g3)
    {
        var v0 = Avx512F.Shuffle4x128(g0, g1, 0x44); var v1 = Avx512F.Shuffle4x128(g0, g1, 0xEE);
        var w0 = Avx512F.Shuffle4x128(g2, g3, 0x44); var w1 = Avx512F.Shuffle4x128(g2, g3, 0xEE);
        g0 = Avx512F.Shuffle4x128(v0, w0, 0x88); g1 = Avx512F.Shuffle4x128(v0, w0, 0xDD);
        g2 = Avx512F.Shuffle4x128(v1, w1, 0x88); g3 = Avx512F.Shuffle4x128(v1, w1, 0xDD);
    }

    /// <summary>Every option, packed sequences and block-sparse layouts; the same passes as <see cref="ExecuteDense"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ExecuteGeneral(int item, float* scratch)
    {
        var (batch, heads, kvHeads, L, S, D) = _shape;
        var at = new ForwardItem(item, BlockRows, _blocks, _shape, _options, _packed, _q, _k, _v, _o, _lse);
        int block = at.Block, h = at.Head;
        (L, S) = (at.L, at.S);
        float* qHead = at.Q, kHead = at.K, vHead = at.V, oHead = at.O, lseHead = at.Lse;
        nint qs = at.QStride, ks = at.KStride, ls = at.LseStride;   // row strides of query and output, of key and value, of logSumExp
        var range = at.Range;
        int i0 = block * BlockRows, rows = Math.Min(BlockRows, L - i0);
        float* qt = scratch, ot = qt + BlockRows * D, st = ot + BlockRows * D;
        int* loRow = (int*)(st + TileKeys * BlockRows), hiRow = loRow + BlockRows;
        float* mRow = (float*)(hiRow + BlockRows), lRow = mRow + BlockRows, tileMax = lRow + BlockRows;
        int* sinkRow = (int*)(tileMax + BlockRows);
        float* uRow = (float*)(sinkRow + BlockRows), ySum = uRow + BlockRows;   // pass 3's max in use and row sums
        ulong* kbBits = _layout == null ? null : (ulong*)(ySum + BlockRows);
        float* oBlock = oHead + i0 * qs;
        float* lseBlock = lseHead == null ? null : lseHead + i0 * ls;

        // Visible keys of every row, [0, sinkEnd) ∪ [lo, hi); padding rows (past L) see everything so they never force masking.
        bool sinks = range.HasSinks;
        int kBegin = int.MaxValue, kEnd = 0, maxLo = 0, minHi = int.MaxValue, sinkEnd = 0;
        for (int r = 0; r < BlockRows; r++)
        {
            int lo = 0, hi = int.MaxValue, se = 0;
            if (r < rows)
            {
                range.Visible(i0 + r, out lo, out hi, out se);
                if (lo < hi) { kBegin = Math.Min(kBegin, lo); kEnd = Math.Max(kEnd, hi); }
            }
            loRow[r] = lo; hiRow[r] = hi; sinkRow[r] = se;
            maxLo = Math.Max(maxLo, lo); minHi = Math.Min(minHi, hi); sinkEnd = Math.Max(sinkEnd, se);
        }
        float sinkLogit = _sinkLogits == null ? float.NegativeInfinity : _sinkLogits[h];
        if (kBegin >= kEnd)
        {
            for (int r = 0; r < rows; r++)
            {
                new Span<float>(oBlock + r * qs, D).Clear();
                if (lseBlock != null) lseBlock[r * ls] = sinkLogit;
            }
            return;
        }
        // Key tiles to visit: [kBegin, kEnd), and the sinks [0, sinkEnd) when they lie left of it.
        int segments = sinkEnd > 0 && sinkEnd < kBegin ? 2 : 1;
        if (sinkEnd >= kBegin) kBegin = 0;
        float slope2 = _alibi == null ? 0 : _alibi[h] * Log2E;
        int pos0 = i0 + S - L;   // aligned position of the block's first row (ALiBi distances)
        int bs = _layout?.BlockSize ?? 1;
        ulong realRows = rows == BlockRows ? ulong.MaxValue : (1UL << rows) - 1;
        if (_layout != null) LayoutBits(h, i0, rows, kbBits);

        // Qᵀ, scaled so that scores come out in log₂ units (exp becomes exp2: one multiply less per score).
        float* qBlock = qHead + i0 * qs;
        for (int r = 0; r < rows; r++)
            for (int d = 0; d < D; d++)
                qt[d * BlockRows + r] = qBlock[r * qs + d] * _scaleLog2;
        if (rows < BlockRows)
            for (int d = 0; d < D; d++)
                new Span<float>(qt + d * BlockRows + rows, BlockRows - rows).Clear();
        StartRows(ot, D, mRow, lRow);

        for (int segment = 0; segment < segments; segment++)
        for (int c0 = segment < segments - 1 ? 0 : kBegin, cEnd = segment < segments - 1 ? sinkEnd : kEnd; c0 < cEnd;)
        {
            int nc = Math.Min(TileKeys, cEnd - c0);
            bool layoutClean = true;
            if (kbBits != null)
            {
                // block-sparse: skip key blocks that no row of this block attends; a tile stops before the next skipped one
                int kb = c0 / bs;
                if ((kbBits[kb] & realRows) == 0) { c0 = (kb + 1) * bs; continue; }
                int end = c0;
                while (end < c0 + nc)
                {
                    ulong bits = kbBits[end / bs];
                    if ((bits & realRows) == 0) break;
                    if (bits != ulong.MaxValue) layoutClean = false;
                    end = (end / bs + 1) * bs;
                }
                nc = Math.Min(nc, end - c0);
            }

            ScoreTile(qt, kHead + c0 * ks, ks, D, nc, st, tileMax);   // pass 1
            // tiles that cross a row's [lo, hi) edge get −∞ outside it, and their max is taken again;
            // soft-cap and ALiBi rewrite every tile (the plain path never calls ModifyTile)
            bool edge = c0 < maxLo || c0 + nc > minHi;
            if (_modify || sinks || !layoutClean)
                ModifyTile(st, nc, c0, pos0, slope2, edge || !layoutClean, loRow, hiRow, sinkRow, tileMax, layoutClean ? null : kbBits, bs);
            else if (edge) MaskTile(st, nc, c0, loRow, hiRow, tileMax);
            UpdateRows(st, nc, D, tileMax, mRow, lRow, uRow, ySum, ot);   // passes 2–3
            AccumulatePv(st, vHead + c0 * ks, ks, nc, D, ot);             // pass 4
            c0 += nc;
        }

        // O = Oᵀ / ℓ, logSumExp = ln2·(m + log₂ ℓ); ℓ = 0 means the row saw no key
        WriteRows(ot, mRow, lRow, rows, D, oBlock, qs, lseBlock, ls, sinkLogit);
    }

    /// <summary>The tile after pass 1 when options change scores: soft-cap (s ← c·tanh(s/c), in log₂ units c = SoftCap·log₂e),
    /// ALiBi (s ← s − slope·log₂e·|p − j|), then the mask [0, sinkEnd) ∪ [lo, hi) when <paramref name="mask"/>; the
    /// tile's column max is taken again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ModifyTile(float* st, int nc, int c0, int p0, float slope2, bool mask,
                            int* loRow, int* hiRow, int* sinkRow, float* tileMax, ulong* kbBits = null, int bs = 1)
    {
        var bitOf = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
        var modifier = new ScoreModifier(_cap2, slope2);
        var negInf = Vector512.Create(float.NegativeInfinity);
        var p = Vector512.Create(p0) + Vector512<int>.Indices;
        Vector512<float> x0 = negInf, x1 = negInf, x2 = negInf, x3 = negInf;
        for (int c = 0; c < nc; c++)
        {
            var j = Vector512.Create(c0 + c);
            float* s = st + c * BlockRows;
            ulong bits = kbBits == null ? ulong.MaxValue : kbBits[(c0 + c) / bs];
            x0 = Avx512F.Max(x0, Lane(s, j, 0, bits)); x1 = Avx512F.Max(x1, Lane(s, j, 16, bits));
            x2 = Avx512F.Max(x2, Lane(s, j, 32, bits)); x3 = Avx512F.Max(x3, Lane(s, j, 48, bits));
        }
        x0.Store(tileMax); x1.Store(tileMax + 16); x2.Store(tileMax + 32); x3.Store(tileMax + 48);

        Vector512<float> Lane(float* s, Vector512<int> j, int lane, ulong bits)
        {
            var x = modifier.Apply(Vector512.Load(s + lane), p + Vector512.Create(lane) - j, out _);
            if (mask)
            {
                var visible = AttentionTile.Visible(j, Vector512.Load(loRow + lane), Vector512.Load(hiRow + lane), Vector512.Load(sinkRow + lane));
                if (bits != ulong.MaxValue)   // block-sparse: rows whose query block does not attend this key's block
                    visible &= ~Vector512.Equals(Vector512.Create((int)(uint)(bits >> lane)) & bitOf, Vector512<int>.Zero);
                x = Vector512.ConditionalSelect(visible.AsSingle(), x, negInf);
            }
            x.Store(s + lane);
            return x;
        }
    }

    /// <summary>O = Oᵀ / ℓ and logSumExp = ln2·(m + log₂ ℓ) for the block's rows (the sink logit, if any, joins ℓ).
    /// Kept out of <see cref="Execute"/>: fewer locals there keep the tile loop's vectors in registers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteRows(float* ot, float* mRow, float* lRow, int rows, int D, float* oBlock, nint qs,
                                  float* lseBlock, nint ls, float sinkLogit)
    {
        float sink2 = sinkLogit * Log2E;
        for (int r = 0; r < rows; r++)
        {
            float l = lRow[r];
            float* oRow = oBlock + r * qs;
            if (l == 0)
            {
                new Span<float>(oRow, D).Clear();
                if (lseBlock != null) lseBlock[r * ls] = sinkLogit;
                continue;
            }
            float inv = 1 / l, lse2 = mRow[r] + MathF.Log2(l);
            if (sink2 != float.NegativeInfinity)
            {
                // the sink joins the denominator only: ℓ' = ℓ·2^(m−M) + 2^(sink−M), M = max(m, sink)
                float m = mRow[r], top = MathF.Max(m, sink2), a = float.Exp2(m - top);
                float total = l * a + float.Exp2(sink2 - top);
                inv = a / total;
                lse2 = top + MathF.Log2(total);
            }
            for (int d = 0; d < D; d++) oRow[d] = ot[d * BlockRows + r] * inv;
            if (lseBlock != null) lseBlock[r * ls] = lse2 * Ln2;
        }
    }

    /// <summary>Per key block kb of the layout, bit r set when row i0 + r attends it (rows past L count as attending,
    /// so that they never force masking).</summary>
    private void LayoutBits(int h, int i0, int rows, ulong* kbBits)
    {
        var layout = _layout!;
        int bs = layout.BlockSize, kbs = layout.KeyBlocks, head = layout.Heads == 1 ? 0 : h;
        ulong padding = rows == BlockRows ? 0 : ~((1UL << rows) - 1);
        for (int kb = 0; kb < kbs; kb++) kbBits[kb] = padding;
        for (int qb = i0 / bs; qb * bs < i0 + rows; qb++)
        {
            int first = Math.Max(qb * bs, i0) - i0, last = Math.Min((qb + 1) * bs, i0 + rows) - i0;   // rows [first, last)
            ulong mask = (last - first == 64 ? ulong.MaxValue : ((1UL << (last - first)) - 1)) << first;
            int flags = (head * layout.QueryBlocks + qb) * kbs;
            for (int kb = 0; kb < kbs; kb++)
                if (layout.Blocks[flags + kb]) kbBits[kb] |= mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> NonInfinite(Vector512<float> m) =>
        Vector512.ConditionalSelect(Vector512.Equals(m, Vector512.Create(float.NegativeInfinity)), default, m);

    private static void MaskTile(float* st, int nc, int c0, int* loRow, int* hiRow, float* tileMax)
    {
        var negInf = Vector512.Create(float.NegativeInfinity);
        var lo0 = Vector512.Load(loRow); var lo1 = Vector512.Load(loRow + 16);
        var lo2 = Vector512.Load(loRow + 32); var lo3 = Vector512.Load(loRow + 48);
        var hi0 = Vector512.Load(hiRow); var hi1 = Vector512.Load(hiRow + 16);
        var hi2 = Vector512.Load(hiRow + 32); var hi3 = Vector512.Load(hiRow + 48);
        Vector512<float> x0 = negInf, x1 = negInf, x2 = negInf, x3 = negInf;
        for (int c = 0; c < nc; c++)
        {
            var j = Vector512.Create(c0 + c);
            float* s = st + c * BlockRows;
            x0 = Avx512F.Max(x0, Masked(s, j, lo0, hi0, negInf)); x1 = Avx512F.Max(x1, Masked(s + 16, j, lo1, hi1, negInf));
            x2 = Avx512F.Max(x2, Masked(s + 32, j, lo2, hi2, negInf)); x3 = Avx512F.Max(x3, Masked(s + 48, j, lo3, hi3, negInf));
        }
        x0.Store(tileMax); x1.Store(tileMax + 16); x2.Store(tileMax + 32); x3.Store(tileMax + 48);

        static Vector512<float> Masked(float* s, Vector512<int> j, Vector512<int> lo, Vector512<int> hi, Vector512<float> negInf)
        {
            var x = Vector512.ConditionalSelect(AttentionTile.Visible(j, lo, hi).AsSingle(), Vector512.Load(s), negInf);
            x.Store(s);
            return x;
        }
    }

    /// <summary>Oᵀ = 0, and every row's running max m = −∞ and sum ℓ = 0, before a block's first tile. The running
    /// state lives in mRow and ℓRow (L1) rather than in registers: each tile's passes below are calls of their own.</summary>
    private static void StartRows(float* ot, int D, float* mRow, float* lRow)
    {
        new Span<float>(ot, BlockRows * D).Clear();
        new Span<float>(mRow, BlockRows).Fill(float.NegativeInfinity);
        new Span<float>(lRow, BlockRows).Clear();
    }

    /// <summary>Pass 1 of a tile of nc keys: Sᵀ = K_tile · Qᵀ, with the tile's column max in tileMax.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoreTile(float* qt, float* kTile, nint ks, int D, int nc, float* st, float* tileMax)
    {
        new Span<float>(tileMax, BlockRows).Fill(float.NegativeInfinity);
        int c = 0;
        for (; c + 6 <= nc; c += 6) Score6(qt, kTile + c * ks, D, ks, st + c * BlockRows, tileMax);
        for (; c + 4 <= nc; c += 4) Score4(qt, kTile + c * ks, D, ks, st + c * BlockRows, tileMax);
        for (; c < nc; c++) Score1(qt, kTile + c * ks, D, st + c * BlockRows, tileMax);
    }

    /// <summary>
    /// Fused passes 1–3 of a full, unmasked tile after the block's first: P = 2^(Sᵀ − m) is taken with the running max
    /// m of the tiles before, inside the score kernel, while its scores are still in registers, and the out-of-order core
    /// overlaps that exponential with the next keys' FMAs. When no row's max grows by more than the lazy-rescaling slack,
    /// P and ℓ are exactly what passes 2–3 would give (same m, same order of the sums): ℓ is updated and true comes back.
    /// Otherwise false, nothing updated, and the caller scores the tile again and takes the unfused passes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ScoreExpTile(float* qt, float* kTile, nint ks, int D, float* st, float* tileMax,
                                     float* mRow, float* lRow, float* uRow, float* ySum)
    {
        new Span<float>(tileMax, BlockRows).Fill(float.NegativeInfinity);
        new Span<float>(ySum, BlockRows).Clear();
        for (int r = 0; r < BlockRows; r += 16) NonInfinite(Vector512.Load(mRow + r)).Store(uRow + r);
        int c = 0;
        for (; c < SixKeyEnd; c += 6) Score6Exp(qt, kTile + c * ks, D, ks, st + c * BlockRows, tileMax, uRow, ySum);
        for (; c < TileKeys; c += 4) Score4Exp(qt, kTile + c * ks, D, ks, st + c * BlockRows, tileMax, uRow, ySum);
        var slack = Vector512.Create(LazyRescale);
        for (int r = 0; r < BlockRows; r += 16)
            if (Vector512.GreaterThanAny(Vector512.Load(tileMax + r), Vector512.Load(mRow + r) + slack)) return false;
        for (int r = 0; r < BlockRows; r += 16) (Vector512.Load(lRow + r) + Vector512.Load(ySum + r)).Store(lRow + r);
        return true;
    }

    /// <summary>
    /// Passes 2–3 of a tile whose scores (masked, modified) and column max are in st and tileMax.
    /// Pass 2, the running max: ℓ and Oᵀ are rescaled only when some row's max grew by more than 2^8 (lazy rescaling, as
    /// in FlashAttention-3): a stale max only lets P reach 2^8, harmless in float, and the result is the same.
    /// Pass 3: P = 2^(Sᵀ − m) in place, ℓ += Σ P.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UpdateRows(float* st, int nc, int D, float* tileMax, float* mRow, float* lRow, float* uRow, float* ySum, float* ot)
    {
        var m0 = Vector512.Load(mRow); var m1 = Vector512.Load(mRow + 16); var m2 = Vector512.Load(mRow + 32); var m3 = Vector512.Load(mRow + 48);
        var x0 = Avx512F.Max(m0, Vector512.Load(tileMax)); var x1 = Avx512F.Max(m1, Vector512.Load(tileMax + 16));
        var x2 = Avx512F.Max(m2, Vector512.Load(tileMax + 32)); var x3 = Avx512F.Max(m3, Vector512.Load(tileMax + 48));
        var slack = Vector512.Create(LazyRescale);
        if (Vector512.GreaterThanAny(x0, m0 + slack) || Vector512.GreaterThanAny(x1, m1 + slack) ||
            Vector512.GreaterThanAny(x2, m2 + slack) || Vector512.GreaterThanAny(x3, m3 + slack))
        {
            // a row that has seen nothing yet keeps m = −∞; subtract 0 instead so −∞ − (−∞) never makes NaN
            var a0 = FastExp.Exp2Bounded(m0 - NonInfinite(x0)); var a1 = FastExp.Exp2Bounded(m1 - NonInfinite(x1));
            var a2 = FastExp.Exp2Bounded(m2 - NonInfinite(x2)); var a3 = FastExp.Exp2Bounded(m3 - NonInfinite(x3));
            (a0 * Vector512.Load(lRow)).Store(lRow); (a1 * Vector512.Load(lRow + 16)).Store(lRow + 16);
            (a2 * Vector512.Load(lRow + 32)).Store(lRow + 32); (a3 * Vector512.Load(lRow + 48)).Store(lRow + 48);
            for (int d = 0; d < D; d++)
            {
                float* od = ot + d * BlockRows;
                (a0 * Vector512.Load(od)).Store(od); (a1 * Vector512.Load(od + 16)).Store(od + 16);
                (a2 * Vector512.Load(od + 32)).Store(od + 32); (a3 * Vector512.Load(od + 48)).Store(od + 48);
            }
            m0 = x0; m1 = x1; m2 = x2; m3 = x3;
            m0.Store(mRow); m1.Store(mRow + 16); m2.Store(mRow + 32); m3.Store(mRow + 48);
        }
        NonInfinite(m0).Store(uRow); NonInfinite(m1).Store(uRow + 16); NonInfinite(m2).Store(uRow + 32); NonInfinite(m3).Store(uRow + 48);
        new Span<float>(ySum, BlockRows).Clear();
        ExpRows(st, nc, uRow, ySum, finite: false);
        for (int r = 0; r < BlockRows; r += 16) (Vector512.Load(lRow + r) + Vector512.Load(ySum + r)).Store(lRow + r);
    }

    /// <summary>Pass 4 of a tile of nc keys: Oᵀ += V_tileᵀ · P, in 6-dim blocks, an even number of them so that what is
    /// left is D mod 4 plus whole 4-dim blocks: D = 32 is 4·6 + 2·4, not 5·6 + 2·1 (a 1-dim block has 4 accumulators,
    /// too few to hide the FMA latency).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulatePv(float* p, float* vTile, nint ks, int nc, int D, float* ot)
    {
        int d = 0, pv6End = D / 6 / 2 * 2 * 6;
        for (; d < pv6End; d += 6) Pv6(p, vTile + d, ks, nc, ot + d * BlockRows);
        for (; d + 4 <= D; d += 4) Pv4(p, vTile + d, ks, nc, ot + d * BlockRows);
        for (; d < D; d++) Pv1(p, vTile + d, ks, nc, ot + d * BlockRows);
    }

    // The micro-kernels below are the shared register blocks of AttentionTile, given the forward's strides: Qᵀ and P
    // are 64 lanes (BlockRows) per row; K and V rows are read in place (stride kStride or D = the key/value row stride).

    /// <summary>Sᵀ rows c..c+3 (64 query lanes each) = keys k[0..3] · Qᵀ, folding them into the tile's column max.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Score4(float* qt, float* k, int D, nint kStride, float* st, float* tileMax) =>
        AttentionTile.Block4x4(k, 1, kStride, qt, BlockRows, D, st, BlockRows, accumulate: false, tileMax);

    /// <summary><see cref="Score4"/> for six keys (24 accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Score6(float* qt, float* k, int D, nint kStride, float* st, float* tileMax) =>
        AttentionTile.Block6x4(k, 1, kStride, qt, BlockRows, D, st, BlockRows, accumulate: false, tileMax);

    /// <summary>Sᵀ row c (one key) = k · Qᵀ, folded into the tile's column max.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Score1(float* qt, float* k, int D, float* st, float* tileMax) =>
        AttentionTile.Block1x4(k, 1, qt, BlockRows, D, st, accumulate: false, tileMax);

    /// <summary><see cref="Score4"/> for six keys (24 accumulators, per d 4 loads of Qᵀ and 6 broadcasts of K for 24 FMAs),
    /// followed by passes 2–3 on them: P = 2^(s − u) (u = the running max in use, per row) stored in place of the scores,
    /// and the row sums of P added into ySum in key order. Not inlined, so that the exponential stays out of the tile loop.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Score6Exp(float* qt, float* k, int D, nint kStride, float* pt, float* tileMax, float* u, float* ySum)
    {
        AttentionTile.Block6x4(k, 1, kStride, qt, BlockRows, D, pt, BlockRows, accumulate: false, tileMax);
        ExpRows(pt, 6, u, ySum, finite: true);
    }

    /// <summary><see cref="Score6Exp"/> for four keys.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Score4Exp(float* qt, float* k, int D, nint kStride, float* pt, float* tileMax, float* u, float* ySum)
    {
        AttentionTile.Block4x4(k, 1, kStride, qt, BlockRows, D, pt, BlockRows, accumulate: false, tileMax);
        ExpRows(pt, 4, u, ySum, finite: true);
    }

    /// <summary>Rows 0..keys−1 of pt (64 scores each, still in L1): P = 2^(s − u) in place, row sums added into ySum in key
    /// order. Pass 3 of every tile, and the fused passes' exponential (<paramref name="finite"/>: the tile is unmasked, so s
    /// is finite and the exp2 without its lower clamp gives the same bits). In the fused passes a loop over memory rather
    /// than over the score registers: the exponential's eight constants beside 24 live accumulators made the JIT spill one
    /// inside the FMA loop, which cost more than these loads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ExpRows(float* pt, int keys, float* u, float* ySum, bool finite)
    {
        var u0 = Vector512.Load(u); var u1 = Vector512.Load(u + 16); var u2 = Vector512.Load(u + 32); var u3 = Vector512.Load(u + 48);
        var y0 = Vector512.Load(ySum); var y1 = Vector512.Load(ySum + 16); var y2 = Vector512.Load(ySum + 32); var y3 = Vector512.Load(ySum + 48);
        for (int c = 0; c < keys; c++, pt += BlockRows)
        {
            var s0 = Vector512.Load(pt) - u0; var s1 = Vector512.Load(pt + 16) - u1;
            var s2 = Vector512.Load(pt + 32) - u2; var s3 = Vector512.Load(pt + 48) - u3;
            Vector512<float> p0, p1, p2, p3;   // finite is a constant at every call site: one branch is compiled
            if (finite)
            {
                p0 = FastExp.Exp2BoundedFinite(s0); p1 = FastExp.Exp2BoundedFinite(s1);
                p2 = FastExp.Exp2BoundedFinite(s2); p3 = FastExp.Exp2BoundedFinite(s3);
            }
            else
            {
                p0 = FastExp.Exp2Bounded(s0); p1 = FastExp.Exp2Bounded(s1);
                p2 = FastExp.Exp2Bounded(s2); p3 = FastExp.Exp2Bounded(s3);
            }
            p0.Store(pt); p1.Store(pt + 16); p2.Store(pt + 32); p3.Store(pt + 48);
            y0 += p0; y1 += p1; y2 += p2; y3 += p3;
        }
        y0.Store(ySum); y1.Store(ySum + 16); y2.Store(ySum + 32); y3.Store(ySum + 48);
    }

    /// <summary>Oᵀ rows d..d+5 (64 query lanes each) += Σ_c v[c, d..d+5] · P[c, :] (the 6-row block: see
    /// <see cref="AttentionTile.Block6x4"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pv6(float* p, float* v, nint D, int nc, float* ot) =>
        AttentionTile.Block6x4(v, D, 1, p, BlockRows, nc, ot, BlockRows, accumulate: true);

    /// <summary>Oᵀ rows d..d+3 += Σ_c v[c, d..d+3] · P[c, :].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pv4(float* p, float* v, nint D, int nc, float* ot) =>
        AttentionTile.Block4x4(v, D, 1, p, BlockRows, nc, ot, BlockRows, accumulate: true);

    /// <summary>Oᵀ row d += Σ_c v[c, d] · P[c, :].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pv1(float* p, float* v, nint D, int nc, float* ot) =>
        AttentionTile.Block1x4(v, D, p, BlockRows, nc, ot, accumulate: true);
}
