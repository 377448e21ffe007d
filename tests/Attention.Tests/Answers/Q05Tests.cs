using Attention.Tensors;
using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q05Tests
{
    [Theory]
    [InlineData(1234)]
    [InlineData(42)]
    public void Q05_Quick_AllChecksHold(int seed)
    {
        var result = new Q05_QueryKeyValue().Run(new ExperimentContext { Seed = seed });
        Assert.Equal(5, result.Question);
        Assert.True(result.Checks.Count >= 8);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }

    [Fact]
    public void Q05_FitLeastSquares_RecoversAnExactLinearMap()
    {
        const int d = 7, n = 63;
        var rng = new Rng(1);
        var w = new float[d * d]; var q = new float[n * d]; var x = new float[n * d];
        rng.FillNormal(w); rng.FillNormal(q);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < d; c++)
            {
                double s = 0;
                for (int a = 0; a < d; a++) s += (double)q[i * d + a] * w[a * d + c];
                x[i * d + c] = (float)s;
            }
        var fitted = Q05_QueryKeyValue.FitLeastSquares(q, x, n, d, 1e-9);
        for (int i = 0; i < w.Length; i++) Assert.True(Math.Abs(fitted[i] - w[i]) < 1e-4, $"entry {i}: {fitted[i]} vs {w[i]}");
    }
}
