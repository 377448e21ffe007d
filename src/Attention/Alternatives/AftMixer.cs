using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// The Attention Free Transformer (Zhai et al., 2021, "An Attention Free Transformer"), causal. Instead of a
/// query–key dot product per pair, each channel averages the values with weights e^{k[s] + w[t, s]}: a key per
/// token and channel plus a learned pairwise position bias, then gates with σ(q):
/// <code>
///   AFT-full:    y[t] = σ(q[t]) ⊙ Σ_{s≤t} e^{k[s] + w[t,s]} ⊙ v[s]  /  Σ_{s≤t} e^{k[s] + w[t,s]}     w (T_max, T_max)
///   AFT-simple:  w = 0, so the sums are running sums: y[t] = σ(q[t]) ⊙ Σ_{s≤t} softmax_s(k)[s] ⊙ v[s]
/// </code>
/// q, k, v = linear maps of x; y goes through an output map. Cost O(T²E) for AFT-full (matrix products with e^{w}),
/// O(TE) for AFT-simple. AFT-simple decodes with a fixed state (numerator, denominator and running max per channel:
/// 3E numbers); AFT-full must keep every k and v (its w differs for every pair) and cannot run past T_max.
/// </summary>
public sealed class AftMixer : SequenceMixer
{
    private readonly int _maxLength;
    private readonly Dictionary<int, Tensor> _lower = new();

    public override string Name => Full ? "AFT-full" : "AFT-simple";
    /// <summary>True for AFT-full (a learned w), false for AFT-simple.</summary>
    public bool Full { get; }
    public override bool ConstantState => !Full;
    public override int MaxLength => Full ? _maxLength : int.MaxValue;
    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear O { get; }
    /// <summary>The pairwise bias w (T_max, T_max), AFT-full only (zero at initialisation).</summary>
    public Var? PositionBias { get; }

    /// <summary>Creates AFT-full (<paramref name="full"/>, with a <paramref name="maxLength"/>² bias) or AFT-simple.</summary>
    public AftMixer(int dim, Rng rng, bool full, int maxLength = 256) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        Full = full; _maxLength = maxLength;
        Q = RegisterModule("q", new Linear(dim, dim, rng));
        K = RegisterModule("k", new Linear(dim, dim, rng));
        V = RegisterModule("v", new Linear(dim, dim, rng));
        O = RegisterModule("o", new Linear(dim, dim, rng));
        if (full) PositionBias = RegisterParameter("w", Var.Parameter(Tensor.Zeros(maxLength, maxLength)));
    }

    private Tensor Lower(int t)
    {
        if (_lower.TryGetValue(t, out var l)) return l;
        l = Tensor.Zeros(t, t);
        for (int i = 0; i < t; i++)
            for (int j = 0; j <= i; j++) l.AsSpan()[i * t + j] = 1f;
        return _lower[t] = l;
    }

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        var q = Q.Forward(x); var k = K.Forward(x); var v = V.Forward(x);
        // e^{k − max_s k}: the max over the whole sequence is a constant per (b, c) that cancels in the ratio
        var kmax = Tensor.Zeros(b, 1, Dim);
        var ks = k.Value.AsSpan();
        for (int bb = 0; bb < b; bb++)
            for (int c = 0; c < Dim; c++)
            {
                float m = float.NegativeInfinity;
                for (int s = 0; s < t; s++) m = MathF.Max(m, ks[(bb * t + s) * Dim + c]);
                kmax.AsSpan()[bb * Dim + c] = m;
            }
        var ek = (k - Var.Constant(kmax)).Exp();
        Var weights;
        if (PositionBias is null) weights = Var.Constant(Lower(t));
        else
        {
            var w = PositionBias.Slice(0, 0, t).Slice(1, 0, t);
            var rowMax = Tensor.Zeros(t, 1);
            var ws = w.Value.AsSpan();
            for (int i = 0; i < t; i++)
            {
                float m = float.NegativeInfinity;
                for (int j = 0; j <= i; j++) m = MathF.Max(m, ws[i * t + j]);
                rowMax.AsSpan()[i] = m;
            }
            weights = (w - Var.Constant(rowMax)).Exp() * Var.Constant(Lower(t));   // (T, T), zero above the diagonal
        }
        var num = Var.MatMul(weights, ek * v);
        var den = Var.MatMul(weights, ek);
        return O.Forward(q.Sigmoid() * (num / den));
    }

    private sealed class SimpleState(int e) : MixerState
    {
        public readonly Wkv.ChannelState[] Channels = Enumerable.Repeat(Wkv.ChannelState.Empty, e).ToArray();
        public override long Floats => 3L * Channels.Length;
    }

    private sealed class FullState(int e) : MixerState
    {
        public float[] K = new float[64 * e], V = new float[64 * e];
        public override long Floats => 2L * Position * Dim;
        public int Dim { get; } = e;
    }

    public override MixerState NewState() => Full ? new FullState(Dim) : new SimpleState(Dim);

    public override long StateFloats(int context) => Full ? 2L * Dim * context : 3L * Dim;

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<MixerState>(state, x, y);
        int e = Dim;
        var q = new float[e]; var k = new float[e]; var v = new float[e];
        StepMath.Apply(Q, x, q); StepMath.Apply(K, x, k); StepMath.Apply(V, x, v);
        var z = new float[e];
        if (st is SimpleState simple)
        {
            // a running softmax over s of k[s]: WKV's recurrence with no decay (w = 0) and no bonus (u = 0)
            for (int c = 0; c < e; c++)
                z[c] = StepMath.Sigmoid(q[c]) * Wkv.Step(ref simple.Channels[c], k[c], v[c], 0f, 0f);
        }
        else if (st is FullState full)
        {
            int t = full.Position;
            if ((t + 1) * e > full.K.Length) { Array.Resize(ref full.K, 2 * full.K.Length); Array.Resize(ref full.V, 2 * full.V.Length); }
            Array.Copy(k, 0, full.K, t * e, e);
            Array.Copy(v, 0, full.V, t * e, e);
            var w = PositionBias!.Value.AsSpan().Slice(t * _maxLength, _maxLength);
            for (int c = 0; c < e; c++)
            {
                float m = float.NegativeInfinity;
                for (int s = 0; s <= t; s++) m = MathF.Max(m, full.K[s * e + c] + w[s]);
                double num = 0, den = 0;
                for (int s = 0; s <= t; s++)
                {
                    double ew = Math.Exp(full.K[s * e + c] + w[s] - m);
                    num += ew * full.V[s * e + c];
                    den += ew;
                }
                z[c] = StepMath.Sigmoid(q[c]) * (float)(num / den);
            }
        }
        else throw new ArgumentException($"{Name} expects a state it created, got {state.GetType().Name}", nameof(state));
        StepMath.Apply(O, z, y);
        st.Position++;
    }
}
