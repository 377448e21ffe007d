using Attention.Data;
using Attention.Interpret;
using Attention.Tensors;

namespace Attention.Tests.Data;

/// <summary>The two synthetic tasks of answers 11 and 12: their rows have the structure their doc comments promise.</summary>
public class TaskGeneratorTests
{
    [Fact]
    public void RepeatedTokens_SecondCopyRepeatsFirst_TokensDistinctBefore_TargetsAreNextTokens()
    {
        var batch = RepeatedTokensTask.Sample(200, 21, 4, 10, 24, new Rng(5));
        int t = batch.Time;
        var lengthsSeen = new HashSet<int>();
        for (int b = 0; b < batch.Batch; b++)
        {
            var row = batch.Inputs.AsSpan(b * t, t);
            int s = batch.Starts[b], n = batch.Halves[b];
            lengthsSeen.Add(n);
            Assert.InRange(n, 4, 10);
            Assert.Equal(t, s + 2 * n);                                        // BOS + filler + two copies fill the row exactly
            Assert.Equal(RepeatedTokensTask.Bos, row[0]);
            Assert.True(row.Slice(s, n).SequenceEqual(row.Slice(s + n, n)), $"row {b}: second copy differs from the first");
            var before = row.Slice(1, s + n - 1).ToArray();
            Assert.Equal(before.Length, before.Distinct().Count());            // filler and first copy: no repeats
            Assert.All(before, x => Assert.InRange(x, 1, 23));
            for (int i = 0; i < t - 1; i++) Assert.Equal(row[i + 1], batch.Targets[b * t + i]);
            Assert.Equal(RepeatedTokensTask.Ignore, batch.Targets[b * t + t - 1]);
            // every second-copy query's token occurred exactly once before, and the token after it is the target
            var previous = PatternScores.PreviousOccurrence(row);
            for (int i = 0; i < t - 1; i++)
                if (batch.InSecondCopy(b, i))
                    Assert.Equal(row[previous[i] + 1], batch.Targets[b * t + i]);
                else if (i >= 1 && batch.BeforeSecondCopy(b, i))
                    Assert.Equal(-1, previous[i]);
        }
        Assert.True(lengthsSeen.Count >= 5, $"copy lengths should vary between rows; saw {string.Join(", ", lengthsSeen)}");
    }

    [Fact]
    public void RepeatedTokens_SameSeed_SameRows_AndBadSizesThrow()
    {
        var a = RepeatedTokensTask.Sample(8, 21, 4, 10, 24, new Rng(9));
        var b = RepeatedTokensTask.Sample(8, 21, 4, 10, 24, new Rng(9));
        Assert.Equal(a.Inputs, b.Inputs);
        Assert.Throws<ArgumentException>(() => RepeatedTokensTask.Sample(1, 21, 4, 11, 24, new Rng(1)));    // 2·11 > 20
        Assert.Throws<ArgumentException>(() => RepeatedTokensTask.Sample(1, 21, 4, 10, 16, new Rng(1)));    // 16 distinct tokens needed, 15 exist
        Assert.Throws<ArgumentException>(() => RepeatedTokensTask.Sample(1, 21, 1, 10, 24, new Rng(1)));
    }

    [Fact]
    public void TwoRelation_OneMarkPerRow_TargetsArePreviousAndMarkedSymbols()
    {
        var batch = TwoRelationTask.Sample(300, 16, 16, new Rng(3));
        int t = batch.Time;
        var markedAt = new int[t];
        for (int b = 0; b < batch.Batch; b++)
        {
            int o = b * t, m = batch.MarkedPositions[b];
            Assert.Equal(1, batch.Marks.AsSpan(o, t).ToArray().Sum());
            Assert.Equal(1, batch.Marks[o + m]);
            markedAt[m]++;
            Assert.Equal(TwoRelationTask.Ignore, batch.Previous[o]);
            for (int i = 0; i < t; i++)
            {
                Assert.InRange(batch.Symbols[o + i], 0, 15);
                if (i > 0) Assert.Equal(batch.Symbols[o + i - 1], batch.Previous[o + i]);
                Assert.Equal(batch.Symbols[o + m], batch.Marked[o + i]);
            }
        }
        Assert.All(markedAt, c => Assert.True(c > 0, "every position should be marked in some row"));
        Assert.Throws<ArgumentOutOfRangeException>(() => TwoRelationTask.Sample(1, 1, 16, new Rng(1)));
    }
}
