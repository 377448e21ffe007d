using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q28Tests
{
    [Fact]
    public void Q28_Quick_AllChecksHold()
    {
        var result = new Q28_HardVsSoft().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(28, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}
