using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q08Tests
{
    [Theory]
    [InlineData(1234)]
    [InlineData(7)]
    public void Q08_Quick_AllChecksHold(int seed)
    {
        var result = new Q08_Softmax().Run(new ExperimentContext { Seed = seed });
        Assert.Equal(8, result.Question);
        Assert.True(result.Checks.Count >= 10);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }

    [Fact]
    public void Q08_OverflowThreshold_IsLnOfFloatMax()
    {
        float x = Q08_Softmax.FirstFloat(80f, v => float.IsPositiveInfinity(MathF.Exp(v)));
        Assert.True(float.IsFinite(MathF.Exp(MathF.BitDecrement(x))));
        Assert.InRange(x, 88.72f, 88.73f);
    }

    [Fact]
    public void Q08_Jacobian_IsSymmetricWithRowsSummingToZero()
    {
        double[] p = [0.1, 0.2, 0.3, 0.4];
        var j = Q08_Softmax.Jacobian(p);
        for (int a = 0; a < 4; a++)
        {
            double sum = 0;
            for (int b = 0; b < 4; b++) { sum += j[a, b]; Assert.Equal(j[a, b], j[b, a]); }
            Assert.Equal(0, sum, 15);
            Assert.Equal(p[a] * (1 - p[a]), j[a, a], 15);
        }
    }
}
