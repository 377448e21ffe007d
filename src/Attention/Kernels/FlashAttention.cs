namespace Attention.Kernels;

/// <summary>Sizes of one attention call. B batch, H query heads, KvHeads key/value heads (H % KvHeads == 0),
/// L query length, S key length, D head dimension.</summary>
public readonly record struct AttentionShape(int Batch, int Heads, int KvHeads,
                                             int QueryLength, int KeyLength, int HeadDim);

/// <summary>Masking and scaling options shared by every attention kernel.</summary>
/// <remarks>
/// Every mask is expressed relative to the aligned position p = i + S − L of query i, which puts the last
/// query on the last key (bottom-right alignment, as in FlashAttention 2.1+ and PyTorch's causal_lower_right).
/// The options combine by intersection; each query row ends up seeing one contiguous interval of keys.
/// </remarks>
public sealed record AttentionOptions
{
    /// <summary>Bottom-right aligned causal mask: query i sees keys j ≤ i + (S − L).
    /// <code>
    /// L=3, S=5 (p = i + 2)        L=5, S=3 (p = i − 2)
    ///        j: 0 1 2 3 4                j: 0 1 2
    ///   i=0     x x x . .           i=0     . . .   fully masked: output 0, logSumExp −∞
    ///   i=1     x x x x .           i=1     . . .   fully masked
    ///   i=2     x x x x x           i=2     x . .
    ///                               i=3     x x .
    ///                               i=4     x x x
    /// </code></summary>
    public bool Causal { get; init; }

    /// <summary>Logit scale; default 1/√HeadDim.</summary>
    public float? Scale { get; init; }

    /// <summary>Threads to use; 0 = all cores.</summary>
    public int MaxThreads { get; init; }

    /// <summary>Sliding window: query i (at aligned position p = i + S − L) sees keys p − WindowLeft ≤ j ≤ p + WindowRight.
    /// Null means unbounded on that side. With <see cref="Causal"/> the right edge is min(p, p + WindowRight).</summary>
    public int? WindowLeft { get; init; }

    /// <summary>See <see cref="WindowLeft"/>.</summary>
    public int? WindowRight { get; init; }

    /// <summary>Per-batch key-padding lengths: in batch b only keys j &lt; KeyLengths[b] are visible. Null = all S keys.</summary>
    public int[]? KeyLengths { get; init; }

    /// <summary>Gemma 2 logit soft-capping: when &gt; 0 each score becomes s = SoftCap · tanh(scale·q·k / SoftCap),
    /// before ALiBi and the mask; 0 = off.</summary>
    public float SoftCap { get; init; }

    /// <summary>ALiBi (Press et al., 2022, "Train Short, Test Long"): one slope per query head (length H); the score of
    /// query i and key j gets s += −AlibiSlopes[h] · |i + S − L − j| (distance from the aligned position, so it is
    /// the causal ALiBi when Causal is set and the symmetric one otherwise). Null = off.
    /// <see cref="Alibi.Slopes"/> gives the paper's slopes.</summary>
    public float[]? AlibiSlopes { get; init; }

    /// <summary>StreamingLLM attention sinks (Xiao et al., 2023): keys j &lt; SinkTokens stay visible whatever
    /// <see cref="WindowLeft"/>/<see cref="WindowRight"/> say, still subject to <see cref="Causal"/> and <see cref="KeyLengths"/>.
    /// 0 = off.</summary>
    public int SinkTokens { get; init; }

    /// <summary>Learned sink logits, one per query head (length H): an extra logit in each row's softmax denominator whose
    /// value vector is zero, so a row may put weight "nowhere" (o = Σⱼ e^(sⱼ)·vⱼ / (e^(sink) + Σⱼ e^(sⱼ))). The logSumExp
    /// includes the sink term; a row with no visible key gets o = 0 and logSumExp = SinkLogits[h]. −∞ means no sink for
    /// that head. Null = off. The sink's own gradient: <c>Var.Attention</c> with a sink-logit variable.</summary>
    public float[]? SinkLogits { get; init; }

    public static AttentionOptions Default { get; } = new();
}

/// <summary>
/// FlashAttention forward (Dao et al., 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
/// IO-Awareness"; the loop order of FlashAttention-2): O = softmax(Q·Kᵀ·scale + M)·V computed block by block
/// with an online softmax, so the L×S score matrix never exists; extra memory is a few tiles per worker.
/// Shapes: query (B, H, L, D), key and value (B, KvHeads, S, D), output (B, H, L, D), logSumExp (B, H, L).
/// Query head h reads key/value head h / (H / KvHeads) (grouped-query attention; KvHeads = 1 is multi-query).
/// Equivalent to, per (b, h, i):
/// <code>
///   s[j] = scale · q[i]·k[j]  for visible j (mask in AttentionOptions), −∞ otherwise
///   m = max s;  ℓ = Σⱼ exp(s[j] − m);  o[i] = Σⱼ exp(s[j] − m) · v[j] / ℓ;  logSumExp[i] = m + ln ℓ
/// </code>
/// A row with no visible key (including S = 0) gives o = 0 and logSumExp = −∞, never NaN.
/// NaN or ±∞ in the inputs propagates: a row that sees such a query, key or value element comes out NaN;
/// because masking happens per tile, a NaN/∞ in the value of a masked key that shares a tile with visible keys
/// can reach rows that do not see it (0·NaN = NaN), as in a plain P·V product.
/// Implementation and speed: see <see cref="FlashAttentionAvx512"/> (the fast path, used when the CPU has
/// AVX-512: B=1, H=8, D=64, N=2048 on one thread 46 ms full and 24 ms causal, against ONNX Runtime's 96 ms and
/// the best causal peer's 89 ms) and <see cref="FlashAttentionPortable"/> (any CPU). With L ≤ 8 queries per head
/// the call goes to the split-K <see cref="DecodeAttention"/> kernel instead, whose results are the same up to rounding.
/// </summary>
public static class FlashAttention
{
    /// <summary>query (B, H, L, D), key and value (B, KvHeads, S, D), output (B, H, L, D); logSumExp (B, H, L) when not empty.</summary>
    /// <exception cref="ArgumentException">A span length does not match the shape, a size is negative, H is not a
    /// multiple of KvHeads, KeyLengths has the wrong length or a value outside [0, S], a window or MaxThreads is negative.</exception>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                               ReadOnlySpan<float> value, Span<float> output,
                               AttentionShape shape, AttentionOptions options,
                               Span<float> logSumExp = default)
        => Forward(query, key, value, output, shape, options, logSumExp, FlashPath.Auto);

    /// <summary>Which kernel runs: Auto picks the split-K decode kernel for L ≤ <see cref="DecodeMaxQueries"/>
    /// (a 64-row query block would be mostly padding) and the tiled AVX-512 kernel otherwise, falling back to the
    /// portable kernel without AVX-512. Tests force each path.</summary>
    internal enum FlashPath { Auto, Tiled, Portable }

    /// <summary>Up to this many queries per head, Auto uses <see cref="DecodeAttentionKernel"/>.</summary>
    internal const int DecodeMaxQueries = 8;

    internal static unsafe void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                                        ReadOnlySpan<float> value, Span<float> output,
                                        AttentionShape shape, AttentionOptions options,
                                        Span<float> logSumExp, FlashPath path)
    {
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options,
                                                  logSumExp.Length, nameof(logSumExp), (long)shape.Batch * shape.Heads * shape.QueryLength);
        if (query.Length == 0) return;   // B = 0 or L = 0: nothing to write
        if (path == FlashPath.Auto && shape.QueryLength <= DecodeMaxQueries)
        {
            DecodeAttentionKernel.Forward(query, key, value, output, shape, options, logSumExp);
            return;
        }
        fixed (float* q = query, k = key, v = value, o = output, lse = logSumExp)
        {
            AttentionJob job = path != FlashPath.Portable && FlashAttentionAvx512.IsSupported
                ? new FlashAttentionAvx512(q, k, v, o, logSumExp.IsEmpty ? null : lse, shape, options, scale)
                : new FlashAttentionPortable(q, k, v, o, logSumExp.IsEmpty ? null : lse, shape, options, scale);
            job.Run(AttentionArguments.Threads(options, job.Items));
        }
    }

    /// <summary>
    /// Packed variable-length batches (flash_attn_varlen_func): no padding, each sequence attends only to its own keys.
    /// Token-major layout: query and output (totalQ, H, D), key and value (totalK, KvHeads, D), logSumExp (totalQ, H)
    /// when not empty; sequence b owns query rows cuSeqlensQ[b]..cuSeqlensQ[b+1]−1 and key rows
    /// cuSeqlensK[b]..cuSeqlensK[b+1]−1 (both arrays B + 1 long, starting at 0, never decreasing). Every option applies
    /// per sequence as in <see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>
    /// with that sequence's L and S (causal is bottom-right within each sequence); KeyLengths must be null.
    /// The tiled kernels read the strided rows in place (no copy into a head-major layout); equal lengths T give the
    /// token-major (B·T, H, D) layout of a Transformer's projections without splitting heads.
    /// </summary>
    /// <exception cref="ArgumentException">Offsets malformed, a span length not matching the offsets' totals, KeyLengths set,
    /// or any check of <see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>.</exception>
    public static void ForwardVarlen(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                     Span<float> output, ReadOnlySpan<int> cuSeqlensQ, ReadOnlySpan<int> cuSeqlensK,
                                     int heads, int kvHeads, int headDim, AttentionOptions options,
                                     Span<float> logSumExp = default)
        => ForwardVarlen(query, key, value, output, cuSeqlensQ, cuSeqlensK, heads, kvHeads, headDim, options, logSumExp, FlashPath.Auto);

    internal static unsafe void ForwardVarlen(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                              Span<float> output, ReadOnlySpan<int> cuSeqlensQ, ReadOnlySpan<int> cuSeqlensK,
                                              int heads, int kvHeads, int headDim, AttentionOptions options,
                                              Span<float> logSumExp, FlashPath path)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.KeyLengths is not null)
            throw new ArgumentException($"KeyLengths: expected null for packed sequences (cuSeqlensK gives each length), got {options.KeyLengths.Length} entries", nameof(options));
        PackedLayout.Validate(cuSeqlensQ, cuSeqlensK);
        if (heads < 1) throw new ArgumentException($"heads: expected >= 1, got {heads}", nameof(heads));
        if (kvHeads < 1) throw new ArgumentException($"kvHeads: expected >= 1, got {kvHeads}", nameof(kvHeads));
        if (headDim < 1) throw new ArgumentException($"headDim: expected >= 1, got {headDim}", nameof(headDim));
        int totalQ = cuSeqlensQ[^1], totalK = cuSeqlensK[^1];
        long qExpected = (long)totalQ * heads * headDim, kvExpected = (long)totalK * kvHeads * headDim;
        if (query.Length != qExpected)
            throw new ArgumentException($"query: expected length totalQ·H·D = {totalQ}·{heads}·{headDim} = {qExpected}, got {query.Length}", nameof(query));
        if (key.Length != kvExpected)
            throw new ArgumentException($"key: expected length totalK·KvHeads·D = {totalK}·{kvHeads}·{headDim} = {kvExpected}, got {key.Length}", nameof(key));
        if (value.Length != kvExpected)
            throw new ArgumentException($"value: expected length totalK·KvHeads·D = {kvExpected}, got {value.Length}", nameof(value));
        if (output.Length != qExpected)
            throw new ArgumentException($"output: expected length totalQ·H·D = {qExpected}, got {output.Length}", nameof(output));
        var whole = new AttentionShape(1, heads, kvHeads, totalQ, totalK, headDim);
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, whole, options,
                                                  logSumExp.Length, nameof(logSumExp), (long)totalQ * heads);
        if (totalQ == 0) return;
        fixed (float* q = query, k = key, v = value, o = output, lse = logSumExp)
        {
            float* lsePtr = logSumExp.IsEmpty ? null : lse;
            AttentionJob job = path != FlashPath.Portable && FlashAttentionAvx512.IsSupported
                ? new FlashAttentionAvx512(q, k, v, o, lsePtr, whole, options, scale, new PackedLayout(cuSeqlensQ, cuSeqlensK, heads, 64))
                : new FlashAttentionPortable(q, k, v, o, lsePtr, whole, options, scale, new PackedLayout(cuSeqlensQ, cuSeqlensK, heads, 64));
            job.Run(AttentionArguments.Threads(options, job.Items));
        }
    }

    /// <summary>Backward pass: overwrites dQuery, dKey, dValue.</summary>
    public static void Backward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                                ReadOnlySpan<float> value, ReadOnlySpan<float> output,
                                ReadOnlySpan<float> logSumExp, ReadOnlySpan<float> dOutput,
                                Span<float> dQuery, Span<float> dKey, Span<float> dValue,
                                AttentionShape shape, AttentionOptions options)
        => FlashAttentionBackward.Run(query, key, value, output, logSumExp, dOutput, dQuery, dKey, dValue, shape, options, allowFast: true);
}

/// <summary>
/// Decode attention (FlashDecoding, Dao et al., 2023 "Flash-Decoding for long-context inference"): few queries
/// (L small, typically 1) against a long key/value cache. The key range is split into chunks processed in
/// parallel, each producing a partial (max, sum, unnormalised output) per query row; the partials are merged
/// exactly: m = maxₖ mₖ, ℓ = Σₖ ℓₖ·e^(mₖ−m), o = Σₖ oₖ·e^(mₖ−m) / ℓ. Key and value are streamed once, shared
/// by all query heads of a key/value group. Layouts, options, masks and results as <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>;
/// correct for any L, fast when L is small. Implementation: <see cref="DecodeAttentionKernel"/>.
/// </summary>
public static class DecodeAttention
{
    /// <summary>Same layout and options as <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>.</summary>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                               ReadOnlySpan<float> value, Span<float> output,
                               AttentionShape shape, AttentionOptions options,
                               Span<float> logSumExp = default)
        => DecodeAttentionKernel.Forward(query, key, value, output, shape, options, logSumExp);

    /// <summary>
    /// Decode against a paged KV cache (vLLM's PagedAttention, Kwon et al., 2023): kCache and vCache are
    /// (numBlocks, KvHeads, blockSize, D); sequence b's keys are its first seqLens[b] positions, key j stored in row
    /// j mod blockSize of block blockTable[b, j / blockSize] (blockTable is (B, maxBlocksPerSeq), row-major). query and
    /// output are (B, H, L, D) and hold each sequence's last L positions: causal aligns query i to key seqLens[b] − L + i,
    /// and every option means what it means in <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>
    /// with S = seqLens[b] (KeyLengths, if given, masks further). shape.KeyLength = maxBlocksPerSeq·blockSize is the
    /// upper bound. Split-K over threads like <see cref="Forward"/>; forward only. <see cref="PagedKvCache"/> manages the blocks.
    /// </summary>
    /// <exception cref="ArgumentException">A length that does not match, KeyLength not a multiple of blockSize, a sequence
    /// length outside [0, KeyLength], a block id outside the cache, or any check of <see cref="Forward"/>.</exception>
    public static void ForwardPaged(ReadOnlySpan<float> query, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
                                    Span<float> output, ReadOnlySpan<int> blockTable, ReadOnlySpan<int> seqLens,
                                    int blockSize, AttentionShape shape, AttentionOptions options)
        => DecodeAttentionKernel.ForwardPaged(query, kCache, vCache, output, blockTable, seqLens, blockSize, shape, options);
}

/// <summary>
/// The "math" path (what PyTorch calls the math backend): per (b, h) it materialises
/// S = Q·Kᵀ·scale (L×S, through <c>Gemm.Multiply</c>), sets masked entries to −∞, P = softmax rows
/// (<c>Softmax.Rows</c>), and O = P·V. O(L·S) memory per head; use it to look at P (heatmaps).
/// Masked entries of P are exactly 0; a fully masked row gives P = 0 and O = 0.
/// Implementation: <see cref="AttentionMathPath"/>.
/// </summary>
public static class MathAttention
{
    /// <summary>Layouts as <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>; probabilities (B, H, L, S) when not empty.</summary>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                               ReadOnlySpan<float> value, Span<float> output,
                               AttentionShape shape, AttentionOptions options,
                               Span<float> probabilities = default)
        => AttentionMathPath.Forward(query, key, value, output, shape, options, probabilities);
}
