using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Reference;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Mechanisms;

public class NystromformerTests
{
    [Fact]
    public void PseudoInverse_Iteration_ConvergesToTheInverse()
    {
        // a softmax matrix with a strong diagonal is well conditioned: the iteration must reach A⁻¹ (A·Z = I)
        int m = 7;
        var logits = new Rng(1).NormalTensor([1, m, m], 0, 0.5f);
        for (int i = 0; i < m; i++) logits[0, i, i] += 3f;
        var a = Var.Constant(logits).Softmax(-1);
        var z = Nystromformer.PseudoInverse(a, 20);
        var az = Var.MatMul(a, z).Value;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) Assert.True(Math.Abs(az[0, i, j] - (i == j ? 1f : 0f)) < 1e-4, $"(A·Z)[{i},{j}] = {az[0, i, j]}");
        // and agrees with the float64 iteration after the paper's 6 steps
        var a64 = new double[m, m];
        for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) a64[i, j] = a.Value[0, i, j];
        var z6 = NaiveLinearAttention.PseudoInverse(a64, 6);
        var got = Nystromformer.PseudoInverse(a, 6).Value;
        for (int i = 0; i < m; i++) for (int j = 0; j < m; j++) Assert.True(Math.Abs(got[0, i, j] - z6[i, j]) < 1e-4 * (1 + Math.Abs(z6[i, j])));
    }

    [Fact]
    public void Nystromformer_MatchesFloat64Reference_UnevenSegments()
    {
        int b = 2, h = 1, n = 13, d = 4, dv = 3, m = 4;
        var rng = new Rng(2);
        var q = rng.NormalTensor([b, h, n, d]); var k = rng.NormalTensor([b, h, n, d]); var v = rng.NormalTensor([b, h, n, dv]);
        var o = new Nystromformer(m).Forward(Var.Constant(q), Var.Constant(k), Var.Constant(v));
        Approx.Close(NaiveLinearAttention.Nystrom(q.ToArray(), k.ToArray(), v.ToArray(), b * h, n, d, dv, m, 6), o.Value.AsSpan(), 1e-4, 1e-3);
    }

    [Fact]
    public void Nystromformer_WithEveryTokenALandmark_EqualsSoftmaxAttention()
    {
        // m = n: F̃ = Ã = B̃ = the softmax matrix A, so F̃·Ã⁺·B̃·V = A·A⁻¹·A·V = A·V once the inverse has converged
        int n = 6, d = 4;
        var rng = new Rng(3);
        var q = rng.NormalTensor([1, 2, n, d], 0, 1.5f); var k = rng.NormalTensor([1, 2, n, d], 0, 1.5f); var v = rng.NormalTensor([1, 2, n, d]);
        var o = new Nystromformer(n, iterations: 40).Forward(Var.Constant(q), Var.Constant(k), Var.Constant(v));
        Approx.Close(NaiveLinearAttention.Softmax(q.ToArray(), k.ToArray(), v.ToArray(), 2, n, n, d, d), o.Value.AsSpan(), 2e-3, 2e-3);
    }

    [Fact]
    public void Nystromformer_GradientsMatchFiniteDifferences()
    {
        var rng = new Rng(4);
        var nys = new Nystromformer(3);
        GradCheck.Check(x => nys.Forward(x[0], x[1], x[2]),
            [rng.NormalTensor([1, 2, 7, 3]), rng.NormalTensor([1, 2, 7, 3]), rng.NormalTensor([1, 2, 7, 2])], rtol: 2e-2, atol: 5e-3);
    }

    [Fact]
    public void Nystromformer_SegmentMeans_AverageContiguousSegments_AndRejectFewerTokensThanLandmarks()
    {
        var p = Nystromformer.SegmentMeans(7, 3);       // segments [0, 2), [2, 4), [4, 7)
        Assert.Equal(0.5f, p[0, 1]);
        Assert.Equal(0f, p[0, 2]);
        Assert.Equal(1f / 3, p[2, 6], 6);
        for (int i = 0; i < 3; i++) Assert.Equal(1.0, Enumerable.Range(0, 7).Sum(j => (double)p[i, j]), 6);
        var x = Var.Constant(Tensor.Zeros(1, 1, 2, 3));
        var e = Assert.Throws<ArgumentException>(() => new Nystromformer(4).Forward(x, x, x));
        Assert.Contains("at least 4 tokens", e.Message);
    }
}
