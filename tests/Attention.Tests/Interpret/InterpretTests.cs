using Attention.Autograd;
using Attention.Interpret;
using Attention.Tensors;

namespace Attention.Tests.Interpret;

public class RolloutAndFlowTests
{
    private static double[,] RandomAttention(int t, Random rng)
    {
        var a = new double[t, t];
        for (int i = 0; i < t; i++)
        {
            double sum = 0;
            for (int j = 0; j < t; j++) sum += a[i, j] = Math.Exp(2 * rng.NextDouble());
            for (int j = 0; j < t; j++) a[i, j] /= sum;
        }
        return a;
    }

    [Fact]
    public void Rollout_RowsSumToOne_AndEqualsProductOfResidualMatrices()
    {
        var rng = new Random(1);
        var layers = Enumerable.Range(0, 3).Select(_ => RandomAttention(5, rng)).ToList();
        var rolled = AttentionRollout.Rollout(layers);
        // reference: explicit (0.5A + 0.5I) products, top layer on the left
        var expected = new double[5, 5];
        for (int i = 0; i < 5; i++) expected[i, i] = 1;
        foreach (var a in layers)
        {
            var next = new double[5, 5];
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 5; j++)
                    for (int k = 0; k < 5; k++) next[i, j] += (0.5 * a[i, k] + (i == k ? 0.5 : 0)) * expected[k, j];
            expected = next;
        }
        for (int i = 0; i < 5; i++)
        {
            double sum = 0;
            for (int j = 0; j < 5; j++) { sum += rolled[i, j]; Assert.Equal(expected[i, j], rolled[i, j], 12); }
            Assert.Equal(1.0, sum, 12);
        }
    }

    [Fact]
    public void Rollout_OfIdentityAttention_IsIdentity()
    {
        var id = new double[4, 4];
        for (int i = 0; i < 4; i++) id[i, i] = 1;
        var rolled = AttentionRollout.Rollout([id, id, id]);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) Assert.Equal(i == j ? 1.0 : 0.0, rolled[i, j], 12);
    }

    [Fact]
    public void Flow_OneLayer_IsSumOfBottlenecksOfTwoEdgePaths()
    {
        var rng = new Random(2);
        var a = RandomAttention(4, rng);
        var w = new[] { 0.1, 0.4, 0.2, 0.3 };
        var flow = AttentionRollout.Flow([a], w);
        var res = AttentionRollout.WithResidual(a);
        for (int j = 0; j < 4; j++)
        {
            // input j reaches output node only through (layer 1, i): disjoint paths, each limited by its smaller edge
            double expected = 0;
            for (int i = 0; i < 4; i++) expected += Math.Min(res[i, j], w[i]);
            Assert.Equal(expected, flow[j], 12);
        }
    }

    [Fact]
    public void Flow_TwoLayers_EqualsMinimumCut_ByEnumeration()
    {
        var rng = new Random(3);
        int t = 3;
        var layers = new List<double[,]> { RandomAttention(t, rng), RandomAttention(t, rng) };
        var w = new[] { 0.5, 0.2, 0.3 };
        var flow = AttentionRollout.Flow(layers, w);
        // nodes: layer ℓ token i = ℓ·t + i (ℓ = 0..2), sink = 9; cut capacity minimised over every set holding the source
        var edges = new List<(int From, int To, double Cap)>();
        for (int l = 1; l <= 2; l++)
        {
            var r = AttentionRollout.WithResidual(layers[l - 1]);
            for (int i = 0; i < t; i++)
                for (int k = 0; k < t; k++) edges.Add(((l - 1) * t + k, l * t + i, r[i, k]));
        }
        for (int i = 0; i < t; i++) edges.Add((2 * t + i, 3 * t, w[i]));
        for (int source = 0; source < t; source++)
        {
            double best = double.PositiveInfinity;
            var free = Enumerable.Range(0, 3 * t).Where(v => v != source).ToArray();
            for (int mask = 0; mask < 1 << free.Length; mask++)
            {
                var side = new HashSet<int> { source };
                for (int b = 0; b < free.Length; b++) if ((mask >> b & 1) == 1) side.Add(free[b]);
                best = Math.Min(best, edges.Where(e => side.Contains(e.From) && !side.Contains(e.To)).Sum(e => e.Cap));
            }
            Assert.Equal(best, flow[source], 10);
        }
    }

    [Fact]
    public void Flow_WrongShapes_Throw()
    {
        Assert.Throws<ArgumentException>(() => AttentionRollout.Flow([new double[3, 3]], new double[2]));
        Assert.Throws<ArgumentException>(() => AttentionRollout.Rollout([new double[3, 3], new double[2, 2]]));
        Assert.Throws<ArgumentException>(() => AttentionRollout.HeadAverage(new float[7], 1, 3, 3));
    }
}

public class HeadStatisticsTests
{
    [Fact]
    public void PreviousTokenHead_ScoresOne_UniformHead_HasEntropyLnN()
    {
        // tokens: [CLS] a b . [SEP] + one padding column
        int n = 5, time = 6, heads = 2;
        var kinds = new[] { "[CLS]", "a", "b", ".", "[SEP]" }.Select(HeadStatistics.KindOf).ToArray();
        var p = new float[heads * time * time];
        for (int i = 0; i < n; i++)
        {
            p[(0 * time + i) * time + Math.Max(0, i - 1)] = 1;                 // head 0: previous token ([CLS] looks at itself)
            for (int j = 0; j < n; j++) p[(1 * time + i) * time + j] = 1f / n;  // head 1: uniform over real tokens
        }
        var stats = new HeadStatistics(1, heads);
        stats.Add(0, p, time, kinds);
        var prev = stats.Get(0, 0);
        var uniform = stats.Get(0, 1);
        Assert.Equal(1.0, prev.ToPrevious, 6);
        Assert.Equal(0.0, prev.ToNext, 6);
        Assert.Equal(0.0, prev.Entropy, 6);
        Assert.Equal(Math.Log(n), uniform.Entropy, 5);
        Assert.Equal(0.2, uniform.ToCls, 6);
        Assert.Equal(0.2, uniform.ToSep, 6);
        Assert.Equal(0.2, uniform.ToPunctuation, 6);
        Assert.Equal(n, uniform.Rows);
    }

    [Theory]
    [InlineData("[CLS]", TokenKind.Cls)]
    [InlineData("[SEP]", TokenKind.Sep)]
    [InlineData(",", TokenKind.Punctuation)]
    [InlineData("$", TokenKind.Punctuation)]
    [InlineData("##s", TokenKind.Word)]
    [InlineData("cat", TokenKind.Word)]
    public void KindOf_ClassifiesBertTokens(string token, TokenKind kind) => Assert.Equal(kind, HeadStatistics.KindOf(token));
}

public class RankCorrelationTests
{
    [Fact]
    public void Spearman_WithoutTies_MatchesTheSquaredRankDifferenceFormula()
    {
        var rng = new Random(4);
        for (int trial = 0; trial < 20; trial++)
        {
            int n = 3 + trial;
            var x = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
            var y = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
            var rx = RankCorrelation.Ranks(x); var ry = RankCorrelation.Ranks(y);
            double d2 = Enumerable.Range(0, n).Sum(i => (rx[i] - ry[i]) * (rx[i] - ry[i]));
            Assert.Equal(1 - 6 * d2 / (n * ((double)n * n - 1)), RankCorrelation.Spearman(x, y), 10);
        }
    }

    [Fact]
    public void Spearman_IsOneForMonotoneMaps_MinusOneReversed_AndAveragesTies()
    {
        double[] x = [0.3, 1.5, -2, 7, 4];
        Assert.Equal(1.0, RankCorrelation.Spearman(x, x.Select(v => Math.Exp(v)).ToArray()), 12);
        Assert.Equal(-1.0, RankCorrelation.Spearman(x, x.Select(v => -v * v * v).ToArray()), 12);
        Assert.Equal([1.5, 1.5, 3, 4.5, 4.5], RankCorrelation.Ranks([2, 2, 5, 9, 9]));
        Assert.True(double.IsNaN(RankCorrelation.Spearman([1, 1, 1], [1, 2, 3])));
        Assert.Throws<ArgumentException>(() => RankCorrelation.Spearman([1, 2], [1, 2, 3]));
    }
}

public class AttributionTests
{
    // f(X) = Σ_k tanh(w_k·X[n, k]) per row: (N, K) → (N)
    private static readonly float[] W = [0.7f, -1.3f, 2.1f, 0.4f, -0.2f, 1.1f];
    private static Var F(Var x) => (x * Var.Constant(Tensor.FromArray(W, W.Length))).Tanh().Sum(1);

    [Fact]
    public void IntegratedGradients_AreComplete_SumEqualsOutputDifference()
    {
        var x = Tensor.FromArray([1.2f, 0.3f, -0.8f, 2.0f, 0.5f, -1.5f], 6);
        var ig = Attribution.IntegratedGradients(F, x, Tensor.Zeros(6), steps: 64);
        double exact = Enumerable.Range(0, 6).Sum(k => Math.Tanh(W[k] * x.Storage[k]));
        Assert.Equal(exact, ig.Output, 5);
        Assert.Equal(0.0, ig.BaselineOutput, 6);
        Assert.True(Math.Abs(ig.CompletenessGap) < 1e-3 * Math.Abs(exact), $"gap {ig.CompletenessGap}");
        // each attribution is exactly the per-coordinate change for a separable f: tanh(w x) − tanh(0)
        for (int k = 0; k < 6; k++) Assert.Equal(Math.Tanh(W[k] * x.Storage[k]), ig.Attributions[k], 3);
    }

    [Fact]
    public void GradientTimesInput_OfLinearFunction_IsWeightTimesInput()
    {
        var x = Tensor.FromArray([1f, 2f, 3f], 3);
        var w = Tensor.FromArray([0.5f, -1f, 2f], 3);
        var a = Attribution.GradientTimesInput(v => (v * Var.Constant(w)).Sum(1), x);
        Assert.Equal([0.5f, -2f, 6f], a);
    }

    [Fact]
    public void PerToken_SumsOrNormsOverTheEmbeddingAxis()
    {
        float[] a = [3, -4, 1, 1];
        Assert.Equal([-1.0, 2.0], Attribution.PerToken(a, 2, 2));
        Assert.Equal(5.0, Attribution.PerToken(a, 2, 2, absolute: true)[0], 12);
        Assert.Throws<ArgumentException>(() => Attribution.IntegratedGradients(F, Tensor.Zeros(6), Tensor.Zeros(5)));
    }
}

public class SentenceCorpusTests
{
    [Fact]
    public void RepoCorpus_HasOver200DistinctSentences_AndDistinctParaphrasePairs()
    {
        var corpus = SentenceCorpus.LoadRepoCopy();
        Assert.True(corpus.Pairs.Count >= 100, $"{corpus.Pairs.Count} pairs");
        Assert.True(corpus.All.Count >= 200, $"{corpus.All.Count} sentences");
        Assert.Equal(corpus.All.Count, corpus.All.Distinct().Count());
        Assert.All(corpus.Pairs, p => Assert.NotEqual(p.A, p.B));
    }
}
