using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q01Tests
{
    [Fact]
    public void Q01_Quick_AllChecksHold()
    {
        var result = new Q01_ConceptOfAttention().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(1, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}
