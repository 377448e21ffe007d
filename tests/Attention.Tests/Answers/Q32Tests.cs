using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q32Tests
{
    [Fact]
    public void Q32_Quick_AllChecksHold()
    {
        var result = new Q32_AlignmentInTranslation().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(32, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}
