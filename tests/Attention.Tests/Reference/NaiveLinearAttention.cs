namespace Attention.Tests.Reference;

/// <summary>
/// Float64 references for the linear-complexity approximations, written as the plain sums of their papers, one head at
/// a time over flat row-major arrays: query (BH, L, D), key (BH, S, D), value (BH, S, Dv) → output (BH, L, Dv).
/// </summary>
public static class NaiveLinearAttention
{
    public static double EluPlusOne(double x) => x > 0 ? x + 1 : Math.Exp(x);

    /// <summary>oᵢ = Σⱼ (φqᵢ·φkⱼ)vⱼ / (Σⱼ φqᵢ·φkⱼ + ε) over j ≤ i (causal) or all j, given features (BH, L, F), (BH, S, F).</summary>
    public static double[] Kernelised(double[] phiQ, double[] phiK, float[] value, int bh, int l, int s, int f, int dv, bool causal, double eps = 1e-6)
    {
        var o = new double[bh * l * dv];
        for (int n = 0; n < bh; n++)
            for (int i = 0; i < l; i++)
            {
                double den = 0;
                var num = new double[dv];
                for (int j = 0; j < (causal ? i + 1 : s); j++)
                {
                    double a = 0;
                    for (int p = 0; p < f; p++) a += phiQ[(n * l + i) * f + p] * phiK[(n * s + j) * f + p];
                    den += a;
                    for (int c = 0; c < dv; c++) num[c] += a * value[(n * s + j) * dv + c];
                }
                for (int c = 0; c < dv; c++) o[(n * l + i) * dv + c] = num[c] / (den + eps);
            }
        return o;
    }

    /// <summary>Linear attention with φ = elu + 1.</summary>
    public static double[] Linear(float[] q, float[] k, float[] v, int bh, int l, int s, int d, int dv, bool causal) =>
        Kernelised(q.Select(x => EluPlusOne(x)).ToArray(), k.Select(x => EluPlusOne(x)).ToArray(), v, bh, l, s, d, dv, causal);

    /// <summary>FAVOR+ features φ(x/D^¼) with projection w (M, D), unstabilised: exp(w·x̂ − |x̂|²/2)/√M.</summary>
    public static double[] Favor(float[] x, float[] w, int rows, int d, int m)
    {
        var phi = new double[rows * m];
        double quarter = Math.Pow(d, -0.25);
        for (int r = 0; r < rows; r++)
        {
            double sq = 0;
            for (int p = 0; p < d; p++) sq += Math.Pow(x[r * d + p] * quarter, 2);
            for (int u = 0; u < m; u++)
            {
                double dot = 0;
                for (int p = 0; p < d; p++) dot += w[u * d + p] * x[r * d + p] * quarter;
                phi[r * m + u] = Math.Exp(dot - sq / 2) / Math.Sqrt(m);
            }
        }
        return phi;
    }

    /// <summary>Exact softmax attention softmax(q·k/√D)·v, no mask.</summary>
    public static double[] Softmax(float[] q, float[] k, float[] v, int bh, int l, int s, int d, int dv)
    {
        var o = new double[bh * l * dv];
        for (int n = 0; n < bh; n++)
            for (int i = 0; i < l; i++)
            {
                var e = new double[s];
                for (int j = 0; j < s; j++)
                {
                    double a = 0;
                    for (int p = 0; p < d; p++) a += (double)q[(n * l + i) * d + p] * k[(n * s + j) * d + p];
                    e[j] = a / Math.Sqrt(d);
                }
                double max = e.Max(), sum = 0;
                for (int j = 0; j < s; j++) { e[j] = Math.Exp(e[j] - max); sum += e[j]; }
                for (int j = 0; j < s; j++)
                    for (int c = 0; c < dv; c++) o[(n * l + i) * dv + c] += e[j] / sum * v[(n * s + j) * dv + c];
            }
        return o;
    }

    /// <summary>Linformer: K̄ = E[:, :n]·K, V̄ = F[:, :n]·V, softmax(Q·K̄ᵀ/√D)·V̄. e, f (k, maxLength).</summary>
    public static double[] Linformer(float[] q, float[] key, float[] v, float[] e, float[] f, int maxLength, int kProj, int bh, int l, int n, int d, int dv)
    {
        var kBar = new float[bh * kProj * d];
        var vBar = new float[bh * kProj * dv];
        for (int b = 0; b < bh; b++)
            for (int r = 0; r < kProj; r++)
            {
                for (int p = 0; p < d; p++)
                {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += (double)e[r * maxLength + j] * key[(b * n + j) * d + p];
                    kBar[(b * kProj + r) * d + p] = (float)acc;    // rounded once: the float32 path rounds here too
                }
                for (int c = 0; c < dv; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += (double)f[r * maxLength + j] * v[(b * n + j) * dv + c];
                    vBar[(b * kProj + r) * dv + c] = (float)acc;
                }
            }
        return Softmax(q, kBar, vBar, bh, l, kProj, d, dv);
    }

    /// <summary>Nyström attention with segment-mean landmarks and the Razavi pseudo-inverse iteration, all in double.</summary>
    public static double[] Nystrom(float[] q, float[] k, float[] v, int bh, int n, int d, int dv, int m, int iterations)
    {
        var o = new double[bh * n * dv];
        double quarter = Math.Pow(d, -0.25);
        for (int b = 0; b < bh; b++)
        {
            double[,] Q = new double[n, d], K = new double[n, d], V = new double[n, dv];
            for (int i = 0; i < n; i++)
            {
                for (int p = 0; p < d; p++) { Q[i, p] = q[(b * n + i) * d + p] * quarter; K[i, p] = k[(b * n + i) * d + p] * quarter; }
                for (int c = 0; c < dv; c++) V[i, c] = v[(b * n + i) * dv + c];
            }
            double[,] Qt = new double[m, d], Kt = new double[m, d];
            for (int r = 0; r < m; r++)
            {
                int from = r * n / m, to = (r + 1) * n / m;
                for (int i = from; i < to; i++)
                    for (int p = 0; p < d; p++) { Qt[r, p] += Q[i, p] / (to - from); Kt[r, p] += K[i, p] / (to - from); }
            }
            var F = SoftmaxRows(MulT(Q, Kt));
            var A = SoftmaxRows(MulT(Qt, Kt));
            var B = SoftmaxRows(MulT(Qt, K));
            var Z = PseudoInverse(A, iterations);
            var result = Mul(F, Mul(Z, Mul(B, V)));
            for (int i = 0; i < n; i++)
                for (int c = 0; c < dv; c++) o[(b * n + i) * dv + c] = result[i, c];
        }
        return o;
    }

    public static double[,] PseudoInverse(double[,] a, int iterations)
    {
        int m = a.GetLength(0);
        double n1 = 0, nInf = 0;
        for (int j = 0; j < m; j++) { double c = 0; for (int i = 0; i < m; i++) c += Math.Abs(a[i, j]); n1 = Math.Max(n1, c); }
        for (int i = 0; i < m; i++) { double r = 0; for (int j = 0; j < m; j++) r += Math.Abs(a[i, j]); nInf = Math.Max(nInf, r); }
        var z = new double[m, m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) z[i, j] = a[j, i] / (n1 * nInf);
        for (int t = 0; t < iterations; t++)
        {
            var az = Mul(a, z);
            var inner = Sub(7, az);
            inner = Sub(15, Mul(az, inner));
            inner = Sub(13, Mul(az, inner));
            z = Mul(z, inner);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) z[i, j] *= 0.25;
        }
        return z;
    }

    // c·I − x
    private static double[,] Sub(double c, double[,] x)
    {
        int m = x.GetLength(0);
        var r = new double[m, m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) r[i, j] = (i == j ? c : 0) - x[i, j];
        return r;
    }

    public static double[,] Mul(double[,] a, double[,] b)
    {
        int r = a.GetLength(0), k = a.GetLength(1), c = b.GetLength(1);
        var o = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int p = 0; p < k; p++)
                for (int j = 0; j < c; j++) o[i, j] += a[i, p] * b[p, j];
        return o;
    }

    private static double[,] MulT(double[,] a, double[,] b)
    {
        int r = a.GetLength(0), k = a.GetLength(1), c = b.GetLength(0);
        var o = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                for (int p = 0; p < k; p++) o[i, j] += a[i, p] * b[j, p];
        return o;
    }

    private static double[,] SoftmaxRows(double[,] x)
    {
        int r = x.GetLength(0), c = x.GetLength(1);
        var o = new double[r, c];
        for (int i = 0; i < r; i++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < c; j++) max = Math.Max(max, x[i, j]);
            for (int j = 0; j < c; j++) { o[i, j] = Math.Exp(x[i, j] - max); sum += o[i, j]; }
            for (int j = 0; j < c; j++) o[i, j] /= sum;
        }
        return o;
    }
}
