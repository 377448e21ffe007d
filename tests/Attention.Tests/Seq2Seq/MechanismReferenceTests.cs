using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Seq2Seq;

/// <summary>
/// Every seq2seq attention mechanism against a float64 reference written from its paper's formula, reading the
/// mechanism's own parameters by name: a wrong score (a missing bias, a transposed matrix, a lost scale) changes the
/// weights and fails here, where the shape and sum-to-one tests of <see cref="AttentionMechanismTests"/> stay green.
/// Padded batch (lengths 5, 3, 1), a previous step's weights and coverage, scores, weights and context compared.
/// </summary>
public class MechanismReferenceTests
{
    private const int Q = 4, E = 4, A = 3, S = 5;
    private static readonly int[] Lengths = [5, 3, 1];

    private static double[] D(Var v) => v.Value.Contiguous().ToArray().Select(x => (double)x).ToArray();

    private static Dictionary<string, double[]> Params(Module m) => m.NamedParameters().ToDictionary(p => p.Name, p => D(p.Parameter));

    /// <summary>y = M x for M (rows, cols) row-major.</summary>
    private static double[] MatVec(double[] m, int rows, int cols, ReadOnlySpan<double> x)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) y[r] += m[r * cols + c] * x[c];
        return y;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Softmax over the real positions (and an optional extra mask), 0 elsewhere.</summary>
    private static double[] MaskedSoftmax(double[] e, int length, Func<int, bool>? visible = null)
    {
        var w = new double[e.Length];
        double max = double.NegativeInfinity;
        for (int j = 0; j < length; j++) if (visible?.Invoke(j) ?? true) max = Math.Max(max, e[j]);
        double z = 0;
        for (int j = 0; j < length; j++) if (visible?.Invoke(j) ?? true) z += w[j] = Math.Exp(e[j] - max);
        for (int j = 0; j < length; j++) w[j] /= z;
        return w;
    }

    private sealed record Case(double[] H, double[] Query, double[] Previous, double[] Coverage, Var States, Var QueryVar, AttentionStepState State);

    private static Case Inputs(ulong seed)
    {
        var rng = new Rng(seed);
        int b = Lengths.Length;
        var states = Var.Constant(rng.NormalTensor([b, S, E]));
        var query = Var.Constant(rng.NormalTensor([b, Q]));
        var prev = Var.Constant(rng.UniformTensor([b, S], 0.1f, 1f)).MaskedFill(AttentionMasks.Padding(Lengths, S), float.NegativeInfinity).Softmax(-1);
        var coverage = prev * 1.7f;   // differs from α_{t−1}, so a mechanism reading the wrong one fails
        return new Case(D(states), D(query), D(prev), D(coverage), states, query, new AttentionStepState(1, prev, coverage, Lengths));
    }

    /// <summary>Runs the mechanism and compares weights and context (and scores on real positions, when given) with the reference.</summary>
    private static void Compare(IDecoderAttention mechanism, Case c, Func<int, double[], double[]> referenceWeights, Func<int, double[]>? referenceScores = null)
    {
        var memory = mechanism.Prepare(c.States, Lengths);
        var step = mechanism.Step(memory, c.QueryVar, c.State);
        var weights = D(step.Weights);
        var context = D(step.Context);
        for (int i = 0; i < Lengths.Length; i++)
        {
            var scores = referenceScores?.Invoke(i);
            if (scores is not null && step.Scores is Var got)
            {
                var g = D(got);
                for (int j = 0; j < Lengths[i]; j++)
                    Assert.True(Math.Abs(g[i * S + j] - scores[j]) <= 1e-5 + 1e-5 * Math.Abs(scores[j]), $"item {i} score {j}: {g[i * S + j]} vs {scores[j]}");
            }
            var want = referenceWeights(i, scores ?? []);
            for (int j = 0; j < S; j++)
                Assert.True(Math.Abs(weights[i * S + j] - want[j]) <= 1e-6, $"item {i} weight {j}: {weights[i * S + j]} vs {want[j]}");
            for (int e = 0; e < E; e++)
            {
                double ctx = 0;
                for (int j = 0; j < S; j++) ctx += want[j] * c.H[(i * S + j) * E + e];
                Assert.True(Math.Abs(context[i * E + e] - ctx) <= 1e-5, $"item {i} context {e}: {context[i * E + e]} vs {ctx}");
            }
        }
    }

    private static ReadOnlySpan<double> Row(double[] x, int row, int width) => x.AsSpan(row * width, width);

    [Fact]
    public void Bahdanau_MatchesVaTanhWaSPlusUaH()
    {
        var c = Inputs(1);
        var m = new BahdanauAttention(Q, E, A, new Rng(2));
        var p = Params(m);
        double[] Scores(int i)
        {
            var ws = MatVec(p["W_a.weight"], A, Q, Row(c.Query, i, Q));
            var e = new double[S];
            for (int j = 0; j < S; j++)
            {
                var uh = MatVec(p["U_a.weight"], A, E, Row(c.H, i * S + j, E));
                for (int a = 0; a < A; a++) e[j] += p["v_a"][a] * Math.Tanh(ws[a] + uh[a] + p["U_a.bias"][a]);
            }
            return e;
        }
        Compare(m, c, (i, e) => MaskedSoftmax(e, Lengths[i]), Scores);
    }

    [Theory]
    [InlineData(LuongScore.Dot)]
    [InlineData(LuongScore.General)]
    [InlineData(LuongScore.Concat)]
    [InlineData(LuongScore.Location)]
    public void Luong_MatchesEachScoreOfEquation8(LuongScore score)
    {
        var c = Inputs(3);
        var m = new LuongAttention(score, Q, E, new Rng(4), maxSource: 8);
        var p = Params(m);
        double[] Scores(int i)
        {
            var h = Row(c.Query, i, Q).ToArray();
            var e = new double[S];
            if (score == LuongScore.Location)
            {
                var all = MatVec(p["W_a.weight"], 8, Q, h);
                for (int j = 0; j < S; j++) e[j] = all[j] + p["W_a.bias"][j];
                return e;
            }
            for (int j = 0; j < S; j++)
            {
                var hs = Row(c.H, i * S + j, E);
                e[j] = score switch
                {
                    LuongScore.Dot => Dot(h, hs),
                    LuongScore.General => Dot(h, MatVec(p["W_a.weight"], Q, E, hs)),
                    _ => Concat(h, hs.ToArray()),
                };
            }
            return e;
        }
        double Concat(double[] h, double[] hs)
        {
            // v_aᵀ tanh(W_a [h_t; h̄_s]) with W_a split into its query and source halves (the source half with a bias)
            var wq = MatVec(p["W_a_query.weight"], Q, Q, h);
            var wsrc = MatVec(p["W_a_source.weight"], Q, E, hs);
            double s = 0;
            for (int a = 0; a < Q; a++) s += p["v_a"][a] * Math.Tanh(wq[a] + wsrc[a] + p["W_a_source.bias"][a]);
            return s;
        }
        Compare(m, c, (i, e) => MaskedSoftmax(e, Lengths[i]), Scores);
    }

    [Fact]
    public void LocalMonotonic_IsTheGeneralSoftmaxInsideTheWindowAroundT()
    {
        var c = Inputs(5);
        const int half = 1;
        var m = new LocalAttention(LocalMode.Monotonic, LuongScore.General, Q, E, half, new Rng(6));
        var p = Params(m);
        double[] Scores(int i)
        {
            var e = new double[S];
            for (int j = 0; j < S; j++) e[j] = Dot(Row(c.Query, i, Q), MatVec(p["align.W_a.weight"], Q, E, Row(c.H, i * S + j, E)));
            return e;
        }
        // step t = 1: centre min(t, length − 1), window [centre − D, centre + D]
        Compare(m, c, (i, e) =>
        {
            int centre = Math.Min(1, Lengths[i] - 1);
            return MaskedSoftmax(e, Lengths[i], j => Math.Abs(j - centre) <= half);
        }, Scores);
    }

    [Fact]
    public void LocalPredictive_AppliesTheGaussianOfEquation10_AroundSSigmoidOfVpTanhWpH()
    {
        var c = Inputs(7);
        const int half = 2;
        var m = new LocalAttention(LocalMode.Predictive, LuongScore.General, Q, E, half, new Rng(8));
        var p = Params(m);
        double[] Scores(int i)
        {
            var e = new double[S];
            for (int j = 0; j < S; j++) e[j] = Dot(Row(c.Query, i, Q), MatVec(p["align.W_a.weight"], Q, E, Row(c.H, i * S + j, E)));
            return e;
        }
        Compare(m, c, (i, e) =>
        {
            var wh = MatVec(p["W_p.weight"], Q, Q, Row(c.Query, i, Q));
            double z = 0;
            for (int a = 0; a < Q; a++) z += p["v_p"][a] * Math.Tanh(wh[a]);
            double centre = Lengths[i] / (1 + Math.Exp(-z)), sigma = half / 2.0;
            int rounded = (int)Math.Round(centre);
            var w = MaskedSoftmax(e, Lengths[i], j => Math.Abs(j - rounded) <= half);
            for (int j = 0; j < S; j++) w[j] *= Math.Exp(-(j - centre) * (j - centre) / (2 * sigma * sigma));
            return w;
        }, Scores);
    }

    [Fact]
    public void Coverage_AddsVaTimesTheCoverageVector_NotThePreviousWeights()
    {
        var c = Inputs(9);
        var m = new CoverageAttention(Q, E, A, new Rng(10));
        var p = Params(m);
        double[] Scores(int i)
        {
            var ws = MatVec(p["W_a.weight"], A, Q, Row(c.Query, i, Q));
            var e = new double[S];
            for (int j = 0; j < S; j++)
            {
                var uh = MatVec(p["U_a.weight"], A, E, Row(c.H, i * S + j, E));
                double cov = c.Coverage[i * S + j];
                for (int a = 0; a < A; a++) e[j] += p["v_a"][a] * Math.Tanh(ws[a] + uh[a] + p["U_a.bias"][a] + p["V_a"][a] * cov);
            }
            return e;
        }
        Compare(m, c, (i, e) => MaskedSoftmax(e, Lengths[i]), Scores);
    }

    [Fact]
    public void LocationAware_ConvolvesThePreviousWeights_AsInEquations8And9()
    {
        var c = Inputs(11);
        const int filters = 2, width = 3, half = width / 2;
        var m = new LocationAwareAttention(Q, E, A, new Rng(12), filters, width);
        var p = Params(m);
        double[] Scores(int i)
        {
            var ws = MatVec(p["W.weight"], A, Q, Row(c.Query, i, Q));
            var e = new double[S];
            for (int j = 0; j < S; j++)
            {
                var vh = MatVec(p["V.weight"], A, E, Row(c.H, i * S + j, E));
                // f_tj = Σ_o F[o, f] · α_{t−1}(j + o − half), zero outside [0, S)
                var f = new double[filters];
                for (int k = 0; k < filters; k++)
                    for (int o = 0; o < width; o++)
                    {
                        int at = j + o - half;
                        if (at >= 0 && at < S) f[k] += p["F"][o * filters + k] * c.Previous[i * S + at];
                    }
                for (int a = 0; a < A; a++)
                {
                    double uf = 0;
                    for (int k = 0; k < filters; k++) uf += p["U"][k * A + a] * f[k];
                    e[j] += p["w"][a] * Math.Tanh(ws[a] + vh[a] + uf + p["V.bias"][a]);
                }
            }
            return e;
        }
        Compare(m, c, (i, e) => MaskedSoftmax(e, Lengths[i]), Scores);
    }
}
