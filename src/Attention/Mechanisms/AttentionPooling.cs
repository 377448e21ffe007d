using Attention.Kernels;

namespace Attention.Mechanisms;

/// <summary>
/// Attention pooling, the soft dictionary lookup (Vaswani et al., 2017, §3.2: "mapping a query and a set of
/// key-value pairs to an output"):
///     αᵢ = softmax(scoresᵢ),   outputᵢ = Σⱼ αᵢⱼ·vⱼ
/// Scores (L, S) from any <see cref="AlignmentScores"/> function · value (S, Dv) → output (L, Dv);
/// weights (L, S) when not empty. A row whose scores are all −∞ gives zero weights and a zero output.
/// Answers: docs/answers/05-query-key-value.md, docs/answers/09-context-vector.md
/// </summary>
public static class AttentionPooling
{
    /// <summary>output = softmax(scores)·value. Scores (L, S), value (S, Dv), output (L, Dv), weights (L, S) or empty.</summary>
    public static void Forward(ReadOnlySpan<float> scores, ReadOnlySpan<float> value, Span<float> output,
                               int queryLength, int keyLength, int valueDim, Span<float> weights = default)
    {
        if (queryLength < 1) throw new ArgumentOutOfRangeException(nameof(queryLength), queryLength, "Expected a query length L ≥ 1.");
        if (keyLength < 1) throw new ArgumentOutOfRangeException(nameof(keyLength), keyLength, "Expected a key length S ≥ 1.");
        if (valueDim < 1) throw new ArgumentOutOfRangeException(nameof(valueDim), valueDim, "Expected a value dimension Dv ≥ 1.");
        AlignmentScores.CheckLength(scores, queryLength * keyLength, nameof(scores), $"L·S = {queryLength}·{keyLength}");
        AlignmentScores.CheckLength(value, keyLength * valueDim, nameof(value), $"S·Dv = {keyLength}·{valueDim}");
        AlignmentScores.CheckLength(output, queryLength * valueDim, nameof(output), $"L·Dv = {queryLength}·{valueDim}");
        if (!weights.IsEmpty)
            AlignmentScores.CheckLength(weights, queryLength * keyLength, nameof(weights), $"L·S = {queryLength}·{keyLength} (or empty)");

        Span<float> alpha = weights.IsEmpty ? new float[queryLength * keyLength] : weights;
        Softmax.Rows(scores, alpha, queryLength, keyLength);                       // α = softmax over keys
        Gemm.Multiply(false, false, queryLength, valueDim, keyLength, 1f,          // output = α·V
                      alpha, keyLength, value, valueDim, 0f, output, valueDim);
    }

    /// <summary>
    /// Soft lookup with inverse temperature β: output = softmax(β·Q·Kᵀ)·V. β → ∞ gives the hard lookup
    /// (the value of the best-matching key), β = 0 the mean of all values.
    /// Query (L, Dk), key (S, Dk), value (S, Dv), output (L, Dv), weights (L, S) or empty.
    /// </summary>
    public static void SoftLookup(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                  Span<float> output, int queryLength, int keyLength, int keyDim, int valueDim,
                                  float beta, Span<float> weights = default)
    {
        if (!float.IsFinite(beta) || beta < 0)
            throw new ArgumentOutOfRangeException(nameof(beta), beta, "Expected a finite inverse temperature β ≥ 0.");
        if (queryLength < 1) throw new ArgumentOutOfRangeException(nameof(queryLength), queryLength, "Expected a query length L ≥ 1.");
        if (keyLength < 1) throw new ArgumentOutOfRangeException(nameof(keyLength), keyLength, "Expected a key length S ≥ 1.");
        var scores = new float[queryLength * keyLength];
        AlignmentScores.ScaledDot(query, key, scores, queryLength, keyLength, keyDim, beta);
        Forward(scores, value, output, queryLength, keyLength, valueDim, weights);
    }
}
