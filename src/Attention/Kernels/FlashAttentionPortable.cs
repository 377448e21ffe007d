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

    public FlashAttentionPortable(float* q, float* k, float* v, float* o, float* lse,
                                  AttentionShape shape, AttentionOptions options, float scale)
    {
        _q = q; _k = k; _v = v; _o = o; _lse = lse;
        (_shape, _options, _scale) = (shape, options, scale);
        _blocks = (shape.QueryLength + BlockRows - 1) / BlockRows;
    }

    public override int Items => checked(_shape.Batch * _shape.Heads * _blocks);
    public override long ScratchFloats => TileKeys + _shape.HeadDim;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int item, float* scratch)
    {
        var (_, heads, kvHeads, L, S, D) = _shape;
        // One head at a time so its K and V stay in cache; within it the heaviest causal blocks (last rows) first.
        int bh = item / _blocks, block = _blocks - 1 - item % _blocks;
        int b = bh / heads, h = bh % heads, kvh = h / (heads / kvHeads);
        int i0 = block * BlockRows, rows = Math.Min(BlockRows, L - i0);
        var range = new KeyRange(_shape, _options, b);
        float* kHead = _k + (nint)(b * kvHeads + kvh) * S * D, vHead = _v + (nint)(b * kvHeads + kvh) * S * D;
        float* scores = scratch, acc = scratch + TileKeys;
        var o = new Span<float>(acc, D);

        for (int r = 0; r < rows; r++)
        {
            int i = i0 + r;
            nint row = (nint)bh * L + i;
            var q = new ReadOnlySpan<float>(_q + row * D, D);
            var output = new Span<float>(_o + row * D, D);
            range.Of(i, out int lo, out int hi);
            if (lo >= hi)
            {
                output.Clear();
                if (_lse != null) _lse[row] = float.NegativeInfinity;
                continue;
            }
            float m = float.NegativeInfinity, l = 0;
            o.Clear();
            for (int j0 = lo; j0 < hi; j0 += TileKeys)
            {
                int n = Math.Min(TileKeys, hi - j0);
                float tileMax = float.NegativeInfinity;
                for (int c = 0; c < n; c++)
                {
                    float s = _scale * TensorPrimitives.Dot(q, new ReadOnlySpan<float>(kHead + (nint)(j0 + c) * D, D));
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
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vHead + (nint)(j0 + c) * D, D), p, o, o);
                }
            }
            TensorPrimitives.Multiply(o, 1 / l, output);
            if (_lse != null) _lse[row] = m + MathF.Log(l);
        }
    }
}
