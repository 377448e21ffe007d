using Attention.Autograd;
using Attention.Book;
using Attention.Book.Experiments;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Tests.Answers;

public class Q34Tests
{
    [Fact]
    public void Q34_Quick_AllChecksHold()
    {
        var result = new Q34_AttentionDropout().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(34, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        Assert.Single(result.Figures);
        Assert.True(File.Exists(result.Figures[0].Path));
    }

    /// <summary>The variance formula against exact enumeration of all 2^S masks of a small row (no sampling).</summary>
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.3)]
    [InlineData(0.5)]
    public void Q34_RowSumVarianceFormula_MatchesExactEnumerationOfMasks(double p)
    {
        float[] row = [0.5f, 0.25f, 0.125f, 0.0625f, 0.0625f];
        int s = row.Length;
        double mean = 0, second = 0;
        for (int mask = 0; mask < 1 << s; mask++)
        {
            double probability = 1, sum = 0;
            for (int j = 0; j < s; j++)
            {
                bool kept = (mask >> j & 1) == 1;
                probability *= kept ? 1 - p : p;
                if (kept) sum += row[j] / (1 - p);
            }
            mean += probability * sum;
            second += probability * sum * sum;
        }
        Assert.Equal(1.0, mean, 12);                                              // E[row sum] = Σ P = 1
        Assert.Equal(second - mean * mean, Q34_AttentionDropout.RowSumVariance(row, p), 12);
    }

    [Fact]
    public void Q34_MaskStatistics_FlatRowHasSmallerSpreadThanPeakedRow()
    {
        const int s = 8;
        var p = new float[2 * s];
        for (int j = 0; j < s; j++) p[j] = 1f / s;                                // flat: Σ P² = 1/8
        p[s] = 0.93f; for (int j = 1; j < s; j++) p[s + j] = 0.01f;               // peaked: Σ P² ≈ 0.865
        var stats = Q34_AttentionDropout.MaskStatistics(p, 2, s, 0.3f, 3000, new Rng(5));
        Assert.True(stats.MeasuredVariance[1] > 4 * stats.MeasuredVariance[0],
            $"peaked row variance {stats.MeasuredVariance[1]} should be several times the flat row's {stats.MeasuredVariance[0]}");
        for (int i = 0; i < 2; i++)
            Assert.InRange(stats.MeasuredVariance[i] / stats.FormulaVariance[i], 0.85, 1.15);
        Assert.True(stats.DropKeyMaxRowError <= 1e-5);
    }

    [Fact]
    public void Q34_MakeData_LabelsFollowTheCountingRule_AndFlipsAreMarked()
    {
        var (ids, labels, flipped) = Q34_AttentionDropout.MakeData(new Rng(9), 4000, 0.2);
        int width = Q34_AttentionDropout.Length + 1, flips = 0;
        for (int e = 0; e < labels.Length; e++)
        {
            Assert.Equal(Q34_AttentionDropout.Vocab, ids[e * width]);             // [CLS] first
            int zeros = 0, ones = 0;
            for (int t = 1; t < width; t++) { if (ids[e * width + t] == 0) zeros++; else if (ids[e * width + t] == 1) ones++; }
            Assert.NotEqual(zeros, ones);
            int rule = zeros > ones ? 0 : 1;
            Assert.Equal(flipped[e] ? 1 - rule : rule, labels[e]);
            if (flipped[e]) flips++;
        }
        Assert.InRange(flips / 4000.0, 0.17, 0.23);                               // 0.2 ± 5 standard errors (0.0063)
    }

    [Fact]
    public void Q34_AttentionDropout_IsOffInEval_AndUnbiasedInTraining()
    {
        var rng = new Rng(21);
        var x = Var.Constant(rng.NormalTensor([1, 5, 8]));
        var layer = new MultiHeadAttention(8, 2, rng, attentionDropout: 0.4f);
        layer.Eval();
        var eval = layer.Forward(x).Value.ToArray();
        layer.Train();
        var sum = new double[eval.Length];
        const int trials = 4000;
        using (Var.NoGrad())
            for (int t = 0; t < trials; t++)
            {
                var y = layer.Forward(x).Value.AsSpan();
                for (int i = 0; i < y.Length; i++) sum[i] += y[i];
            }
        double scale = eval.Max(v => Math.Abs(v));
        for (int i = 0; i < eval.Length; i++)
            Assert.True(Math.Abs(sum[i] / trials - eval[i]) < 0.05 * scale + 0.02,
                $"output {i}: mean of training outputs {sum[i] / trials} vs eval {eval[i]}");
    }
}
