using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// A diagonal state space layer, S4D (Gu, Gupta, Goel and Ré, 2022, "On the Parameterization and Initialization of
/// Diagonal State Space Models"), real-valued variant (S4D-Real: A_n = −(n+1) at initialisation). Per channel c,
/// with N states, step Δ_c and zero-order-hold discretisation Ā = e^{ΔA}, B̄ = (Ā − 1)/A · B:
/// <code>
///   recurrent:    h[t] = Ā ⊙ h[t−1] + B̄·u[t]          y[t] = Σ_n C_n·h_n[t] + D·u[t]
///   convolution:  y = K * u + D·u,  K[l] = Σ_n C_n·B̄_n·Ā_n^l   (l = 0 … T−1)
/// </code>
/// Both give the same y because the system is linear and time-invariant: unrolling the recurrence gives the kernel.
/// Training uses the convolution (by FFT, <see cref="LongConvolution"/>); decoding the recurrence (E·N numbers of
/// state). The layer is the S4 block's: y = W_out · GELU(SSM(x)).
/// Parameters: log Δ (E), log(−A) (E, N), B (E, N), C (E, N), D (E), and the output map.
/// </summary>
public sealed class S4DMixer : SequenceMixer
{
    public override string Name => "S4D";
    /// <summary>States per channel N.</summary>
    public int StateDim { get; }
    /// <summary>log Δ (E, 1), Δ initialised log-uniformly in [0.001, 0.1].</summary>
    public Var LogStep { get; }
    /// <summary>log(−A) (E, N).</summary>
    public Var LogNegA { get; }
    /// <summary>B (E, N).</summary>
    public Var B { get; }
    /// <summary>C (E, N).</summary>
    public Var C { get; }
    /// <summary>D (E).</summary>
    public Var D { get; }
    /// <summary>Output map.</summary>
    public Linear Out { get; }

    /// <summary>Creates the layer with N states per channel.</summary>
    public S4DMixer(int dim, int stateDim, Rng rng) : base(dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stateDim);
        ArgumentNullException.ThrowIfNull(rng);
        StateDim = stateDim;
        var logDt = Tensor.Zeros(dim, 1);
        for (int c = 0; c < dim; c++) logDt.AsSpan()[c] = (float)(Math.Log(0.001) + rng.NextDouble() * (Math.Log(0.1) - Math.Log(0.001)));
        var logA = Tensor.Zeros(dim, stateDim);
        for (int c = 0; c < dim; c++)
            for (int n = 0; n < stateDim; n++) logA.AsSpan()[c * stateDim + n] = MathF.Log(n + 1);
        LogStep = RegisterParameter("log_dt", Var.Parameter(logDt));
        LogNegA = RegisterParameter("log_neg_a", Var.Parameter(logA));
        B = RegisterParameter("b", Var.Parameter(Tensor.Ones(dim, stateDim)));
        C = RegisterParameter("c", Var.Parameter(rng.NormalTensor([dim, stateDim], 0f, MathF.Sqrt(0.5f))));
        D = RegisterParameter("d", Var.Parameter(rng.NormalTensor([dim])));
        Out = RegisterModule("out", new Linear(dim, dim, rng));
    }

    /// <summary>The convolution kernel K (E, T): K[c, l] = Σ_n C·B̄·Ā^l, as an autograd expression of the parameters.</summary>
    public Var Kernel(int time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(time);
        var a = -LogNegA.Exp();                                      // (E, N)
        var dtA = LogStep.Exp() * a;                                 // (E, N)
        var abar = dtA.Exp();                                        // Ā
        var bbar = (abar - 1f) / a * B;                              // B̄ = (Ā − 1)/A·B
        var steps = Tensor.Zeros(1, 1, time);
        for (int l = 0; l < time; l++) steps.AsSpan()[l] = l;
        var powers = (dtA.Unsqueeze(-1) * Var.Constant(steps)).Exp(); // Ā^l = e^{l·ΔA}, (E, N, T)
        return ((C * bbar).Unsqueeze(-1) * powers).Sum(1);            // (E, T)
    }

    /// <summary>The discretised (Ā, B̄) (E, N) and C, D as plain arrays, for the recurrent form.</summary>
    public (float[] ABar, float[] BBar) Discretised()
    {
        int e = Dim, n = StateDim;
        var abar = new float[e * n];
        var bbar = new float[e * n];
        var la = LogNegA.Value.AsSpan(); var ld = LogStep.Value.AsSpan(); var b = B.Value.AsSpan();
        for (int c = 0; c < e; c++)
            for (int s = 0; s < n; s++)
            {
                double a = -Math.Exp(la[c * n + s]), dtA = Math.Exp(ld[c]) * a, ab = Math.Exp(dtA);
                abar[c * n + s] = (float)ab;
                bbar[c * n + s] = (float)((ab - 1) / a * b[c * n + s]);
            }
        return (abar, bbar);
    }

    /// <summary>The SSM alone (before GELU and the output map) by convolution: x (B, T, E) → (B, T, E).</summary>
    public Var Ssm(Var x, bool? useFft = null)
    {
        CheckSequence(x);
        return LongConvolution.Apply(x, Kernel(x.Shape[1]), useFft) + x * D;
    }

    public override Var Forward(Var x) => Out.Forward(Ssm(x).Gelu());

    private sealed class State(int e, int n, float[] abar, float[] bbar) : MixerState
    {
        public readonly float[] H = new float[e * n];
        public readonly float[] ABar = abar, BBar = bbar;
        public override long Floats => H.Length;
    }

    public override MixerState NewState()
    {
        var (abar, bbar) = Discretised();
        return new State(Dim, StateDim, abar, bbar);
    }

    public override long StateFloats(int context) => (long)Dim * StateDim;

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int n = StateDim;
        var c = C.Value.AsSpan(); var d = D.Value.AsSpan();
        Span<float> z = stackalloc float[Dim];
        for (int ch = 0; ch < Dim; ch++)
        {
            float acc = 0;
            for (int s = 0; s < n; s++)
            {
                int i = ch * n + s;
                st.H[i] = st.ABar[i] * st.H[i] + st.BBar[i] * x[ch];
                acc += c[i] * st.H[i];
            }
            z[ch] = StepMath.Gelu(acc + d[ch] * x[ch]);
        }
        StepMath.Apply(Out, z, y);
        st.Position++;
    }
}
