using Attention.Autograd;
using Attention.Kernels;
using Attention.Positions;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn.Advances;

/// <summary>
/// Differential attention (Ye et al., 2024, "Differential Transformer", §2.1): each head splits its query and key into
/// two halves and subtracts a second softmax map from the first, cancelling attention that both maps put on the same
/// (irrelevant) context, like a differential amplifier:
/// <code>
///   [q₁; q₂] = x·W_q, [k₁; k₂] = x·W_k (each Dh wide), v = x·W_v (2·Dh wide)
///   DiffAttn = (softmax(q₁·k₁ᵀ/√Dh) − λ·softmax(q₂·k₂ᵀ/√Dh))·v
///   λ = exp(λ_q1·λ_k1) − exp(λ_q2·λ_k2) + λ_init,   λ_init = 0.8 − 0.6·exp(−0.3·(l − 1)) for layer l = 1, 2, …
///   head_h = (1 − λ_init)·RMSNorm(DiffAttn_h)      y = concat_h(head_h)·W_oᵀ
/// </code>
/// The λ re-parameterisation uses four learned vectors (Dh each, shared by the heads of a layer). With H/2 heads of
/// twice the width the layer has the parameters of an H-head standard layer (the paper's setting). Each softmax·v is
/// run on the fused kernel (two kernel calls per map, one per half of v, because the kernel wants equal q and v widths).
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public sealed class DifferentialAttention : Module, ISelfAttentionLayer
{
    /// <inheritdoc/>
    public int ModelDim { get; }
    /// <summary>Differential heads H (each has two maps of width Dh and a value of width 2·Dh).</summary>
    public int Heads { get; }
    /// <summary>Width Dh of each of q₁, q₂, k₁, k₂ (E = 2·H·Dh).</summary>
    public int HeadDim { get; }
    /// <summary>λ_init of this layer.</summary>
    public float LambdaInit { get; }
    /// <summary>RoPE on q₁, q₂, k₁, k₂, or null.</summary>
    public RotaryPositions? Rope { get; }
    /// <summary>E → 2·H·Dh projections and the output 2·H·Dh → E.</summary>
    public Linear Q { get; }
    /// <inheritdoc cref="Q"/>
    public Linear K { get; }
    /// <inheritdoc cref="Q"/>
    public Linear V { get; }
    /// <inheritdoc cref="Q"/>
    public Linear O { get; }
    /// <summary>The λ vectors (Dh each).</summary>
    public Var LambdaQ1 { get; }
    /// <inheritdoc cref="LambdaQ1"/>
    public Var LambdaK1 { get; }
    /// <inheritdoc cref="LambdaQ1"/>
    public Var LambdaQ2 { get; }
    /// <inheritdoc cref="LambdaQ1"/>
    public Var LambdaK2 { get; }
    /// <summary>The per-head RMSNorm gain (2·Dh).</summary>
    public Var NormGain { get; }

    /// <inheritdoc/>
    public int KvCacheElementsPerToken => 2 * Heads * 2 * HeadDim;

    /// <summary>λ_init = 0.8 − 0.6·exp(−0.3·(layer − 1)), layer counted from 1 (Ye et al., 2024, eq. 2's setting).</summary>
    public static float DefaultLambdaInit(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        return (float)(0.8 - 0.6 * Math.Exp(-0.3 * (layer - 1)));
    }

    /// <summary>Creates the layer for transformer layer <paramref name="layer"/> (1-based, sets λ_init).</summary>
    /// <exception cref="ArgumentException">E is not a multiple of 2·H.</exception>
    public DifferentialAttention(int modelDim, int heads, int layer, Rng rng, RotaryPositions? rope = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        if (modelDim % (2 * heads) != 0)
            throw new ArgumentException($"expected a model width divisible by 2·H = {2 * heads}, got {modelDim}", nameof(heads));
        ModelDim = modelDim; Heads = heads; HeadDim = modelDim / (2 * heads); Rope = rope;
        LambdaInit = DefaultLambdaInit(layer);
        rope?.Validate(modelDim, heads, HeadDim);
        Q = RegisterModule("q", new Linear(modelDim, modelDim, rng));
        K = RegisterModule("k", new Linear(modelDim, modelDim, rng));
        V = RegisterModule("v", new Linear(modelDim, modelDim, rng));
        O = RegisterModule("o", new Linear(modelDim, modelDim, rng));
        LambdaQ1 = RegisterParameter("lambda_q1", Var.Parameter(rng.NormalTensor([HeadDim], 0f, 0.1f)));
        LambdaK1 = RegisterParameter("lambda_k1", Var.Parameter(rng.NormalTensor([HeadDim], 0f, 0.1f)));
        LambdaQ2 = RegisterParameter("lambda_q2", Var.Parameter(rng.NormalTensor([HeadDim], 0f, 0.1f)));
        LambdaK2 = RegisterParameter("lambda_k2", Var.Parameter(rng.NormalTensor([HeadDim], 0f, 0.1f)));
        NormGain = RegisterParameter("norm", Var.Parameter(Tensor.Ones(2 * HeadDim)));
    }

    /// <summary>λ as a (1) Var: exp(λ_q1·λ_k1) − exp(λ_q2·λ_k2) + λ_init.</summary>
    public Var Lambda() =>
        ((LambdaQ1 * LambdaK1).Sum().Exp() - (LambdaQ2 * LambdaK2).Sum().Exp() + LambdaInit).Reshape(1);

    /// <inheritdoc/>
    public Var Forward(Var x, bool causal, int positionOffset = 0)
    {
        var (b, l) = SelfAttentionChecks.Input(x, ModelDim, nameof(DifferentialAttention));
        ArgumentOutOfRangeException.ThrowIfNegative(positionOffset);
        int d = HeadDim;
        var q = SelfAttentionChecks.SplitHeads(Q.Forward(x), b, l, Heads, 2 * d);     // (B, H, L, 2Dh)
        var k = SelfAttentionChecks.SplitHeads(K.Forward(x), b, l, Heads, 2 * d);
        var v = SelfAttentionChecks.SplitHeads(V.Forward(x), b, l, Heads, 2 * d);
        Var q1 = q.Slice(3, 0, d), q2 = q.Slice(3, d, d), k1 = k.Slice(3, 0, d), k2 = k.Slice(3, d, d);
        Var va = v.Slice(3, 0, d), vb = v.Slice(3, d, d);
        if (Rope is not null)
        {
            q1 = Rope.Apply(q1, positionOffset); q2 = Rope.Apply(q2, positionOffset);
            k1 = Rope.Apply(k1, positionOffset); k2 = Rope.Apply(k2, positionOffset);
        }
        var options = new AttentionOptions { Causal = causal, Scale = 1f / MathF.Sqrt(d) };
        // softmax(q·kᵀ)·[va | vb] = [softmax·va | softmax·vb]: two kernel calls per map
        var a1 = Var.Concat([Var.Attention(q1, k1, va, options), Var.Attention(q1, k1, vb, options)], 3);   // (B, H, L, 2Dh)
        var a2 = Var.Concat([Var.Attention(q2, k2, va, options), Var.Attention(q2, k2, vb, options)], 3);
        var diff = a1 - a2 * Lambda();
        var heads = diff.RmsNorm(NormGain, 1e-5f) * (1f - LambdaInit);
        return O.Forward(SelfAttentionChecks.MergeHeads(heads, b, l));
    }

    /// <summary>The two softmax maps and their difference for batch item 0, head <paramref name="head"/> (L × L each), for figures.</summary>
    public (float[,] First, float[,] Second, float[,] Difference) Maps(Var x, int head, bool causal = true, int positionOffset = 0)
    {
        var (b, l) = SelfAttentionChecks.Input(x, ModelDim, nameof(DifferentialAttention));
        ArgumentOutOfRangeException.ThrowIfNegative(head);
        if (head >= Heads) throw new ArgumentOutOfRangeException(nameof(head), head, $"expected a head in [0, {Heads})");
        using var _ = Var.NoGrad();
        int d = HeadDim;
        var q = SelfAttentionChecks.SplitHeads(Q.Forward(x), b, l, Heads, 2 * d);
        var k = SelfAttentionChecks.SplitHeads(K.Forward(x), b, l, Heads, 2 * d);
        Var q1 = q.Slice(3, 0, d), q2 = q.Slice(3, d, d), k1 = k.Slice(3, 0, d), k2 = k.Slice(3, d, d);
        if (Rope is not null)
        {
            q1 = Rope.Apply(q1, positionOffset); q2 = Rope.Apply(q2, positionOffset);
            k1 = Rope.Apply(k1, positionOffset); k2 = Rope.Apply(k2, positionOffset);
        }
        var mask = MultiHeadAttention.BuildMask(b, l, l, null, causal);
        Var Map(Var qa, Var ka)
        {
            var s = Var.MatMul(qa, ka, transposeB: true) * (1f / MathF.Sqrt(d));
            if (mask is not null) s = s.MaskedFill(mask, float.NegativeInfinity);
            return s.Softmax(-1);
        }
        var p1 = Map(q1, k1).Value; var p2 = Map(q2, k2).Value;
        float lambda = Lambda().Value[0];
        var first = new float[l, l]; var second = new float[l, l]; var difference = new float[l, l];
        for (int i = 0; i < l; i++)
            for (int j = 0; j < l; j++)
            {
                first[i, j] = p1[0, head, i, j]; second[i, j] = p2[0, head, i, j];
                difference[i, j] = first[i, j] - lambda * second[i, j];
            }
        return (first, second, difference);
    }
}
