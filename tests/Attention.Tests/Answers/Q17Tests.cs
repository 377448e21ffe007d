using Attention.Book;
using Attention.Book.Experiments;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Tests.Answers;

public class Q17Tests
{
    [Fact]
    public void Q17_Quick_AllChecksHold()
    {
        var result = new Q17_VanishingGradients().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(17, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        Assert.True(result.Metrics["grad_init_gru_T25"] < result.Metrics["grad_init_gru_T10"]);
        Assert.True(result.Metrics["grad_init_gru_T50"] < result.Metrics["grad_init_gru_T25"]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Q17_GruWithoutAttention_GradientToFirstInputShrinksTenfold_FromT5ToT30(int seed)
    {
        double shortSeq = MedianNorm(0, 5, seed), longSeq = MedianNorm(0, 30, seed);
        Assert.True(shortSeq > 10 * longSeq, $"T=5: {shortSeq:G3}, T=30: {longSeq:G3}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    public void Q17_AttentionModels_GradientToFirstInputWithinTenfold_FromT5ToT30(int seed, int model)
    {
        double shortSeq = MedianNorm(model, 5, seed), longSeq = MedianNorm(model, 30, seed);
        Assert.True(longSeq > 0.1 * shortSeq && longSeq < 10 * shortSeq, $"T=5: {shortSeq:G3}, T=30: {longSeq:G3}");
    }

    [Fact]
    public void Q17_GradientNorms_AreEachItemsOwn_NotDividedByBatch()
    {
        // The loss is summed over the batch, so an item's gradient must not depend on what else is in the batch.
        var model = Q17_VanishingGradients.Create(1, new Rng(7));
        var sequences = Q17_VanishingGradients.RandomSequences(4, 6, new Rng(8));
        var together = Q17_VanishingGradients.FirstInputGradientNorms(model, PaddedBatch.Pad(sequences));
        var alone = Q17_VanishingGradients.FirstInputGradientNorms(model, PaddedBatch.Pad([sequences[2]]));
        Assert.Equal(alone[0], together[2], 4);
    }

    [Fact]
    public void Q17_ShiftRight_PutsStartFirstAndDropsTheLastToken()
    {
        var batch = PaddedBatch.Pad([[1, 2, 3], [4, 5, 6]]);
        Assert.Equal(new[] { 0, 1, 2, 0, 4, 5 }, Q17_VanishingGradients.ShiftRight(batch));
    }

    [Fact]
    public void Q17_Positions_MatchSinusoidFormula()
    {
        var pe = Q17_VanishingGradients.Positions(7, 6).AsSpan();
        for (int p = 0; p < 7; p++)
            for (int i = 0; i < 6; i += 2)
            {
                double angle = p / Math.Pow(10000, i / 6.0);
                Assert.Equal(Math.Sin(angle), pe[p * 6 + i], 5);
                Assert.Equal(Math.Cos(angle), pe[p * 6 + i + 1], 5);
            }
    }

    [Fact]
    public void Q17_FitLine_RecoversExponentialRateWithRSquaredOne()
    {
        double[] t = [10, 25, 50, 100];
        var logG = t.Select(x => Math.Log(3 * Math.Pow(0.7, x))).ToArray();
        var (slope, r2) = Q17_VanishingGradients.FitLine(t, logG);
        Assert.Equal(0.7, Math.Exp(slope), 10);
        Assert.Equal(1.0, r2, 10);
    }

    private static double MedianNorm(int model, int length, int seed)
    {
        var norms = Q17_VanishingGradients.FirstInputGradientNorms(
            Q17_VanishingGradients.Create(model, new Rng((ulong)seed)),
            PaddedBatch.Pad(Q17_VanishingGradients.RandomSequences(8, length, new Rng((ulong)seed + 100))));
        return Q14_WhyScale.Median(norms);
    }
}
