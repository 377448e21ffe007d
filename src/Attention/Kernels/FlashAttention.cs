namespace Attention.Kernels;

/// <summary>Sizes of one attention call. B batch, H query heads, KvHeads key/value heads (H % KvHeads == 0),
/// L query length, S key length, D head dimension.</summary>
public readonly record struct AttentionShape(int Batch, int Heads, int KvHeads,
                                             int QueryLength, int KeyLength, int HeadDim);

/// <summary>Masking and scaling options shared by every attention kernel.</summary>
public sealed record AttentionOptions
{
    /// <summary>Bottom-right aligned causal mask: query i sees keys j ≤ i + (S − L).</summary>
    public bool Causal { get; init; }

    /// <summary>Logit scale; default 1/√HeadDim.</summary>
    public float? Scale { get; init; }

    /// <summary>Threads to use; 0 = all cores.</summary>
    public int MaxThreads { get; init; }

    /// <summary>Sliding window: query i (at aligned position p = i + S − L) sees keys p − WindowLeft ≤ j ≤ p + WindowRight.
    /// Null means unbounded on that side.</summary>
    public int? WindowLeft { get; init; }

    /// <summary>See <see cref="WindowLeft"/>.</summary>
    public int? WindowRight { get; init; }

    /// <summary>Per-batch key-padding lengths: in batch b only keys j &lt; KeyLengths[b] are visible. Null = all S keys.</summary>
    public int[]? KeyLengths { get; init; }

    public static AttentionOptions Default { get; } = new();
}

/// <summary>FlashAttention (Dao et al., 2022): tiled attention with an online softmax. Contract in DESIGN.md.</summary>
public static class FlashAttention
{
    /// <summary>query (B, H, L, D), key and value (B, KvHeads, S, D), output (B, H, L, D); logSumExp (B, H, L) when not empty.</summary>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                               ReadOnlySpan<float> value, Span<float> output,
                               AttentionShape shape, AttentionOptions options,
                               Span<float> logSumExp = default)
        => throw new NotImplementedException("filled by the flash work");

    /// <summary>Backward pass (issue 3): overwrites dQuery, dKey, dValue.</summary>
    public static void Backward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                                ReadOnlySpan<float> value, ReadOnlySpan<float> output,
                                ReadOnlySpan<float> logSumExp, ReadOnlySpan<float> dOutput,
                                Span<float> dQuery, Span<float> dKey, Span<float> dValue,
                                AttentionShape shape, AttentionOptions options)
        => throw new NotImplementedException("the training-core issue");
}

/// <summary>Decode attention: few queries (L small) against a long KV cache, key range split across threads.</summary>
public static class DecodeAttention
{
    /// <summary>Same layout and options as <see cref="FlashAttention.Forward"/>.</summary>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                               ReadOnlySpan<float> value, Span<float> output,
                               AttentionShape shape, AttentionOptions options,
                               Span<float> logSumExp = default)
        => throw new NotImplementedException("filled by the flash work");
}

/// <summary>The "math" path: materialises P = softmax(Q·Kᵀ·scale + M) per head and returns it on request.</summary>
public static class MathAttention
{
    /// <summary>Layouts as <see cref="FlashAttention.Forward"/>; probabilities (B, H, L, S) when not empty.</summary>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                               ReadOnlySpan<float> value, Span<float> output,
                               AttentionShape shape, AttentionOptions options,
                               Span<float> probabilities = default)
        => throw new NotImplementedException("filled by the flash work");
}
