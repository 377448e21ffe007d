using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

public class TransformerLayerTests
{
    private static TransformerLayerOptions Options(bool preNorm, NormKind norm, FeedForwardKind ff) =>
        new(8, 2, 12) { PreNorm = preNorm, Norm = norm, FeedForward = ff };

    [Theory]
    [InlineData(true, NormKind.LayerNorm, FeedForwardKind.Relu)]
    [InlineData(false, NormKind.LayerNorm, FeedForwardKind.Gelu)]
    [InlineData(true, NormKind.RmsNorm, FeedForwardKind.SwiGlu)]
    [InlineData(false, NormKind.RmsNorm, FeedForwardKind.SwiGlu)]
    public void EncoderAndDecoderLayers_KeepShapes(bool preNorm, NormKind norm, FeedForwardKind ff)
    {
        var rng = new Rng(3);
        var encoder = new EncoderLayer(Options(preNorm, norm, ff), rng);
        var decoder = new DecoderLayer(Options(preNorm, norm, ff), rng);
        var x = Var.Constant(rng.NormalTensor([3, 5, 8]));
        var y = Var.Constant(rng.NormalTensor([3, 4, 8]));
        var m = encoder.Forward(x, [5, 2, 4]);
        Assert.Equal(new[] { 3, 5, 8 }, m.Shape.ToArray());
        var d = decoder.Forward(y, m, [5, 2, 4]);
        Assert.Equal(new[] { 3, 4, 8 }, d.Shape.ToArray());
        Assert.All(d.Value.ToArray(), v => Assert.True(float.IsFinite(v)));
        // Post-LN ends in a norm: each output row has unit RMS (RMSNorm) or zero mean (LayerNorm), γ = 1 at init.
        if (!preNorm)
        {
            var row = d.Value.AsSpan().Slice(8, 8).ToArray();
            if (norm == NormKind.RmsNorm) Assert.InRange(Math.Sqrt(row.Average(v => (double)v * v)), 0.99, 1.01);
            else Assert.InRange(row.Average(v => (double)v), -1e-5, 1e-5);
        }
    }

    [Fact]
    public void SwiGlu_MatchesFloat64Reference()
    {
        var rng = new Rng(11);
        var ff = new FeedForward(6, 10, rng, FeedForwardKind.SwiGlu);
        var x = rng.NormalTensor([4, 6]);
        var y = ff.Forward(Var.Constant(x)).Value.ToArray();
        var p = ff.NamedParameters().ToDictionary(n => n.Name, n => n.Parameter.Value.ToArray());
        Assert.Equal(["w1.weight", "w2.weight", "w3.weight"], p.Keys.Order().ToArray());
        var xs = x.ToArray();
        for (int r = 0; r < 4; r++)
            for (int o = 0; o < 6; o++)
            {
                double sum = 0;
                for (int f = 0; f < 10; f++)
                {
                    double a = 0, g = 0;
                    for (int i = 0; i < 6; i++) { a += p["w1.weight"][f * 6 + i] * (double)xs[r * 6 + i]; g += p["w3.weight"][f * 6 + i] * (double)xs[r * 6 + i]; }
                    sum += p["w2.weight"][o * 10 + f] * (a / (1 + Math.Exp(-a)) * g);
                }
                Assert.InRange(Math.Abs(y[r * 6 + o] - sum), 0, 1e-5 + 1e-5 * Math.Abs(sum));
            }
    }

    [Fact]
    public void SwiGlu_BackwardMatchesFiniteDifferences()
    {
        var rng = new Rng(12);
        var ff = new FeedForward(5, 7, rng, FeedForwardKind.SwiGlu);
        var x = Var.Parameter(rng.NormalTensor([3, 5]));
        ParameterGradCheck.Check(() => ff.Forward(x), [x, .. ff.Parameters()]);
    }

    [Fact]
    public void RmsNormLayer_BackwardMatchesFiniteDifferences()
    {
        var rng = new Rng(13);
        var norm = new RmsNorm(6);
        var gamma = norm.Gamma.Value.AsSpan();
        for (int i = 0; i < gamma.Length; i++) gamma[i] = 0.5f + 0.2f * i;
        var x = Var.Parameter(rng.NormalTensor([4, 6]));
        ParameterGradCheck.Check(() => norm.Forward(x), [x, norm.Gamma]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DecoderLayer_RmsNormSwiGlu_BackwardMatchesFiniteDifferences(bool preNorm)
    {
        // Through the fused attention kernels (self and cross) and both new pieces.
        var rng = new Rng(14);
        var layer = new DecoderLayer(new TransformerLayerOptions(4, 2, 6) { PreNorm = preNorm, Norm = NormKind.RmsNorm, FeedForward = FeedForwardKind.SwiGlu }, rng);
        var y = Var.Parameter(rng.NormalTensor([2, 3, 4]));
        var m = Var.Parameter(rng.NormalTensor([2, 4, 4]));
        // The key bias of an attention adds the same logit to every key, so softmax ignores it: its gradient is zero.
        var keyBiases = new[] { layer.SelfAttention.K.Bias!, layer.CrossAttention.K.Bias! };
        ParameterGradCheck.Check(() => layer.Forward(y, m, [4, 2]), [y, m, .. layer.Parameters()], zeroGradient: keyBiases);
    }

    [Fact]
    public void EncoderLayer_IgnoresPaddedKeys()
    {
        var rng = new Rng(15);
        var layer = new EncoderLayer(Options(true, NormKind.LayerNorm, FeedForwardKind.Relu), rng);
        var x = rng.NormalTensor([1, 5, 8]);
        var changed = x.Clone();
        changed.AsSpan().Slice(3 * 8).Fill(7f);                       // positions 3 and 4 are padding
        var a = layer.Forward(Var.Constant(x), [3]).Value.AsSpan().Slice(0, 3 * 8).ToArray();
        var b = layer.Forward(Var.Constant(changed), [3]).Value.AsSpan().Slice(0, 3 * 8).ToArray();
        Assert.Equal(a, b);
    }

    [Fact]
    public void Layers_RejectBadOptions()
    {
        var rng = new Rng(1);
        Assert.Throws<ArgumentException>(() => new EncoderLayer(new TransformerLayerOptions(10, 3, 8), rng));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DecoderLayer(new TransformerLayerOptions(8, 2, 8) { Dropout = 1f }, rng));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FeedForward(4, 0, rng));
        var layer = new DecoderLayer(Options(true, NormKind.LayerNorm, FeedForwardKind.Relu), rng);
        var ex = Assert.Throws<ArgumentException>(() => layer.PrepareCrossAttention(Var.Constant(Tensor.Zeros(2, 3, 5)), [3, 3]));
        Assert.Contains("(B, S, 8)", ex.Message);
    }
}
