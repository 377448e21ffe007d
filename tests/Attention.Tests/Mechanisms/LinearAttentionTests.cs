using Attention.Autograd;
using Attention.Kernels;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Reference;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Mechanisms;

internal static class Approx
{
    /// <summary>|got − ref| ≤ atol + rtol·|ref| element-wise, with the first failure named.</summary>
    public static void Close(double[] expected, ReadOnlySpan<float> actual, double atol = 1e-6, double rtol = 1e-5, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            Assert.True(err <= atol + rtol * Math.Abs(expected[i]), $"{what} element {i}: {actual[i]:G9} vs reference {expected[i]:G9} (|diff| {err:G3})");
        }
    }

    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}

public class LinearAttentionTests
{
    private static Var Input(ulong seed, params int[] shape) => Var.Constant(new Rng(seed).NormalTensor(shape));

    [Theory]
    [InlineData(LinearAttentionForm.Parallel, false)]
    [InlineData(LinearAttentionForm.Parallel, true)]
    [InlineData(LinearAttentionForm.Recurrent, false)]
    [InlineData(LinearAttentionForm.Recurrent, true)]
    [InlineData(LinearAttentionForm.Chunkwise, false)]
    [InlineData(LinearAttentionForm.Chunkwise, true)]
    public void LinearAttention_MatchesFloat64Reference_L13(LinearAttentionForm form, bool causal)
    {
        int b = 2, h = 2, l = 13, d = 5, dv = 3;
        var q = Input(1, b, h, l, d); var k = Input(2, b, h, l, d); var v = Input(3, b, h, l, dv);
        var o = LinearAttention.Forward(q, k, v, causal, form, chunkSize: 4);
        Assert.Equal(new[] { b, h, l, dv }, o.Shape.ToArray());
        var expected = NaiveLinearAttention.Linear(q.Value.ToArray(), k.Value.ToArray(), v.Value.ToArray(), b * h, l, l, d, dv, causal);
        Approx.Close(expected, o.Value.AsSpan(), 1e-5, 1e-4, $"{form} causal={causal}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinearAttention_ParallelRecurrentAndChunkwiseForms_AgreeToRounding_L129(bool causal)
    {
        int l = 129, d = 8;
        var q = Input(4, 1, 2, l, d); var k = Input(5, 1, 2, l, d); var v = Input(6, 1, 2, l, d);
        var parallel = LinearAttention.Forward(q, k, v, causal, LinearAttentionForm.Parallel).Value.ToArray();
        var recurrent = LinearAttention.Forward(q, k, v, causal, LinearAttentionForm.Recurrent).Value.ToArray();
        foreach (int chunk in new[] { 1, 16, 64, 200 })
        {
            var chunked = LinearAttention.Forward(q, k, v, causal, LinearAttentionForm.Chunkwise, chunk).Value.ToArray();
            Assert.True(Approx.MaxAbsDiff(parallel, chunked) < 1e-5, $"chunk {chunk}: {Approx.MaxAbsDiff(parallel, chunked):G3}");
        }
        Assert.True(Approx.MaxAbsDiff(parallel, recurrent) < 1e-5, $"recurrent: {Approx.MaxAbsDiff(parallel, recurrent):G3}");
    }

    [Fact]
    public void LinearAttention_CausalOutputIgnoresFutureTokens()
    {
        int l = 20, d = 4, cut = 11;
        var q = Input(7, 1, 1, l, d); var k = Input(8, 1, 1, l, d); var v = Input(9, 1, 1, l, d);
        var before = LinearAttention.Forward(q, k, v, causal: true, chunkSize: 8).Value.ToArray();
        var k2 = k.Value.Clone(); var v2 = v.Value.Clone();
        for (int i = (cut + 1) * d; i < l * d; i++) { k2.AsSpan()[i] += 3f; v2.AsSpan()[i] -= 5f; }
        var after = LinearAttention.Forward(q, Var.Constant(k2), Var.Constant(v2), causal: true, chunkSize: 8).Value.ToArray();
        for (int i = 0; i < (cut + 1) * d; i++) Assert.Equal(before[i], after[i]);
        Assert.NotEqual(before[^1], after[^1]);
    }

    [Fact]
    public void LinearAttentionState_StepByStep_EqualsCausalForward_AndHoldsAFixedSizeState()
    {
        int b = 2, h = 3, l = 17, d = 4, dv = 6;
        var q = Input(10, b, h, l, d); var k = Input(11, b, h, l, d); var v = Input(12, b, h, l, dv);
        var full = LinearAttention.Forward(q, k, v, causal: true).Value;
        var state = new LinearAttentionState(b, h, d, dv);
        for (int t = 0; t < l; t++)
        {
            var o = LinearAttention.Step(state, q.Slice(2, t, 1).Squeeze(2), k.Slice(2, t, 1).Squeeze(2), v.Slice(2, t, 1).Squeeze(2));
            var expected = full.Slice(2, t, 1).ToArray();
            Assert.True(Approx.MaxAbsDiff(expected, o.Value.ToArray()) < 1e-5, $"step {t}");
            Assert.Equal(new[] { b, h, d, dv + 1 }, state.Value!.Shape.ToArray());
        }
        Assert.Equal(l, state.Steps);
        Assert.Equal((long)b * h * d * (dv + 1), state.Floats);
        state.Reset();
        Assert.Null(state.Value);
    }

    [Theory]
    [InlineData(LinearAttentionForm.Parallel, true)]
    [InlineData(LinearAttentionForm.Recurrent, true)]
    [InlineData(LinearAttentionForm.Chunkwise, true)]
    [InlineData(LinearAttentionForm.Chunkwise, false)]
    public void LinearAttention_GradientsMatchFiniteDifferences(LinearAttentionForm form, bool causal)
    {
        var rng = new Rng(13);
        GradCheck.Check(x => LinearAttention.Forward(x[0], x[1], x[2], causal, form, chunkSize: 2),
            [GradCheck.AwayFromZero(rng, 0.05f, 1, 2, 5, 3), GradCheck.AwayFromZero(rng, 0.05f, 1, 2, 5, 3), rng.NormalTensor([1, 2, 5, 2])]);
    }

    [Fact]
    public void LinearAttentionStep_GradientsMatchFiniteDifferences()
    {
        var rng = new Rng(14);
        GradCheck.Check(x =>
        {
            var state = new LinearAttentionState(1, 2, 3, 2);
            Var? last = null;
            for (int t = 0; t < 3; t++) last = LinearAttention.Step(state, x[0].Slice(2, t, 1).Squeeze(2), x[1].Slice(2, t, 1).Squeeze(2), x[2].Slice(2, t, 1).Squeeze(2));
            return last!;
        }, [GradCheck.AwayFromZero(rng, 0.05f, 1, 2, 3, 3), GradCheck.AwayFromZero(rng, 0.05f, 1, 2, 3, 3), rng.NormalTensor([1, 2, 3, 2])]);
    }

    [Fact]
    public void LinearAttention_RejectsBadShapesAndNaN_NamingExpectedAndFound()
    {
        var q = Input(15, 1, 2, 5, 4); var k = Input(16, 1, 2, 6, 4); var v = Input(17, 1, 2, 6, 3);
        var causalMismatch = Assert.Throws<ArgumentException>(() => LinearAttention.Forward(q, k, v, causal: true));
        Assert.Contains("L = 5, S = 6", causalMismatch.Message);
        var badKey = Assert.Throws<ArgumentException>(() => LinearAttention.Forward(q, Input(18, 1, 2, 6, 3), v, causal: false));
        Assert.Contains("(1, 2, S, 4)", badKey.Message);
        var badValue = Assert.Throws<ArgumentException>(() => LinearAttention.Forward(q, k, Input(19, 1, 2, 5, 3), causal: false));
        Assert.Contains("(1, 2, 6, Dv)", badValue.Message);
        var nan = q.Value.Clone(); nan.AsSpan()[7] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => LinearAttention.Forward(Var.Constant(nan), k, v, causal: false));
        Assert.Contains("NaN at flat index 7", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => LinearAttention.Forward(q, k, v, false, LinearAttentionForm.Chunkwise, chunkSize: 0));
        var state = new LinearAttentionState(1, 2, 4, 3);
        var stepError = Assert.Throws<ArgumentException>(() => state.Step(Input(20, 1, 2, 5), Input(21, 1, 2, 4), Input(22, 1, 2, 3)));
        Assert.Contains("(1, 2, 4)", stepError.Message);
    }

    [Theory]
    [InlineData(false, 1, 16)]
    [InlineData(true, 1, 16)]
    [InlineData(true, 2, 7)]
    [InlineData(false, 2, 64)]
    public void LinearAttentionKernel_MatchesFloat64Reference_N129(bool causal, int threads, int chunk)
    {
        int bh = 3, n = 129, d = 7, dv = 5;
        var rng = new Rng(23);
        var q = rng.NormalArray(bh * n * d); var k = rng.NormalArray(bh * n * d); var v = rng.NormalArray(bh * n * dv);
        var o = new float[bh * n * dv];
        LinearAttentionKernel.Forward(q, k, v, o, bh, n, d, dv, causal, chunk, threads);
        Approx.Close(NaiveLinearAttention.Linear(q, k, v, bh, n, n, d, dv, causal), o, 1e-5, 1e-4);
        Assert.Throws<ArgumentException>(() => LinearAttentionKernel.Forward(q, k, v, o.AsSpan(1), bh, n, d, dv, causal));
    }

    [Fact]
    public void MultiHeadAttention_WithLinearCore_KeepsItsParameters_AndRunsLinearAttentionOnTheProjections()
    {
        var rng = new Rng(24);
        var mha = new MultiHeadAttention(8, 2, rng);
        long before = mha.ParameterCount;
        var x = Var.Constant(new Rng(25).NormalTensor([2, 6, 8]));
        var softmax = mha.Forward(x, causal: true).Value.ToArray();
        Var? seenQ = null;
        mha.Core = (q, k, v, causal) => { seenQ = q; return LinearAttention.Forward(q, k, v, causal); };
        var linear = mha.Forward(x, causal: true);
        Assert.Equal(before, mha.ParameterCount);
        Assert.Equal(new[] { 2, 2, 6, 4 }, seenQ!.Shape.ToArray());
        Assert.True(Approx.MaxAbsDiff(softmax, linear.Value.ToArray()) > 1e-3, "the core should change the output");
        Assert.Throws<InvalidOperationException>(() => mha.Forward(x, keyLengths: [6, 5]));
        GradCheck.CheckLeaves(() => mha.Forward(x, causal: true), [mha.Q.Weight, mha.V.Weight]);
    }
}
