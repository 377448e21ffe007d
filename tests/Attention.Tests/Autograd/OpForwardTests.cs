using Attention.Autograd;
using Attention.Tensors;
using Attention.Tests.Reference;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Autograd;

/// <summary>Forward values of the ops against float64 references, tolerance 1e-6 + 1e-5·|ref| unless noted.</summary>
public class OpForwardTests
{
    private readonly Rng _rng = new(77);

    private static void Close(double expected, float actual, double rel = 1e-5, double abs = 1e-6) =>
        Assert.True(Math.Abs(actual - expected) <= abs + rel * Math.Abs(expected), $"expected {expected:G9}, got {actual:G9}");

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 63, 5)]
    [InlineData(129, 127, 63)]
    public void MatMul_SharedWeight_MatchesFloat64Reference(int rows, int k, int n)
    {
        var a = _rng.NormalTensor([3, rows, k]);
        var w = _rng.NormalTensor([n, k]);
        var y = Var.Constant(a).MatMul(Var.Constant(w), transposeB: true).Value;
        Assert.Equal([3, rows, n], y.Shape.ToArray());
        var reference = NaiveGemm.Multiply(false, true, 3 * rows, n, k, 1, a.ToArray(), k, w.ToArray(), k, 0, new float[3 * rows * n], n);
        var abs = NaiveGemm.AbsProducts(false, true, 3 * rows, n, k, a.ToArray(), k, w.ToArray(), k);
        var got = y.ToArray();
        // A k-term float32 dot product errs by up to ~k·ε·Σ|products| in the worst case; 1e-6·Σ|·| covers k ≤ 129.
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - reference[i]) <= 1e-6 * abs[i] + 1e-6, $"element {i}: {got[i]} vs {reference[i]}");
    }

    [Fact]
    public void Gelu_MatchesFloat64ErfSeries()
    {
        var xs = new float[] { -8f, -5f, -3f, -1.5f, -0.3f, 0f, 1e-4f, 0.7f, 2f, 4f, 9f };
        var y = Var.Constant(Tensor.FromArray(xs, xs.Length)).Gelu().Value.ToArray();
        for (int i = 0; i < xs.Length; i++)
            Close(NaiveGelu.Gelu(xs[i]), y[i], rel: 1e-5, abs: 1e-12);
    }

    [Fact]
    public void Softplus_AndBce_StayFiniteForLargeLogits()
    {
        var x = Var.Constant(Tensor.FromArray([-200f, -30f, 0f, 30f, 200f], 5));
        var y = x.Softplus().Value.ToArray();
        Close(0, y[0], abs: 1e-30);
        Close(Math.Log(1 + Math.Exp(-30)), y[1]);
        Close(Math.Log(2), y[2]);
        Close(30 + Math.Log(1 + Math.Exp(-30)), y[3]);
        Close(200, y[4]);
        var t = Var.Constant(Tensor.FromArray([1f, 0f, 0.5f, 1f, 0f], 5));
        float bce = Var.BinaryCrossEntropyWithLogits(x, t).Item();
        // per element: softplus(x) − x·t → 200, ~0, log 2, ~0, 200
        Close((200 + 9.36e-14 + Math.Log(2) + 9.36e-14 + 200) / 5, bce);
    }

    [Fact]
    public void CrossEntropy_WithSmoothingAndIgnore_MatchesFloat64Formula()
    {
        int rows = 6, c = 7;
        var logits = _rng.NormalTensor([rows, c]);
        int[] targets = [3, -1, 0, 6, -1, 2];
        const double eps = 0.2;
        float loss = Var.CrossEntropy(Var.Constant(logits), targets, ignoreIndex: -1, labelSmoothing: (float)eps).Item();
        double total = 0; int count = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == -1) continue;
            count++;
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < c; j++) max = Math.Max(max, logits[r, j]);
            for (int j = 0; j < c; j++) sum += Math.Exp(logits[r, j] - max);
            double lse = max + Math.Log(sum);
            for (int j = 0; j < c; j++)
            {
                double q = (j == targets[r] ? 1 - eps : 0) + eps / c;
                total -= q * (logits[r, j] - lse);
            }
        }
        Close(total / count, loss);
    }

    [Fact]
    public void CrossEntropy_AllIgnored_IsZeroWithZeroGradient()
    {
        var logits = Var.Parameter(_rng.NormalTensor([2, 3]));
        var loss = Var.CrossEntropy(logits, [-100, -100]);
        Assert.Equal(0f, loss.Item());
        loss.Backward();
        Assert.True(logits.Grad is null || logits.Grad.ToArray().All(g => g == 0f));
    }

    [Fact]
    public void LayerNorm_RowsHaveZeroMeanAndUnitVariance_MatchesFloat64()
    {
        var x = _rng.NormalTensor([5, 129]);
        var y = Var.Constant(x).LayerNorm(null, null, eps: 0f).Value;
        for (int r = 0; r < 5; r++)
        {
            double mu = 0, v = 0;
            for (int j = 0; j < 129; j++) mu += x[r, j];
            mu /= 129;
            for (int j = 0; j < 129; j++) v += (x[r, j] - mu) * (x[r, j] - mu);
            v /= 129;
            for (int j = 0; j < 129; j++) Close((x[r, j] - mu) / Math.Sqrt(v), y[r, j], abs: 1e-5);
        }
    }

    [Fact]
    public void RmsNorm_MatchesFloat64()
    {
        var x = _rng.NormalTensor([3, 63]);
        var g = _rng.NormalTensor([63]);
        var y = Var.Constant(x).RmsNorm(Var.Constant(g), eps: 1e-6f).Value;
        for (int r = 0; r < 3; r++)
        {
            double ms = 0;
            for (int j = 0; j < 63; j++) ms += (double)x[r, j] * x[r, j];
            double s = 1 / Math.Sqrt(ms / 63 + 1e-6);
            for (int j = 0; j < 63; j++) Close(x[r, j] * s * g[j], y[r, j], abs: 1e-5);
        }
    }

    [Fact]
    public void Softmax_MiddleAxis_SumsToOneAlongThatAxis()
    {
        var y = Var.Constant(_rng.NormalTensor([3, 7, 5])).Softmax(1).Value;
        for (int a = 0; a < 3; a++)
            for (int i = 0; i < 5; i++)
            {
                double s = 0;
                for (int j = 0; j < 7; j++) s += y[a, j, i];
                Close(1, (float)s);
            }
    }

    [Fact]
    public void SumAndMean_OverAxes_MatchFloat64()
    {
        var x = _rng.NormalTensor([3, 5, 7]);
        var s = Var.Constant(x).Sum([0, 2]).Value;
        var m = Var.Constant(x).Mean(1, keepDim: true).Value;
        Assert.Equal([5], s.Shape.ToArray());
        Assert.Equal([3, 1, 7], m.Shape.ToArray());
        for (int j = 0; j < 5; j++)
        {
            double e = 0;
            for (int a = 0; a < 3; a++) for (int k = 0; k < 7; k++) e += x[a, j, k];
            Close(e, s[j], abs: 1e-5);
        }
        for (int a = 0; a < 3; a++)
            for (int k = 0; k < 7; k++)
            {
                double e = 0;
                for (int j = 0; j < 5; j++) e += x[a, j, k];
                Close(e / 5, m[a, 0, k], abs: 1e-6);
            }
    }

    [Fact]
    public void Gather_PicksAlongAxis_LikeTorchGather()
    {
        var x = Var.Constant(Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 2, 3));
        var y = x.Gather(1, [2, 0, 1, 1]).Value;
        Assert.Equal([2, 2], y.Shape.ToArray());
        Assert.Equal([3f, 1f, 5f, 5f], y.ToArray());
    }
}
