using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// RWKV-4's time-mixing block (Peng et al., 2023, §3.1): token shift (each projection sees a learned mix of the current
/// and the previous token), receptance r, key k, value v, the <see cref="Wkv"/> operator with a per-channel decay
/// w = e^{w_raw} and current-token bonus u, and a sigmoid gate:
/// <code>
///   x̃_* = μ_* ⊙ x[t] + (1 − μ_*) ⊙ x[t−1]     (* ∈ r, k, v; x[−1] = 0)
///   r, k, v = W_r·x̃_r, W_k·x̃_k, W_v·x̃_v
///   y = W_o·( σ(r) ⊙ WKV(k, v; w, u) )
/// </code>
/// Decoding carries the previous input and WKV's (a, b, p) per channel: 4E numbers, whatever the context.
/// </summary>
public sealed class RwkvMixer : SequenceMixer
{
    public override string Name => "RWKV";
    public Var MixR { get; }
    public Var MixK { get; }
    public Var MixV { get; }
    /// <summary>w_raw (E); the decay is e^{w_raw} per step.</summary>
    public Var DecayRaw { get; }
    /// <summary>u (E), the bonus of the current token.</summary>
    public Var Bonus { get; }
    public Linear R { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear O { get; }

    /// <summary>Creates the block with RWKV-4's initialisation pattern (decays spread from slow to fast across channels).</summary>
    public RwkvMixer(int dim, Rng rng) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var mr = Tensor.Zeros(dim); var mk = Tensor.Zeros(dim); var mv = Tensor.Zeros(dim);
        var decay = Tensor.Zeros(dim); var bonus = Tensor.Zeros(dim);
        for (int c = 0; c < dim; c++)
        {
            float frac = dim == 1 ? 0f : (float)c / (dim - 1);
            mk.AsSpan()[c] = MathF.Pow(frac, 0.5f) * 0.5f + 0.25f;
            mv.AsSpan()[c] = MathF.Pow(frac, 0.5f) * 0.5f + 0.3f;
            mr.AsSpan()[c] = MathF.Pow(frac, 0.5f) * 0.3f + 0.35f;
            // decays from e^{-5}·… (slow, long memory) to fast
            decay.AsSpan()[c] = -5f + 8f * MathF.Pow(frac, 0.7f + 1.3f * 0.5f);
            bonus.AsSpan()[c] = MathF.Log(0.3f) + ((c + 1) % 3 - 1) * 0.5f;
        }
        MixR = RegisterParameter("mix_r", Var.Parameter(mr));
        MixK = RegisterParameter("mix_k", Var.Parameter(mk));
        MixV = RegisterParameter("mix_v", Var.Parameter(mv));
        DecayRaw = RegisterParameter("decay", Var.Parameter(decay));
        Bonus = RegisterParameter("bonus", Var.Parameter(bonus));
        R = RegisterModule("r", new Linear(dim, dim, rng, bias: false));
        K = RegisterModule("k", new Linear(dim, dim, rng, bias: false));
        V = RegisterModule("v", new Linear(dim, dim, rng, bias: false));
        O = RegisterModule("o", new Linear(dim, dim, rng, bias: false));
    }

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        var zero = Var.Constant(Tensor.Zeros(b, 1, Dim));
        var prev = t == 1 ? zero : Var.Concat([zero, x.Slice(1, 0, t - 1)], 1);      // x[t−1]
        Var Mix(Var mu) => x * mu + prev * (1f - mu);
        var r = R.Forward(Mix(MixR));
        var k = K.Forward(Mix(MixK));
        var v = V.Forward(Mix(MixV));
        var wkv = Wkv.Apply(k, v, DecayRaw.Exp(), Bonus);
        return O.Forward(r.Sigmoid() * wkv);
    }

    private sealed class State(int e) : MixerState
    {
        public readonly float[] Previous = new float[e];
        public readonly Wkv.ChannelState[] Channels = Enumerable.Repeat(Wkv.ChannelState.Empty, e).ToArray();
        public override long Floats => Previous.Length + 3L * Channels.Length;
    }

    public override MixerState NewState() => new State(Dim);

    public override long StateFloats(int context) => 4L * Dim;

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int e = Dim;
        var mr = MixR.Value.AsSpan(); var mk = MixK.Value.AsSpan(); var mv = MixV.Value.AsSpan();
        var xr = new float[e]; var xk = new float[e]; var xv = new float[e];
        for (int c = 0; c < e; c++)
        {
            xr[c] = mr[c] * x[c] + (1 - mr[c]) * st.Previous[c];
            xk[c] = mk[c] * x[c] + (1 - mk[c]) * st.Previous[c];
            xv[c] = mv[c] * x[c] + (1 - mv[c]) * st.Previous[c];
        }
        x.CopyTo(st.Previous);
        var r = new float[e]; var k = new float[e]; var v = new float[e];
        StepMath.Apply(R, xr, r); StepMath.Apply(K, xk, k); StepMath.Apply(V, xv, v);
        var decay = DecayRaw.Value.AsSpan(); var bonus = Bonus.Value.AsSpan();
        var gated = new float[e];
        for (int c = 0; c < e; c++)
            gated[c] = StepMath.Sigmoid(r[c]) * Wkv.Step(ref st.Channels[c], k[c], v[c], MathF.Exp(decay[c]), bonus[c]);
        StepMath.Apply(O, gated, y);
        st.Position++;
    }
}
