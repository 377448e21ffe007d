namespace Attention.Tests.Reference;

/// <summary>Float64 GEMM reference: C = α·op(A)·op(B) + β·C, row-major, the textbook triple loop.</summary>
public static class NaiveGemm
{
    public static double[] Multiply(bool transposeA, bool transposeB, int m, int n, int k, double alpha,
                                    float[] a, int lda, float[] b, int ldb, double beta, float[] c, int ldc)
    {
        var result = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j]);
                result[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
        return result;
    }

    /// <summary>Σₚ |op(A)[i,p]·op(B)[p,j]|, the scale a float32 dot product's rounding error is proportional to.</summary>
    public static double[] AbsProducts(bool transposeA, bool transposeB, int m, int n, int k,
                                       float[] a, int lda, float[] b, int ldb)
    {
        var result = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += Math.Abs((double)(transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j]));
                result[i * n + j] = s;
            }
        return result;
    }
}
