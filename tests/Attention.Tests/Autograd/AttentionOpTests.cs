using Attention.Autograd;
using Attention.Kernels;
using Attention.Tensors;

namespace Attention.Tests.Autograd;

public class AttentionOpTests
{
    public static TheoryData<int, int, int, int, int, int, bool> Shapes => new()
    {
        // B, H, Hkv, L, S, D, causal
        { 1, 2, 2, 5, 5, 4, false },
        { 2, 2, 2, 3, 7, 5, true },     // L < S, bottom-right causal
        { 1, 4, 2, 6, 4, 3, true },     // L > S: the first rows see no key
        { 1, 3, 1, 7, 9, 4, false },    // multi-query
        // more than 8 queries: the forward runs the tiled kernel (not decode), 64-row blocks with a partial last one
        { 1, 2, 1, 70, 70, 4, true },   // causal across two query blocks, grouped-query
        { 1, 1, 1, 66, 131, 3, false }, // L ≠ S, odd widths, partial key tiles
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FusedAttention_BackwardMatchesFiniteDifferences(int b, int h, int hkv, int l, int s, int d, bool causal)
    {
        var rng = new Rng(11);
        var options = new AttentionOptions { Causal = causal };
        GradCheck.Check(v => Var.Attention(v[0], v[1], v[2], options),
            [GradCheck.Normal(rng, b, h, l, d), GradCheck.Normal(rng, b, hkv, s, d), GradCheck.Normal(rng, b, hkv, s, d)]);
    }

    [Fact]
    public void FusedAttention_GradientsEqualTheComposedMathPath()
    {
        // the composed path: softmax(Q·Kᵀ/√D + M)·V from separate autograd ops, causal with L = S
        const int b = 2, h = 2, n = 9, d = 8;
        var rng = new Rng(3);
        var q = GradCheck.Normal(rng, b, h, n, d); var k = GradCheck.Normal(rng, b, h, n, d); var v = GradCheck.Normal(rng, b, h, n, d);
        var r = GradCheck.Normal(rng, b, h, n, d);
        var mask = Tensor.Zeros(n, n);
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) mask[i, j] = 1;

        var (fq, fk, fv) = (Var.Parameter(q.Clone()), Var.Parameter(k.Clone()), Var.Parameter(v.Clone()));
        Var.Attention(fq, fk, fv, new AttentionOptions { Causal = true }).Backward(r);

        var (cq, ck, cv) = (Var.Parameter(q.Clone()), Var.Parameter(k.Clone()), Var.Parameter(v.Clone()));
        var scores = cq.MatMul(ck, transposeB: true) * (1f / MathF.Sqrt(d));
        scores.MaskedFill(mask, float.NegativeInfinity).Softmax(-1).MatMul(cv).Backward(r);

        foreach (var (fused, composed) in new[] { (fq, cq), (fk, ck), (fv, cv) })
        {
            var a = fused.Grad!.ToArray(); var c = composed.Grad!.ToArray();
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - c[i]) <= 1e-5 + 1e-4 * Math.Abs(c[i]), $"element {i}: fused {a[i]} vs composed {c[i]}");
        }
    }

    [Fact]
    public void FusedAttention_RejectsMismatchedWidth_NamingBothShapes()
    {
        var q = Var.Parameter(Tensor.Zeros(1, 2, 3, 4));
        var k = Var.Parameter(Tensor.Zeros(1, 2, 3, 5));
        var e = Assert.Throws<ArgumentException>(() => Var.Attention(q, k, k));
        Assert.Contains("[1, 2, 3, 4]", e.Message.Replace("(", "[").Replace(")", "]"));
    }
}
