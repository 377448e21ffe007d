using Attention.Autograd;
using Attention.Positions;
using Attention.Tensors;
using Attention.Tests.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Positions;

public class SinusoidalAndLearnedTests
{
    [Fact]
    public void Sinusoidal_MatchesThePaperFormula_InDouble()
    {
        int dim = 10;
        var pe = SinusoidalPositions.Table(7, dim, start: 3);
        for (int p = 0; p < 7; p++)
            for (int i = 0; i < dim / 2; i++)
            {
                double w = 1 / Math.Pow(10000, 2.0 * i / dim);
                Assert.Equal(Math.Sin((p + 3) * w), pe[p * dim + 2 * i], 6);
                Assert.Equal(Math.Cos((p + 3) * w), pe[p * dim + 2 * i + 1], 6);
            }
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(5, 16)]
    [InlineData(37, 62)]
    public void Sinusoidal_ShiftByK_IsOneFixedLinearMap_ForEveryPosition(int k, int dim)
    {
        var m = SinusoidalPositions.ShiftMatrix(k, dim);
        var pe = SinusoidalPositions.Table(300 + k, dim);
        double worst = 0;
        foreach (int p in new[] { 0, 1, 7, 63, 127, 129, 299 })
            for (int r = 0; r < dim; r++)
            {
                double mapped = 0;
                for (int c = 0; c < dim; c++) mapped += m[r * dim + c] * pe[p * dim + c];
                worst = Math.Max(worst, Math.Abs(mapped - pe[(p + k) * dim + r]));
            }
        Assert.True(worst < 1e-5, $"PE(p + {k}) differs from M_k·PE(p) by {worst:e2}");
        // and M_k is not the identity, so the test can fail
        Assert.True(Math.Abs(m[0] - 1) > 1e-3 || Math.Abs(m[1]) > 1e-3);
    }

    [Fact]
    public void Sinusoidal_AddToInput_AddsTheTableAtTheOffset()
    {
        var x = Var.Constant(Tensor.Zeros(2, 5, 8));
        var y = new SinusoidalPositions().AddToInput(x, start: 4).Value;
        var pe = SinusoidalPositions.Table(5, 8, start: 4);
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 40; i++) Assert.Equal(pe[i], y.AsSpan()[b * 40 + i]);
    }

    [Fact]
    public void Learned_AddsRowP_AndRejectsPositionsBeyondItsTable()
    {
        var learned = new LearnedPositions(6, 4, new Rng(1));
        var y = learned.AddToInput(Var.Constant(Tensor.Zeros(1, 3, 4)), start: 2).Value;
        for (int t = 0; t < 3; t++)
            for (int c = 0; c < 4; c++) Assert.Equal(learned.Weight.Value[t + 2, c], y[0, t, c]);
        var e = Assert.Throws<ArgumentException>(() => learned.AddToInput(Var.Constant(Tensor.Zeros(1, 3, 4)), start: 4));
        Assert.Contains("0 … 5", e.Message);
    }

    [Fact]
    public void Learned_GradientOfItsTable_MatchesFiniteDifferences()
    {
        var learned = new LearnedPositions(5, 3, new Rng(2));
        var x = Var.Parameter(new Rng(3).NormalTensor([2, 4, 3]));
        ParameterGradCheck.Check(() => learned.AddToInput(x, start: 1).Square(), [learned.Weight, x]);
    }
}
