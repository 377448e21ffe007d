using Attention.Kernels;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

// Matrix products on Gemm.Multiply. The backward never materialises a transpose: the transpose
// flags of the GEMM read the stored matrices in the other order.
public sealed partial class Var
{
    /// <summary>
    /// Matrix product op(a)·op(b) over the last two axes, op(X) = Xᵀ when the flag is set.
    /// Shapes: a (…, M, K) (or (…, K, M) when transposed), b (…, K, N) (or (…, N, K)) → (…, M, N).
    /// Batch axes (…) must be equal, or one side is a plain matrix shared by every batch item
    /// (e.g. x (B, L, D) · W (D, E)). Rank-2 inputs give an (M, N) result.
    /// </summary>
    public static Var MatMul(Var a, Var b, bool transposeA = false, bool transposeB = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Rank < 2 || b.Rank < 2)
            throw new ArgumentException($"MatMul expects rank ≥ 2 operands, got {Fmt(a.Shape)} and {Fmt(b.Shape)}");
        int ar = a.Rank, br = b.Rank;
        int m = transposeA ? a.Shape[ar - 1] : a.Shape[ar - 2];
        int k = transposeA ? a.Shape[ar - 2] : a.Shape[ar - 1];
        int kb = transposeB ? b.Shape[br - 1] : b.Shape[br - 2];
        int n = transposeB ? b.Shape[br - 2] : b.Shape[br - 1];
        if (k != kb)
            throw new ArgumentException($"MatMul: inner sizes differ: op(a) of {Fmt(a.Shape)}{(transposeA ? "ᵀ" : "")} has K = {k}, op(b) of {Fmt(b.Shape)}{(transposeB ? "ᵀ" : "")} has K = {kb}");
        var aBatch = a.Shape[..(ar - 2)].ToArray();
        var bBatch = b.Shape[..(br - 2)].ToArray();
        int[] batchShape;
        if (aBatch.AsSpan().SequenceEqual(bBatch) || bBatch.Length == 0) batchShape = aBatch;
        else if (aBatch.Length == 0) batchShape = bBatch;
        else throw new ArgumentException($"MatMul: batch axes {Fmt(aBatch)} of a {Fmt(a.Shape)} and {Fmt(bBatch)} of b {Fmt(b.Shape)} differ; expected equal, or one side rank 2");
        int batch = 1;
        foreach (var s in batchShape) batch *= s;
        long strideA = aBatch.Length == 0 ? 0 : (long)m * k, strideB = bBatch.Length == 0 ? 0 : (long)k * n, strideC = (long)m * n;
        int lda = transposeA ? m : k, ldb = transposeB ? k : n;
        var y = NewTensor([.. batchShape, m, n]);
        // x (B·M, K) · W (K, N) is one tall GEMM when the weight is shared and a is not transposed.
        bool fold = strideB == 0 && strideA != 0 && !transposeA;
        if (fold) Gemm.Multiply(false, transposeB, batch * m, n, k, 1f, a.Data, lda, b.Data, ldb, 0f, y.AsSpan(), n);
        else Gemm.MultiplyBatched(transposeA, transposeB, m, n, k, 1f, a.Data, lda, strideA, b.Data, ldb, strideB, 0f, y.AsSpan(), n, strideC, batch);
        return Make(y, "matmul", [a, b], o =>
        {
            // forward: C = op(A)·op(B)  ⇒  d op(A) = dC·op(B)ᵀ,  d op(B) = op(A)ᵀ·dC
            var dC = o._grad!.AsSpan();
            if (a.RequiresGrad)
            {
                var dA = a.GradBuffer();
                if (fold)
                    Gemm.Multiply(false, !transposeB, batch * m, k, n, 1f, dC, n, b.Data, ldb, 1f, dA, k);
                else if (!transposeA)
                    // dA (M, K) += dC (M, N) · op(B)ᵀ (N, K)
                    Accumulate(false, !transposeB, m, k, n, dC, n, strideC, b.Data, ldb, strideB, dA, k, strideA, batch);
                else
                    // A stored (K, M): dA = (dC·op(B)ᵀ)ᵀ = op(B)·dCᵀ, (K, N)·(N, M)
                    Accumulate(transposeB, true, k, m, n, b.Data, ldb, strideB, dC, n, strideC, dA, m, strideA, batch);
            }
            if (b.RequiresGrad)
            {
                var dB = b.GradBuffer();
                if (fold && !transposeB)
                    Gemm.Multiply(true, false, k, n, batch * m, 1f, a.Data, lda, dC, n, 1f, dB, n);
                else if (fold)
                    Gemm.Multiply(true, false, n, k, batch * m, 1f, dC, n, a.Data, lda, 1f, dB, k);
                else if (!transposeB)
                    // dB (K, N) += op(A)ᵀ (K, M) · dC (M, N)
                    Accumulate(!transposeA, false, k, n, m, a.Data, lda, strideA, dC, n, strideC, dB, n, strideB, batch);
                else
                    // B stored (N, K): dB = dCᵀ (N, M) · op(A) (M, K)
                    Accumulate(true, transposeA, n, k, m, dC, n, strideC, a.Data, lda, strideA, dB, k, strideB, batch);
            }
        });
    }

    /// <summary>this · other; see <see cref="MatMul(Var, Var, bool, bool)"/>.</summary>
    public Var MatMul(Var other, bool transposeA = false, bool transposeB = false) => MatMul(this, other, transposeA, transposeB);

    // C[i] += op(X[i])·op(Y[i]) over the batch. A C stride of 0 (a shared weight's gradient) sums
    // every item into one matrix, which the batched GEMM cannot do race-free, so it loops.
    private static void Accumulate(bool tx, bool ty, int m, int n, int k,
                                   ReadOnlySpan<float> x, int ldx, long strideX,
                                   ReadOnlySpan<float> y, int ldy, long strideY,
                                   Span<float> c, int ldc, long strideC, int batch)
    {
        if (strideC != 0 || batch == 1)
        {
            Gemm.MultiplyBatched(tx, ty, m, n, k, 1f, x, ldx, strideX, y, ldy, strideY, 1f, c, ldc, strideC, batch);
            return;
        }
        for (int i = 0; i < batch; i++)
            Gemm.Multiply(tx, ty, m, n, k, 1f, x[(int)(i * strideX)..], ldx, y[(int)(i * strideY)..], ldy, 1f, c, ldc);
    }
}
