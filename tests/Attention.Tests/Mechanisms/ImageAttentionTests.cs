using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Tensors;
using Attention.Tests.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Mechanisms;

/// <summary>SE, ECA, CBAM's channel and spatial modules and the non-local block against float64 loops written from the
/// papers' equations; gradients by finite differences.</summary>
public class ImageAttentionTests
{
    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    private static double[] D(Tensor t) => t.ToArray().Select(v => (double)v).ToArray();

    // y = W·z + b for a Linear, in float64
    private static double[] Affine(Linear l, double[] z)
    {
        var w = D(l.Weight.Value); var b = l.Bias is null ? null : D(l.Bias.Value);
        var y = new double[l.OutFeatures];
        for (int o = 0; o < l.OutFeatures; o++)
        {
            double acc = b?[o] ?? 0;
            for (int i = 0; i < l.InFeatures; i++) acc += w[o * l.InFeatures + i] * z[i];
            y[o] = acc;
        }
        return y;
    }

    private static (double[] Avg, double[] Max) Pool(double[] x, int n, int c, int hw)
    {
        var avg = new double[c]; var max = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0, m = double.NegativeInfinity;
            for (int p = 0; p < hw; p++) { double v = x[(n * c + ch) * hw + p]; s += v; m = Math.Max(m, v); }
            avg[ch] = s / hw; max[ch] = m;
        }
        return (avg, max);
    }

    private static void AssertClose(double[] expected, float[] got, double tol = 1e-5)
    {
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= tol + tol * Math.Abs(expected[i]), $"[{i}] = {got[i]}, reference {expected[i]}");
    }

    // scale every channel of x by gates (B, C)
    private static double[] Scale(double[] x, double[][] gates, int b, int c, int hw)
    {
        var y = new double[x.Length];
        for (int n = 0; n < b; n++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < hw; p++) y[(n * c + ch) * hw + p] = gates[n][ch] * x[(n * c + ch) * hw + p];
        return y;
    }

    [Theory]
    [InlineData(2, 8, 5, 7, 4)]
    [InlineData(1, 7, 3, 3, 16)]   // C / r < 1: the bottleneck keeps one unit
    public void SqueezeExcitation_MatchesFloat64Reference(int b, int c, int h, int w, int r)
    {
        var rng = new Rng((ulong)(b * 100 + c));
        var se = new SqueezeExcitation(c, rng, r);
        Assert.Equal(Math.Max(1, c / r), se.Hidden);
        Assert.Equal(2L * c * se.Hidden + se.Hidden + c, se.ParameterCount);
        var x = rng.NormalTensor([b, c, h, w]);
        var y = se.Forward(Var.Constant(x)).Value.ToArray();
        var xd = D(x);
        var gates = new double[b][];
        for (int n = 0; n < b; n++)
        {
            var (avg, _) = Pool(xd, n, c, h * w);
            gates[n] = Affine(se.Expand, Affine(se.Reduce, avg).Select(v => Math.Max(0, v)).ToArray()).Select(Sigmoid).ToArray();
        }
        AssertClose(Scale(xd, gates, b, c, h * w), y);
        AssertClose(gates.SelectMany(g => g).ToArray(), se.LastGates!.ToArray());
    }

    [Fact]
    public void SqueezeExcitation_GradientCheck()
    {
        var rng = new Rng(61);
        var se = new SqueezeExcitation(6, rng, reduction: 2);
        var x = Var.Parameter(rng.NormalTensor([2, 6, 3, 4]), "x");
        ParameterGradCheck.Check(() => se.Forward(x), [.. se.Parameters(), x]);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(16, 3)]
    [InlineData(32, 3)]
    [InlineData(64, 3)]
    [InlineData(256, 5)]
    [InlineData(512, 5)]
    public void Eca_KernelSize_FollowsThePapersRule(int channels, int expected)
    {
        // k = |log2(C)/2 + 1/2| made odd: C = 64 → 3.5 → 3; C = 256 → 4.5 → 4 → 5
        Assert.Equal(expected, EfficientChannelAttention.KernelSizeFor(channels));
    }

    [Theory]
    [InlineData(2, 9, 4, 3, 3)]
    [InlineData(1, 6, 2, 5, 5)]
    [InlineData(2, 2, 3, 3, 5)]   // kernel wider than the channel axis: everything outside is zero padding
    public void Eca_MatchesFloat64Reference(int b, int c, int h, int w, int k)
    {
        var rng = new Rng((ulong)(7 * c + k));
        var eca = new EfficientChannelAttention(c, rng, k);
        Assert.Equal(k, eca.ParameterCount);
        var x = rng.NormalTensor([b, c, h, w]);
        var y = eca.Forward(Var.Constant(x)).Value.ToArray();
        var xd = D(x); var wt = D(eca.Weight.Value);
        var gates = new double[b][];
        for (int n = 0; n < b; n++)
        {
            var (avg, _) = Pool(xd, n, c, h * w);
            gates[n] = new double[c];
            for (int ch = 0; ch < c; ch++)
            {
                double acc = 0;
                for (int t = 0; t < k; t++)
                {
                    int src = ch + t - (k - 1) / 2;
                    if (src >= 0 && src < c) acc += wt[t] * avg[src];
                }
                gates[n][ch] = Sigmoid(acc);
            }
        }
        AssertClose(Scale(xd, gates, b, c, h * w), y);
    }

    [Fact]
    public void Eca_GradientCheck()
    {
        var rng = new Rng(62);
        var eca = new EfficientChannelAttention(7, rng, 3);
        var x = Var.Parameter(rng.NormalTensor([2, 7, 3, 3]), "x");
        ParameterGradCheck.Check(() => eca.Forward(x), [.. eca.Parameters(), x]);
    }

    [Fact]
    public void CbamChannel_MatchesFloat64Reference_AvgAndMaxThroughOneSharedMlp()
    {
        int b = 2, c = 8, h = 4, w = 5;
        var rng = new Rng(63);
        var m = new CbamChannelAttention(c, rng, reduction: 4);
        var x = rng.NormalTensor([b, c, h, w]);
        var y = m.Forward(Var.Constant(x)).Value.ToArray();
        var xd = D(x);
        var gates = new double[b][];
        double[] Mlp(double[] z) => Affine(m.Expand, Affine(m.Reduce, z).Select(v => Math.Max(0, v)).ToArray());
        for (int n = 0; n < b; n++)
        {
            var (avg, max) = Pool(xd, n, c, h * w);
            var a = Mlp(avg); var mx = Mlp(max);
            gates[n] = a.Zip(mx, (p, q) => Sigmoid(p + q)).ToArray();
        }
        AssertClose(Scale(xd, gates, b, c, h * w), y);
    }

    [Fact]
    public void CbamSpatial_MatchesFloat64Reference_ConvOverChannelMeanAndMax()
    {
        int b = 2, c = 3, h = 6, w = 7, k = 5;
        var rng = new Rng(64);
        var m = new CbamSpatialAttention(rng, k);
        Assert.Equal(2 * k * k + 1, m.ParameterCount);
        var x = rng.NormalTensor([b, c, h, w]);
        var y = m.Forward(Var.Constant(x)).Value.ToArray();
        var xd = D(x); var wt = D(m.Conv.Weight.Value); double bias = m.Conv.Bias!.Value[0];
        var expected = new double[xd.Length];
        var map = new double[b * h * w];
        for (int n = 0; n < b; n++)
        {
            // the two descriptor planes: mean and max over channels
            var planes = new double[2, h, w];
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    double s = 0, mx = double.NegativeInfinity;
                    for (int ch = 0; ch < c; ch++) { double v = xd[((n * c + ch) * h + i) * w + j]; s += v; mx = Math.Max(mx, v); }
                    planes[0, i, j] = s / c; planes[1, i, j] = mx;
                }
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    double acc = bias;
                    for (int p = 0; p < 2; p++)
                        for (int u = 0; u < k; u++)
                            for (int v = 0; v < k; v++)
                            {
                                int r = i + u - k / 2, q = j + v - k / 2;
                                if (r >= 0 && r < h && q >= 0 && q < w) acc += wt[(p * k + u) * k + v] * planes[p, r, q];
                            }
                    double g = Sigmoid(acc);
                    map[(n * h + i) * w + j] = g;
                    for (int ch = 0; ch < c; ch++) expected[((n * c + ch) * h + i) * w + j] = g * xd[((n * c + ch) * h + i) * w + j];
                }
        }
        AssertClose(expected, y);
        AssertClose(map, m.LastMap!.ToArray());
        Assert.Equal([b, h, w], m.LastMap!.Shape.ToArray());
    }

    [Fact]
    public void Cbam_IsChannelThenSpatial_AndBothHalvesPassTheGradientCheck()
    {
        var rng = new Rng(65);
        var block = new CbamBlock(4, rng, reduction: 2, kernelSize: 3);
        block.Channel!.Reduce.Bias!.Value.AsSpan().Fill(1f);   // keep the MLP's hidden units active so every weight has a gradient
        var x = Var.Parameter(rng.NormalTensor([2, 4, 4, 3]), "x");
        using (Var.NoGrad())
        {
            var composed = block.Spatial!.Forward(block.Channel!.Forward(x)).Value.ToArray();
            var y = block.Forward(x).Value.ToArray();
            Assert.Equal(composed, y);
        }
        ParameterGradCheck.Check(() => block.Forward(x), [.. block.Parameters(), x]);
        Assert.Throws<ArgumentException>(() => new CbamBlock(4, rng, channel: false, spatial: false));
        Assert.Throws<ArgumentException>(() => block.Forward(Var.Constant(Tensor.Zeros(1, 5, 3, 3))));
    }

    [Fact]
    public void NonLocal_MatchesFloat64Reference_EveryPositionAttendsToEveryOther()
    {
        int b = 2, c = 4, h = 3, w = 5, inner = 3, n = h * w;
        var rng = new Rng(66);
        var block = new NonLocalBlock(c, rng, inner, zeroInit: false);
        var x = rng.NormalTensor([b, c, h, w]);
        var y = block.Forward(Var.Constant(x)).Value.ToArray();
        var xd = D(x);
        var expected = new double[xd.Length];
        var attention = new double[b * n * n];
        for (int img = 0; img < b; img++)
        {
            double[] At(int p) => Enumerable.Range(0, c).Select(ch => xd[(img * c + ch) * n + p]).ToArray();
            var theta = Enumerable.Range(0, n).Select(p => Affine(block.Theta, At(p))).ToArray();
            var phi = Enumerable.Range(0, n).Select(p => Affine(block.Phi, At(p))).ToArray();
            var g = Enumerable.Range(0, n).Select(p => Affine(block.G, At(p))).ToArray();
            for (int i = 0; i < n; i++)
            {
                var s = Enumerable.Range(0, n).Select(j => theta[i].Zip(phi[j], (p, q) => p * q).Sum()).ToArray();
                double mx = s.Max(); var e = s.Select(v => Math.Exp(v - mx)).ToArray(); double z = e.Sum();
                var yi = new double[inner];
                for (int j = 0; j < n; j++)
                {
                    attention[(img * n + i) * n + j] = e[j] / z;
                    for (int d = 0; d < inner; d++) yi[d] += e[j] / z * g[j][d];
                }
                var zi = Affine(block.Z, yi);
                for (int ch = 0; ch < c; ch++) expected[(img * c + ch) * n + i] = zi[ch] + xd[(img * c + ch) * n + i];
            }
        }
        AssertClose(expected, y, 1e-5);
        AssertClose(attention, block.LastAttention!.ToArray(), 1e-5);
    }

    [Fact]
    public void NonLocal_StartsAsTheIdentity_AndPassesTheGradientCheck()
    {
        var rng = new Rng(67);
        var x = rng.NormalTensor([1, 3, 2, 3]);
        var identity = new NonLocalBlock(3, rng);
        Assert.Equal(x.ToArray(), identity.Forward(Var.Constant(x)).Value.ToArray());
        var block = new NonLocalBlock(3, rng, 2, zeroInit: false);
        var xv = Var.Parameter(rng.NormalTensor([2, 3, 2, 3]), "x");
        // φ's bias adds θ_iᵀb to every score of row i alike, and softmax ignores that: its gradient is exactly zero
        ParameterGradCheck.Check(() => block.Forward(xv), [.. block.Parameters(), xv], zeroGradient: [block.Phi.Bias!]);
    }

    [Fact]
    public void Modules_RejectWrongShapes_NamingWhatWasExpected()
    {
        var rng = new Rng(68);
        var bad = Var.Constant(Tensor.Zeros(2, 3, 4));
        var e1 = Assert.Throws<ArgumentException>(() => new SqueezeExcitation(3, rng).Forward(bad));
        Assert.Contains("(B, 3, H, W)", e1.Message);
        Assert.Throws<ArgumentException>(() => new EfficientChannelAttention(3, rng).Forward(bad));
        Assert.Throws<ArgumentException>(() => new CbamSpatialAttention(rng).Forward(bad));
        Assert.Throws<ArgumentException>(() => new NonLocalBlock(3, rng).Forward(bad));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EfficientChannelAttention(3, rng, kernelSize: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CbamSpatialAttention(rng, kernelSize: 6));
    }
}
