using Attention.Tensors;

namespace Attention.Alternatives;

/// <summary>The token mixers a <see cref="Models.MixerLm"/> can be built with.</summary>
public enum MixerKind
{
    /// <summary>Causal softmax attention with ALiBi (<see cref="SoftmaxAttentionMixer"/>), the baseline.</summary>
    Attention,
    /// <summary>Diagonal state space model, convolution/recurrence (<see cref="S4DMixer"/>).</summary>
    S4D,
    /// <summary>Selective state space model (<see cref="MambaMixer"/>).</summary>
    Mamba,
    /// <summary>RWKV-4 time mixing (<see cref="RwkvMixer"/>).</summary>
    Rwkv,
    /// <summary>Multi-scale retention (<see cref="RetNetMixer"/>).</summary>
    RetNet,
    /// <summary>Order-2 Hyena operator (<see cref="HyenaMixer"/>).</summary>
    Hyena,
    /// <summary>AFT-full with a learned pairwise bias (<see cref="AftMixer"/>).</summary>
    AftFull,
    /// <summary>AFT-simple (<see cref="AftMixer"/>).</summary>
    AftSimple,
    /// <summary>FNet Fourier mixing (<see cref="FNetMixer"/>); not causal.</summary>
    FNet,
    /// <summary>Causal linear attention, φ = elu + 1, no decay (<see cref="LinearAttentionMixer"/>).</summary>
    LinearAttention,
}

/// <summary>Sizes shared by every mixer: heads for attention, linear attention and RetNet, states per channel for S4D and Mamba, and the
/// longest sequence (AFT-full's bias table, Hyena's reference length).</summary>
public sealed record MixerOptions(int Heads = 2, int StateDim = 16, int MaxLength = 256);

/// <summary>Builds mixers by kind.</summary>
public static class SequenceMixers
{
    /// <summary>The mixer of <paramref name="kind"/> for width <paramref name="dim"/>, weights from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An unknown kind.</exception>
    public static SequenceMixer Create(MixerKind kind, int dim, Rng rng, MixerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var o = options ?? new MixerOptions();
        return kind switch
        {
            MixerKind.Attention => new SoftmaxAttentionMixer(dim, o.Heads, rng),
            MixerKind.S4D => new S4DMixer(dim, o.StateDim, rng),
            MixerKind.Mamba => new MambaMixer(dim, o.StateDim, rng),
            MixerKind.Rwkv => new RwkvMixer(dim, rng),
            MixerKind.RetNet => new RetNetMixer(dim, o.Heads, rng),
            MixerKind.Hyena => new HyenaMixer(dim, rng, referenceLength: o.MaxLength),
            MixerKind.AftFull => new AftMixer(dim, rng, full: true, maxLength: o.MaxLength),
            MixerKind.AftSimple => new AftMixer(dim, rng, full: false, maxLength: o.MaxLength),
            MixerKind.FNet => new FNetMixer(dim),
            MixerKind.LinearAttention => new LinearAttentionMixer(dim, o.Heads, rng),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected a MixerKind"),
        };
    }

    /// <summary>The table label of a kind.</summary>
    public static string Label(MixerKind kind) => kind switch
    {
        MixerKind.Attention => "softmax attention",
        MixerKind.S4D => "S4D",
        MixerKind.Mamba => "Mamba (selective SSM)",
        MixerKind.Rwkv => "RWKV-4",
        MixerKind.RetNet => "RetNet",
        MixerKind.Hyena => "Hyena",
        MixerKind.AftFull => "AFT-full",
        MixerKind.AftSimple => "AFT-simple",
        MixerKind.FNet => "FNet",
        MixerKind.LinearAttention => "linear attention",
        _ => kind.ToString(),
    };
}
