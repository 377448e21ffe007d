using Attention.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// Mamba's selective scan (Gu and Dao, 2023, Algorithm 2): a diagonal state space model whose step Δ and whose input
/// and output maps B, C depend on the token, so the model can choose what to write into and read from its state.
/// Per channel d and state index n (zero-order hold for A, Euler for B, as in the paper's code):
/// <code>
///   h[t, d, n] = exp(Δ[t, d]·A[d, n]) · h[t−1, d, n]  +  Δ[t, d]·B[t, n]·u[t, d]          h[−1] = 0
///   y[t, d]    = Σ_n C[t, n]·h[t, d, n]  +  D[d]·u[t, d]
/// </code>
/// u, Δ (B, T, Dn) · A (Dn, N) · B, C (B, T, N) · D (Dn) → y (B, T, Dn); the state is Dn·N numbers per sequence.
/// <para>
/// Because Δ, B, C vary with t the model is no longer a convolution (S4's trick is gone), but the recurrence
/// h[t] = a[t]·h[t−1] + b[t] is still a first-order linear recurrence, and pairs (a, b) compose associatively:
/// (a₁, b₁) ∘ (a₂, b₂) = (a₁a₂, a₂b₁ + b₂). <see cref="Sequential"/> runs it left to right (O(T) steps);
/// <see cref="Parallel"/> runs the Hillis–Steele inclusive scan (log₂T rounds of independent combines, O(T log T)
/// work; Blelloch's scan does O(T) work), which is how a GPU evaluates it in O(log T) depth. They agree to rounding.
/// </para>
/// </summary>
public static class SelectiveScan
{
    private static void Check(int batch, int time, int dn, int n, int u, int delta, int a, int bm, int cm, int d, int y)
    {
        if (batch < 1 || time < 1 || dn < 1 || n < 1)
            throw new ArgumentException($"expected B, T, Dn, N ≥ 1, got {batch}, {time}, {dn}, {n}");
        void One(string name, int expected, int got)
        {
            if (expected != got) throw new ArgumentException($"selective scan: expected {name} of {expected} values, got {got}", name);
        }
        One("u", batch * time * dn, u); One("delta", batch * time * dn, delta); One("A", dn * n, a);
        One("B", batch * time * n, bm); One("C", batch * time * n, cm); One("D", dn, d); One("y", batch * time * dn, y);
    }

    /// <summary>The recurrence left to right. <paramref name="states"/>, when not empty, receives every h (B, T, Dn, N).</summary>
    public static void Sequential(ReadOnlySpan<float> u, ReadOnlySpan<float> delta, ReadOnlySpan<float> a, ReadOnlySpan<float> bm,
                                  ReadOnlySpan<float> cm, ReadOnlySpan<float> d, Span<float> y, int batch, int time, int dn, int n,
                                  Span<float> states = default)
    {
        Check(batch, time, dn, n, u.Length, delta.Length, a.Length, bm.Length, cm.Length, d.Length, y.Length);
        if (!states.IsEmpty && states.Length != batch * time * dn * n)
            throw new ArgumentException($"expected states of {batch * time * dn * n} values, got {states.Length}", nameof(states));
        var h = new float[dn * n];
        for (int b = 0; b < batch; b++)
        {
            Array.Clear(h);
            for (int t = 0; t < time; t++)
            {
                int row = b * time + t;
                for (int c = 0; c < dn; c++)
                {
                    float dt = delta[row * dn + c], uc = u[row * dn + c], acc = 0;
                    for (int s = 0; s < n; s++)
                    {
                        int i = c * n + s;
                        h[i] = MathF.Exp(dt * a[i]) * h[i] + dt * bm[row * n + s] * uc;
                        acc += cm[row * n + s] * h[i];
                    }
                    y[row * dn + c] = acc + d[c] * uc;
                }
                if (!states.IsEmpty) h.CopyTo(states.Slice(row * dn * n, dn * n));
            }
        }
    }

    /// <summary>
    /// The same outputs by a parallel prefix scan over t of the pairs (a[t], b[t]) = (exp(Δ·A), Δ·B·u):
    /// round r combines element t with element t − 2^r (Hillis and Steele, 1986). Every round's combines are
    /// independent, so on parallel hardware the depth is ⌈log₂T⌉; here they run in a loop.
    /// </summary>
    public static void Parallel(ReadOnlySpan<float> u, ReadOnlySpan<float> delta, ReadOnlySpan<float> a, ReadOnlySpan<float> bm,
                                ReadOnlySpan<float> cm, ReadOnlySpan<float> d, Span<float> y, int batch, int time, int dn, int n)
    {
        Check(batch, time, dn, n, u.Length, delta.Length, a.Length, bm.Length, cm.Length, d.Length, y.Length);
        int width = dn * n;
        var pa = new float[time * width];
        var pb = new float[time * width];
        var qa = new float[time * width];
        var qb = new float[time * width];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < time; t++)
            {
                int row = b * time + t;
                for (int c = 0; c < dn; c++)
                    for (int s = 0; s < n; s++)
                    {
                        float dt = delta[row * dn + c];
                        pa[t * width + c * n + s] = MathF.Exp(dt * a[c * n + s]);
                        pb[t * width + c * n + s] = dt * bm[row * n + s] * u[row * dn + c];
                    }
            }
            // inclusive scan: after the round with offset o, element t holds the composition of (t − 2o, t]
            for (int offset = 1; offset < time; offset <<= 1)
            {
                for (int t = 0; t < time; t++)
                    for (int i = 0; i < width; i++)
                    {
                        int j = t * width + i;
                        if (t < offset) { qa[j] = pa[j]; qb[j] = pb[j]; continue; }
                        int e = (t - offset) * width + i;
                        // (a₁, b₁) earlier ∘ (a₂, b₂) later = (a₁a₂, a₂b₁ + b₂)
                        qa[j] = pa[e] * pa[j];
                        qb[j] = pa[j] * pb[e] + pb[j];
                    }
                (pa, qa) = (qa, pa);
                (pb, qb) = (qb, pb);
            }
            for (int t = 0; t < time; t++)
            {
                int row = b * time + t;
                for (int c = 0; c < dn; c++)
                {
                    float acc = 0;
                    for (int s = 0; s < n; s++) acc += cm[row * n + s] * pb[t * width + c * n + s];
                    y[row * dn + c] = acc + d[c] * u[row * dn + c];
                }
            }
        }
    }

    /// <summary>
    /// The scan as one autograd op (forward <see cref="Sequential"/>, storing h; backward a reverse scan).
    /// u, delta (B, T, Dn), a (Dn, N), bm, cm (B, T, N), d (Dn) → y (B, T, Dn).
    /// </summary>
    /// <exception cref="ArgumentException">A shape disagrees with u's (B, T, Dn) or a's (Dn, N).</exception>
    public static Var Apply(Var u, Var delta, Var a, Var bm, Var cm, Var d)
    {
        ArgumentNullException.ThrowIfNull(u); ArgumentNullException.ThrowIfNull(delta); ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(bm); ArgumentNullException.ThrowIfNull(cm); ArgumentNullException.ThrowIfNull(d);
        if (u.Rank != 3) throw new ArgumentException($"expected u of shape (B, T, Dn), got {Var.Fmt(u.Shape)}", nameof(u));
        int batch = u.Shape[0], time = u.Shape[1], dn = u.Shape[2];
        if (a.Rank != 2 || a.Shape[0] != dn) throw new ArgumentException($"expected A of shape ({dn}, N), got {Var.Fmt(a.Shape)}", nameof(a));
        int n = a.Shape[1];
        void Shape(Var v, string name, params int[] expected)
        {
            if (!v.Shape.SequenceEqual(expected))
                throw new ArgumentException($"selective scan: expected {name} of shape {Var.Fmt(expected)}, got {Var.Fmt(v.Shape)}", name);
        }
        Shape(delta, nameof(delta), batch, time, dn); Shape(bm, nameof(bm), batch, time, n); Shape(cm, nameof(cm), batch, time, n); Shape(d, nameof(d), dn);
        var y = Tensor.Zeros(batch, time, dn);
        var states = new float[batch * time * dn * n];
        Sequential(u.Value.AsSpan(), delta.Value.AsSpan(), a.Value.AsSpan(), bm.Value.AsSpan(), cm.Value.AsSpan(), d.Value.AsSpan(),
                   y.AsSpan(), batch, time, dn, n, states);
        return Var.FromOp(y, "selective_scan", [u, delta, a, bm, cm, d], o =>
        {
            var dy = o.Grad!.AsSpan();
            var us = u.Value.AsSpan(); var ds = delta.Value.AsSpan(); var As = a.Value.AsSpan();
            var bs = bm.Value.AsSpan(); var cs = cm.Value.AsSpan(); var Ds = d.Value.AsSpan();
            var dU = new float[us.Length]; var dDelta = new float[ds.Length]; var dA = new double[As.Length];
            var dB = new float[bs.Length]; var dC = new float[cs.Length]; var dD = new double[Ds.Length];
            var dh = new float[dn * n];
            for (int b = 0; b < batch; b++)
            {
                Array.Clear(dh);
                for (int t = time - 1; t >= 0; t--)
                {
                    int row = b * time + t;
                    for (int c = 0; c < dn; c++)
                    {
                        float g = dy[row * dn + c], dt = ds[row * dn + c], uc = us[row * dn + c];
                        // forward: y = Σ C·h + D·u
                        dD[c] += g * uc;
                        dU[row * dn + c] += Ds[c] * g;
                        float dDeltaAcc = 0, dUAcc = 0;
                        for (int s = 0; s < n; s++)
                        {
                            int i = c * n + s;
                            float h = states[row * dn * n + i];
                            float hPrev = t > 0 ? states[(row - 1) * dn * n + i] : 0f;
                            dC[row * n + s] += g * h;
                            // dh[t] = C[t]·dy[t] + a[t + 1]·dh[t + 1] (the second term was folded in at step t + 1)
                            float dht = dh[i] + cs[row * n + s] * g;
                            // forward: h = a·hPrev + Δ·B·u with a = exp(Δ·A)
                            float at = MathF.Exp(dt * As[i]);
                            float da = dht * hPrev;
                            dDeltaAcc += da * at * As[i] + dht * bs[row * n + s] * uc;
                            dA[i] += da * at * dt;
                            dB[row * n + s] += dht * dt * uc;
                            dUAcc += dht * dt * bs[row * n + s];
                            dh[i] = dht * at;   // carried to step t − 1
                        }
                        dDelta[row * dn + c] += dDeltaAcc;
                        dU[row * dn + c] += dUAcc;
                    }
                }
            }
            static void Add(Var v, ReadOnlySpan<float> g) { if (v.RequiresGrad) { var buf = v.GradBuffer(); for (int i = 0; i < g.Length; i++) buf[i] += g[i]; } }
            static void AddD(Var v, double[] g) { if (v.RequiresGrad) { var buf = v.GradBuffer(); for (int i = 0; i < g.Length; i++) buf[i] += (float)g[i]; } }
            Add(u, dU); Add(delta, dDelta); AddD(a, dA); Add(bm, dB); Add(cm, dC); AddD(d, dD);
        });
    }
}
