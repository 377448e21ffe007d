using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Seq2Seq;

/// <summary>
/// The quick settings of the recurrent-attention answers whose models the G2P cache shares with the render test
/// (ExperimentRenderTests runs every experiment once; answers 2, 10 and 18 train their own models and rely on it alone).
/// </summary>
internal static class QuickRun
{
    public static ExperimentResult Run(Experiment experiment, int question)
    {
        var result = experiment.Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(question, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        return result;
    }
}

[Collection("Experiments")]
public class Q03Tests
{
    [Fact]
    public void Q03_Quick_AllChecksHold()
    {
        var result = QuickRun.Run(new Q03_Bahdanau(), 3);
        Assert.Contains(result.Figures, f => f.Heatmap is not null);
    }
}

[Collection("Experiments")]
public class Q04Tests
{
    [Fact]
    public void Q04_Quick_AllChecksHold() => QuickRun.Run(new Q04_LuongVsBahdanau(), 4);
}

[Collection("Experiments")]
public class Q30Tests
{
    [Fact]
    public void Q30_Quick_AllChecksHold() => QuickRun.Run(new Q30_AttentionInRnns(), 30);
}
