using Attention.Autograd;
using Attention.Kernels;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary>The fused attention op with learned sink logits: its gradients, the sink's own included.</summary>
public class AttentionSinkAutogradTests
{
    [Theory]
    [InlineData(1, 2, 2, 5, 5, 4, false)]
    [InlineData(2, 4, 2, 6, 4, 3, true)]     // L > S: the first rows see no key, only the sink
    [InlineData(1, 2, 1, 3, 9, 5, true)]
    public void AttentionWithSinks_BackwardMatchesFiniteDifferences_SinkIncluded(int b, int h, int hkv, int l, int s, int d, bool causal)
    {
        var rng = new Rng(5);
        var options = new AttentionOptions { Causal = causal, SoftCap = 3, AlibiSlopes = Alibi.Slopes(h) };
        GradCheck.Check(v => Var.Attention(v[0], v[1], v[2], v[3], options),
            [GradCheck.Normal(rng, b, h, l, d), GradCheck.Normal(rng, b, hkv, s, d), GradCheck.Normal(rng, b, hkv, s, d),
             GradCheck.Normal(rng, h)]);
    }

    [Fact]
    public void AttentionWithSinks_SinkGradientEqualsFloat64Reference()
    {
        var shape = new AttentionShape(2, 4, 2, 70, 50, 16);
        var options = new AttentionOptions { Causal = true, WindowLeft = 20, SinkTokens = 2 };
        var (q, k, v) = NaiveAttention.Inputs(shape, 31);
        var r = NaiveAttention.Random(q.Length, 32);
        float[] sinks = [0.5f, -1f, 2f, float.NegativeInfinity];
        var want = NaiveAttentionBackward.Backward(q, k, v, r, shape, options with { SinkLogits = sinks });

        var qv = Var.Parameter(Tensor.FromArray(q, 2, 4, 70, 16));
        var kv = Var.Parameter(Tensor.FromArray(k, 2, 2, 50, 16));
        var vv = Var.Parameter(Tensor.FromArray(v, 2, 2, 50, 16));
        var sv = Var.Parameter(Tensor.FromArray(sinks, 4));
        Var.Attention(qv, kv, vv, sv, options).Backward(Tensor.FromArray(r, 2, 4, 70, 16));
        AttentionVariantTests.AssertGradient(sv.Grad!.AsSpan(), want.DSinks, "dSink");
        AttentionVariantTests.AssertGradient(qv.Grad!.AsSpan(), want.DQuery, "dQuery");
        AttentionVariantTests.AssertGradient(kv.Grad!.AsSpan(), want.DKey, "dKey");
        Assert.Equal(0f, sv.Grad!.AsSpan()[3]);   // −∞: no sink, no gradient
    }

    [Fact]
    public void AttentionWithSinks_WrongSinkShape_ThrowsNamingExpectedAndActual()
    {
        var q = Var.Parameter(Tensor.Zeros(1, 4, 3, 8));
        var k = Var.Parameter(Tensor.Zeros(1, 2, 3, 8));
        var e = Assert.Throws<ArgumentException>(() => Var.Attention(q, k, k, Var.Parameter(Tensor.Zeros(3))));
        Assert.Contains("(4)", e.Message);
        Assert.Contains("got " + Tensor.FormatShape([3]), e.Message);
    }
}
