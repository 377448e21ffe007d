using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// Squeeze-and-Excitation block (Hu, Shen and Sun, CVPR 2018): channel attention from a global summary.
/// <code>
///   squeeze:   z_c = (1/HW) Σ_{i,j} u_c(i, j)                      z (B, C)
///   excite:    s = σ(W₂ · ReLU(W₁ z + b₁) + b₂)                    W₁ (C/r, C), W₂ (C, C/r), s (B, C) in (0, 1)
///   scale:     x̃_c = s_c · u_c                                     (B, C, H, W)
/// </code>
/// 2C²/r + C + C/r parameters; the gates of the last call are kept in <see cref="LastGates"/> (B, C) for analysis.
/// Answer: docs/answers/26-squeeze-and-excitation.md
/// </summary>
public sealed class SqueezeExcitation : Module, ILayer
{
    /// <summary>Channels C.</summary>
    public int Channels { get; }
    /// <summary>Bottleneck width C/r (at least 1).</summary>
    public int Hidden { get; }
    /// <summary>C → C/r.</summary>
    public Linear Reduce { get; }
    /// <summary>C/r → C.</summary>
    public Linear Expand { get; }
    /// <summary>The gates s (B, C) of the last <see cref="Forward"/>, or null before the first.</summary>
    public Tensor? LastGates { get; private set; }

    /// <summary>Creates the block with reduction ratio <paramref name="reduction"/> (hidden width max(1, C / r)).</summary>
    public SqueezeExcitation(int channels, Rng rng, int reduction = 16)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(reduction);
        ArgumentNullException.ThrowIfNull(rng);
        Channels = channels;
        Hidden = Math.Max(1, channels / reduction);
        Reduce = RegisterModule("fc1", new Linear(channels, Hidden, rng));
        Expand = RegisterModule("fc2", new Linear(Hidden, channels, rng));
    }

    /// <summary>The gates s (B, C) for x (B, C, H, W), without scaling x.</summary>
    public Var Gates(Var x)
    {
        ImageAttention.CheckImage(x, Channels, "SqueezeExcitation");
        return Expand.Forward(Reduce.Forward(ImageAttention.AveragePool(x)).Relu()).Sigmoid();
    }

    /// <summary>x (B, C, H, W) → s ⊙ x (B, C, H, W).</summary>
    public Var Forward(Var x)
    {
        var s = Gates(x);
        LastGates = s.Value.Clone();
        return x * s.Reshape(x.Shape[0], Channels, 1, 1);
    }
}
