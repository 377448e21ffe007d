using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>What <see cref="ContextAttention.Forward(Var, int[])"/> returns.</summary>
/// <param name="Output">The pooled vector s = Σ_t α_t h_t (B, D); zero for a row with no real position.</param>
/// <param name="Weights">α (B, T): each row sums to 1 over its real positions, 0 at padding (all 0 for an empty row).</param>
public sealed record ContextAttentionResult(Var Output, Var Weights);

/// <summary>
/// Attention pooling with a learned context vector, the word- and sentence-level attention of the hierarchical
/// attention network (Yang et al., 2016, eqs. 5–7 and 8–10):
/// <code>
///   u_t = tanh(W h_t + b)            (B, T, A)
///   α_t = softmax_t(u_tᵀ u_w)        (B, T)     u_w (A) a trained "what is informative here?" query
///   s   = Σ_t α_t h_t                (B, D)
/// </code>
/// It is additive attention (Bahdanau et al.) whose query is one learned vector instead of a decoder state.
/// h (B, T, D) with real positions t &lt; lengths[b] (or a (B, T) validity mask) → s (B, D), α (B, T).
/// The context vector starts ~ N(0, 1/A) (the paper initialises it randomly and learns it).
/// Answer: docs/answers/42-hierarchical-attention.md
/// </summary>
public sealed class ContextAttention : Module
{
    /// <summary>Input width D.</summary>
    public int Dim { get; }
    /// <summary>Attention width A.</summary>
    public int AttentionSize { get; }
    /// <summary>W, b: D → A.</summary>
    public Linear Projection { get; }
    /// <summary>u_w (A).</summary>
    public Var Context { get; }

    public ContextAttention(int dim, int attentionSize, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attentionSize);
        ArgumentNullException.ThrowIfNull(rng);
        Dim = dim; AttentionSize = attentionSize;
        Projection = RegisterModule("projection", new Linear(dim, attentionSize, rng));
        Context = RegisterParameter("context", Var.Parameter(rng.NormalTensor([attentionSize], 0f, 1f / MathF.Sqrt(attentionSize))));
    }

    /// <summary>h (B, T, D), lengths (B) in [0, T] or null (all T) → (s (B, D), α (B, T)).</summary>
    /// <exception cref="ArgumentException">A shape or a length does not match.</exception>
    public ContextAttentionResult Forward(Var h, int[]? lengths = null)
    {
        var (b, t) = CheckInput(h);
        return Pool(h, b, t, TargetAttention.PaddingMask(lengths, b, t, "ContextAttention"));
    }

    /// <summary>h (B, T, D), valid (B·T) true at real positions → (s (B, D), α (B, T)).</summary>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public ContextAttentionResult Forward(Var h, ReadOnlySpan<bool> valid)
    {
        var (b, t) = CheckInput(h);
        if (valid.Length != b * t)
            throw new ArgumentException($"ContextAttention: expected a validity mask of B·T = {b}·{t} = {b * t} entries, got {valid.Length}", nameof(valid));
        var mask = new float[b * t];
        bool any = false;
        for (int i = 0; i < mask.Length; i++) if (!valid[i]) { mask[i] = 1f; any = true; }
        return Pool(h, b, t, any ? Tensor.FromArray(mask, b, t) : null);
    }

    private (int B, int T) CheckInput(Var h)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (h.Rank != 3 || h.Shape[2] != Dim)
            throw new ArgumentException($"ContextAttention: expected h of shape (B, T, {Dim}), got {Var.Fmt(h.Shape)}", nameof(h));
        return (h.Shape[0], h.Shape[1]);
    }

    private ContextAttentionResult Pool(Var h, int b, int t, Tensor? padding)
    {
        // pass 1: u = tanh(W h + b)
        var u = Projection.Forward(h).Tanh();                                              // (B, T, A)
        // pass 2: scores u·u_w, padding → −∞, softmax over t (a row of only padding gives zeros)
        var scores = u.MatMul(Context.Reshape(AttentionSize, 1)).Reshape(b, t);            // (B, T)
        if (padding is not null) scores = scores.MaskedFill(padding, float.NegativeInfinity);
        var alpha = scores.Softmax(-1);
        // pass 3: s = Σ α_t h_t
        var s = alpha.Reshape(b, 1, t).MatMul(h).Reshape(b, Dim);
        return new ContextAttentionResult(s, alpha);
    }
}
