using Attention.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// RWKV-4's WKV operator (Peng et al., 2023, eq. 14–16), the "attention" of its time-mixing block: per channel c a
/// softmax-like average of the past values whose weights decay exponentially with distance, plus a bonus u for the
/// current token:
/// <code>
///   wkv[t] = ( Σ_{i&lt;t} e^{−(t−1−i)·w + k[i]}·v[i] + e^{u + k[t]}·v[t] ) / ( Σ_{i&lt;t} e^{−(t−1−i)·w + k[i]} + e^{u + k[t]} )
/// </code>
/// k, v (B, T, C) · w (C) &gt; 0 (the decay) · u (C) → wkv (B, T, C).
/// <see cref="Parallel"/> evaluates it as written, a masked T×T softmax per channel (O(T²) — the "transformer
/// form"); <see cref="Recurrent"/> carries a numerator, a denominator and a running maximum exponent (3 numbers per
/// channel, the paper's numerically safe form), O(T) — the "RNN form" used for decoding. They agree to rounding.
/// </summary>
public static class Wkv
{
    private static void Check(int batch, int time, int channels, int k, int v, int w, int u, int y)
    {
        if (batch < 1 || time < 1 || channels < 1) throw new ArgumentException($"expected B, T, C ≥ 1, got {batch}, {time}, {channels}");
        int btc = batch * time * channels;
        if (k != btc || v != btc || y != btc) throw new ArgumentException($"WKV: expected k, v and wkv of {btc} values, got {k}, {v}, {y}");
        if (w != channels || u != channels) throw new ArgumentException($"WKV: expected w and u of {channels} values, got {w} and {u}");
    }

    /// <summary>The definition: for each (b, t, c) a stable softmax over i ≤ t of the exponents above. O(B·T²·C).</summary>
    public static void Parallel(ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> w, ReadOnlySpan<float> u, Span<float> wkv,
                                int batch, int time, int channels)
    {
        Check(batch, time, channels, k.Length, v.Length, w.Length, u.Length, wkv.Length);
        var s = new double[time];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int t = 0; t < time; t++)
                {
                    double max = double.NegativeInfinity;
                    for (int i = 0; i <= t; i++)
                    {
                        float ki = k[(b * time + i) * channels + c];
                        s[i] = i < t ? ki - (t - 1 - i) * (double)w[c] : u[c] + ki;
                        max = Math.Max(max, s[i]);
                    }
                    double num = 0, den = 0;
                    for (int i = 0; i <= t; i++)
                    {
                        double e = Math.Exp(s[i] - max);
                        num += e * v[(b * time + i) * channels + c];
                        den += e;
                    }
                    wkv[(b * time + t) * channels + c] = (float)(num / den);
                }
    }

    /// <summary>
    /// The state of the recurrent form for one channel: numerator a and denominator b scaled by e^(−p),
    /// p the largest exponent seen. Empty state: a = b = 0, p = −∞.
    /// </summary>
    public struct ChannelState
    {
        public float A, B, P;
        public static ChannelState Empty => new() { A = 0, B = 0, P = float.NegativeInfinity };
    }

    /// <summary>One step of the recurrence for one channel: returns wkv for (k, v) and advances the state.</summary>
    public static float Step(ref ChannelState st, float k, float v, float w, float u)
    {
        // output: combine the past (a, b at scale p) with the current token at exponent u + k
        float ww = u + k;
        float p = MathF.Max(st.P, ww);
        float e1 = MathF.Exp(st.P - p), e2 = MathF.Exp(ww - p);
        float y = (e1 * st.A + e2 * v) / (e1 * st.B + e2);
        // state: decay the past by e^(−w), add the current token at exponent k
        ww = st.P - w;
        p = MathF.Max(ww, k);
        e1 = MathF.Exp(ww - p); e2 = MathF.Exp(k - p);
        st.A = e1 * st.A + e2 * v;
        st.B = e1 * st.B + e2;
        st.P = p;
        return y;
    }

    /// <summary>The RNN form: <see cref="Step"/> over t for every (b, c). O(B·T·C), 3 numbers of state per channel.</summary>
    public static void Recurrent(ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> w, ReadOnlySpan<float> u, Span<float> wkv,
                                 int batch, int time, int channels)
    {
        Check(batch, time, channels, k.Length, v.Length, w.Length, u.Length, wkv.Length);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            {
                var st = ChannelState.Empty;
                for (int t = 0; t < time; t++)
                {
                    int i = (b * time + t) * channels + c;
                    wkv[i] = Step(ref st, k[i], v[i], w[c], u[c]);
                }
            }
    }

    /// <summary>
    /// WKV as an autograd op: forward <see cref="Recurrent"/>; backward in O(T) too. With the row log-normaliser
    /// z[t] = log Σ_i e^{s[t,i]} and weights p[t,i] = e^{s[t,i] − z[t]}, wkv[t] = Σ_i p[t,i]·v[i] and
    /// ∂wkv[t]/∂s[t,i] = p[t,i]·(v[i] − wkv[t]); a forward sweep accumulates the distance-weighted sums that dw needs,
    /// a reverse sweep the future rows' contributions to dk and dv, both in scaled form so nothing overflows.
    /// k, v (B, T, C), w (C) (positive), u (C) → (B, T, C).
    /// </summary>
    /// <exception cref="ArgumentException">k and v differ in shape or are not rank 3, or w, u are not (C).</exception>
    public static Var Apply(Var k, Var v, Var w, Var u)
    {
        ArgumentNullException.ThrowIfNull(k); ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(w); ArgumentNullException.ThrowIfNull(u);
        if (k.Rank != 3 || !k.Shape.SequenceEqual(v.Shape))
            throw new ArgumentException($"WKV expects k and v of one shape (B, T, C), got {Var.Fmt(k.Shape)} and {Var.Fmt(v.Shape)}");
        int batch = k.Shape[0], time = k.Shape[1], channels = k.Shape[2];
        if (w.Rank != 1 || w.Shape[0] != channels || u.Rank != 1 || u.Shape[0] != channels)
            throw new ArgumentException($"WKV expects w and u of shape ({channels}), got {Var.Fmt(w.Shape)} and {Var.Fmt(u.Shape)}");
        var y = Tensor.Zeros(batch, time, channels);
        Recurrent(k.Value.AsSpan(), v.Value.AsSpan(), w.Value.AsSpan(), u.Value.AsSpan(), y.AsSpan(), batch, time, channels);
        return Var.FromOp(y, "wkv", [k, v, w, u], o =>
        {
            var g = o.Grad!.AsSpan();
            var ks = k.Value.AsSpan(); var vs = v.Value.AsSpan(); var ws = w.Value.AsSpan(); var us = u.Value.AsSpan();
            var ys = y.AsSpan();
            var dk = new float[ks.Length]; var dv = new float[vs.Length];
            var dw = new double[channels]; var du = new double[channels];
            var lz = new double[time];
            for (int b = 0; b < batch; b++)
                for (int c = 0; c < channels; c++)
                {
                    double wc = ws[c], uc = us[c];
                    // forward sweep in double with scale p: A = Σ_{i<t} e^{s−p}·v, Bs = Σ e^{s−p},
                    // F = Σ (t−1−i)·e^{s−p}·v, E = Σ (t−1−i)·e^{s−p}  (s = k[i] − (t−1−i)·w)
                    double A = 0, Bs = 0, F = 0, E = 0, p = double.NegativeInfinity;
                    for (int t = 0; t < time; t++)
                    {
                        int i = (b * time + t) * channels + c;
                        double kt = ks[i], vt = vs[i], cur = uc + kt;
                        double q = Math.Max(p, cur);
                        double e1 = double.IsNegativeInfinity(p) ? 0 : Math.Exp(p - q), e2 = Math.Exp(cur - q);
                        double den = e1 * Bs + e2;
                        lz[t] = q + Math.Log(den);
                        double wkv = (e1 * A + e2 * vt) / den;
                        // ∂wkv/∂w = Σ_{i<t} p[t,i]·(v[i] − wkv)·(−(t−1−i)) = −(F − wkv·E)·e1/den
                        dw[c] += -g[i] * (e1 * (F - wkv * E)) / den;
                        // self term: ∂wkv/∂u = p[t,t]·(v[t] − wkv)
                        du[c] += g[i] * (e2 / den) * (vt - wkv);
                        // advance: every old term moves one step further (·e^{−w}, distance + 1); the new one enters at distance 0
                        double pw = p - wc;
                        double q2 = Math.Max(pw, kt);
                        double f1 = double.IsNegativeInfinity(pw) ? 0 : Math.Exp(pw - q2), f2 = Math.Exp(kt - q2);
                        F = f1 * (F + A); E = f1 * (E + Bs);
                        A = f1 * A + f2 * vt; Bs = f1 * Bs + f2;
                        p = q2;
                    }
                    // reverse sweep: R = Σ_{t>i} e^{−(t−1−i)·w − z[t]}·g[t], R2 = same with g[t]·wkv[t], kept as r·e^{m}
                    double r = 0, r2 = 0, m = double.NegativeInfinity;
                    for (int t = time - 1; t >= 0; t--)
                    {
                        int i = (b * time + t) * channels + c;
                        double kt = ks[i], vt = vs[i], gt = g[i], yt = ys[i];
                        // rows t' > t weigh token t by e^{k[t] − (t'−1−t)·w − z[t']} = e^{k[t] + m}·(scaled sums)
                        double past = double.IsNegativeInfinity(m) ? 0 : Math.Exp(kt + m);
                        double self = Math.Exp(uc + kt - lz[t]);
                        dv[i] += (float)(past * r + self * gt);
                        dk[i] += (float)(past * (vt * r - r2) + self * (vt - yt) * gt);
                        // for token t − 1: the rows after t move one step further (·e^{−w}); row t enters at distance 0
                        double mShift = m - wc;
                        double mNew = Math.Max(mShift, -lz[t]);
                        double s1 = double.IsNegativeInfinity(mShift) ? 0 : Math.Exp(mShift - mNew), s2 = Math.Exp(-lz[t] - mNew);
                        r = s1 * r + s2 * gt;
                        r2 = s1 * r2 + s2 * gt * yt;
                        m = mNew;
                    }
                }
            if (k.RequiresGrad) { var buf = k.GradBuffer(); for (int i = 0; i < dk.Length; i++) buf[i] += dk[i]; }
            if (v.RequiresGrad) { var buf = v.GradBuffer(); for (int i = 0; i < dv.Length; i++) buf[i] += dv[i]; }
            if (w.RequiresGrad) { var buf = w.GradBuffer(); for (int i = 0; i < channels; i++) buf[i] += (float)dw[i]; }
            if (u.RequiresGrad) { var buf = u.GradBuffer(); for (int i = 0; i < channels; i++) buf[i] += (float)du[i]; }
        });
    }
}
