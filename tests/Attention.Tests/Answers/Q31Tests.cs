using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q31Tests
{
    [Fact]
    public void Q31_Quick_AllChecksHold()
    {
        var result = new Q31_Coverage().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(31, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}
