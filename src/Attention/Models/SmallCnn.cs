using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>Which attention module a <see cref="SmallCnn"/> puts after the convolution of every stage.</summary>
public enum CnnAttention
{
    /// <summary>No attention: the plain CNN.</summary>
    None,
    /// <summary>Squeeze-and-Excitation (Hu et al., 2018).</summary>
    SqueezeExcitation,
    /// <summary>Efficient Channel Attention (Wang et al., 2020).</summary>
    Eca,
    /// <summary>CBAM's channel module alone (Woo et al., 2018).</summary>
    CbamChannel,
    /// <summary>CBAM's spatial module alone.</summary>
    CbamSpatial,
    /// <summary>CBAM: channel, then spatial.</summary>
    Cbam,
}

/// <summary>The shape of a <see cref="SmallCnn"/>.</summary>
public sealed record SmallCnnOptions
{
    /// <summary>Output channels of each stage's 3×3 convolution; one stage per entry.</summary>
    public int[] Channels { get; init; } = [16, 32, 64];
    /// <summary>Classes (width of the head).</summary>
    public int Classes { get; init; } = 10;
    /// <summary>The attention module after each stage's convolution.</summary>
    public CnnAttention Attention { get; init; } = CnnAttention.None;
    /// <summary>Reduction ratio r of SE and of CBAM's channel MLP.</summary>
    public int Reduction { get; init; } = 4;
    /// <summary>Kernel width of CBAM's spatial convolution.</summary>
    public int SpatialKernel { get; init; } = 7;
    /// <summary>Stage (0-based) after whose convolution a <see cref="NonLocalBlock"/> is inserted, or null for none.</summary>
    public int? NonLocalStage { get; init; }
}

/// <summary>
/// A small image classifier shared by the vision answers (24, 25, 26): stages of 3×3 convolution (padding 1) and ReLU,
/// an optional attention module (SE, ECA, CBAM or one of its halves) after each, an optional non-local block after one
/// stage, 2×2 max pooling between stages, then global average pooling and a linear head.
/// <code>
///   x (B, 1, H, W) → [conv3×3 → ReLU → attention? → non-local? → maxpool2 (not after the last)]×S → mean over H, W → Linear → (B, classes)
/// </code>
/// Convolutions start from He-normal weights and zero biases. The attention modules are exposed per stage so experiments can read their gates and maps after a forward pass.
/// </summary>
public sealed class SmallCnn : Module, IImageClassifier
{
    private readonly Conv2d[] _convs;
    private readonly Module?[] _attention;
    private readonly MaxPool2d _pool = new(2);

    /// <summary>The options it was built with.</summary>
    public SmallCnnOptions Options { get; }
    /// <summary>Each stage's convolution.</summary>
    public IReadOnlyList<Conv2d> Convolutions => _convs;
    /// <summary>Each stage's attention module (null entries when <see cref="CnnAttention.None"/>).</summary>
    public IReadOnlyList<Module?> AttentionModules => _attention;
    /// <summary>The non-local block, or null.</summary>
    public NonLocalBlock? NonLocal { get; }
    /// <summary>The classifier head.</summary>
    public Linear Head { get; }

    /// <summary>Creates the network for single-channel images; weights from <paramref name="rng"/>.</summary>
    public SmallCnn(SmallCnnOptions options, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rng);
        if (options.Channels is null || options.Channels.Length == 0 || options.Channels.Any(c => c <= 0))
            throw new ArgumentException($"expected at least one stage with positive channels, got [{string.Join(", ", options.Channels ?? [])}]", nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Classes, nameof(options));
        if (options.NonLocalStage is int nl && (uint)nl >= (uint)options.Channels.Length)
            throw new ArgumentException($"expected a non-local stage in [0, {options.Channels.Length}), got {nl}", nameof(options));
        Options = options;
        int stages = options.Channels.Length;
        _convs = new Conv2d[stages];
        _attention = new Module?[stages];
        int inC = 1;
        for (int s = 0; s < stages; s++)
        {
            int c = options.Channels[s];
            _convs[s] = RegisterModule($"conv{s}", new Conv2d(inC, c, 3, rng, padding: 1));
            // He et al. (2015) initialisation for ReLU stacks: without normalisation layers PyTorch's default (gain 1/√3)
            // shrinks the signal stage by stage and a short training run barely moves
            Init.KaimingNormal(_convs[s].Weight.Value, rng);
            _convs[s].Bias!.Value.AsSpan().Clear();
            Module? a = options.Attention switch
            {
                CnnAttention.None => null,
                CnnAttention.SqueezeExcitation => new SqueezeExcitation(c, rng, options.Reduction),
                CnnAttention.Eca => new EfficientChannelAttention(c, rng),
                CnnAttention.CbamChannel => new CbamBlock(c, rng, channel: true, spatial: false, options.Reduction, options.SpatialKernel),
                CnnAttention.CbamSpatial => new CbamBlock(c, rng, channel: false, spatial: true, options.Reduction, options.SpatialKernel),
                CnnAttention.Cbam => new CbamBlock(c, rng, channel: true, spatial: true, options.Reduction, options.SpatialKernel),
                _ => throw new ArgumentException($"unknown attention kind {options.Attention}", nameof(options)),
            };
            if (a is not null) _attention[s] = RegisterModule($"attn{s}", a);
            if (options.NonLocalStage == s) NonLocal = RegisterModule("nonlocal", new NonLocalBlock(c, rng));
            inC = c;
        }
        Head = RegisterModule("head", new Linear(inC, options.Classes, rng));
    }

    /// <summary>images (B, 1, H, W) → logits (B, classes).</summary>
    /// <exception cref="ArgumentException">images is not (B, 1, H, W).</exception>
    public Var Forward(Var images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || images.Shape[1] != 1)
            throw new ArgumentException($"SmallCnn expects images of shape (B, 1, H, W), got {Var.Fmt(images.Shape)}", nameof(images));
        var x = images;
        for (int s = 0; s < _convs.Length; s++)
        {
            x = _convs[s].Forward(x).Relu();
            if (_attention[s] is ILayer a) x = a.Forward(x);
            if (NonLocal is not null && Options.NonLocalStage == s) x = NonLocal.Forward(x);
            if (s < _convs.Length - 1) x = _pool.Forward(x);
        }
        return Head.Forward(x.Mean([2, 3]));
    }

    /// <summary>The channel gates (B, C) of stage <paramref name="stage"/> from the last forward pass (SE, ECA, CBAM channel), or null.</summary>
    public Tensors.Tensor? ChannelGates(int stage) => _attention[CheckStage(stage)] switch
    {
        SqueezeExcitation se => se.LastGates,
        EfficientChannelAttention eca => eca.LastGates,
        CbamBlock cb => cb.Channel?.LastGates,
        _ => null,
    };

    /// <summary>The spatial map (B, H, W) of stage <paramref name="stage"/> from the last forward pass (CBAM spatial), or null.</summary>
    public Tensors.Tensor? SpatialMap(int stage) => _attention[CheckStage(stage)] is CbamBlock cb ? cb.Spatial?.LastMap : null;

    private int CheckStage(int stage) =>
        (uint)stage < (uint)_convs.Length ? stage : throw new ArgumentOutOfRangeException(nameof(stage), stage, $"expected a stage in [0, {_convs.Length})");
}
