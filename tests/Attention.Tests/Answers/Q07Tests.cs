using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q07Tests
{
    [Fact]
    public void Q07_Quick_AllChecksHold()
    {
        var result = new Q07_AlignmentScores().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(7, result.Question);
        Assert.True(result.Checks.Count >= 8);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        // every score function was timed; the numbers are reported, never asserted (shared machine)
        foreach (var name in new[] { "dot", "scaled_dot", "general", "additive", "neg_sq_distance" })
            Assert.True(result.Metrics[$"time_ratio_{name}"] > 0, name);
        Assert.Equal(0, result.Metrics["argmax_disagreement_0"]);
        Assert.True(result.Metrics["argmax_disagreement_1"] > result.Metrics["argmax_disagreement_0_05"]);
    }
}
