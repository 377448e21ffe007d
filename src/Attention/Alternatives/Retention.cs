using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// Retention (Sun et al., 2023, "Retentive Network", §2.1): linear attention with an exponential decay γ per head,
/// <code>
///   o[t] = Σ_{s ≤ t} γ^{t−s} · (q[t]·k[s]) · v[s]                               q, k, v, o (B, H, T, d)
/// </code>
/// computed three ways that agree to rounding:
/// <see cref="Parallel"/> — (Q·Kᵀ ⊙ D)·V with D[t, s] = γ^{t−s} for s ≤ t, else 0 (training, O(T²d));
/// <see cref="Recurrent"/> — S[t] = γ·S[t−1] + k[t]ᵀv[t] (a d×d state), o[t] = q[t]·S[t] (decoding, O(d²) per token);
/// <see cref="Chunkwise"/> — parallel inside chunks of c tokens, recurrent across them (long sequences, O(T·c·d + T·d²)).
/// </summary>
public static class Retention
{
    private static void Check(int q, int k, int v, int o, int gammas, int batch, int heads, int time, int dim)
    {
        if (batch < 1 || heads < 1 || time < 1 || dim < 1) throw new ArgumentException($"expected B, H, T, d ≥ 1, got {batch}, {heads}, {time}, {dim}");
        int n = batch * heads * time * dim;
        if (q != n || k != n || v != n || o != n) throw new ArgumentException($"retention: expected q, k, v, o of {n} values, got {q}, {k}, {v}, {o}");
        if (gammas != heads) throw new ArgumentException($"retention: expected {heads} decay rates, got {gammas}");
    }

    /// <summary>The decay of head h of <paramref name="heads"/>: γ_h = 1 − 2^(−5−h) (the paper's multi-scale choice).</summary>
    public static float[] DefaultGammas(int heads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        return Enumerable.Range(0, heads).Select(h => (float)(1 - Math.Pow(2, -5 - h))).ToArray();
    }

    /// <summary>The parallel form (Q·Kᵀ ⊙ D)·V.</summary>
    public static void Parallel(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> gammas, Span<float> o,
                                int batch, int heads, int time, int dim)
    {
        Check(q.Length, k.Length, v.Length, o.Length, gammas.Length, batch, heads, time, dim);
        o.Clear();
        for (int bh = 0; bh < batch * heads; bh++)
        {
            double lg = Math.Log(gammas[bh % heads]);
            int baseIdx = bh * time * dim;
            for (int t = 0; t < time; t++)
            {
                var ot = o.Slice(baseIdx + t * dim, dim);
                var qt = q.Slice(baseIdx + t * dim, dim);
                for (int s = 0; s <= t; s++)
                {
                    float w = (float)Math.Exp((t - s) * lg) * System.Numerics.Tensors.TensorPrimitives.Dot(qt, k.Slice(baseIdx + s * dim, dim));
                    var vs = v.Slice(baseIdx + s * dim, dim);
                    for (int j = 0; j < dim; j++) ot[j] += w * vs[j];
                }
            }
        }
    }

    /// <summary>One recurrent step for one head: S ← γ·S + kᵀv, o = q·S. S (d, d) row-major, indexed [key dim, value dim].</summary>
    public static void Step(Span<float> state, float gamma, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o)
    {
        int d = q.Length;
        if (state.Length != d * d || k.Length != d || v.Length != d || o.Length != d)
            throw new ArgumentException($"retention step: expected a {d}×{d} state and q, k, v, o of {d}, got {state.Length}, {k.Length}, {v.Length}, {o.Length}");
        for (int i = 0; i < d; i++)
        {
            var row = state.Slice(i * d, d);
            for (int j = 0; j < d; j++) row[j] = gamma * row[j] + k[i] * v[j];
        }
        o.Clear();
        for (int i = 0; i < d; i++)
        {
            var row = state.Slice(i * d, d);
            for (int j = 0; j < d; j++) o[j] += q[i] * row[j];
        }
    }

    /// <summary>The recurrent form: <see cref="Step"/> over t for every (b, h).</summary>
    public static void Recurrent(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> gammas, Span<float> o,
                                 int batch, int heads, int time, int dim)
    {
        Check(q.Length, k.Length, v.Length, o.Length, gammas.Length, batch, heads, time, dim);
        var state = new float[dim * dim];
        for (int bh = 0; bh < batch * heads; bh++)
        {
            Array.Clear(state);
            int baseIdx = bh * time * dim;
            for (int t = 0; t < time; t++)
            {
                int at = baseIdx + t * dim;
                Step(state, gammas[bh % heads], q.Slice(at, dim), k.Slice(at, dim), v.Slice(at, dim), o.Slice(at, dim));
            }
        }
    }

    /// <summary>
    /// The chunkwise form (§2.1, eq. 7): for a chunk starting at c₀, o[t] = inner-chunk parallel retention
    /// + γ^{t−c₀+1}·q[t]·R, where R = Σ_{s&lt;c₀} γ^{c₀−1−s}·k[s]ᵀv[s] is the state after the previous chunks,
    /// then R ← γ^{len}·R + Σ_{s in chunk} γ^{end−s}·k[s]ᵀv[s].
    /// </summary>
    public static void Chunkwise(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> gammas, Span<float> o,
                                 int batch, int heads, int time, int dim, int chunk)
    {
        Check(q.Length, k.Length, v.Length, o.Length, gammas.Length, batch, heads, time, dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunk);
        var r = new double[dim * dim];
        o.Clear();
        for (int bh = 0; bh < batch * heads; bh++)
        {
            Array.Clear(r);
            double lg = Math.Log(gammas[bh % heads]);
            int baseIdx = bh * time * dim;
            for (int c0 = 0; c0 < time; c0 += chunk)
            {
                int len = Math.Min(chunk, time - c0), end = c0 + len - 1;
                for (int t = c0; t <= end; t++)
                {
                    var ot = o.Slice(baseIdx + t * dim, dim);
                    var qt = q.Slice(baseIdx + t * dim, dim);
                    // inside the chunk: parallel
                    for (int s = c0; s <= t; s++)
                    {
                        float w = (float)Math.Exp((t - s) * lg) * System.Numerics.Tensors.TensorPrimitives.Dot(qt, k.Slice(baseIdx + s * dim, dim));
                        var vs = v.Slice(baseIdx + s * dim, dim);
                        for (int j = 0; j < dim; j++) ot[j] += w * vs[j];
                    }
                    // across chunks: the carried state
                    double scale = Math.Exp((t - c0 + 1) * lg);
                    for (int i = 0; i < dim; i++)
                        for (int j = 0; j < dim; j++) ot[j] += (float)(scale * qt[i] * r[i * dim + j]);
                }
                double decay = Math.Exp(len * lg);
                for (int i = 0; i < r.Length; i++) r[i] *= decay;
                for (int s = c0; s <= end; s++)
                {
                    double w = Math.Exp((end - s) * lg);
                    var ks = k.Slice(baseIdx + s * dim, dim);
                    var vs = v.Slice(baseIdx + s * dim, dim);
                    for (int i = 0; i < dim; i++)
                        for (int j = 0; j < dim; j++) r[i * dim + j] += w * ks[i] * vs[j];
                }
            }
        }
    }

    /// <summary>The decay mask D (H, T, T): D[h, t, s] = γ_h^{t−s} for s ≤ t, else 0.</summary>
    public static Tensor DecayMask(ReadOnlySpan<float> gammas, int time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(time);
        var d = Tensor.Zeros(gammas.Length, time, time);
        var s = d.AsSpan();
        for (int h = 0; h < gammas.Length; h++)
        {
            double lg = Math.Log(gammas[h]);
            for (int t = 0; t < time; t++)
                for (int j = 0; j <= t; j++) s[(h * time + t) * time + j] = (float)Math.Exp((t - j) * lg);
        }
        return d;
    }
}

/// <summary>
/// A RetNet token mixer (Sun et al., 2023, §2.2, multi-scale retention): q, k, v from linear maps (k scaled by
/// 1/√d), retention per head with γ_h = 1 − 2^(−5−h), a per-head group norm, a swish gate and an output map:
/// <code>
///   y = W_o( swish(W_g·x) ⊙ GroupNorm_h(Retention_h(x)) )                        x, y (B, T, E), H heads of d = E / H
/// </code>
/// Training uses the parallel form; <see cref="SequenceMixer.Step"/> the recurrent one (H·d² numbers of state).
/// Not reproduced: xPos rotation of q, k and the paper's value width 2d (here d).
/// </summary>
public sealed class RetNetMixer : SequenceMixer
{
    private readonly float[] _gammas;
    private readonly Dictionary<int, Tensor> _masks = new();

    public override string Name => "RetNet";
    /// <summary>Heads H.</summary>
    public int Heads { get; }
    /// <summary>Per-head width d.</summary>
    public int HeadDim { get; }
    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear G { get; }
    public Linear O { get; }
    /// <summary>γ per head.</summary>
    public IReadOnlyList<float> Gammas => _gammas;

    /// <summary>Creates the mixer; E must be a multiple of H.</summary>
    public RetNetMixer(int dim, int heads, Rng rng) : base(dim)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (heads < 1 || dim % heads != 0) throw new ArgumentException($"expected a width divisible by the head count, got E = {dim}, H = {heads}", nameof(heads));
        Heads = heads; HeadDim = dim / heads;
        _gammas = Retention.DefaultGammas(heads);
        Q = RegisterModule("q", new Linear(dim, dim, rng, bias: false));
        K = RegisterModule("k", new Linear(dim, dim, rng, bias: false));
        V = RegisterModule("v", new Linear(dim, dim, rng, bias: false));
        G = RegisterModule("g", new Linear(dim, dim, rng, bias: false));
        O = RegisterModule("o", new Linear(dim, dim, rng, bias: false));
    }

    private Var Heads4(Var x, int b, int t) => x.Reshape(b, t, Heads, HeadDim).Permute(0, 2, 1, 3);   // (B, H, T, d)

    public override Var Forward(Var x)
    {
        var (b, t) = CheckSequence(x);
        if (!_masks.TryGetValue(t, out var mask)) _masks[t] = mask = Retention.DecayMask(_gammas, t);
        var q = Heads4(Q.Forward(x), b, t);
        var k = Heads4(K.Forward(x), b, t) * (1f / MathF.Sqrt(HeadDim));
        var v = Heads4(V.Forward(x), b, t);
        var scores = Var.MatMul(q, k, transposeB: true) * Var.Constant(mask);            // (B, H, T, T)
        var ret = Var.MatMul(scores, v).LayerNorm(null, null);                             // (B, H, T, d), group norm per head
        ret = ret.Permute(0, 2, 1, 3).Reshape(b, t, Dim);
        var g = G.Forward(x);
        return O.Forward(g * g.Sigmoid() * ret);
    }

    private sealed class State(int heads, int d) : MixerState
    {
        public readonly float[] S = new float[heads * d * d];
        public override long Floats => S.Length;
    }

    public override MixerState NewState() => new State(Heads, HeadDim);

    public override long StateFloats(int context) => (long)Heads * HeadDim * HeadDim;

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y)
    {
        var st = CheckStep<State>(state, x, y);
        int e = Dim, d = HeadDim;
        Span<float> q = stackalloc float[e], k = stackalloc float[e], v = stackalloc float[e], g = stackalloc float[e], o = stackalloc float[e];
        StepMath.Apply(Q, x, q); StepMath.Apply(K, x, k); StepMath.Apply(V, x, v); StepMath.Apply(G, x, g);
        float ks = 1f / MathF.Sqrt(d);
        for (int i = 0; i < e; i++) k[i] *= ks;
        for (int h = 0; h < Heads; h++)
        {
            Retention.Step(st.S.AsSpan(h * d * d, d * d), _gammas[h], q.Slice(h * d, d), k.Slice(h * d, d), v.Slice(h * d, d), o.Slice(h * d, d));
            StepMath.Normalize(o.Slice(h * d, d), 1e-5f);
        }
        for (int i = 0; i < e; i++) o[i] *= StepMath.Silu(g[i]);
        StepMath.Apply(O, o, y);
        st.Position++;
    }
}
