namespace Attention.Kernels;

/// <summary>
/// Counts the slow-memory (HBM) traffic of attention on a machine whose fast on-chip memory holds M numbers — the
/// IO model of Dao et al. (2022, "FlashAttention", §3.2, Theorem 2): standard attention needs Θ(Nd + N²) accesses,
/// the tiled algorithm Θ(N²d²/M), for d ≤ M ≤ Nd. Both algorithms are executed for real on one head, Q, K, V (N, d),
/// with every read or write of slow memory counted in elements and the live on-chip tiles checked against M, so the
/// counts belong to code that produces the right output (tested against a float64 reference).
/// <list type="bullet">
/// <item>Standard (the paper's Algorithm 0): S = Q·Kᵀ by tiles of b rows and b columns with 2bd + b² ≤ M, written to
///   slow memory; softmax row by row (read S, write P; a row longer than M is read twice, once for max and sum);
///   O = P·V by the same tiles.</item>
/// <item>Tiled (Algorithm 1): key/value blocks of B_c = ⌊(M − 2d)/(5d)⌋ rows in the outer loop, query blocks of
///   B_r = min(B_c, d) rows inside; each inner step reads Q_i, O_i, ℓ_i, m_i and writes O_i, ℓ_i, m_i back —
///   T_c = ⌈N/B_c⌉ passes over Q and O, hence ≈ 3·N·d·T_c ≈ 15·N²d²/M.</item>
/// </list>
/// </summary>
public static class AttentionIoCounter
{
    /// <summary>Elements read from and written to slow memory, and the largest on-chip working set used.</summary>
    public sealed record IoCount(long Reads, long Writes, long PeakOnChip)
    {
        /// <summary>Reads + writes.</summary>
        public long Total => Reads + Writes;
    }

    /// <summary>The reference size of Theorem 2's bound, N²d²/M.</summary>
    public static double Bound(int n, int d, long onChip) => (double)n * n * d * d / onChip;

    private static void Check(double[] q, double[] k, double[] v, double[] output, int n, int d, long m, long minimum)
    {
        ArgumentNullException.ThrowIfNull(q); ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v); ArgumentNullException.ThrowIfNull(output);
        if (n < 1 || d < 1) throw new ArgumentException($"expected N ≥ 1 and d ≥ 1, got N = {n}, d = {d}");
        long size = (long)n * d;
        if (q.Length != size || k.Length != size || v.Length != size || output.Length != size)
            throw new ArgumentException($"expected Q, K, V and O of N·d = {size} elements, got {q.Length}, {k.Length}, {v.Length}, {output.Length}");
        if (m < minimum) throw new ArgumentException($"on-chip memory M must hold at least {minimum} numbers for d = {d}, got {m}", nameof(m));
    }

    /// <summary>Standard attention (Algorithm 0) on one head; writes O (N, d) and returns its traffic.</summary>
    /// <exception cref="ArgumentException">Lengths other than N·d, or M &lt; 3d + 1 (one tile row cannot fit).</exception>
    public static IoCount Standard(double[] q, double[] k, double[] v, double[] output, int n, int d, long m, bool causal = false)
    {
        Check(q, k, v, output, n, d, m, 3L * d + 1);
        long reads = 0, writes = 0, peak = 0;
        int b = (int)Math.Max(1, Math.Min(n, Math.Floor(-d + Math.Sqrt((double)d * d + m))));   // largest b with 2bd + b² ≤ M
        double scale = 1 / Math.Sqrt(d);
        var s = new double[(long)n * n];                            // slow memory
        // S = Q·Kᵀ: hold a tile Q_i, stream tiles K_j, write S_ij
        for (int i0 = 0; i0 < n; i0 += b)
        {
            int br = Math.Min(b, n - i0);
            reads += (long)br * d;
            for (int j0 = 0; j0 < n; j0 += b)
            {
                int bc = Math.Min(b, n - j0);
                reads += (long)bc * d;
                peak = Math.Max(peak, (long)br * d + (long)bc * d + (long)br * bc);
                for (int i = i0; i < i0 + br; i++)
                    for (int j = j0; j < j0 + bc; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[(long)i * d + c] * k[(long)j * d + c];
                        s[(long)i * n + j] = causal && j > i ? double.NegativeInfinity : scale * dot;
                    }
                writes += (long)br * bc;
            }
        }
        // P = softmax(S) row by row, in place (P overwrites S in slow memory)
        bool fits = n <= m;
        for (int i = 0; i < n; i++)
        {
            reads += fits ? n : 2L * n;
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < n; j++) max = Math.Max(max, s[(long)i * n + j]);
            for (int j = 0; j < n; j++) sum += Math.Exp(s[(long)i * n + j] - max);
            for (int j = 0; j < n; j++) s[(long)i * n + j] = Math.Exp(s[(long)i * n + j] - max) / sum;
            writes += n;
            peak = Math.Max(peak, fits ? n : 2);
        }
        // O = P·V: hold an accumulator O_i, stream tiles P_ij and V_j
        Array.Clear(output);
        for (int i0 = 0; i0 < n; i0 += b)
        {
            int br = Math.Min(b, n - i0);
            for (int j0 = 0; j0 < n; j0 += b)
            {
                int bc = Math.Min(b, n - j0);
                reads += (long)br * bc + (long)bc * d;
                peak = Math.Max(peak, (long)br * bc + (long)bc * d + (long)br * d);
                for (int i = i0; i < i0 + br; i++)
                    for (int j = j0; j < j0 + bc; j++)
                    {
                        double p = s[(long)i * n + j];
                        for (int c = 0; c < d; c++) output[(long)i * d + c] += p * v[(long)j * d + c];
                    }
            }
            writes += (long)br * d;
        }
        return new IoCount(reads, writes, peak);
    }

    /// <summary>The tiled algorithm (FlashAttention, Algorithm 1) on one head; writes O (N, d) and returns its traffic.</summary>
    /// <exception cref="ArgumentException">Lengths other than N·d, or M &lt; 7d (a block of one row must fit).</exception>
    public static IoCount Tiled(double[] q, double[] k, double[] v, double[] output, int n, int d, long m, bool causal = false)
    {
        Check(q, k, v, output, n, d, m, 7L * d);
        int bc = (int)Math.Max(1, Math.Min(n, (m - 2L * d) / (5L * d)));
        int br = Math.Min(bc, d);
        long reads = 0, writes = 0, peak = 0;
        double scale = 1 / Math.Sqrt(d);
        // slow memory: O = 0, ℓ = 0, m = −∞ (initialising them is n·d + 2n writes)
        Array.Clear(output);
        var rowSum = new double[n];
        var rowMax = new double[n];
        Array.Fill(rowMax, double.NegativeInfinity);
        writes += (long)n * d + 2L * n;
        var sTile = new double[br * bc];
        for (int j0 = 0; j0 < n; j0 += bc)
        {
            int kc = Math.Min(bc, n - j0);
            reads += 2L * kc * d;                                       // K_j, V_j to chip
            for (int i0 = 0; i0 < n; i0 += br)
            {
                int qr = Math.Min(br, n - i0);
                if (causal && j0 > i0 + qr - 1) continue;               // the whole tile is in the future
                reads += 2L * qr * d + 2L * qr;                         // Q_i, O_i, ℓ_i, m_i
                peak = Math.Max(peak, 2L * kc * d + 2L * qr * d + (long)qr * kc + 2L * qr);
                for (int i = 0; i < qr; i++)
                {
                    int row = i0 + i;
                    double mTile = double.NegativeInfinity;
                    for (int j = 0; j < kc; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[(long)row * d + c] * k[(long)(j0 + j) * d + c];
                        double sc = causal && j0 + j > row ? double.NegativeInfinity : scale * dot;
                        sTile[i * bc + j] = sc;
                        mTile = Math.Max(mTile, sc);
                    }
                    if (double.IsNegativeInfinity(mTile)) continue;
                    double lTile = 0;
                    for (int j = 0; j < kc; j++) { sTile[i * bc + j] = Math.Exp(sTile[i * bc + j] - mTile); lTile += sTile[i * bc + j]; }
                    double mNew = Math.Max(rowMax[row], mTile);
                    double a = Math.Exp(rowMax[row] - mNew), c2 = Math.Exp(mTile - mNew);
                    double lNew = a * rowSum[row] + c2 * lTile;
                    for (int c = 0; c < d; c++)
                    {
                        double pv = 0;
                        for (int j = 0; j < kc; j++) pv += sTile[i * bc + j] * v[(long)(j0 + j) * d + c];
                        output[(long)row * d + c] = (a * rowSum[row] * output[(long)row * d + c] + c2 * pv) / lNew;
                    }
                    rowSum[row] = lNew; rowMax[row] = mNew;
                }
                writes += (long)qr * d + 2L * qr;                       // O_i, ℓ_i, m_i back
            }
        }
        if (peak > m) throw new InvalidOperationException($"tiles of {br}×{bc} need {peak} on-chip numbers, more than M = {m}");
        return new IoCount(reads, writes, peak);
    }
}
