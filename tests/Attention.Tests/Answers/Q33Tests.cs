using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q33Tests
{
    [Fact]
    public void Q33_Quick_AllChecksHold()
    {
        var result = new Q33_AttentionRegularisation().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(33, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}
