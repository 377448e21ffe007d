using System.Diagnostics.CodeAnalysis;

namespace Attention.Kernels;

/// <summary>
/// Which (query block, key block) pairs block-sparse attention computes: <see cref="Blocks"/> holds
/// Heads × QueryBlocks × KeyBlocks flags, row-major (head, query block, key block); QueryBlocks = ⌈L / BlockSize⌉ and
/// KeyBlocks = ⌈S / BlockSize⌉ (the last block of each side may be partial). Heads = 1 shares one layout across all
/// query heads. The builders below make the patterns of the Sparse Transformer (strided, fixed), Longformer and BigBird
/// at block granularity; with causal = true they drop blocks above the block diagonal, aligned bottom-right
/// (query block qb sits on key block qb + KeyBlocks − QueryBlocks), and the kernel's Causal option then masks inside
/// the diagonal blocks.
/// </summary>
public sealed record BlockSparseLayout(int BlockSize, int Heads, int QueryBlocks, int KeyBlocks, bool[] Blocks)
{
    /// <summary>Share of blocks computed (1 = dense).</summary>
    public double Density => Blocks.Length == 0 ? 0 : Blocks.Count(x => x) / (double)Blocks.Length;

    /// <summary>Whether head h's query block qb attends key block kb.</summary>
    public bool this[int h, int qb, int kb] => Blocks[((Heads == 1 ? 0 : h) * QueryBlocks + qb) * KeyBlocks + kb];

    /// <summary>Every block: the same as dense attention.</summary>
    public static BlockSparseLayout Dense(int blockSize, int queryLength, int keyLength) =>
        Build(blockSize, queryLength, keyLength, causal: false, (_, _) => true);

    /// <summary>Sparse Transformer strided pattern (Child et al., 2019), in blocks: the previous <paramref name="stride"/>
    /// blocks (|qb − kb| &lt; stride, the local head) and every stride-th block before it ((qb − kb) mod stride = 0, the
    /// strided head), united in one layout.</summary>
    public static BlockSparseLayout Strided(int blockSize, int queryLength, int keyLength, int stride, bool causal = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        return Build(blockSize, queryLength, keyLength, causal, (q, k) => Math.Abs(q - k) < stride || (q - k) % stride == 0);
    }

    /// <summary>Sparse Transformer fixed pattern, in blocks: the blocks of the query's own chunk of
    /// <paramref name="chunkBlocks"/> blocks, and the last <paramref name="summaryBlocks"/> blocks of every chunk (the
    /// "summary" columns every later query reads).</summary>
    public static BlockSparseLayout Fixed(int blockSize, int queryLength, int keyLength, int chunkBlocks, int summaryBlocks = 1, bool causal = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBlocks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(summaryBlocks, 0);
        return Build(blockSize, queryLength, keyLength, causal,
                     (q, k) => Floor(q, chunkBlocks) == Floor(k, chunkBlocks) || Mod(k, chunkBlocks) >= chunkBlocks - summaryBlocks);
    }

    /// <summary>Longformer (Beltagy et al., 2020), in blocks: a sliding window of ±<paramref name="windowBlocks"/> blocks
    /// plus global blocks, whose queries attend everything and whose keys every query attends.</summary>
    public static BlockSparseLayout Longformer(int blockSize, int queryLength, int keyLength, int windowBlocks,
                                               int[] globalBlocks, bool causal = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowBlocks, 0);
        ArgumentNullException.ThrowIfNull(globalBlocks);
        var global = new HashSet<int>(globalBlocks);
        return Build(blockSize, queryLength, keyLength, causal,
                     (q, k) => Math.Abs(q - k) <= windowBlocks || global.Contains(k) || global.Contains(q));
    }

    /// <summary>BigBird (Zaheer et al., 2020), in blocks: a window of ±<paramref name="windowBlocks"/>, the first
    /// <paramref name="globalBlocks"/> blocks global (both ways), and <paramref name="randomBlocks"/> random key blocks per
    /// query block, drawn with <paramref name="seed"/> (the same seed gives the same layout).</summary>
    public static BlockSparseLayout BigBird(int blockSize, int queryLength, int keyLength, int windowBlocks, int globalBlocks,
                                            int randomBlocks, int seed, bool causal = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowBlocks, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalBlocks, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(randomBlocks, 0);
        var layout = Build(blockSize, queryLength, keyLength, causal,
                           (q, k) => Math.Abs(q - k) <= windowBlocks || k < globalBlocks || q < globalBlocks);
        var rng = new Random(seed);
        int offset = layout.KeyBlocks - layout.QueryBlocks;
        for (int qb = 0; qb < layout.QueryBlocks; qb++)
        {
            int limit = causal ? Math.Min(layout.KeyBlocks, qb + offset + 1) : layout.KeyBlocks;   // allowed key blocks [0, limit)
            for (int r = 0; r < randomBlocks && limit > 0; r++)
                layout.Blocks[qb * layout.KeyBlocks + rng.Next(limit)] = true;
        }
        return layout;
    }

    /// <summary>Throws ArgumentException unless this layout fits the shape.</summary>
    [SuppressMessage("Usage", "CA2208", Justification = "names the public entry point's parameter that carries this layout")]
    internal void Validate(in AttentionShape shape)
    {
        if (BlockSize < 1) throw new ArgumentException($"BlockSize: expected >= 1, got {BlockSize}", "layout");
        if (Heads != 1 && Heads != shape.Heads)
            throw new ArgumentException($"layout Heads: expected 1 or {shape.Heads} (H), got {Heads}", "layout");
        int qb = (shape.QueryLength + BlockSize - 1) / BlockSize, kb = (shape.KeyLength + BlockSize - 1) / BlockSize;
        if (QueryBlocks != qb)
            throw new ArgumentException($"layout QueryBlocks: expected ⌈L / BlockSize⌉ = ⌈{shape.QueryLength} / {BlockSize}⌉ = {qb}, got {QueryBlocks}", "layout");
        if (KeyBlocks != kb)
            throw new ArgumentException($"layout KeyBlocks: expected ⌈S / BlockSize⌉ = ⌈{shape.KeyLength} / {BlockSize}⌉ = {kb}, got {KeyBlocks}", "layout");
        ArgumentNullException.ThrowIfNull(Blocks, "layout");
        if (Blocks.Length != (long)Heads * QueryBlocks * KeyBlocks)
            throw new ArgumentException($"layout Blocks: expected Heads·QueryBlocks·KeyBlocks = {(long)Heads * QueryBlocks * KeyBlocks} flags, got {Blocks.Length}", "layout");
    }

    private static BlockSparseLayout Build(int blockSize, int queryLength, int keyLength, bool causal, Func<int, int, bool> keep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength);
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength);
        int qbs = (queryLength + blockSize - 1) / blockSize, kbs = (keyLength + blockSize - 1) / blockSize, offset = kbs - qbs;
        var blocks = new bool[qbs * kbs];
        for (int q = 0; q < qbs; q++)
            for (int k = 0; k < kbs; k++)
            {
                int aligned = q + offset;   // the query block's position among key blocks (bottom-right)
                blocks[q * kbs + k] = (!causal || k <= aligned) && keep(aligned, k);
            }
        return new BlockSparseLayout(blockSize, 1, qbs, kbs, blocks);
    }

    private static int Floor(int x, int n) => (int)Math.Floor(x / (double)n);
    private static int Mod(int x, int n) => ((x % n) + n) % n;
}

/// <summary>
/// Block-sparse attention (Sparse Transformer, Longformer, BigBird): FlashAttention over only the (query block, key block)
/// pairs a <see cref="BlockSparseLayout"/> marks. A zero block is never loaded or computed; inside the computed blocks
/// the options (causal, windows, padding, sinks, ALiBi, soft-cap, sink logits) still apply element by element, and a
/// row left with no visible key gives zeros and a logSumExp of −∞ (SinkLogits[h] with sinks), as in
/// <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>.
/// Layouts and shapes as there. Implementation: the tiled kernel visits, per block of 64 query rows, only the key
/// blocks some of its rows attend, so time follows the number of computed blocks; with BlockSize below 64 a 64-row
/// block spans several query blocks and computes the union of their key blocks (masked per element).
/// </summary>
public static class BlockSparseAttention
{
    /// <exception cref="ArgumentException">The layout does not fit the shape, or any check of FlashAttention.Forward.</exception>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                               Span<float> output, AttentionShape shape, BlockSparseLayout layout,
                               AttentionOptions options, Span<float> logSumExp = default)
        => Forward(query, key, value, output, shape, layout, options, logSumExp, FlashAttention.FlashPath.Auto);

    internal static unsafe void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                        Span<float> output, AttentionShape shape, BlockSparseLayout layout,
                                        AttentionOptions options, Span<float> logSumExp, FlashAttention.FlashPath path)
    {
        ArgumentNullException.ThrowIfNull(layout);
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options,
                                                  logSumExp.Length, nameof(logSumExp), (long)shape.Batch * shape.Heads * shape.QueryLength);
        layout.Validate(shape);
        if (query.Length == 0) return;
        fixed (float* q = query, k = key, v = value, o = output, lse = logSumExp)
        {
            float* lsePtr = logSumExp.IsEmpty ? null : lse;
            AttentionJob job = path != FlashAttention.FlashPath.Portable && FlashAttentionAvx512.IsSupported
                ? new FlashAttentionAvx512(q, k, v, o, lsePtr, shape, options, scale, layout: layout)
                : new FlashAttentionPortable(q, k, v, o, lsePtr, shape, options, scale, layout: layout);
            job.Run(AttentionArguments.Threads(options, job.Items));
        }
    }
}
