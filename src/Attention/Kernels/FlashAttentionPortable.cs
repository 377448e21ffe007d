using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

namespace Attention.Kernels;

/// <summary>
/// Portable FlashAttention forward for CPUs without AVX-512, and the readable statement of the algorithm the
/// fast kernel implements. Work items are (batch, head, block of 64 query rows); within an item each row walks
/// its visible keys in tiles of 64 with an online softmax:
/// <code>
///   pass 1: s = scale · K_tile · q                      (TensorPrimitives.Dot per key)
///   pass 2: m' = max(m, max s); o ← o·e^(m−m'), ℓ ← ℓ·e^(m−m')   (only when the max grew)
///   pass 3: p = e^(s − m'); ℓ += Σp; o += Σ p·v          (divide by ℓ once, at the end)
/// </code>
/// Scratch per worker: one tile of scores and one output row (O(D) memory).
/// </summary>
internal sealed unsafe class FlashAttentionPortable : AttentionJob
{
    private const int BlockRows = 64, TileKeys = 64;
    private readonly float* _q, _k, _v, _o, _lse;
    private readonly AttentionShape _shape;
    private readonly AttentionOptions _options;
    private readonly float _scale;
    private readonly int _blocks;
    private readonly float _softCap;
    private readonly float[]? _alibi, _sinkLogits;
    private readonly PackedLayout? _packed;       // token-major packed sequences (ForwardVarlen); null = (B, H, L, D)
    private readonly BlockSparseLayout? _layout;  // block-sparse attention: zero blocks are skipped; null = dense

    public FlashAttentionPortable(float* q, float* k, float* v, float* o, float* lse,
                                  AttentionShape shape, AttentionOptions options, float scale, PackedLayout? packed = null,
                                  BlockSparseLayout? layout = null)
    {
        _packed = packed;
        _layout = layout;
        _q = q; _k = k; _v = v; _o = o; _lse = lse;
        (_shape, _options, _scale) = (shape, options, scale);
        _blocks = (shape.QueryLength + BlockRows - 1) / BlockRows;
        (_softCap, _alibi, _sinkLogits) = (options.SoftCap, options.AlibiSlopes, options.SinkLogits);
    }

    public override int Items => _packed?.Items ?? checked(_shape.Batch * _shape.Heads * _blocks);
    public override long ScratchFloats => TileKeys + _shape.HeadDim;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int item, float* scratch)
    {
        var (_, _, _, L, S, D) = _shape;
        // One head at a time so its K and V stay in cache; within it the heaviest causal blocks (last rows) first.
        var at = new ForwardItem(item, BlockRows, _blocks, _shape, _options, _packed, _q, _k, _v, _o, _lse);
        int h = at.Head, i0 = at.Block * BlockRows, rows = Math.Min(BlockRows, at.L - i0);
        (L, S) = (at.L, at.S);
        var range = at.Range;
        float* scores = scratch, acc = scratch + TileKeys;
        var o = new Span<float>(acc, D);
        float slope = _alibi == null ? 0 : _alibi[h];
        float sink = _sinkLogits == null ? float.NegativeInfinity : _sinkLogits[h];

        for (int r = 0; r < rows; r++)
        {
            int i = i0 + r;
            var q = new ReadOnlySpan<float>(at.Q + i * at.QStride, D);
            var output = new Span<float>(at.O + i * at.QStride, D);
            float* lseAt = at.Lse == null ? null : at.Lse + i * at.LseStride;
            range.Visible(i, out int lo, out int hi, out int sinkEnd);
            if (lo >= hi)
            {
                output.Clear();
                if (lseAt != null) *lseAt = sink;
                continue;
            }
            long pos = (long)i + S - L;
            int n, flags = _layout == null ? 0 : ((_layout.Heads == 1 ? 0 : h) * _layout.QueryBlocks + i / _layout.BlockSize) * _layout.KeyBlocks;
            float m = float.NegativeInfinity, l = 0;
            o.Clear();
            // the sinks [0, sinkEnd) first when they lie apart from the window [lo, hi)
            for (int segment = sinkEnd > 0 ? 0 : 1; segment < 2; segment++)
            for (int j0 = segment == 0 ? 0 : lo, jEnd = segment == 0 ? sinkEnd : hi; j0 < jEnd; j0 += n)
            {
                n = Math.Min(TileKeys, jEnd - j0);
                if (_layout != null)
                {
                    // block-sparse: a zero block is skipped whole; a tile never crosses into the next block
                    int kb = j0 / _layout.BlockSize;
                    if (!_layout.Blocks[flags + kb]) { n = (kb + 1) * _layout.BlockSize - j0; continue; }
                    n = Math.Min(n, (kb + 1) * _layout.BlockSize - j0);
                }
                float tileMax = float.NegativeInfinity;
                for (int c = 0; c < n; c++)
                {
                    // order inside a score: scale·q·k → soft-cap → + ALiBi
                    float s = _scale * TensorPrimitives.Dot(q, new ReadOnlySpan<float>(at.K + (j0 + c) * at.KStride, D));
                    if (_softCap > 0) s = _softCap * MathF.Tanh(s / _softCap);
                    if (slope != 0) s -= slope * Math.Abs(pos - (j0 + c));
                    scores[c] = s;
                    tileMax = MathF.Max(tileMax, s);
                }
                if (tileMax > m)
                {
                    float alpha = MathF.Exp(m - tileMax);   // m = −∞ on the first tile gives 0
                    l *= alpha;
                    TensorPrimitives.Multiply(o, alpha, o);
                    m = tileMax;
                }
                for (int c = 0; c < n; c++)
                {
                    float p = MathF.Exp(scores[c] - m);
                    l += p;
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(at.V + (j0 + c) * at.KStride, D), p, o, o);
                }
            }
            if (l == 0)
            {
                // every visible key lay in a zero block (block-sparse): as a fully masked row
                output.Clear();
                if (lseAt != null) *lseAt = sink;
                continue;
            }
            if (sink != float.NegativeInfinity)
            {
                // the sink logit joins the denominator only
                float top = MathF.Max(m, sink), a = MathF.Exp(m - top), total = l * a + MathF.Exp(sink - top);
                TensorPrimitives.Multiply(o, a / total, output);
                if (lseAt != null) *lseAt = top + MathF.Log(total);
                continue;
            }
            TensorPrimitives.Multiply(o, 1 / l, output);
            if (lseAt != null) *lseAt = m + MathF.Log(l);
        }
    }
}
