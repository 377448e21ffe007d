using Attention.Autograd;
using Attention.Positions;
using Attention.Tensors;

namespace Attention.Nn;

/// <summary>
/// One Transformer encoder/decoder-only block (Vaswani et al., 2017, §3.1): self-attention and a
/// two-layer GELU MLP, each in a residual branch with layer normalisation, either
/// <code>
///   pre-LN  (Xiong et al., 2020; GPT-2):  x = x + Attn(LN₁(x));   x = x + MLP(LN₂(x))
///   post-LN (the original paper):         x = LN₁(x + Attn(x));   x = LN₂(x + MLP(x))
/// </code>
/// x (B, L, E) → (B, L, E). Dropout (training mode only) on both branch outputs and, optionally, on P.
/// Submodules: "attn", "ln1", "ln2", "fc1" (E → F), "fc2" (F → E).
/// </summary>
public sealed class TransformerBlock : Module
{
    private readonly Dropout? _dropout;

    /// <summary>True for pre-LN, false for post-LN.</summary>
    public bool PreNorm { get; }
    /// <summary>The self-attention.</summary>
    public MultiHeadAttention Attention { get; }
    /// <summary>Norm around the attention branch.</summary>
    public LayerNorm Ln1 { get; }
    /// <summary>Norm around the MLP branch.</summary>
    public LayerNorm Ln2 { get; }
    /// <summary>E → F.</summary>
    public Linear Fc1 { get; }
    /// <summary>F → E.</summary>
    public Linear Fc2 { get; }

    /// <summary>Creates the block; weights from <paramref name="rng"/>.</summary>
    /// <param name="modelDim">E.</param>
    /// <param name="heads">H (E must be a multiple of H).</param>
    /// <param name="ffDim">F, the MLP's hidden width (commonly 4E).</param>
    /// <param name="rng">Weights and dropout masks.</param>
    /// <param name="preNorm">Pre-LN (default) or post-LN.</param>
    /// <param name="dropout">Dropout on branch outputs in training mode.</param>
    /// <param name="attentionDropout">Dropout on the attention weights in training mode.</param>
    /// <param name="positions">The self-attention's position scheme (RoPE, ALiBi, T5, Shaw; see <see cref="MultiHeadAttention"/>), or null.</param>
    public TransformerBlock(int modelDim, int heads, int ffDim, Rng rng, bool preNorm = true, float dropout = 0f, float attentionDropout = 0f,
                            PositionScheme? positions = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ffDim);
        ArgumentNullException.ThrowIfNull(rng);
        PreNorm = preNorm;
        Attention = RegisterModule("attn", new MultiHeadAttention(modelDim, heads, rng, attentionDropout: attentionDropout, positions: positions));
        Ln1 = RegisterModule("ln1", new LayerNorm(modelDim));
        Ln2 = RegisterModule("ln2", new LayerNorm(modelDim));
        Fc1 = RegisterModule("fc1", new Linear(modelDim, ffDim, rng));
        Fc2 = RegisterModule("fc2", new Linear(ffDim, modelDim, rng));
        if (dropout > 0f) _dropout = RegisterModule("drop", new Dropout(dropout, new Rng(rng.NextUInt64())));
    }

    /// <summary>x (B, L, E), keyLengths (B) or null, causal mask on request → (B, L, E); positions start at <paramref name="positionOffset"/>.</summary>
    public Var Forward(Var x, int[]? keyLengths = null, bool causal = false, int positionOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        Var Drop(Var v) => _dropout is null ? v : _dropout.Forward(v);
        Var Mlp(Var v) => Fc2.Forward(Fc1.Forward(v).Gelu());
        if (PreNorm)
        {
            x = x + Drop(Attention.Forward(Ln1.Forward(x), keyLengths: keyLengths, causal: causal, positionOffset: positionOffset));
            return x + Drop(Mlp(Ln2.Forward(x)));
        }
        x = Ln1.Forward(x + Drop(Attention.Forward(x, keyLengths: keyLengths, causal: causal, positionOffset: positionOffset)));
        return Ln2.Forward(x + Drop(Mlp(x)));
    }
}
