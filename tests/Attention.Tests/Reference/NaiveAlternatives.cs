namespace Attention.Tests.Reference;

/// <summary>Float64 references for the attention alternatives, written from the papers' equations as directly as possible.</summary>
internal static class NaiveAlternatives
{
    /// <summary>y[b, t, c] = Σ_{l ≤ min(t, K−1)} k[c, l]·u[b, t − l, c].</summary>
    public static double[] CausalConv(float[] u, float[] k, int batch, int time, int channels, int kernel)
    {
        var y = new double[batch * time * channels];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
                for (int c = 0; c < channels; c++)
                {
                    double s = 0;
                    for (int l = 0; l < kernel && l <= t; l++) s += (double)k[c * kernel + l] * u[(b * time + t - l) * channels + c];
                    y[(b * time + t) * channels + c] = s;
                }
        return y;
    }

    /// <summary>Mamba's recurrence h = exp(ΔA)h + ΔBu, y = C·h + Du, in double.</summary>
    public static double[] SelectiveScan(float[] u, float[] delta, float[] a, float[] bm, float[] cm, float[] d, int batch, int time, int dn, int n)
    {
        var y = new double[batch * time * dn];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < dn; c++)
            {
                var h = new double[n];
                for (int t = 0; t < time; t++)
                {
                    int row = b * time + t;
                    double acc = 0;
                    for (int s = 0; s < n; s++)
                    {
                        h[s] = Math.Exp((double)delta[row * dn + c] * a[c * n + s]) * h[s] + (double)delta[row * dn + c] * bm[row * n + s] * u[row * dn + c];
                        acc += cm[row * n + s] * h[s];
                    }
                    y[row * dn + c] = acc + (double)d[c] * u[row * dn + c];
                }
            }
        return y;
    }

    /// <summary>RWKV-4's WKV as written in the paper (eq. 14), in double, no stabilisation needed for moderate k.</summary>
    public static double[] Wkv(float[] k, float[] v, float[] w, float[] u, int batch, int time, int channels)
    {
        var y = new double[batch * time * channels];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
                for (int t = 0; t < time; t++)
                {
                    double num = 0, den = 0;
                    for (int i = 0; i < t; i++)
                    {
                        double e = Math.Exp(-(t - 1 - i) * (double)w[c] + k[(b * time + i) * channels + c]);
                        num += e * v[(b * time + i) * channels + c];
                        den += e;
                    }
                    double cur = Math.Exp((double)u[c] + k[(b * time + t) * channels + c]);
                    num += cur * v[(b * time + t) * channels + c];
                    den += cur;
                    y[(b * time + t) * channels + c] = num / den;
                }
        return y;
    }

    /// <summary>Retention o[t] = Σ_{s≤t} γ^{t−s}(q[t]·k[s])v[s], (B, H, T, d), in double.</summary>
    public static double[] Retention(float[] q, float[] k, float[] v, float[] gammas, int batch, int heads, int time, int dim)
    {
        var o = new double[batch * heads * time * dim];
        for (int bh = 0; bh < batch * heads; bh++)
            for (int t = 0; t < time; t++)
                for (int s = 0; s <= t; s++)
                {
                    double dot = 0;
                    for (int j = 0; j < dim; j++) dot += (double)q[(bh * time + t) * dim + j] * k[(bh * time + s) * dim + j];
                    double w = Math.Pow(gammas[bh % heads], t - s) * dot;
                    for (int j = 0; j < dim; j++) o[(bh * time + t) * dim + j] += w * v[(bh * time + s) * dim + j];
                }
        return o;
    }

    /// <summary>Re(DFT over T and E) of x (B, T, E): y[t, e] = Σ_{s, f} x[s, f]·cos(2π(ts/T + ef/E)).</summary>
    public static double[] FourierMix(float[] x, int batch, int time, int dim)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
                for (int e = 0; e < dim; e++)
                {
                    double s = 0;
                    for (int p = 0; p < time; p++)
                        for (int f = 0; f < dim; f++)
                            s += x[(b * time + p) * dim + f] * Math.Cos(2 * Math.PI * ((double)t * p / time + (double)e * f / dim));
                    y[(b * time + t) * dim + e] = s;
                }
        return y;
    }
}
