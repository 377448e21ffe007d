using System.Numerics.Tensors;
using Attention.Kernels;

namespace Attention.Mechanisms;

/// <summary>
/// Alignment (compatibility) scores e[i, j] = score(qᵢ, kⱼ), the logits that a softmax turns into
/// attention weights. The classic zoo, side by side:
/// <code>
///   dot            qᵢ·kⱼ                          Luong et al., 2015, eq. 8
///   scaled dot     qᵢ·kⱼ / √D                     Vaswani et al., 2017, §3.2.1
///   general        qᵢᵀ·W·kⱼ                       Luong et al., 2015, eq. 8
///   additive       vᵀ·tanh(W·qᵢ + U·kⱼ)           Bahdanau et al., 2014, §3.1 / appendix A.1.2
///   neg. distance  −‖qᵢ − kⱼ‖²                    d2l.ai §11.3 (Gaussian kernel)
/// </code>
/// Query (L, Dq) · key (S, Dk) → scores (L, S), all row-major. Dot, scaled dot and distance need Dq = Dk = D.
/// Answer: docs/answers/07-alignment-scores.md
/// </summary>
public static class AlignmentScores
{
    /// <summary>scores[i, j] = qᵢ·kⱼ. Query (L, D), key (S, D), scores (L, S).</summary>
    public static void Dot(ReadOnlySpan<float> query, ReadOnlySpan<float> key, Span<float> scores,
                           int queryLength, int keyLength, int dim)
        => ScaledDot(query, key, scores, queryLength, keyLength, dim, 1f);

    /// <summary>scores[i, j] = scale·qᵢ·kⱼ, scale defaulting to 1/√D. Query (L, D), key (S, D), scores (L, S).</summary>
    public static void ScaledDot(ReadOnlySpan<float> query, ReadOnlySpan<float> key, Span<float> scores,
                                 int queryLength, int keyLength, int dim, float? scale = null)
    {
        CheckSizes(queryLength, keyLength, dim, dim);
        CheckLength(query, queryLength * dim, nameof(query), $"L·D = {queryLength}·{dim}");
        CheckLength(key, keyLength * dim, nameof(key), $"S·D = {keyLength}·{dim}");
        CheckLength(scores, queryLength * keyLength, nameof(scores), $"L·S = {queryLength}·{keyLength}");
        float s = scale ?? 1f / MathF.Sqrt(dim);
        // One GEMM: Q (L, D) · Kᵀ (D, S); this is why multiplicative scores are cheap.
        Gemm.Multiply(false, true, queryLength, keyLength, dim, s, query, dim, key, dim, 0f, scores, keyLength);
    }

    /// <summary>
    /// Luong's "general" (bilinear) score: scores[i, j] = qᵢᵀ·W·kⱼ with W (Dq, Dk).
    /// Computed as (Q·W)·Kᵀ: the Q·W product is per query, so the per-pair cost is that of a dot product.
    /// Query (L, Dq), key (S, Dk), weight (Dq, Dk), scores (L, S).
    /// </summary>
    public static void General(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> weight,
                               Span<float> scores, int queryLength, int keyLength, int queryDim, int keyDim)
    {
        CheckSizes(queryLength, keyLength, queryDim, keyDim);
        CheckLength(query, queryLength * queryDim, nameof(query), $"L·Dq = {queryLength}·{queryDim}");
        CheckLength(key, keyLength * keyDim, nameof(key), $"S·Dk = {keyLength}·{keyDim}");
        CheckLength(weight, queryDim * keyDim, nameof(weight), $"Dq·Dk = {queryDim}·{keyDim}");
        CheckLength(scores, queryLength * keyLength, nameof(scores), $"L·S = {queryLength}·{keyLength}");
        var projected = new float[queryLength * keyDim]; // Q·W (L, Dk)
        Gemm.Multiply(false, false, queryLength, keyDim, queryDim, 1f, query, queryDim, weight, keyDim, 0f, projected, keyDim);
        Gemm.Multiply(false, true, queryLength, keyLength, keyDim, 1f, projected, keyDim, key, keyDim, 0f, scores, keyLength);
    }

    /// <summary>
    /// Bahdanau's additive (concat / MLP) score: scores[i, j] = vᵀ·tanh(W·qᵢ + U·kⱼ).
    /// W (Da, Dq), U (Da, Dk), v (Da). The two projections are per query and per key; what remains per pair is
    /// Da additions, Da tanh and a length-Da dot product, which no GEMM can absorb.
    /// Query (L, Dq), key (S, Dk), scores (L, S).
    /// </summary>
    public static void Additive(ReadOnlySpan<float> query, ReadOnlySpan<float> key,
                                ReadOnlySpan<float> queryWeight, ReadOnlySpan<float> keyWeight, ReadOnlySpan<float> v,
                                Span<float> scores, int queryLength, int keyLength, int queryDim, int keyDim, int hiddenDim)
    {
        CheckSizes(queryLength, keyLength, queryDim, keyDim);
        if (hiddenDim < 1) throw new ArgumentOutOfRangeException(nameof(hiddenDim), hiddenDim, "Expected a hidden size Da ≥ 1.");
        CheckLength(query, queryLength * queryDim, nameof(query), $"L·Dq = {queryLength}·{queryDim}");
        CheckLength(key, keyLength * keyDim, nameof(key), $"S·Dk = {keyLength}·{keyDim}");
        CheckLength(queryWeight, hiddenDim * queryDim, nameof(queryWeight), $"Da·Dq = {hiddenDim}·{queryDim}");
        CheckLength(keyWeight, hiddenDim * keyDim, nameof(keyWeight), $"Da·Dk = {hiddenDim}·{keyDim}");
        CheckLength(v, hiddenDim, nameof(v), $"Da = {hiddenDim}");
        CheckLength(scores, queryLength * keyLength, nameof(scores), $"L·S = {queryLength}·{keyLength}");

        var wq = new float[queryLength * hiddenDim]; // W·qᵢ for every query (L, Da)
        var uk = new float[keyLength * hiddenDim];   // U·kⱼ for every key (S, Da)
        Gemm.Multiply(false, true, queryLength, hiddenDim, queryDim, 1f, query, queryDim, queryWeight, queryDim, 0f, wq, hiddenDim);
        Gemm.Multiply(false, true, keyLength, hiddenDim, keyDim, 1f, key, keyDim, keyWeight, keyDim, 0f, uk, hiddenDim);
        var hidden = new float[hiddenDim];
        for (int i = 0; i < queryLength; i++)
        {
            var a = wq.AsSpan(i * hiddenDim, hiddenDim);
            for (int j = 0; j < keyLength; j++)
            {
                TensorPrimitives.Add(a, uk.AsSpan(j * hiddenDim, hiddenDim), hidden);
                TensorPrimitives.Tanh(hidden, hidden);
                scores[i * keyLength + j] = TensorPrimitives.Dot(hidden, v);
            }
        }
    }

    /// <summary>
    /// scores[i, j] = −‖qᵢ − kⱼ‖². Since −‖q − k‖² = 2·q·k − ‖q‖² − ‖k‖² and a softmax over j ignores the
    /// −‖q‖² shift, softmax(−‖q − k‖²/2) equals softmax(q·k) exactly when every key has the same norm.
    /// Computed from differences, not the expansion, so near-equal q and k do not cancel catastrophically.
    /// Query (L, D), key (S, D), scores (L, S).
    /// </summary>
    public static void NegativeSquaredDistance(ReadOnlySpan<float> query, ReadOnlySpan<float> key, Span<float> scores,
                                               int queryLength, int keyLength, int dim)
    {
        CheckSizes(queryLength, keyLength, dim, dim);
        CheckLength(query, queryLength * dim, nameof(query), $"L·D = {queryLength}·{dim}");
        CheckLength(key, keyLength * dim, nameof(key), $"S·D = {keyLength}·{dim}");
        CheckLength(scores, queryLength * keyLength, nameof(scores), $"L·S = {queryLength}·{keyLength}");
        for (int i = 0; i < queryLength; i++)
        {
            var q = query.Slice(i * dim, dim);
            for (int j = 0; j < keyLength; j++)
            {
                float d = TensorPrimitives.Distance(q, key.Slice(j * dim, dim));
                scores[i * keyLength + j] = -d * d;
            }
        }
    }

    private static void CheckSizes(int queryLength, int keyLength, int queryDim, int keyDim)
    {
        if (queryLength < 1) throw new ArgumentOutOfRangeException(nameof(queryLength), queryLength, "Expected a query length L ≥ 1.");
        if (keyLength < 1) throw new ArgumentOutOfRangeException(nameof(keyLength), keyLength, "Expected a key length S ≥ 1.");
        if (queryDim < 1) throw new ArgumentOutOfRangeException(nameof(queryDim), queryDim, "Expected a query dimension ≥ 1.");
        if (keyDim < 1) throw new ArgumentOutOfRangeException(nameof(keyDim), keyDim, "Expected a key dimension ≥ 1.");
    }

    internal static void CheckLength(ReadOnlySpan<float> span, int expected, string name, string what)
    {
        if (span.Length != expected)
            throw new ArgumentException($"Expected {name} of length {what} = {expected}; got {span.Length}.", name);
    }
}
