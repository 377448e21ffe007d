using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Reference;

namespace Attention.Tests.Mechanisms;

public class PerformerTests
{
    [Fact]
    public void Performer_OrthogonalDraw_RowsInABlockAreOrthogonal_AndNormsVary()
    {
        int d = 6, m = 15;
        var w = Performer.Draw(m, d, orthogonal: true, new Rng(1)).ToArray();
        var norms = new double[m];
        for (int i = 0; i < m; i++) norms[i] = Math.Sqrt(Enumerable.Range(0, d).Sum(p => (double)w[i * d + p] * w[i * d + p]));
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++)
            {
                if (i / d != j / d) continue;                  // orthogonality holds inside a block of D rows
                double dot = Enumerable.Range(0, d).Sum(p => (double)w[i * d + p] * w[j * d + p]);
                Assert.True(Math.Abs(dot) < 1e-4 * norms[i] * norms[j], $"rows {i}, {j}: cos {dot / (norms[i] * norms[j]):G3}");
            }
        Assert.True(norms.Max() - norms.Min() > 0.1, "rows are rescaled to chi-distributed norms, not unit length");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Performer_KernelEstimate_IsUnbiased_OverRedraws(bool orthogonal)
    {
        // E[φ(q)·φ(k)] = exp(q·k/√D): average the estimate over many independent projections
        int d = 8, m = 32, draws = 600;
        var rng = new Rng(2);
        var q = rng.NormalTensor([1, 1, 1, d], 0, 0.6f); var k = rng.NormalTensor([1, 1, 1, d], 0, 0.6f);
        double exact = Math.Exp(Enumerable.Range(0, d).Sum(p => (double)q.AsSpan()[p] * k.AsSpan()[p]) / Math.Sqrt(d));
        var performer = new Performer(d, m, new Rng(3), orthogonal);
        double sum = 0;
        for (int t = 0; t < draws; t++)
        {
            performer.Redraw();
            var pq = performer.FeatureMap(Var.Constant(q)).Value.AsSpan();
            var pk = performer.FeatureMap(Var.Constant(k)).Value.AsSpan();
            double est = 0;
            for (int u = 0; u < m; u++) est += (double)pq[u] * pk[u];
            sum += est;
        }
        double mean = sum / draws;
        Assert.True(Math.Abs(mean / exact - 1) < 0.03, $"mean estimate {mean:G5} vs exp(q·k/√D) = {exact:G5}");
    }

    [Fact]
    public void Performer_ErrorAgainstSoftmax_ShrinksAsFeaturesGrow()
    {
        int l = 48, d = 8;
        var rng = new Rng(4);
        // moderate norms: the positive features' variance grows like exp(|q + k|²/√D), so large logits need many more features
        var q = rng.NormalTensor([1, 2, l, d], 0, 0.5f); var k = rng.NormalTensor([1, 2, l, d], 0, 0.5f); var v = rng.NormalTensor([1, 2, l, d]);
        var exact = NaiveLinearAttention.Softmax(q.ToArray(), k.ToArray(), v.ToArray(), 2, l, l, d, d);
        double Error(int m)
        {
            double total = 0;
            for (int seed = 0; seed < 6; seed++)
            {
                var o = new Performer(d, m, new Rng(100 + (ulong)seed)).Forward(Var.Constant(q), Var.Constant(k), Var.Constant(v), causal: false).Value.AsSpan();
                double e = 0, n = 0;
                for (int i = 0; i < exact.Length; i++) { e += Math.Pow(o[i] - exact[i], 2); n += exact[i] * exact[i]; }
                total += Math.Sqrt(e / n);
            }
            return total / 6;
        }
        double e16 = Error(16), e64 = Error(64), e256 = Error(256);
        Assert.True(e16 > e64 && e64 > e256, $"relative errors 16: {e16:G3}, 64: {e64:G3}, 256: {e256:G3}");
        Assert.True(e256 < 0.5 * e16, $"16× the features should at least halve the error: {e16:G3} → {e256:G3}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Performer_MatchesFloat64Reference_WithTheSameProjection(bool causal)
    {
        int b = 2, h = 1, l = 11, d = 4, m = 10;
        var rng = new Rng(5);
        var q = rng.NormalTensor([b, h, l, d]); var k = rng.NormalTensor([b, h, l, d]); var v = rng.NormalTensor([b, h, l, 3]);
        var performer = new Performer(d, m, new Rng(6));
        var o = performer.Forward(Var.Constant(q), Var.Constant(k), Var.Constant(v), causal, LinearAttentionForm.Chunkwise, chunkSize: 4);
        var w = performer.Projection.ToArray();
        var expected = NaiveLinearAttention.Kernelised(NaiveLinearAttention.Favor(q.ToArray(), w, b * h * l, d, m),
            NaiveLinearAttention.Favor(k.ToArray(), w, b * h * l, d, m), v.ToArray(), b * h, l, l, m, 3, causal, eps: 0);
        // the stabilising constants cancel except against ε = 1e-6 in the denominator, far below this tolerance
        Approx.Close(expected, o.Value.AsSpan(), 1e-5, 1e-4);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Performer_GradientsMatchFiniteDifferences(bool causal)
    {
        var rng = new Rng(7);
        var performer = new Performer(3, 8, new Rng(8));
        GradCheck.Check(x => performer.Forward(x[0], x[1], x[2], causal, chunkSize: 2),
            [rng.NormalTensor([1, 2, 5, 3]), rng.NormalTensor([1, 2, 5, 3]), rng.NormalTensor([1, 2, 5, 2])]);
    }

    [Fact]
    public void Performer_RedrawInterval_DrawsAFreshProjectionDuringTraining()
    {
        var performer = new Performer(4, 8, new Rng(9)) { RedrawInterval = 2 };
        var x = Var.Parameter(new Rng(10).NormalTensor([1, 1, 3, 4]));
        var first = performer.Projection;
        performer.Forward(x, x, x, causal: false);
        Assert.Same(first, performer.Projection);
        performer.Forward(x, x, x, causal: false);
        Assert.NotSame(first, performer.Projection);
        Assert.NotEqual(first.ToArray(), performer.Projection.ToArray());
        var e = Assert.Throws<ArgumentException>(() => performer.Forward(Var.Constant(new Rng(11).NormalTensor([1, 1, 3, 5])), x, x, false));
        Assert.Contains("(1, 1, S, 5)", e.Message);
    }
}
