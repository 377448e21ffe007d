using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Attention.Tests.Autograd;

namespace Attention.Tests.Nn;

public class ContextAttentionTests
{
    private const int B = 4, T = 7, D = 5, A = 3;
    private static readonly int[] Lengths = [7, 3, 0, 1];

    /// <summary>Float64 loops over Yang et al.'s eqs. 5–7 from the layer's parameters: (α (B, T), s (B, D)).</summary>
    private static (double[,] Alpha, double[,] Output) Reference(ContextAttention layer, float[] h, int[] lengths)
    {
        var w = layer.Projection.Weight.Value.ToArray(); var bias = layer.Projection.Bias!.Value.ToArray();
        var u = layer.Context.Value.ToArray();
        var alpha = new double[B, T];
        var output = new double[B, D];
        for (int b = 0; b < B; b++)
        {
            if (lengths[b] == 0) continue;
            var e = new double[lengths[b]];
            for (int t = 0; t < lengths[b]; t++)
                for (int a = 0; a < A; a++)
                {
                    double z = bias[a];
                    for (int k = 0; k < D; k++) z += w[a * D + k] * h[(b * T + t) * D + k];
                    e[t] += Math.Tanh(z) * u[a];
                }
            double max = e.Max(), sum = e.Sum(x => Math.Exp(x - max));
            for (int t = 0; t < e.Length; t++)
            {
                alpha[b, t] = Math.Exp(e[t] - max) / sum;
                for (int k = 0; k < D; k++) output[b, k] += alpha[b, t] * h[(b * T + t) * D + k];
            }
        }
        return (alpha, output);
    }

    [Fact]
    public void ContextAttention_MatchesFloat64Reference_RowsSumToOne_EmptyRowIsZero()
    {
        var layer = new ContextAttention(D, A, new Rng(1));
        var h = new Rng(2).NormalArray(B * T * D);
        var r = layer.Forward(Var.Constant(Tensor.FromArray(h, B, T, D)), Lengths);
        var (alpha, output) = Reference(layer, h, Lengths);
        var w = r.Weights.Value.ToArray(); var o = r.Output.Value.ToArray();
        for (int b = 0; b < B; b++)
        {
            for (int t = 0; t < T; t++)
                Assert.True(Math.Abs(w[b * T + t] - alpha[b, t]) <= 1e-6 + 1e-5 * alpha[b, t], $"α[{b},{t}]: expected {alpha[b, t]}, got {w[b * T + t]}");
            for (int k = 0; k < D; k++)
                Assert.True(Math.Abs(o[b * D + k] - output[b, k]) <= 1e-5 + 1e-4 * Math.Abs(output[b, k]), $"s[{b},{k}]");
            double rowSum = Enumerable.Range(0, T).Sum(t => (double)w[b * T + t]);
            Assert.Equal(Lengths[b] == 0 ? 0.0 : 1.0, rowSum, 5);
        }
        Assert.All(Enumerable.Range(0, D), k => Assert.Equal(0f, o[2 * D + k]));
    }

    [Fact]
    public void ContextAttention_ValidityMask_EqualsLengths()
    {
        var layer = new ContextAttention(D, A, new Rng(3));
        var h = Var.Constant(new Rng(4).NormalTensor([B, T, D]));
        var valid = new bool[B * T];
        for (int b = 0; b < B; b++) for (int t = 0; t < Lengths[b]; t++) valid[b * T + t] = true;
        Assert.Equal(layer.Forward(h, Lengths).Output.Value.ToArray(), layer.Forward(h, valid).Output.Value.ToArray());
        Assert.Equal(layer.Forward(h, Lengths).Weights.Value.ToArray(), layer.Forward(h, valid).Weights.Value.ToArray());
    }

    [Fact]
    public void ContextAttention_Gradients_MatchFiniteDifferences()
    {
        var layer = new ContextAttention(D, A, new Rng(5));
        var h = Var.Parameter(new Rng(6).NormalTensor([B, T, D]));
        GradCheck.CheckLeaves(() => layer.Forward(h, Lengths).Output, [h, .. layer.Parameters()]);
    }

    [Fact]
    public void ContextAttention_WrongShapes_ThrowNamingExpectedAndActual()
    {
        var layer = new ContextAttention(D, A, new Rng(1));
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(Var.Constant(Tensor.Zeros(B, T, D + 1))));
        Assert.Contains($"(B, T, {D})", e.Message);
        Assert.Throws<ArgumentException>(() => layer.Forward(Var.Constant(Tensor.Zeros(B, T, D)), new bool[B * T - 1]));
        Assert.Throws<ArgumentException>(() => layer.Forward(Var.Constant(Tensor.Zeros(B, T, D)), [1, 2, 3]));
    }
}
