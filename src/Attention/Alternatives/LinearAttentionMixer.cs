using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Alternatives;

/// <summary>
/// Causal linear attention (Katharopoulos et al., 2020, "Transformers are RNNs") as a <see cref="SequenceMixer"/>:
/// q, k, v, o linear maps and H heads as in <see cref="SoftmaxAttentionMixer"/>, but the similarity is φ(q)·φ(k) with
/// φ = elu + 1 (<see cref="LinearAttention"/>), so per head
/// <code>
///   S_t = S_{t−1} + φ(k_t)·[v_t, 1]ᵀ        (d, d + 1)        o_t = φ(q_t)ᵀS_t[:, :d] / (φ(q_t)ᵀS_t[:, d] + ε)
/// </code>
/// Training uses the chunkwise form (<see cref="LinearAttentionForm.Chunkwise"/>, blocks of 64), decoding the recurrence:
/// a fixed state of H·d·(d + 1) = E·(d + 1) numbers, no decay and no position information of its own (the short
/// convolution of <see cref="Models.MixerLm"/> or the MLP must supply order).
/// </summary>
public sealed class LinearAttentionMixer : SequenceMixer
{
    public override string Name => "LinearAttention";
    public int Heads { get; }
    public int HeadDim { get; }
    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear O { get; }

    /// <summary>Creates the layer; E must be a multiple of H.</summary>
    /// <exception cref="ArgumentException">E not divisible by H.</exception>
    public LinearAttentionMixer(int dim, int heads, Rng rng) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (heads < 1 || dim % heads != 0) throw new ArgumentException($"expected a width divisible by the head count, got E = {dim}, H = {heads}", nameof(heads));
        Heads = heads; HeadDim = dim / heads;
        Q = RegisterModule("q", new Linear(dim, dim, rng));
        K = RegisterModule("k", new Linear(dim, dim, rng));
        V = RegisterModule("v", new Linear(dim, dim, rng));
        O = RegisterModule("o", new Linear(dim, dim, rng));
    }

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        Var Split(Var y) => y.Reshape(b, t, Heads, HeadDim).Permute(0, 2, 1, 3);      // (B, H, T, d)
        var o = LinearAttention.Forward(Split(Q.Forward(x)), Split(K.Forward(x)), Split(V.Forward(x)), causal: true,
                                        LinearAttentionForm.Chunkwise, chunkSize: 64);
        return O.Forward(o.Permute(0, 2, 1, 3).Reshape(b, t, Dim));
    }

    private sealed class State(int heads, int d) : MixerState
    {
        public readonly float[] S = new float[heads * d * (d + 1)];   // per head (d, d + 1): Σ φ(k)·[v, 1]ᵀ
        public override long Floats => S.Length;
    }

    public override MixerState NewState() => new State(Heads, HeadDim);

    public override long StateFloats(int context) => (long)Heads * HeadDim * (HeadDim + 1);

    private static float Phi(float x) => x > 0 ? x + 1f : MathF.Exp(x);   // elu(x) + 1

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int e = Dim, d = HeadDim, w = d + 1;
        var q = new float[e]; var k = new float[e]; var v = new float[e];
        StepMath.Apply(Q, x, q);
        StepMath.Apply(K, x, k);
        StepMath.Apply(V, x, v);
        for (int i = 0; i < e; i++) { q[i] = Phi(q[i]); k[i] = Phi(k[i]); }
        var o = new float[e];
        var raw = new float[w];
        for (int h = 0; h < Heads; h++)
        {
            var s = st.S.AsSpan(h * d * w, d * w);
            for (int f = 0; f < d; f++)
            {
                float kf = k[h * d + f];
                var row = s.Slice(f * w, w);
                for (int j = 0; j < d; j++) row[j] += kf * v[h * d + j];
                row[d] += kf;
            }
            Array.Clear(raw);
            for (int f = 0; f < d; f++)
            {
                float qf = q[h * d + f];
                var row = s.Slice(f * w, w);
                for (int j = 0; j < w; j++) raw[j] += qf * row[j];
            }
            for (int j = 0; j < d; j++) o[h * d + j] = raw[j] / (raw[d] + LinearAttention.DefaultEpsilon);
        }
        StepMath.Apply(O, o, y);
        st.Position++;
    }
}
