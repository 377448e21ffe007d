namespace Attention.Interpret;

/// <summary>
/// Singular values of a small dense matrix by one-sided Jacobi rotations (Hestenes, 1958): columns of A are
/// rotated in pairs until they are mutually orthogonal; the singular values are then the column norms. Accurate
/// to near double rounding for the sizes used here (up to a few hundred). Used to measure the rank of attention
/// logit matrices: a head of width Dh gives S = Q·Kᵀ of rank ≤ Dh, whatever the sequence length
/// (the low-rank bottleneck of Bhojanapalli et al., 2020). Answer: docs/answers/12-multi-head-attention.md
/// </summary>
public static class SingularValues
{
    /// <summary>The min(m, n) singular values of <paramref name="matrix"/> (m × n), largest first.</summary>
    public static double[] Of(double[,] matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int m = matrix.GetLength(0), n = matrix.GetLength(1);
        if (m == 0 || n == 0) throw new ArgumentException($"expected a non-empty matrix, got {m}×{n}", nameof(matrix));
        // work on the orientation with fewer columns: rotations act on column pairs
        bool transpose = n > m;
        int rows = transpose ? n : m, cols = transpose ? m : n;
        var a = new double[cols][];
        for (int c = 0; c < cols; c++)
        {
            a[c] = new double[rows];
            for (int r = 0; r < rows; r++)
            {
                double v = transpose ? matrix[c, r] : matrix[r, c];
                if (!double.IsFinite(v)) throw new ArgumentException($"expected finite entries, got {v}", nameof(matrix));
                a[c][r] = v;
            }
        }
        for (int sweep = 0; sweep < 60; sweep++)
        {
            double off = 0;
            for (int p = 0; p < cols - 1; p++)
                for (int q = p + 1; q < cols; q++)
                {
                    double alpha = 0, beta = 0, gamma = 0;
                    var x = a[p]; var y = a[q];
                    for (int r = 0; r < rows; r++) { alpha += x[r] * x[r]; beta += y[r] * y[r]; gamma += x[r] * y[r]; }
                    if (gamma == 0 || Math.Abs(gamma) <= 1e-15 * Math.Sqrt(alpha * beta)) continue;
                    off = Math.Max(off, Math.Abs(gamma) / Math.Sqrt(alpha * beta));
                    // the rotation that zeroes the (p, q) entry of AᵀA
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.Sign(zeta == 0 ? 1 : zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / Math.Sqrt(1 + t * t), s = c * t;
                    for (int r = 0; r < rows; r++)
                    {
                        double xr = x[r], yr = y[r];
                        x[r] = c * xr - s * yr;
                        y[r] = s * xr + c * yr;
                    }
                }
            if (off < 1e-15) break;
        }
        var values = new double[cols];
        for (int c = 0; c < cols; c++)
        {
            double sum = 0;
            foreach (var v in a[c]) sum += v * v;
            values[c] = Math.Sqrt(sum);
        }
        Array.Sort(values, (u, v) => v.CompareTo(u));
        return values;
    }

    /// <summary>The numerical rank: how many singular values exceed <paramref name="relativeTolerance"/> × the largest.</summary>
    public static int Rank(double[,] matrix, double relativeTolerance = 1e-6)
    {
        if (!(relativeTolerance > 0 && relativeTolerance < 1))
            throw new ArgumentOutOfRangeException(nameof(relativeTolerance), relativeTolerance, "expected a tolerance in (0, 1)");
        var s = Of(matrix);
        if (s[0] == 0) return 0;
        return s.Count(v => v > relativeTolerance * s[0]);
    }
}
