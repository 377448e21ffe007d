namespace Attention.Kernels;

/// <summary>Single-precision GEMM: C = α·op(A)·op(B) + β·C, row-major.</summary>
public static class Gemm
{
    /// <summary>op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides of the stored matrices.
    /// Placeholder: a naive loop until the blocked kernel lands.</summary>
    public static void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
                                float alpha, ReadOnlySpan<float> a, int lda,
                                ReadOnlySpan<float> b, int ldb,
                                float beta, Span<float> c, int ldc, int maxThreads = 0)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++)
                    s += (transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
    }
}
