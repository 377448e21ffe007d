using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Attention.Tests.Autograd;

namespace Attention.Tests.Nn;

public class TargetAttentionTests
{
    private const int B = 3, T = 7, D = 5, Hid = 6;
    private static readonly int[] Lengths = [7, 4, 1];

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Float64 loops over DIN's activation unit, from the layer's own parameters: (weights (B, T), output (B, D)).</summary>
    private static (double[,] Weights, double[,] Output) Reference(TargetAttention layer, float[] h, float[] c, int[] lengths)
    {
        var w1 = layer.Hidden.Weight.Value.ToArray(); var b1 = layer.Hidden.Bias!.Value.ToArray();
        var w2 = layer.Score.Weight.Value.ToArray(); var b2 = layer.Score.Bias!.Value.ToArray();
        var weights = new double[B, T];
        var output = new double[B, D];
        for (int b = 0; b < B; b++)
        {
            var s = new double[lengths[b]];
            for (int j = 0; j < lengths[b]; j++)
            {
                var x = new double[4 * D];
                for (int k = 0; k < D; k++)
                {
                    double hk = h[(b * T + j) * D + k], ck = c[b * D + k];
                    x[k] = hk; x[D + k] = ck; x[2 * D + k] = hk - ck; x[3 * D + k] = hk * ck;
                }
                double score = b2[0];
                for (int u = 0; u < Hid; u++)
                {
                    double a = b1[u];
                    for (int k = 0; k < 4 * D; k++) a += w1[u * 4 * D + k] * x[k];
                    score += w2[u] * Sigmoid(a);
                }
                s[j] = score;
            }
            if (layer.Weighting == TargetWeighting.Softmax)
            {
                double max = s.Max(), sum = s.Sum(v => Math.Exp(v - max));
                for (int j = 0; j < s.Length; j++) s[j] = Math.Exp(s[j] - max) / sum;
            }
            for (int j = 0; j < s.Length; j++)
            {
                weights[b, j] = s[j];
                for (int k = 0; k < D; k++) output[b, k] += s[j] * h[(b * T + j) * D + k];
            }
        }
        return (weights, output);
    }

    [Theory]
    [InlineData(TargetWeighting.Unnormalized)] [InlineData(TargetWeighting.Softmax)]
    public void TargetAttention_MatchesFloat64Reference_PaddingGetsZeroWeight(TargetWeighting weighting)
    {
        var layer = new TargetAttention(D, Hid, new Rng(1), weighting);
        var h = new Rng(2).NormalArray(B * T * D);
        var c = new Rng(3).NormalArray(B * D);
        var r = layer.Forward(Var.Constant(Tensor.FromArray(h, B, T, D)), Var.Constant(Tensor.FromArray(c, B, D)), Lengths);
        var (weights, output) = Reference(layer, h, c, Lengths);
        var w = r.Weights.Value.ToArray(); var o = r.Output.Value.ToArray();
        for (int b = 0; b < B; b++)
        {
            for (int j = 0; j < T; j++)
                Assert.True(Math.Abs(w[b * T + j] - weights[b, j]) <= 1e-5 + 1e-4 * Math.Abs(weights[b, j]), $"w[{b},{j}]: expected {weights[b, j]}, got {w[b * T + j]}");
            for (int k = 0; k < D; k++)
                Assert.True(Math.Abs(o[b * D + k] - output[b, k]) <= 1e-5 + 1e-4 * Math.Abs(output[b, k]), $"v[{b},{k}]: expected {output[b, k]}, got {o[b * D + k]}");
        }
    }

    [Fact]
    public void TargetAttention_Unnormalized_WeightsAreRawScores_NotSummingToOne_SoftmaxRowsSumToOne()
    {
        // the paper's point: no softmax, so the size of the weights (and of the pooled vector) is free to carry intensity
        var h = Var.Constant(new Rng(4).NormalTensor([B, T, D]));
        var c = Var.Constant(new Rng(5).NormalTensor([B, D]));
        var raw = new TargetAttention(D, Hid, new Rng(6));
        var first = raw.Forward(h, c, Lengths);
        var w = first.Weights.Value.ToArray(); var s = first.Scores.Value.ToArray();
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Lengths[b]; j++) Assert.Equal(s[b * T + j], w[b * T + j]);
        // doubling the score layer doubles every weight and the pooled vector: no normalisation undoes it
        foreach (var p in raw.Score.Parameters()) { var v = p.Value.AsSpan(); for (int i = 0; i < v.Length; i++) v[i] *= 2f; }
        var second = raw.Forward(h, c, Lengths);
        var o1 = first.Output.Value.ToArray(); var o2 = second.Output.Value.ToArray();
        for (int i = 0; i < o1.Length; i++) Assert.True(Math.Abs(o2[i] - 2 * o1[i]) <= 1e-5 + 1e-5 * Math.Abs(o1[i]), $"v[{i}]");
        Assert.Contains(Enumerable.Range(0, B), b => Math.Abs(Enumerable.Range(0, Lengths[b]).Sum(j => w[b * T + j]) - 1) > 0.05);

        var soft = new TargetAttention(D, Hid, new Rng(6), TargetWeighting.Softmax).Forward(h, c, Lengths).Weights.Value.ToArray();
        for (int b = 0; b < B; b++) Assert.Equal(1.0, Enumerable.Range(0, T).Sum(j => (double)soft[b * T + j]), 5);
    }

    [Theory]
    [InlineData(TargetWeighting.Unnormalized)] [InlineData(TargetWeighting.Softmax)]
    public void TargetAttention_OutputIgnoresWhatLiesInThePadding(TargetWeighting weighting)
    {
        var layer = new TargetAttention(D, Hid, new Rng(7), weighting);
        var h = new Rng(8).NormalArray(B * T * D);
        var c = Var.Constant(new Rng(9).NormalTensor([B, D]));
        var y = layer.Forward(Var.Constant(Tensor.FromArray(h, B, T, D)), c, Lengths).Output.Value.ToArray();
        var h2 = (float[])h.Clone();
        for (int b = 0; b < B; b++)
            for (int j = Lengths[b]; j < T; j++)
                for (int k = 0; k < D; k++) h2[(b * T + j) * D + k] = 100f;
        var y2 = layer.Forward(Var.Constant(Tensor.FromArray(h2, B, T, D)), c, Lengths).Output.Value.ToArray();
        Assert.Equal(y, y2);
    }

    [Theory]
    [InlineData(TargetWeighting.Unnormalized)] [InlineData(TargetWeighting.Softmax)]
    public void TargetAttention_Gradients_MatchFiniteDifferences(TargetWeighting weighting)
    {
        var layer = new TargetAttention(D, Hid, new Rng(10), weighting);
        var h = Var.Parameter(new Rng(11).NormalTensor([B, T, D]));
        var c = Var.Parameter(new Rng(12).NormalTensor([B, D]));
        // with a softmax the score bias b₂ shifts every score alike and cancels: its gradient is exactly zero
        GradCheck.CheckLeaves(() => layer.Forward(h, c, Lengths).Output, [h, c, .. layer.Parameters()],
                              zeroGradient: weighting == TargetWeighting.Softmax ? [layer.Score.Bias!] : null);
    }

    [Fact]
    public void TargetAttention_WrongShapes_ThrowNamingExpectedAndActual()
    {
        var layer = new TargetAttention(D, Hid, new Rng(1));
        var h = Var.Constant(Tensor.Zeros(B, T, D));
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(h, Var.Constant(Tensor.Zeros(B, D + 1))));
        Assert.Contains($"({B}, {D})", e.Message);
        Assert.Throws<ArgumentException>(() => layer.Forward(Var.Constant(Tensor.Zeros(B, T, D + 1)), Var.Constant(Tensor.Zeros(B, D))));
        Assert.Throws<ArgumentException>(() => layer.Forward(h, Var.Constant(Tensor.Zeros(B, D)), [1, 2]));
        Assert.Throws<ArgumentException>(() => layer.Forward(h, Var.Constant(Tensor.Zeros(B, D)), [1, 2, T + 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TargetAttention(0, Hid, new Rng(1)));
    }
}
