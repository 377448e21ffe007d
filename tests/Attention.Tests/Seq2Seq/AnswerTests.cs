using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Seq2Seq;

/// <summary>The quick settings of the recurrent-attention answers, seeded; every non-timing check must hold.</summary>
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
public class Q02Tests
{
    [Fact]
    public void Q02_Quick_AllChecksHold() => QuickRun.Run(new Q02_WhatAttentionSolves(), 2);
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
public class Q10Tests
{
    [Fact]
    public void Q10_Quick_AllChecksHold() => QuickRun.Run(new Q10_GlobalVsLocal(), 10);
}

[Collection("Experiments")]
public class Q18Tests
{
    [Fact]
    public void Q18_Quick_AllChecksHold() => QuickRun.Run(new Q18_AttentionBottleneck(), 18);
}

[Collection("Experiments")]
public class Q30Tests
{
    [Fact]
    public void Q30_Quick_AllChecksHold() => QuickRun.Run(new Q30_AttentionInRnns(), 30);
}
