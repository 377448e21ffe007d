using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// A Mamba block's token mixer (Gu and Dao, 2023, §3.4, Fig. 3): expand to Dn = 2E, a short causal depthwise
/// convolution (width 4), SiLU, the <see cref="SelectiveScan"/> with input-dependent Δ, B, C, a SiLU gate from the
/// other half of the expansion, and a projection back:
/// <code>
///   [x', z] = W_in·x                      (B, T, 2·Dn)
///   u = SiLU(conv₄(x'))                   (B, T, Dn)
///   Δ = softplus(W_Δ₂·W_Δ₁·u + b_Δ)       (B, T, Dn), rank R = ⌈E/16⌉      B = W_B·u, C = W_C·u   (B, T, N)
///   y = W_out·( SelectiveScan(u, Δ, A = −e^{A_log}, B, C, D) ⊙ SiLU(z) )
/// </code>
/// Decoding carries the last 3 conv inputs and the scan state h: Dn·(3 + N) numbers, whatever the context.
/// Initialisation as the paper's code: A_log = log(1 … N) (S4D-Real), Δ's bias = softplus⁻¹ of a log-uniform draw in
/// [0.001, 0.1], D = 1.
/// </summary>
public sealed class MambaMixer : SequenceMixer
{
    public override string Name => "Mamba";
    /// <summary>Inner width Dn.</summary>
    public int Inner { get; }
    /// <summary>States per inner channel N.</summary>
    public int StateDim { get; }
    /// <summary>Width of the short convolution.</summary>
    public int ConvWidth { get; } = 4;
    /// <summary>Rank R of Δ's projection.</summary>
    public int StepRank { get; }
    public Linear In { get; }
    /// <summary>Depthwise causal conv filter (Dn, 4), tap l applies to x[t − l].</summary>
    public Var ConvWeight { get; }
    public Var ConvBias { get; }
    public Linear StepDown { get; }
    public Linear StepUp { get; }
    public Linear ProjB { get; }
    public Linear ProjC { get; }
    /// <summary>log(−A) (Dn, N).</summary>
    public Var ALog { get; }
    /// <summary>D (Dn).</summary>
    public Var D { get; }
    public Linear Out { get; }

    /// <summary>Creates the mixer; <paramref name="expand"/> sets Dn = expand·E.</summary>
    public MambaMixer(int dim, int stateDim, Rng rng, int expand = 2) : base(dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stateDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(expand);
        ArgumentNullException.ThrowIfNull(rng);
        StateDim = stateDim; Inner = expand * dim; StepRank = Math.Max(1, (dim + 15) / 16);
        In = RegisterModule("in_proj", new Linear(dim, 2 * Inner, rng, bias: false));
        float cb = 1f / MathF.Sqrt(ConvWidth);
        ConvWeight = RegisterParameter("conv_w", Var.Parameter(rng.UniformTensor([Inner, ConvWidth], -cb, cb)));
        ConvBias = RegisterParameter("conv_b", Var.Parameter(rng.UniformTensor([Inner], -cb, cb)));
        StepDown = RegisterModule("dt_down", new Linear(Inner, StepRank, rng, bias: false));
        StepUp = RegisterModule("dt_up", new Linear(StepRank, Inner, rng));
        var bias = StepUp.Bias!.Value.AsSpan();
        for (int i = 0; i < Inner; i++)
        {
            double dt = Math.Exp(Math.Log(0.001) + rng.NextDouble() * (Math.Log(0.1) - Math.Log(0.001)));
            bias[i] = (float)(dt + Math.Log(1 - Math.Exp(-dt)));   // softplus⁻¹(dt) = log(e^dt − 1)
        }
        ProjB = RegisterModule("b_proj", new Linear(Inner, stateDim, rng, bias: false));
        ProjC = RegisterModule("c_proj", new Linear(Inner, stateDim, rng, bias: false));
        var aLog = Tensor.Zeros(Inner, stateDim);
        for (int i = 0; i < Inner; i++)
            for (int n = 0; n < stateDim; n++) aLog.AsSpan()[i * stateDim + n] = MathF.Log(n + 1);
        ALog = RegisterParameter("a_log", Var.Parameter(aLog));
        D = RegisterParameter("d", Var.Parameter(Tensor.Ones(Inner)));
        Out = RegisterModule("out_proj", new Linear(Inner, dim, rng, bias: false));
    }

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        var xz = In.Forward(x);                                                   // (B, T, 2Dn)
        var xs = xz.Slice(2, 0, Inner);
        var z = xz.Slice(2, Inner, Inner);
        var conv = LongConvolution.Apply(xs, ConvWeight, useFft: false) + ConvBias;
        var u = conv * conv.Sigmoid();                                            // SiLU
        var delta = StepUp.Forward(StepDown.Forward(u)).Softplus();
        var y = SelectiveScan.Apply(u, delta, -ALog.Exp(), ProjB.Forward(u), ProjC.Forward(u), D);
        return Out.Forward(y * (z * z.Sigmoid()));
    }

    private sealed class State(int inner, int width, int n) : MixerState
    {
        public readonly float[] History = new float[inner * (width - 1)];   // x'[t−1], x'[t−2], x'[t−3]
        public readonly float[] H = new float[inner * n];
        public override long Floats => History.Length + H.Length;
    }

    public override MixerState NewState() => new State(Inner, ConvWidth, StateDim);

    public override long StateFloats(int context) => (long)Inner * (ConvWidth - 1 + StateDim);

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int dn = Inner, n = StateDim, w = ConvWidth;
        var xz = new float[2 * dn];
        StepMath.Apply(In, x, xz);
        var cw = ConvWeight.Value.AsSpan(); var cbias = ConvBias.Value.AsSpan();
        var u = new float[dn];
        for (int c = 0; c < dn; c++)
        {
            float acc = cbias[c] + cw[c * w] * xz[c];
            for (int l = 1; l < w; l++) acc += cw[c * w + l] * st.History[(l - 1) * dn + c];
            u[c] = StepMath.Silu(acc);
        }
        // shift the history: slot l−1 holds x'[t − l]
        for (int l = w - 2; l >= 1; l--) Array.Copy(st.History, (l - 1) * dn, st.History, l * dn, dn);
        Array.Copy(xz, 0, st.History, 0, dn);
        var low = new float[StepRank];
        var delta = new float[dn];
        StepMath.Apply(StepDown, u, low);
        StepMath.Apply(StepUp, low, delta);
        var bm = new float[n]; var cm = new float[n];
        StepMath.Apply(ProjB, u, bm);
        StepMath.Apply(ProjC, u, cm);
        var aLog = ALog.Value.AsSpan(); var d = D.Value.AsSpan();
        var gated = new float[dn];
        for (int c = 0; c < dn; c++)
        {
            float dt = StepMath.Softplus(delta[c]), acc = 0;
            for (int s = 0; s < n; s++)
            {
                int i = c * n + s;
                st.H[i] = MathF.Exp(-dt * MathF.Exp(aLog[i])) * st.H[i] + dt * bm[s] * u[c];
                acc += cm[s] * st.H[i];
            }
            gated[c] = (acc + d[c] * u[c]) * StepMath.Silu(xz[dn + c]);
        }
        StepMath.Apply(Out, gated, y);
        st.Position++;
    }
}
