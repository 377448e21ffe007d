using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Reference;

namespace Attention.Tests.Mechanisms;

public class LinformerTests
{
    [Theory]
    [InlineData(9)]     // the full projection length
    [InlineData(7)]     // a shorter sequence uses the first n columns
    public void Linformer_MatchesFloat64Reference(int n)
    {
        int b = 2, h = 2, d = 4, dv = 3, kProj = 5, maxLength = 9;
        var lin = new Linformer(maxLength, kProj, new Rng(1));
        var rng = new Rng(2);
        var q = rng.NormalTensor([b, h, n, d]); var k = rng.NormalTensor([b, h, n, d]); var v = rng.NormalTensor([b, h, n, dv]);
        var o = lin.Forward(Var.Constant(q), Var.Constant(k), Var.Constant(v));
        var expected = NaiveLinearAttention.Linformer(q.ToArray(), k.ToArray(), v.ToArray(), lin.KeyProjection.Value.ToArray(),
            lin.ValueProjection.Value.ToArray(), maxLength, kProj, b * h, n, n, d, dv);
        Approx.Close(expected, o.Value.AsSpan(), 1e-5, 1e-4);
    }

    [Fact]
    public void Linformer_WithIdentityProjections_IsExactSoftmaxAttention()
    {
        int n = 6, d = 4;
        var lin = new Linformer(n, n, new Rng(3));
        foreach (var p in new[] { lin.KeyProjection, lin.ValueProjection })
        {
            var s = p.Value.AsSpan();
            s.Clear();
            for (int i = 0; i < n; i++) s[i * n + i] = 1f;
        }
        var rng = new Rng(4);
        var q = rng.NormalTensor([1, 2, n, d]); var k = rng.NormalTensor([1, 2, n, d]); var v = rng.NormalTensor([1, 2, n, d]);
        var o = lin.Forward(Var.Constant(q), Var.Constant(k), Var.Constant(v));
        Approx.Close(NaiveLinearAttention.Softmax(q.ToArray(), k.ToArray(), v.ToArray(), 2, n, n, d, d), o.Value.AsSpan(), 1e-5, 1e-4);
    }

    [Fact]
    public void Linformer_GradientsMatchFiniteDifferences_ForProjectionsAndInputs()
    {
        var lin = new Linformer(6, 3, new Rng(5));
        var rng = new Rng(6);
        var q = Var.Parameter(rng.NormalTensor([1, 2, 5, 3])); var k = Var.Parameter(rng.NormalTensor([1, 2, 5, 3]));
        var v = Var.Parameter(rng.NormalTensor([1, 2, 5, 2]));
        GradCheck.CheckLeaves(() => lin.Forward(q, k, v), [lin.KeyProjection, lin.ValueProjection, q, k, v]);
        Assert.Equal(2 * 3 * 6, lin.ParameterCount);
        Assert.Equal(3 * 6, new Linformer(6, 3, new Rng(7), shareKeyValue: true).ParameterCount);
    }

    [Fact]
    public void Linformer_RejectsSequencesLongerThanItsProjections()
    {
        var lin = new Linformer(4, 2, new Rng(8));
        var x = Var.Constant(new Rng(9).NormalTensor([1, 1, 5, 3]));
        var e = Assert.Throws<ArgumentException>(() => lin.Forward(x, x, x));
        Assert.Contains("at most 4 keys", e.Message);
        Assert.Contains("got 5", e.Message);
    }
}
