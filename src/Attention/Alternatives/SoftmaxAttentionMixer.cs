using Attention.Autograd;
using Attention.Kernels;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Alternatives;

/// <summary>
/// Causal multi-head softmax attention as a <see cref="SequenceMixer"/>, the baseline the alternatives are measured
/// against: q, k, v, o linear maps, H heads, ALiBi position biases (Press et al., 2022; slopes 2^(−8(h+1)/H)), the fused
/// kernel (<see cref="Var.Attention(Var, Var, Var, AttentionOptions?)"/>) for training. Decoding keeps a KV cache:
/// 2E numbers per past token, O(t·E) work for token t — the growing state every fixed-state alternative avoids.
/// </summary>
public sealed class SoftmaxAttentionMixer : SequenceMixer
{
    private readonly float[] _slopes;
    private readonly AttentionOptions _options;

    public override string Name => "Attention";
    public override bool ConstantState => false;
    public int Heads { get; }
    public int HeadDim { get; }
    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear O { get; }

    /// <summary>Creates the layer; E must be a multiple of H.</summary>
    public SoftmaxAttentionMixer(int dim, int heads, Rng rng) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (heads < 1 || dim % heads != 0) throw new ArgumentException($"expected a width divisible by the head count, got E = {dim}, H = {heads}", nameof(heads));
        Heads = heads; HeadDim = dim / heads;
        _slopes = Enumerable.Range(0, heads).Select(h => MathF.Pow(2f, -8f * (h + 1) / heads)).ToArray();
        _options = new AttentionOptions { Causal = true, AlibiSlopes = _slopes };
        Q = RegisterModule("q", new Linear(dim, dim, rng));
        K = RegisterModule("k", new Linear(dim, dim, rng));
        V = RegisterModule("v", new Linear(dim, dim, rng));
        O = RegisterModule("o", new Linear(dim, dim, rng));
    }

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        Var Split(Var y) => y.Reshape(b, t, Heads, HeadDim).Permute(0, 2, 1, 3);      // (B, H, T, d)
        var o = Var.Attention(Split(Q.Forward(x)), Split(K.Forward(x)), Split(V.Forward(x)), _options);
        return O.Forward(o.Permute(0, 2, 1, 3).Reshape(b, t, Dim));
    }

    private sealed class State(int e) : MixerState
    {
        public float[] K = new float[64 * e], V = new float[64 * e];
        public int Dim { get; } = e;
        public override long Floats => 2L * Position * Dim;
    }

    public override MixerState NewState() => new State(Dim);

    public override long StateFloats(int context) => 2L * Dim * context;

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int e = Dim, d = HeadDim, t = st.Position;
        if ((t + 1) * e > st.K.Length) { Array.Resize(ref st.K, 2 * st.K.Length); Array.Resize(ref st.V, 2 * st.V.Length); }
        var q = new float[e];
        StepMath.Apply(Q, x, q);
        StepMath.Apply(K, x, st.K.AsSpan(t * e, e));
        StepMath.Apply(V, x, st.V.AsSpan(t * e, e));
        var o = new float[e];
        var scores = new float[t + 1];
        float scale = 1f / MathF.Sqrt(d);
        for (int h = 0; h < Heads; h++)
        {
            var qh = q.AsSpan(h * d, d);
            float max = float.NegativeInfinity;
            for (int s = 0; s <= t; s++)
            {
                scores[s] = scale * System.Numerics.Tensors.TensorPrimitives.Dot(qh, st.K.AsSpan(s * e + h * d, d)) - _slopes[h] * (t - s);
                max = MathF.Max(max, scores[s]);
            }
            float sum = 0;
            for (int s = 0; s <= t; s++) { scores[s] = MathF.Exp(scores[s] - max); sum += scores[s]; }
            var oh = o.AsSpan(h * d, d);
            for (int s = 0; s <= t; s++)
            {
                float p = scores[s] / sum;
                var vs = st.V.AsSpan(s * e + h * d, d);
                for (int j = 0; j < d; j++) oh[j] += p * vs[j];
            }
        }
        StepMath.Apply(O, o, y);
        st.Position++;
    }
}
