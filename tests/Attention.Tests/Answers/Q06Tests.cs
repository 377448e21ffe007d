using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q06Tests
{
    [Fact]
    public void Q06_Quick_AllChecksHold()
    {
        var result = new Q06_AdditiveVsMultiplicative().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(6, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}
