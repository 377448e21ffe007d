using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// CBAM's channel attention module (Woo, Park, Lee and Kweon, ECCV 2018, §3): like SE, but the shared two-layer MLP sees
/// both the average-pooled and the max-pooled descriptor, and their outputs are added before the sigmoid.
/// <code>
///   M_c(F) = σ( MLP(AvgPool(F)) + MLP(MaxPool(F)) ),   MLP(z) = W₁ ReLU(W₀ z + b₀) + b₁,  W₀ (C/r, C), W₁ (C, C/r)
///   F' = M_c(F) ⊙ F                                        M_c (B, C, 1, 1)
/// </code>
/// Answer: docs/answers/25-spatial-and-channel-attention.md
/// </summary>
public sealed class CbamChannelAttention : Module, ILayer
{
    /// <summary>Channels C.</summary>
    public int Channels { get; }
    /// <summary>C → C/r.</summary>
    public Linear Reduce { get; }
    /// <summary>C/r → C.</summary>
    public Linear Expand { get; }
    /// <summary>The gates (B, C) of the last <see cref="Forward"/>, or null.</summary>
    public Tensor? LastGates { get; private set; }

    /// <summary>Creates the module with reduction ratio r (hidden width max(1, C / r)).</summary>
    public CbamChannelAttention(int channels, Rng rng, int reduction = 16)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(reduction);
        ArgumentNullException.ThrowIfNull(rng);
        Channels = channels;
        int hidden = Math.Max(1, channels / reduction);
        Reduce = RegisterModule("fc1", new Linear(channels, hidden, rng));
        Expand = RegisterModule("fc2", new Linear(hidden, channels, rng));
    }

    private Var Mlp(Var z) => Expand.Forward(Reduce.Forward(z).Relu());

    /// <summary>M_c (B, C) for F (B, C, H, W).</summary>
    public Var Gates(Var x)
    {
        ImageAttention.CheckImage(x, Channels, "CbamChannelAttention");
        return (Mlp(ImageAttention.AveragePool(x)) + Mlp(ImageAttention.MaxPool(x))).Sigmoid();
    }

    /// <summary>F (B, C, H, W) → M_c ⊙ F.</summary>
    public Var Forward(Var x)
    {
        var s = Gates(x);
        LastGates = s.Value.Clone();
        return x * s.Reshape(x.Shape[0], Channels, 1, 1);
    }
}

/// <summary>
/// CBAM's spatial attention module (Woo et al., 2018, §3): pool across channels, convolve, squash.
/// <code>
///   M_s(F) = σ( f^{k×k}( [AvgPool_c(F); MaxPool_c(F)] ) )     (B, 1, H, W); k = 7 in the paper, "same" padding
///   F'' = M_s(F) ⊙ F
/// </code>
/// 2k² + 1 parameters. The map of the last call is kept in <see cref="LastMap"/> (B, H, W).
/// Answer: docs/answers/25-spatial-and-channel-attention.md
/// </summary>
public sealed class CbamSpatialAttention : Module, ILayer
{
    /// <summary>Convolution width k (odd).</summary>
    public int KernelSize { get; }
    /// <summary>The 2 → 1 convolution.</summary>
    public Conv2d Conv { get; }
    /// <summary>The map M_s (B, H, W) of the last <see cref="Forward"/>, or null.</summary>
    public Tensor? LastMap { get; private set; }

    /// <summary>Creates the module with a k×k convolution (k odd).</summary>
    public CbamSpatialAttention(Rng rng, int kernelSize = 7)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (kernelSize < 1 || kernelSize % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "expected an odd kernel width ≥ 1");
        KernelSize = kernelSize;
        Conv = RegisterModule("conv", new Conv2d(2, 1, kernelSize, rng, padding: kernelSize / 2));
    }

    /// <summary>M_s (B, 1, H, W) for F (B, C, H, W), any C ≥ 1.</summary>
    public Var Map(Var x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4) throw new ArgumentException($"CbamSpatialAttention expects input of shape (B, C, H, W), got {Var.Fmt(x.Shape)}", nameof(x));
        var pooled = Var.Concat([x.Mean(1, keepDim: true), x.Max(1, keepDim: true)], 1);
        return Conv.Forward(pooled).Sigmoid();
    }

    /// <summary>F (B, C, H, W) → M_s ⊙ F.</summary>
    public Var Forward(Var x)
    {
        var m = Map(x);
        LastMap = m.Value.Clone().Reshape(x.Shape[0], x.Shape[2], x.Shape[3]);
        return x * m;
    }
}

/// <summary>
/// The Convolutional Block Attention Module (Woo et al., 2018): channel attention, then spatial attention, in sequence
/// (the order the paper found best). Either half can be switched off to study it alone.
/// <code>  F' = M_c(F) ⊙ F,   F'' = M_s(F') ⊙ F'  </code>
/// Answer: docs/answers/25-spatial-and-channel-attention.md
/// </summary>
public sealed class CbamBlock : Module, ILayer
{
    /// <summary>The channel half, or null when off.</summary>
    public CbamChannelAttention? Channel { get; }
    /// <summary>The spatial half, or null when off.</summary>
    public CbamSpatialAttention? Spatial { get; }

    /// <summary>Creates the block; at least one half must be on.</summary>
    public CbamBlock(int channels, Rng rng, bool channel = true, bool spatial = true, int reduction = 16, int kernelSize = 7)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (!channel && !spatial) throw new ArgumentException("expected channel or spatial attention (or both) on, got neither", nameof(channel));
        if (channel) Channel = RegisterModule("channel", new CbamChannelAttention(channels, rng, reduction));
        if (spatial) Spatial = RegisterModule("spatial", new CbamSpatialAttention(rng, kernelSize));
    }

    /// <summary>F (B, C, H, W) → F'' (B, C, H, W).</summary>
    public Var Forward(Var x)
    {
        if (Channel is not null) x = Channel.Forward(x);
        if (Spatial is not null) x = Spatial.Forward(x);
        return x;
    }
}
