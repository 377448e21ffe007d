using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>How a <see cref="ClickThroughModel"/> turns a variable-length history into one user vector.</summary>
public enum HistoryPooling
{
    /// <summary>Σ_j e_j: the Embedding&amp;MLP base model's sum pooling.</summary>
    Sum,
    /// <summary>(1/T) Σ_j e_j.</summary>
    Mean,
    /// <summary>One multi-head self-attention layer over the history (residual), then the mean: items see each other, not the candidate.</summary>
    SelfAttention,
    /// <summary>DIN target attention with the paper's unnormalized weights.</summary>
    Din,
    /// <summary>DIN target attention with a softmax over the history.</summary>
    DinSoftmax,
}

/// <summary>What <see cref="ClickThroughModel.Forward"/> returns.</summary>
/// <param name="Logits">(B) click logits.</param>
/// <param name="Weights">(B, T) the target-attention weights for the DIN variants, else null.</param>
public sealed record ClickOutput(Var Logits, Var? Weights);

/// <summary>
/// A click-through-rate model in the Embedding&amp;MLP mould of Zhou et al. (2018): item embeddings (shared by the
/// history and the candidate), a pooling of the history into a user vector u, and an MLP on [u, e_c]:
/// <code>
///   u = pool(e_1 … e_T; e_c)   (B, D)        sum, mean, self-attention + mean, or DIN target attention
///   p(click) = σ(w₂ᵀ ReLU(W₁ [u, e_c] + b₁) + b₂)
/// </code>
/// Only the DIN variants let the candidate choose which history items count; the others must squeeze every
/// candidate's evidence into one fixed vector. The paper's user-profile and context features and its 200-80 MLP
/// are left out: the synthetic task has none of them.
/// </summary>
public sealed class ClickThroughModel : Module
{
    private readonly MultiHeadAttention? _selfAttention;
    private readonly TargetAttention? _target;

    /// <summary>The pooling.</summary>
    public HistoryPooling Pooling { get; }
    /// <summary>Embedding width D.</summary>
    public int Dim { get; }
    /// <summary>Item embeddings (V, D).</summary>
    public Embedding Items { get; }
    /// <summary>2D → hidden.</summary>
    public Linear Hidden { get; }
    /// <summary>hidden → 1.</summary>
    public Linear Output { get; }

    /// <param name="items">Number of items V.</param>
    /// <param name="dim">Embedding width D (a multiple of 2 for the self-attention variant's two heads).</param>
    /// <param name="hidden">Width of the MLP and of the activation unit.</param>
    /// <param name="pooling">How the history is pooled.</param>
    /// <param name="rng">Initial weights.</param>
    public ClickThroughModel(int items, int dim, int hidden, HistoryPooling pooling, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(items);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        ArgumentNullException.ThrowIfNull(rng);
        if (!Enum.IsDefined(pooling)) throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "expected a HistoryPooling value");
        Pooling = pooling; Dim = dim;
        Items = RegisterModule("items", new Embedding(items, dim, rng));
        // N(0, 1) rows make the first sums huge; start them at the scale of the other weights
        var w = Items.Weight.Value.AsSpan();
        for (int i = 0; i < w.Length; i++) w[i] *= 1f / MathF.Sqrt(dim);
        if (pooling == HistoryPooling.SelfAttention)
        {
            if (dim % 2 != 0) throw new ArgumentException($"dim: the self-attention pooling uses 2 heads, expected an even width, got {dim}", nameof(dim));
            _selfAttention = RegisterModule("self_attention", new MultiHeadAttention(dim, 2, rng));
        }
        if (pooling is HistoryPooling.Din or HistoryPooling.DinSoftmax)
            _target = RegisterModule("target_attention", new TargetAttention(dim, hidden, rng,
                pooling == HistoryPooling.Din ? TargetWeighting.Unnormalized : TargetWeighting.Softmax));
        Hidden = RegisterModule("hidden", new Linear(2 * dim, hidden, rng));
        Output = RegisterModule("output", new Linear(hidden, 1, rng));
    }

    /// <summary>The batch's click logits (B) and, for DIN, the attention weights (B, T).</summary>
    /// <exception cref="ArgumentException">An item id is outside the embedding table.</exception>
    public ClickOutput Forward(ClickBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int b = batch.Count, t = batch.MaxLength;
        if (batch.History.Length != b * t)
            throw new ArgumentException($"ClickThroughModel: expected B·T = {b}·{t} history ids, got {batch.History.Length}", nameof(batch));
        var history = Items.Forward(batch.History, b, t);                  // (B, T, D)
        var candidate = Items.Forward(batch.Candidates, b);                // (B, D)
        Var? weights = null;
        Var user;
        switch (Pooling)
        {
            case HistoryPooling.Din:
            case HistoryPooling.DinSoftmax:
                var r = _target!.Forward(history, candidate, batch.Lengths);
                (user, weights) = (r.Output, r.Weights);
                break;
            case HistoryPooling.SelfAttention:
                var mixed = history + _selfAttention!.Forward(history, keyLengths: batch.Lengths);
                user = MaskedSum(mixed, batch.Lengths, mean: true);
                break;
            default:
                user = MaskedSum(history, batch.Lengths, mean: Pooling == HistoryPooling.Mean);
                break;
        }
        var h = Hidden.Forward(Var.Concat([user, candidate], 1)).Relu();
        return new ClickOutput(Output.Forward(h).Reshape(b), weights);
    }

    /// <summary>Σ (or mean) over the real positions t &lt; lengths[b] of x (B, T, D) → (B, D).</summary>
    private static Var MaskedSum(Var x, int[] lengths, bool mean)
    {
        int b = x.Shape[0], t = x.Shape[1];
        var w = new float[b * t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < lengths[i]; j++) w[i * t + j] = mean ? 1f / lengths[i] : 1f;
        return Var.Constant(Tensor.FromArray(w, b, 1, t)).MatMul(x).Reshape(b, x.Shape[2]);
    }
}
