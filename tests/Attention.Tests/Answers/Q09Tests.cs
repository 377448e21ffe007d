using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q09Tests
{
    [Theory]
    [InlineData(1234)]
    [InlineData(99)]
    public void Q09_Quick_AllChecksHold(int seed)
    {
        var result = new Q09_ContextVector().Run(new ExperimentContext { Seed = seed });
        Assert.Equal(9, result.Question);
        Assert.True(result.Checks.Count >= 7);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }

    [Fact]
    public void Q09_Hull_OfSquareWithInteriorPoint_IsTheFourCorners()
    {
        var hull = Q09_ContextVector.Hull([(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5)]);
        Assert.Equal(4, hull.Count);
        Assert.DoesNotContain((0.5, 0.5), hull);
    }
}
