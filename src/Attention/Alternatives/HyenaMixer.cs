using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// The Hyena operator of order 2 (Poli et al., 2023, "Hyena Hierarchy", §3): a short convolution feeds three
/// projections (x₁, x₂, v); two sequence-long filters h₁, h₂, produced by a small network of the position
/// (implicit parameterisation, so the parameter count does not grow with T) and damped by an exponential window,
/// are applied by FFT convolution and interleaved with element-wise gating:
/// <code>
///   [x₁, x₂, v] = conv₃(W_in·x)                       (B, T, E) each
///   h_i[t, c] = FFN(pos(t))[c] · e^{−α_c·t/L₀}        i = 1, 2; FFN: Linear → sin → Linear → sin → Linear
///   z₁ = x₁ ⊙ (h₁ * v + d₁ ⊙ v),  z₂ = x₂ ⊙ (h₂ * z₁ + d₂ ⊙ z₁),  y = W_out·z₂
/// </code>
/// Training is O(T log T) per channel. There is no fixed-size recurrent state: decoding token t convolves the filters
/// with the whole history (2E·t numbers kept, O(t·E) work per token), the cost this page measures.
/// </summary>
public sealed class HyenaMixer : SequenceMixer
{
    private float[] _filterCache = [];
    private int _filterCacheLength;

    public override string Name => "Hyena";
    public override bool ConstantState => false;
    /// <summary>Positions per unit of the filter network's time axis (and of the window).</summary>
    public int ReferenceLength { get; }
    /// <summary>Sine/cosine pairs in the positional features.</summary>
    public int Bands { get; }
    public Linear In { get; }
    /// <summary>Short depthwise causal conv on the 3E projections, (3E, 3).</summary>
    public Var ShortConv { get; }
    public Linear Filter1 { get; }
    public Linear Filter2 { get; }
    public Linear Filter3 { get; }
    /// <summary>The sine's frequency in the filter network (Hyena's "w = 1" default … here 1).</summary>
    public float SineFrequency { get; } = 1f;
    /// <summary>d₁, d₂ (2, E): the filters' pass-through.</summary>
    public Var Bias { get; }
    public Linear Out { get; }
    private readonly float[] _decay;

    /// <summary>Creates the operator; <paramref name="referenceLength"/> scales positions (the training context is a good choice).</summary>
    public HyenaMixer(int dim, Rng rng, int referenceLength = 256, int bands = 8, int filterWidth = 32) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(referenceLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bands);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(filterWidth);
        ReferenceLength = referenceLength; Bands = bands;
        In = RegisterModule("in_proj", new Linear(dim, 3 * dim, rng));
        float cb = 1f / MathF.Sqrt(3);
        ShortConv = RegisterParameter("short_conv", Var.Parameter(rng.UniformTensor([3 * dim, 3], -cb, cb)));
        Filter1 = RegisterModule("filter1", new Linear(1 + 2 * bands, filterWidth, rng));
        Filter2 = RegisterModule("filter2", new Linear(filterWidth, filterWidth, rng));
        Filter3 = RegisterModule("filter3", new Linear(filterWidth, 2 * dim, rng, bias: false));
        Bias = RegisterParameter("bias", Var.Parameter(rng.NormalTensor([2, dim])));
        Out = RegisterModule("out_proj", new Linear(dim, dim, rng));
        // window rates: decays to 1% between 0.3 and 1.5 reference lengths (Hyena's ExponentialModulation)
        _decay = new float[2 * dim];
        double fast = Math.Log(100) / 0.3, slow = Math.Log(100) / 1.5;
        for (int c = 0; c < 2 * dim; c++) _decay[c] = (float)(fast + (slow - fast) * (c % dim) / Math.Max(1, dim - 1));
    }

    /// <summary>pos(t) for t = 0 … T−1: [t/L₀, sin(2πf·t/L₀), cos(2πf·t/L₀) for f = 1 … Bands] (T, 1 + 2·Bands).</summary>
    public Tensor PositionFeatures(int time)
    {
        int f = 1 + 2 * Bands;
        var z = Tensor.Zeros(time, f);
        var s = z.AsSpan();
        for (int t = 0; t < time; t++)
        {
            double p = (double)t / ReferenceLength;
            s[t * f] = (float)p;
            for (int band = 1; band <= Bands; band++)
            {
                s[t * f + 2 * band - 1] = (float)Math.Sin(2 * Math.PI * band * p);
                s[t * f + 2 * band] = (float)Math.Cos(2 * Math.PI * band * p);
            }
        }
        return z;
    }

    /// <summary>The two filters (2E, T) as an autograd expression of the filter network: rows 0…E−1 are h₁, E…2E−1 are h₂.</summary>
    public Var Filters(int time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(time);
        var h = Filter1.Forward(Var.Constant(PositionFeatures(time)));
        h = AltOps.Sin(h * SineFrequency);
        h = AltOps.Sin(Filter2.Forward(h) * SineFrequency);
        h = Filter3.Forward(h);                                                      // (T, 2E)
        var window = Tensor.Zeros(time, 2 * Dim);
        var w = window.AsSpan();
        for (int t = 0; t < time; t++)
            for (int c = 0; c < 2 * Dim; c++) w[t * 2 * Dim + c] = MathF.Exp(-_decay[c] * t / ReferenceLength);
        return (h * Var.Constant(window)).Transpose(0, 1);                           // (2E, T)
    }

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        var p = LongConvolution.Apply(In.Forward(x), ShortConv, useFft: false);     // (B, T, 3E)
        var x1 = p.Slice(2, 0, Dim); var x2 = p.Slice(2, Dim, Dim); var v = p.Slice(2, 2 * Dim, Dim);
        var filters = Filters(t);
        var h1 = filters.Slice(0, 0, Dim); var h2 = filters.Slice(0, Dim, Dim);
        var d1 = Bias.Slice(0, 0, 1).Reshape(Dim); var d2 = Bias.Slice(0, 1, 1).Reshape(Dim);
        var z1 = x1 * (LongConvolution.Apply(v, h1) + v * d1);
        var z2 = x2 * (LongConvolution.Apply(z1, h2) + z1 * d2);
        return Out.Forward(z2);
    }

    // the filters as plain numbers (2E, length), recomputed when a longer decode needs more positions
    private ReadOnlySpan<float> FilterValues(int length)
    {
        if (length > _filterCacheLength)
        {
            int n = Math.Max(length, 2 * _filterCacheLength);
            using var _ = Var.NoGrad();
            _filterCache = Filters(n).Value.ToArray();
            _filterCacheLength = n;
        }
        return _filterCache;
    }

    /// <summary>Drops the cached decoding filters (call after the weights change; <see cref="Models.MixerLm"/>'s Fit does).</summary>
    public void ResetFilterCache() { _filterCache = []; _filterCacheLength = 0; }

    private sealed class State(int e) : MixerState
    {
        public readonly float[] Recent = new float[2 * 3 * e];   // projections at t−1, t−2 (short conv)
        public float[] V = new float[64 * e], Z1 = new float[64 * e];
        public override long Floats => Recent.Length + 2L * Position * (Recent.Length / 6);
    }

    public override MixerState NewState() => new State(Dim);

    /// <summary>Evaluates the filters for <paramref name="length"/> positions now, so decoding does not pause to extend them.</summary>
    public void PrepareDecoding(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        FilterValues(length);
    }

    public override long StateFloats(int context) => 6L * Dim + 2L * Dim * context;

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int e = Dim, t = st.Position;
        var p = new float[3 * e];
        StepMath.Apply(In, x, p);
        var sc = ShortConv.Value.AsSpan();
        var q = new float[3 * e];
        for (int c = 0; c < 3 * e; c++)
            q[c] = sc[c * 3] * p[c] + sc[c * 3 + 1] * st.Recent[c] + sc[c * 3 + 2] * st.Recent[3 * e + c];
        Array.Copy(st.Recent, 0, st.Recent, 3 * e, 3 * e);
        Array.Copy(p, 0, st.Recent, 0, 3 * e);
        if ((t + 1) * e > st.V.Length)
        {
            Array.Resize(ref st.V, 2 * st.V.Length);
            Array.Resize(ref st.Z1, 2 * st.Z1.Length);
        }
        Array.Copy(q, 2 * e, st.V, t * e, e);
        var f = FilterValues(t + 1);
        int fl = _filterCacheLength;
        var bias = Bias.Value.AsSpan();
        // z₁[t] = x₁[t]·(Σ_s h₁[t−s]·v[s] + d₁·v[t])
        for (int c = 0; c < e; c++)
        {
            float acc = 0;
            var h = f.Slice(c * fl, fl);
            for (int s = 0; s <= t; s++) acc += h[t - s] * st.V[s * e + c];
            st.Z1[t * e + c] = q[c] * (acc + bias[c] * st.V[t * e + c]);
        }
        var z2 = new float[e];
        for (int c = 0; c < e; c++)
        {
            float acc = 0;
            var h = f.Slice((e + c) * fl, fl);
            for (int s = 0; s <= t; s++) acc += h[t - s] * st.Z1[s * e + c];
            z2[c] = q[e + c] * (acc + bias[e + c] * st.Z1[t * e + c]);
        }
        StepMath.Apply(Out, z2, y);
        st.Position++;
    }
}

/// <summary>Small autograd ops the alternatives need that the core set lacks.</summary>
internal static class AltOps
{
    /// <summary>sin(x) elementwise; backward dx += cos(x)·dy.</summary>
    public static Var Sin(Var x)
    {
        var y = Tensor.Zeros(x.Shape.ToArray());
        var xs = x.Value.AsSpan(); var ys = y.AsSpan();
        for (int i = 0; i < ys.Length; i++) ys[i] = MathF.Sin(xs[i]);
        return Var.FromOp(y, "sin", [x], o =>
        {
            var g = o.Grad!.AsSpan(); var dx = x.GradBuffer(); var xv = x.Value.AsSpan();
            for (int i = 0; i < dx.Length; i++) dx[i] += MathF.Cos(xv[i]) * g[i];
        });
    }
}
