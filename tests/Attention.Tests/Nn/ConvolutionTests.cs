using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>Conv2d (im2col + GEMM) and pooling against direct float64 loops; gradients by finite differences.</summary>
public class ConvolutionTests
{
    private static double[] NaiveConv(Tensor x, Tensor w, Tensor? bias, int s, int p, out int ho, out int wo)
    {
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3), o = w.Dim(0), kh = w.Dim(2), kw = w.Dim(3);
        ho = (h + 2 * p - kh) / s + 1; wo = (wd + 2 * p - kw) / s + 1;
        var y = new double[b * o * ho * wo];
        for (int n = 0; n < b; n++)
            for (int k = 0; k < o; k++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        double acc = bias is null ? 0 : bias[k];
                        for (int ch = 0; ch < c; ch++)
                            for (int u = 0; u < kh; u++)
                                for (int v = 0; v < kw; v++)
                                {
                                    int r = i * s + u - p, q = j * s + v - p;
                                    if (r >= 0 && r < h && q >= 0 && q < wd) acc += (double)w[k, ch, u, v] * x[n, ch, r, q];
                                }
                        y[((n * o + k) * ho + i) * wo + j] = acc;
                    }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1, 1, 0)]
    [InlineData(2, 3, 7, 9, 5, 3, 1, 1)]
    [InlineData(2, 4, 13, 11, 7, 3, 2, 1)]
    [InlineData(1, 2, 28, 28, 3, 5, 2, 2)]
    public void Conv2d_MatchesFloat64Reference(int b, int c, int h, int w, int o, int k, int stride, int padding)
    {
        var rng = new Rng((ulong)(b + 10 * c + 100 * h + 1000 * w + o * k));
        var conv = new Conv2d(c, o, k, rng, stride, padding);
        var x = rng.NormalTensor([b, c, h, w]);
        var y = conv.Forward(Var.Constant(x)).Value;
        var expected = NaiveConv(x, conv.Weight.Value, conv.Bias!.Value, stride, padding, out int ho, out int wo);
        Assert.Equal([b, o, ho, wo], y.Shape.ToArray());
        var got = y.ToArray();
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-5 + 1e-5 * Math.Abs(expected[i]), $"y[{i}] = {got[i]}, reference {expected[i]}");
    }

    [Fact]
    public void Conv2d_RectangularKernelNoBias_MatchesReference()
    {
        var rng = new Rng(51);
        var conv = new Conv2d(2, 3, (2, 3), rng, stride: 1, padding: 1, bias: false);
        var x = rng.NormalTensor([1, 2, 5, 4]);
        var expected = NaiveConv(x, conv.Weight.Value, null, 1, 1, out _, out _);
        var got = conv.Forward(Var.Constant(x)).Value.ToArray();
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-5, $"y[{i}]");
    }

    [Fact]
    public void Conv2d_GradientCheck_StridePadding()
    {
        var rng = new Rng(52);
        var conv = new Conv2d(2, 3, 3, rng, stride: 2, padding: 1);
        var x = Var.Parameter(rng.NormalTensor([2, 2, 5, 4]), "x");
        ParameterGradCheck.Check(() => conv.Forward(x), [.. conv.Parameters(), x]);
    }

    [Fact]
    public void Pooling_MatchesDirectLoops()
    {
        var rng = new Rng(53);
        var x = rng.NormalTensor([2, 3, 7, 9]);
        var max = new MaxPool2d(3, stride: 2, padding: 1).Forward(Var.Constant(x)).Value;
        var avg = new AvgPool2d(2).Forward(Var.Constant(x)).Value;
        Assert.Equal([2, 3, 4, 5], max.Shape.ToArray());
        Assert.Equal([2, 3, 3, 4], avg.Shape.ToArray());
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
            {
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 5; j++)
                    {
                        float m = float.NegativeInfinity;
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++)
                            {
                                int r = 2 * i + u - 1, q = 2 * j + v - 1;
                                if (r >= 0 && r < 7 && q >= 0 && q < 9) m = Math.Max(m, x[n, c, r, q]);
                            }
                        Assert.Equal(m, max[n, c, i, j]);
                    }
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 4; j++)
                    {
                        double s = 0;
                        for (int u = 0; u < 2; u++) for (int v = 0; v < 2; v++) s += x[n, c, 2 * i + u, 2 * j + v];
                        Assert.True(Math.Abs(avg[n, c, i, j] - s / 4) <= 1e-6, $"avg ({n},{c},{i},{j})");
                    }
            }
    }

    [Fact]
    public void Pooling_GradientCheck()
    {
        var rng = new Rng(54);
        // distinct values 0.1 apart, so no window has a tie within the step h = 1e-2
        GradCheck.Check(v => new MaxPool2d(3, stride: 2, padding: 1).Forward(v[0]), [GradCheck.Distinct(rng, 2, 2, 5, 6)]);
        GradCheck.Check(v => new AvgPool2d(2, stride: 1).Forward(v[0]), [GradCheck.Normal(rng, 2, 2, 5, 6)]);
    }

    [Fact]
    public void Conv2d_BadShapesThrow()
    {
        var conv = new Conv2d(3, 4, 5, new Rng(55));
        var ex = Assert.Throws<ArgumentException>(() => conv.Forward(Var.Constant(Tensor.Zeros(1, 2, 8, 8))));
        Assert.Contains("3", ex.Message); Assert.Contains("2", ex.Message);
        Assert.Throws<ArgumentException>(() => conv.Forward(Var.Constant(Tensor.Zeros(1, 3, 4, 8))));
        Assert.Throws<ArgumentException>(() => new MaxPool2d(2).Forward(Var.Constant(Tensor.Zeros(3, 8))));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaxPool2d(2, padding: 2));
    }
}
