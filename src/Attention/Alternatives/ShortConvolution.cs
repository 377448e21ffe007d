using Attention.Autograd;
using Attention.Tensors;

namespace Attention.Alternatives;

/// <summary>
/// A short causal depthwise convolution, y[t, c] = b[c] + Σ_{l &lt; K} w[c, l]·x[t − l, c] (K = 3 by default): each
/// position sees the last K − 1 tokens directly. Zoology's code (Arora et al., 2023) puts one in front of its attention
/// and linear-attention mixers on MQAR (a gated <c>BaseConv</c> with kernel 3, two layers, no position embedding), because an
/// associative lookup needs, at every value, the key just before it: with it the second layer's mixer can match a query
/// against "the token before this one"; without it a model must build that previous-token feature from its mixer alone,
/// which softmax attention with ALiBi's gentle slopes cannot do at these sizes. <see cref="Models.MixerLm"/> adds one to
/// each block when <see cref="Models.MixerLmConfig.ShortConv"/> is set, the same for every mixer.
/// Decoding carries the last K − 1 inputs: (K − 1)·E numbers, whatever the context.
/// </summary>
public sealed class ShortConvolution : SequenceMixer
{
    public override string Name => "ShortConv";

    /// <summary>Taps K.</summary>
    public int Width { get; }

    /// <summary>Filter (E, K); tap l applies to x[t − l].</summary>
    public Var Weight { get; }

    /// <summary>Bias (E).</summary>
    public Var Bias { get; }

    /// <summary>Creates the layer; weights uniform in ±1/√K.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A width below 1.</exception>
    public ShortConvolution(int dim, int width, Rng rng) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, "expected a convolution width of at least 1");
        Width = width;
        float bound = 1f / MathF.Sqrt(width);
        Weight = RegisterParameter("w", Var.Parameter(rng.UniformTensor([dim, width], -bound, bound)));
        Bias = RegisterParameter("b", Var.Parameter(rng.UniformTensor([dim], -bound, bound)));
    }

    public override Var Forward(Var x)
    {
        CheckSequence(x);
        return LongConvolution.Apply(x, Weight, useFft: false) + Bias;
    }

    private sealed class State(int dim, int width) : MixerState
    {
        public readonly float[] History = new float[dim * (width - 1)];   // slot l − 1 holds x[t − l]
        public override long Floats => History.Length;
    }

    public override MixerState NewState() => new State(Dim, Width);

    public override long StateFloats(int context) => (long)Dim * (Width - 1);

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int e = Dim, k = Width;
        var w = Weight.Value.AsSpan(); var b = Bias.Value.AsSpan();
        for (int c = 0; c < e; c++)
        {
            float acc = b[c] + w[c * k] * x[c];
            for (int l = 1; l < k; l++) acc += w[c * k + l] * st.History[(l - 1) * e + c];
            y[c] = acc;
        }
        for (int l = k - 2; l >= 1; l--) Array.Copy(st.History, (l - 1) * e, st.History, l * e, e);
        if (k > 1) x.CopyTo(st.History.AsSpan(0, e));
        st.Position++;
    }
}
