using Attention.Autograd;
using Attention.Positions;
using Attention.Tensors;

namespace Attention.Nn.Advances;

/// <summary>
/// Sigmoid attention (Ramapuram et al., 2024, "Theory, Analysis, and Best Practices for Sigmoid Self-Attention"):
/// the row softmax is replaced by an element-wise sigmoid with a constant bias b = −log n,
/// <code>
///   o_i = Σ_j σ(q_i·k_j/√Dh + b)·v_j          (masked pairs contribute 0)
/// </code>
/// Weights no longer sum to one and rows do not compete; the bias −log n keeps the initial total weight of a row
/// near Σ_j e^(s_ij)/n ≈ 1 (σ(s − log n) ≈ e^s/n for small e^s/n), which the paper finds necessary for stable training.
/// n is the key length of the call (the training context). Composed autograd path: the (B, H, L, S) weights exist.
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public sealed class SigmoidAttention : Module, ISelfAttentionLayer
{
    /// <inheritdoc/>
    public int ModelDim { get; }
    /// <summary>Heads H.</summary>
    public int Heads { get; }
    /// <summary>Per-head width Dh.</summary>
    public int HeadDim { get; }
    /// <summary>RoPE on q and k, or null.</summary>
    public RotaryPositions? Rope { get; }
    /// <summary>Null: b = −log S for every call (the paper's choice); otherwise this fixed bias.</summary>
    public float? Bias { get; }
    /// <summary>Projections (E → H·Dh ×3, H·Dh → E).</summary>
    public Linear Q { get; }
    /// <inheritdoc cref="Q"/>
    public Linear K { get; }
    /// <inheritdoc cref="Q"/>
    public Linear V { get; }
    /// <inheritdoc cref="Q"/>
    public Linear O { get; }

    /// <inheritdoc/>
    public int KvCacheElementsPerToken => 2 * Heads * HeadDim;

    /// <summary>Creates the layer.</summary>
    /// <exception cref="ArgumentException">E not a multiple of H, or a non-finite bias.</exception>
    public SigmoidAttention(int modelDim, int heads, Rng rng, RotaryPositions? rope = null, float? bias = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        if (modelDim % heads != 0)
            throw new ArgumentException($"expected a model width divisible by the {heads} heads, got {modelDim}", nameof(heads));
        if (bias is float f && !float.IsFinite(f)) throw new ArgumentException($"expected a finite bias or null (−log n), got {f}", nameof(bias));
        ModelDim = modelDim; Heads = heads; HeadDim = modelDim / heads; Rope = rope; Bias = bias;
        rope?.Validate(modelDim, heads, HeadDim);
        Q = RegisterModule("q", new Linear(modelDim, modelDim, rng));
        K = RegisterModule("k", new Linear(modelDim, modelDim, rng));
        V = RegisterModule("v", new Linear(modelDim, modelDim, rng));
        O = RegisterModule("o", new Linear(modelDim, modelDim, rng));
    }

    /// <summary>The bias used for a key length S: <see cref="Bias"/> or −log S.</summary>
    public float BiasFor(int keyLength) => Bias ?? -MathF.Log(Math.Max(1, keyLength));

    /// <summary>The weights σ(s + b) (B, H, L, S), zero where masked, and the output (B, L, E).</summary>
    public (Var Output, Var Weights) ForwardWithWeights(Var x, bool causal, int positionOffset = 0)
    {
        var (b, l) = SelfAttentionChecks.Input(x, ModelDim, nameof(SigmoidAttention));
        ArgumentOutOfRangeException.ThrowIfNegative(positionOffset);
        var q = SelfAttentionChecks.SplitHeads(Q.Forward(x), b, l, Heads, HeadDim);
        var k = SelfAttentionChecks.SplitHeads(K.Forward(x), b, l, Heads, HeadDim);
        var v = SelfAttentionChecks.SplitHeads(V.Forward(x), b, l, Heads, HeadDim);
        if (Rope is not null) { q = Rope.Apply(q, positionOffset); k = Rope.Apply(k, positionOffset); }
        var scores = Var.MatMul(q, k, transposeB: true) * (1f / MathF.Sqrt(HeadDim)) + BiasFor(l);   // (B, H, L, S)
        var weights = scores.Sigmoid();
        var mask = MultiHeadAttention.BuildMask(b, l, l, null, causal);
        if (mask is not null) weights = weights.MaskedFill(mask, 0f);
        var heads = Var.MatMul(weights, v);                                                            // (B, H, L, Dh)
        return (O.Forward(SelfAttentionChecks.MergeHeads(heads, b, l)), weights);
    }

    /// <inheritdoc/>
    public Var Forward(Var x, bool causal, int positionOffset = 0) => ForwardWithWeights(x, causal, positionOffset).Output;
}
