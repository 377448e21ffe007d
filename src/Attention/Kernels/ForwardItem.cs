namespace Attention.Kernels;

/// <summary>
/// Where one work item of a FlashAttention forward kernel (<see cref="FlashAttentionAvx512"/>,
/// <see cref="FlashAttentionPortable"/>) reads and writes: item = (batch, head, block of query rows), numbered one head
/// after another and, within a head, the last (heaviest causal) block first; or, for packed sequences, the item
/// <see cref="PackedLayout.Locate"/> names. Row r of the head's query is Q + r·QStride (output likewise), key and value
/// row j is K + j·KStride, logSumExp of row r is Lse[r·LseStride] (Lse null when not asked for).
/// </summary>
internal readonly unsafe struct ForwardItem
{
    public readonly int Block, Head, L, S;
    public readonly float* Q, K, V, O, Lse;
    public readonly nint QStride, KStride, LseStride;
    public readonly KeyRange Range;

    /// <summary>Item <paramref name="item"/> of a job over (q, k, v, o, lse) in the shape's layout, or the packed one; <paramref name="blocks"/>
    /// = ⌈L / blockRows⌉ blocks of query rows per head (dense layout).</summary>
    public ForwardItem(int item, int blockRows, int blocks, in AttentionShape shape, AttentionOptions options,
                       PackedLayout? packed, float* q, float* k, float* v, float* o, float* lse)
    {
        var (_, heads, kvHeads, L_, S_, D) = shape;
        if (packed == null)
        {
            int bh = item / blocks, b = bh / heads;
            Block = blocks - 1 - item % blocks;
            Head = bh % heads;
            nint kv = (nint)(b * kvHeads + Head / (heads / kvHeads)) * S_ * D;
            Q = q + (nint)bh * L_ * D; O = o + (nint)bh * L_ * D; Lse = lse == null ? null : lse + (nint)bh * L_;
            K = k + kv; V = v + kv;
            QStride = D; KStride = D; LseStride = 1;
            (L, S) = (L_, S_);
            Range = new KeyRange(shape, options, b);
        }
        else
        {
            // a packed sequence: the same loop over strided token-major rows, read in place
            packed.Locate(item, blockRows, heads, out int seq, out int h, out int block, out int l, out int s);
            (Block, Head, L, S) = (block, h, l, s);
            int kvh = h / (heads / kvHeads);
            nint q0 = packed.QueryStart(seq), k0 = packed.KeyStart(seq);
            Q = q + (q0 * heads + h) * D; O = o + (q0 * heads + h) * D; Lse = lse == null ? null : lse + q0 * heads + h;
            K = k + (k0 * kvHeads + kvh) * D; V = v + (k0 * kvHeads + kvh) * D;
            QStride = (nint)heads * D; KStride = (nint)kvHeads * D; LseStride = heads;
            Range = new KeyRange(new AttentionShape(1, heads, kvHeads, l, s, D), options, 0);
        }
    }
}
