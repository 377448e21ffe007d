using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>How <see cref="TargetAttention"/> turns activation scores into weights.</summary>
public enum TargetWeighting
{
    /// <summary>The paper's choice: w_j = a(e_j, e_c) used as it is, no softmax, so Σ_j w_j can grow or shrink.</summary>
    Unnormalized,
    /// <summary>The usual attention: w = softmax over the user's real history items (Σ_j w_j = 1).</summary>
    Softmax,
}

/// <summary>What <see cref="TargetAttention.Forward"/> returns: the pooled interest vector and the weights.</summary>
/// <param name="Output">v_U(c) (B, D).</param>
/// <param name="Weights">w (B, T); exactly 0 at padding positions t ≥ lengths[b].</param>
/// <param name="Scores">The raw activation scores a(e_j, e_c) (B, T) before masking or softmax.</param>
public sealed record TargetAttentionResult(Var Output, Var Weights, Var Scores);

/// <summary>
/// Target attention, the local activation unit of the Deep Interest Network (Zhou et al., 2018, §4.3, eq. 3):
/// each item of a user's behaviour history is weighted by its relevance to the candidate item being scored,
/// so the user's interest vector changes with the candidate:
/// <code>
///   x_j  = [e_j, e_c, e_j − e_c, e_j ⊙ e_c]                 (B, T, 4D)   history item e_j, candidate e_c
///   s_j  = w₂ᵀ σ(W₁ x_j + b₁) + b₂                          (B, T)       a small MLP, the activation unit a(e_j, e_c)
///   w_j  = s_j  (unnormalized, as in the paper)  or  softmax_j(s_j)
///   v_U(c) = Σ_{j &lt; length} w_j · e_j                      (B, D)
/// </code>
/// The paper feeds the activation unit the two embeddings and their "out product"; the inputs used here (the two
/// embeddings, their difference and their element-wise product) are the common open-source reading of that figure,
/// and the hidden layer is a sigmoid (the paper uses PReLU or its Dice activation). The paper drops the softmax on
/// purpose: Σ_j w_j then approximates how strongly the history as a whole is activated by the candidate, which a
/// normalised weighting would hide. <see cref="TargetWeighting.Softmax"/> is offered for comparison.
/// history (B, T, D), candidate (B, D), lengths (B) in [0, T] → output (B, D), weights (B, T).
/// Answer: docs/answers/41-recommendation-systems.md
/// </summary>
public sealed class TargetAttention : Module
{
    /// <summary>Item embedding width D.</summary>
    public int Dim { get; }
    /// <summary>Hidden width of the activation unit.</summary>
    public int HiddenSize { get; }
    /// <summary>Unnormalized (the paper) or softmax.</summary>
    public TargetWeighting Weighting { get; }
    /// <summary>4D → hidden.</summary>
    public Linear Hidden { get; }
    /// <summary>hidden → 1.</summary>
    public Linear Score { get; }

    public TargetAttention(int dim, int hiddenSize, Rng rng, TargetWeighting weighting = TargetWeighting.Unnormalized)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        ArgumentNullException.ThrowIfNull(rng);
        if (!Enum.IsDefined(weighting)) throw new ArgumentOutOfRangeException(nameof(weighting), weighting, "expected Unnormalized or Softmax");
        Dim = dim; HiddenSize = hiddenSize; Weighting = weighting;
        Hidden = RegisterModule("hidden", new Linear(4 * dim, hiddenSize, rng));
        Score = RegisterModule("score", new Linear(hiddenSize, 1, rng));
    }

    /// <summary>history (B, T, D), candidate (B, D), lengths (B) in [0, T] or null (all T) → (output (B, D), weights (B, T), scores (B, T)).</summary>
    /// <exception cref="ArgumentException">A shape or a length does not match.</exception>
    public TargetAttentionResult Forward(Var history, Var candidate, int[]? lengths = null)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(candidate);
        if (history.Rank != 3 || history.Shape[2] != Dim)
            throw new ArgumentException($"TargetAttention: expected history of shape (B, T, {Dim}), got {Var.Fmt(history.Shape)}", nameof(history));
        int b = history.Shape[0], t = history.Shape[1];
        if (candidate.Rank != 2 || candidate.Shape[0] != b || candidate.Shape[1] != Dim)
            throw new ArgumentException($"TargetAttention: expected candidate of shape ({b}, {Dim}), got {Var.Fmt(candidate.Shape)}", nameof(candidate));
        var padding = PaddingMask(lengths, b, t, "TargetAttention");

        // pass 1: the activation unit's input, the candidate broadcast over the T history positions
        var c = candidate.Reshape(b, 1, Dim) + Var.Constant(Tensor.Zeros(b, t, Dim));      // (B, T, D)
        var x = Var.Concat([history, c, history - c, history * c], 2);                      // (B, T, 4D)
        // pass 2: s_j = w₂ᵀ σ(W₁ x_j + b₁) + b₂
        var scores = Score.Forward(Hidden.Forward(x).Sigmoid()).Reshape(b, t);              // (B, T)
        // pass 3: weights; padding positions get exactly 0
        Var weights;
        if (Weighting == TargetWeighting.Softmax)
            weights = padding is null ? scores.Softmax(-1) : scores.MaskedFill(padding, float.NegativeInfinity).Softmax(-1);
        else
            weights = padding is null ? scores : scores.MaskedFill(padding, 0f);
        // pass 4: v = Σ_j w_j e_j
        var output = weights.Reshape(b, 1, t).MatMul(history).Reshape(b, Dim);
        return new TargetAttentionResult(output, weights, scores);
    }

    /// <summary>A (B, T) tensor, 1 at positions t ≥ lengths[b] (padding), or null when there is no padding.</summary>
    internal static Tensor? PaddingMask(int[]? lengths, int b, int t, string layer)
    {
        if (lengths is null) return null;
        if (lengths.Length != b)
            throw new ArgumentException($"{layer}: expected {b} lengths (one per batch row), got {lengths.Length}", nameof(lengths));
        var mask = new float[b * t];
        bool any = false;
        for (int i = 0; i < b; i++)
        {
            if ((uint)lengths[i] > (uint)t)
                throw new ArgumentException($"{layer}: expected lengths in [0, {t}], got {lengths[i]} for row {i}", nameof(lengths));
            for (int j = lengths[i]; j < t; j++) { mask[i * t + j] = 1f; any = true; }
        }
        return any ? Tensor.FromArray(mask, b, t) : null;
    }
}
