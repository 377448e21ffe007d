using Attention.Autograd;
using Attention.Kernels;
using Attention.Tensors;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

public class FlashAttentionBackwardTests
{
    private sealed record Grads(float[] DQuery, float[] DKey, float[] DValue);

    /// <summary>Forward (for O and logSumExp, as training would), then the backward under test.</summary>
    private static Grads Run(float[] q, float[] k, float[] v, float[] dO, AttentionShape shape, AttentionOptions options,
                             bool fast = true, float prefill = 0)
    {
        var o = new float[q.Length];
        var lse = new float[shape.Batch * shape.Heads * shape.QueryLength];
        FlashAttention.Forward(q, k, v, o, shape, options, lse);
        var g = new Grads(new float[q.Length], new float[k.Length], new float[v.Length]);
        if (prefill != 0) { Array.Fill(g.DQuery, prefill); Array.Fill(g.DKey, prefill); Array.Fill(g.DValue, prefill); }
        FlashAttentionBackward.Run(q, k, v, o, lse, dO, g.DQuery, g.DKey, g.DValue, shape, options, fast);
        return g;
    }

    private static (float[] Q, float[] K, float[] V, float[] DO) Inputs(AttentionShape shape, int seed)
    {
        var (q, k, v) = NaiveAttention.Inputs(shape, seed);
        return (q, k, v, NaiveAttention.Random(q.Length, seed + 3));
    }

    /// <summary>
    /// |got − want| ≤ 1e-6 + 1e-5·|want| + 2e-6·max|want|. The last term is needed because gradient entries are sums whose
    /// terms cancel (each row of dS sums to zero), so their float32 rounding error scales with the size of the terms,
    /// which is what the tensor's largest entry measures, not with the (possibly tiny) result.
    /// </summary>
    private static void AssertGradient(float[] got, double[] want, string what)
    {
        Assert.Equal(want.Length, got.Length);
        double norm = 0;
        foreach (double w in want) norm = Math.Max(norm, Math.Abs(w));
        for (int i = 0; i < want.Length; i++)
        {
            double err = Math.Abs(got[i] - want[i]);
            if (!(err <= 1e-6 + 1e-5 * Math.Abs(want[i]) + 2e-6 * norm))
                Assert.Fail($"{what}[{i}]: expected {want[i]:R}, got {got[i]:R} (error {err:E2}, largest entry {norm:E2})");
        }
    }

    private static void AssertMatchesReference(AttentionShape shape, AttentionOptions options, int seed, bool fast)
    {
        var (q, k, v, dO) = Inputs(shape, seed);
        var want = NaiveAttentionBackward.Backward(q, k, v, dO, shape, options);
        var got = Run(q, k, v, dO, shape, options, fast);
        AssertGradient(got.DQuery, want.DQuery, "dQuery");
        AssertGradient(got.DKey, want.DKey, "dKey");
        AssertGradient(got.DValue, want.DValue, "dValue");
    }

    // L, S, D, causal, window left (−1 = none), window right (−1 = none), logit scale factor
    public static TheoryData<int, int, int, bool, int, int, float> MaskCases() => new()
    {
        { 1, 1, 1, false, -1, -1, 1f },
        { 7, 7, 7, true, -1, -1, 1f },
        { 63, 63, 64, false, -1, -1, 1f },
        { 127, 129, 64, true, -1, -1, 1f },     // L < S: every row sees a prefix plus the extra keys
        { 129, 127, 64, true, -1, -1, 1f },     // L > S: the first two rows see nothing
        { 129, 63, 33, true, -1, -1, 1f },      // L > S with odd D (padded rows, 1-vector tails)
        { 1, 129, 64, true, -1, -1, 1f },
        { 129, 1, 16, false, -1, -1, 1f },
        { 63, 129, 16, false, 10, 5, 1f },      // two-sided window
        { 127, 127, 64, true, 20, -1, 1f },     // causal sliding window
        { 129, 129, 80, true, 70, -1, 1f },     // D = 80: one 4-vector block and a 1-vector tail
    };

    // Large logits (scale·q·k in the tens to hundreds): P is nearly one-hot, and the float32 rounding of a logit s,
    // about |s|·6e-8, becomes a relative error of P itself, so no fixed tolerance fits. They are held to the
    // FlashAttention authors' rule instead: at most twice the error of the plain float32 backward, plus what the
    // contract itself costs: P is rebuilt as exp(s − logSumExp) from a float32 logSumExp, whose few roundings at
    // magnitude |lse| (forward and backward, ≲ 4·2⁻²⁴·|lse| in the exponent) the plain path, normalising its own
    // exponentials, never makes. That term scales with the gradient's largest entry.
    public static TheoryData<int, int, int, bool, float> LargeLogitCases() => new()
    {
        { 129, 129, 64, false, 30f }, { 127, 63, 64, true, 100f }, { 63, 200, 7, false, 30f }, { 129, 129, 64, true, 1f },
    };

    [Theory, MemberData(nameof(LargeLogitCases))]
    public void Backward_ErrorVsFloat64_AtMostTwiceNaiveFloat32(int l, int s, int d, bool causal, float scaleFactor)
    {
        var shape = new AttentionShape(1, 2, 1, l, s, d);
        var options = new AttentionOptions { Causal = causal, Scale = scaleFactor / MathF.Sqrt(d) };
        var (q, k, v, dO) = Inputs(shape, 17);
        var want = NaiveAttentionBackward.Backward(q, k, v, dO, shape, options);
        var naive = NaiveAttentionBackward.BackwardFloat32(q, k, v, dO, shape, options);
        double maxLse = NaiveAttention.Forward(q, k, v, shape, options).LogSumExp.Max(Math.Abs);
        foreach (bool fast in new[] { true, false })
        {
            var got = Run(q, k, v, dO, shape, options, fast);
            foreach (var (mine, plain, exact, what) in new[] { (got.DQuery, naive.DQuery, want.DQuery, "dQuery"),
                                                               (got.DKey, naive.DKey, want.DKey, "dKey"),
                                                               (got.DValue, naive.DValue, want.DValue, "dValue") })
            {
                double error = NaiveAttention.MaxError(mine, exact), naiveError = NaiveAttention.MaxError(plain, exact);
                double lseTerm = 4 * Math.Pow(2, -24) * maxLse * exact.Max(Math.Abs);
                Assert.True(error <= 2 * naiveError + lseTerm + 1e-7,
                            $"fast={fast} {what}: error {error:E3} vs naive float32 {naiveError:E3} (logSumExp term {lseTerm:E3})");
            }
        }
    }

    [Theory, MemberData(nameof(MaskCases))]
    public void Backward_MatchesFloat64Reference(int l, int s, int d, bool causal, int left, int right, float scaleFactor)
    {
        var shape = new AttentionShape(1, 2, 2, l, s, d);
        var options = new AttentionOptions
        {
            Causal = causal, Scale = scaleFactor / MathF.Sqrt(d),
            WindowLeft = left < 0 ? null : left, WindowRight = right < 0 ? null : right,
        };
        AssertMatchesReference(shape, options, 21, fast: true);
        AssertMatchesReference(shape, options, 21, fast: false);
    }

    [Theory]
    [InlineData(4, 2, false), InlineData(4, 2, true), InlineData(3, 1, true), InlineData(6, 1, false)]
    public void Backward_GroupedAndMultiQuery_SumsKeyGradientsOverSharingHeads(int heads, int kvHeads, bool causal)
    {
        var shape = new AttentionShape(2, heads, kvHeads, 127, 129, 64);
        AssertMatchesReference(shape, new AttentionOptions { Causal = causal }, 5, fast: true);
    }

    [Fact]
    public void Backward_KeyPadding_ZeroLengthBatchGetsZeroGradients()
    {
        var shape = new AttentionShape(3, 2, 1, 63, 129, 64);
        var options = new AttentionOptions { KeyLengths = [0, 100, 129] };
        var (q, k, v, dO) = Inputs(shape, 8);
        var want = NaiveAttentionBackward.Backward(q, k, v, dO, shape, options);
        var got = Run(q, k, v, dO, shape, options, prefill: float.NaN);   // NaN prefill: every element must be overwritten
        AssertGradient(got.DQuery, want.DQuery, "dQuery");
        AssertGradient(got.DKey, want.DKey, "dKey");
        AssertGradient(got.DValue, want.DValue, "dValue");
        Assert.All(got.DQuery.AsSpan(0, 2 * 63 * 64).ToArray(), x => Assert.Equal(0f, x));
        Assert.All(got.DKey.AsSpan(0, 129 * 64).ToArray(), x => Assert.Equal(0f, x));
        Assert.All(got.DValue.AsSpan(0, 129 * 64).ToArray(), x => Assert.Equal(0f, x));
        // batch 1 pads keys 100..128: nobody sees them, so their gradients are exactly zero
        Assert.All(got.DKey.AsSpan((129 + 100) * 64, 29 * 64).ToArray(), x => Assert.Equal(0f, x));
        Assert.All(got.DValue.AsSpan((129 + 100) * 64, 29 * 64).ToArray(), x => Assert.Equal(0f, x));
    }

    [Theory]
    [InlineData(true), InlineData(false)]
    public void Backward_FullyMaskedRows_GiveExactlyZeroQueryGradient(bool fast)
    {
        // causal with L = 70 > S = 5: rows 0..64 see no key, their logSumExp is −∞
        var shape = new AttentionShape(1, 1, 1, 70, 5, 16);
        var options = new AttentionOptions { Causal = true };
        var (q, k, v, dO) = Inputs(shape, 9);
        var got = Run(q, k, v, dO, shape, options, fast, prefill: 3f);
        Assert.All(got.DQuery.AsSpan(0, 65 * 16).ToArray(), x => Assert.Equal(0f, x));
        Assert.Contains(got.DQuery.AsSpan(65 * 16).ToArray(), x => x != 0);
        Assert.All(got.DQuery.Concat(got.DKey).Concat(got.DValue), x => Assert.True(float.IsFinite(x)));
        AssertGradient(got.DKey, NaiveAttentionBackward.Backward(q, k, v, dO, shape, options).DKey, "dKey");
    }

    [Fact]
    public void Backward_KeysOutsideEveryWindow_GetExactlyZeroGradients()
    {
        // window [p − 3, p] with L = 10 and S = 200: only keys 187..199 are ever visible
        var shape = new AttentionShape(1, 1, 1, 10, 200, 64);
        var options = new AttentionOptions { Causal = true, WindowLeft = 3 };
        var (q, k, v, dO) = Inputs(shape, 10);
        var got = Run(q, k, v, dO, shape, options, prefill: float.NaN);
        Assert.All(got.DKey.AsSpan(0, 187 * 64).ToArray(), x => Assert.Equal(0f, x));
        Assert.All(got.DValue.AsSpan(0, 187 * 64).ToArray(), x => Assert.Equal(0f, x));
        AssertGradient(got.DValue, NaiveAttentionBackward.Backward(q, k, v, dO, shape, options).DValue, "dValue");
    }

    [Theory]
    [InlineData(false), InlineData(true)]
    public void Backward_OneAndManyThreads_Agree_AndEachThreadCountIsDeterministic(bool causal)
    {
        // B·KvHeads = 1, so more threads split the key blocks into chunks whose dQ partials are summed at the end
        var shape = new AttentionShape(1, 2, 1, 200, 300, 64);
        var (q, k, v, dO) = Inputs(shape, 12);
        var want = NaiveAttentionBackward.Backward(q, k, v, dO, shape, new AttentionOptions { Causal = causal });
        foreach (int threads in new[] { 1, 2, 3, 5 })
        {
            var options = new AttentionOptions { Causal = causal, MaxThreads = threads };
            var first = Run(q, k, v, dO, shape, options);
            var second = Run(q, k, v, dO, shape, options);
            Assert.Equal(first.DQuery, second.DQuery);
            Assert.Equal(first.DKey, second.DKey);
            Assert.Equal(first.DValue, second.DValue);
            AssertGradient(first.DQuery, want.DQuery, $"dQuery ({threads} threads)");
            AssertGradient(first.DKey, want.DKey, $"dKey ({threads} threads)");
            AssertGradient(first.DValue, want.DValue, $"dValue ({threads} threads)");
        }
    }

    [Fact]
    public void Backward_OverwritesGradients_WhateverTheyHeld()
    {
        var shape = new AttentionShape(2, 2, 2, 65, 70, 64);
        var options = new AttentionOptions { Causal = true, MaxThreads = 2 };
        var (q, k, v, dO) = Inputs(shape, 13);
        var clean = Run(q, k, v, dO, shape, options);
        var dirty = Run(q, k, v, dO, shape, options, prefill: 1e30f);
        Assert.Equal(clean.DQuery, dirty.DQuery);
        Assert.Equal(clean.DKey, dirty.DKey);
        Assert.Equal(clean.DValue, dirty.DValue);
    }

    [Fact]
    public void Backward_EmptyQueryOrKeys_GivesZeroGradients()
    {
        var noKeys = new AttentionShape(1, 2, 1, 5, 0, 8);
        var dq = Enumerable.Repeat(1f, 80).ToArray();
        var lse = Enumerable.Repeat(float.NegativeInfinity, 10).ToArray();
        FlashAttention.Backward(new float[80], [], [], new float[80], lse, new float[80], dq, [], [], noKeys, AttentionOptions.Default);
        Assert.All(dq, x => Assert.Equal(0f, x));

        var noQueries = new AttentionShape(1, 2, 1, 0, 5, 8);
        float[] dk = Enumerable.Repeat(1f, 40).ToArray(), dv = Enumerable.Repeat(1f, 40).ToArray();
        FlashAttention.Backward([], new float[40], new float[40], [], [], [], [], dk, dv, noQueries, AttentionOptions.Default);
        Assert.All(dk.Concat(dv), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void Backward_PublicEntryPoint_MatchesReference()
    {
        var shape = new AttentionShape(1, 4, 2, 63, 127, 64);
        var options = new AttentionOptions { Causal = true };
        var (q, k, v, dO) = Inputs(shape, 14);
        var o = new float[q.Length];
        var lse = new float[4 * 63];
        FlashAttention.Forward(q, k, v, o, shape, options, lse);
        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        FlashAttention.Backward(q, k, v, o, lse, dO, dq, dk, dv, shape, options);
        var want = NaiveAttentionBackward.Backward(q, k, v, dO, shape, options);
        AssertGradient(dq, want.DQuery, "dQuery");
        AssertGradient(dk, want.DKey, "dKey");
        AssertGradient(dv, want.DValue, "dValue");
    }

    /// <summary>The second yardstick: the same gradient from the autograd tape over the math path
    /// (S = scale·Q·Kᵀ, masked fill −∞, softmax, P·V, all materialised), both in float32.</summary>
    [Theory]
    [InlineData(63, 127, 64, true), InlineData(129, 129, 33, false), InlineData(7, 200, 16, true)]
    public void Backward_MatchesAutogradComposedMathPath(int l, int s, int d, bool causal)
    {
        var shape = new AttentionShape(1, 2, 2, l, s, d);
        var options = new AttentionOptions { Causal = causal };
        var (q, k, v, dO) = Inputs(shape, 19);
        var got = Run(q, k, v, dO, shape, options);

        var qv = Var.Parameter(Tensor.FromArray((float[])q.Clone(), 1, 2, l, d));
        var kv = Var.Parameter(Tensor.FromArray((float[])k.Clone(), 1, 2, s, d));
        var vv = Var.Parameter(Tensor.FromArray((float[])v.Clone(), 1, 2, s, d));
        var scores = Var.MatMul(qv, kv, transposeB: true) * (1f / MathF.Sqrt(d));
        if (causal)
        {
            var mask = new float[l * s];   // 1 where key j is in query i's future (bottom-right aligned)
            for (int i = 0; i < l; i++)
                for (int j = 0; j < s; j++) mask[i * s + j] = j > i + s - l ? 1 : 0;
            scores = scores.MaskedFill(Tensor.FromArray(mask, l, s), float.NegativeInfinity);
        }
        var output = Var.MatMul(scores.Softmax(-1), vv);
        output.Backward(Tensor.FromArray((float[])dO.Clone(), 1, 2, l, d));

        foreach (var (mine, tape, what) in new[] { (got.DQuery, qv.Grad!.ToArray(), "dQuery"), (got.DKey, kv.Grad!.ToArray(), "dKey"),
                                                   (got.DValue, vv.Grad!.ToArray(), "dValue") })
            AssertGradient(mine, Array.ConvertAll(tape, x => (double)x), what);
    }

    /// <summary>The reference itself, against central finite differences of its own float64 forward:
    /// loss = Σ O·R, ∂loss/∂x ≈ (loss(x + h) − loss(x − h)) / 2h for every input element.</summary>
    [Theory]
    [InlineData(3, 5, true, -1, false), InlineData(5, 3, true, -1, false), InlineData(4, 6, false, 1, true)]
    public void Reference_MatchesCentralFiniteDifferences(int l, int s, bool causal, int windowLeft, bool padding)
    {
        var shape = new AttentionShape(2, 2, 1, l, s, 3);
        var options = new AttentionOptions
        {
            Causal = causal, Scale = 0.7f, WindowLeft = windowLeft < 0 ? null : windowLeft,
            KeyLengths = padding ? [s - 2, s] : null,
        };
        var (qf, kf, vf, rf) = Inputs(shape, 15);
        double[] q = NaiveAttentionBackward.ToDouble(qf), k = NaiveAttentionBackward.ToDouble(kf),
                 v = NaiveAttentionBackward.ToDouble(vf), r = NaiveAttentionBackward.ToDouble(rf);
        var analytic = NaiveAttentionBackward.Backward(q, k, v, r, shape, options);

        double Loss()
        {
            var o = NaiveAttentionBackward.Forward(q, k, v, shape, options);
            double sum = 0;
            for (int i = 0; i < o.Length; i++) sum += o[i] * r[i];
            return sum;
        }
        void Check(double[] x, double[] grad, string what)
        {
            const double h = 1e-5;
            for (int i = 0; i < x.Length; i++)
            {
                double saved = x[i];
                x[i] = saved + h; double up = Loss();
                x[i] = saved - h; double down = Loss();
                x[i] = saved;
                double numeric = (up - down) / (2 * h);
                Assert.True(Math.Abs(numeric - grad[i]) <= 1e-8 + 1e-6 * Math.Abs(numeric),
                            $"{what}[{i}]: finite difference {numeric:R}, analytic {grad[i]:R}");
            }
        }
        Check(q, analytic.DQuery, "dQuery");
        Check(k, analytic.DKey, "dKey");
        Check(v, analytic.DValue, "dValue");
    }

    [Fact]
    public void Backward_BadArguments_ThrowNamingExpectedAndActual()
    {
        var shape = new AttentionShape(1, 2, 1, 4, 3, 8);
        float[] q = new float[64], k = new float[24], v = new float[24], o = new float[64], lse = new float[8], dO = new float[64];
        float[] dq = new float[64], dk = new float[24], dv = new float[24];
        var opt = AttentionOptions.Default;

        void Throws(string expectedFragment, Action call)
        {
            var e = Assert.ThrowsAny<ArgumentException>(call);
            Assert.Contains(expectedFragment, e.Message);
        }
        Throws("dOutput: expected length B·H·L·D = 64, got 63",
               () => FlashAttention.Backward(q, k, v, o, lse, new float[63], dq, dk, dv, shape, opt));
        Throws("dQuery: expected length B·H·L·D = 64, got 65",
               () => FlashAttention.Backward(q, k, v, o, lse, dO, new float[65], dk, dv, shape, opt));
        Throws("dKey: expected length B·KvHeads·S·D = 24, got 16",
               () => FlashAttention.Backward(q, k, v, o, lse, dO, dq, new float[16], dv, shape, opt));
        Throws("dValue: expected length B·KvHeads·S·D = 24, got 0",
               () => FlashAttention.Backward(q, k, v, o, lse, dO, dq, dk, [], shape, opt));
        Throws("logSumExp: expected length B·H·L = 8, got 0",
               () => FlashAttention.Backward(q, k, v, o, [], dO, dq, dk, dv, shape, opt));
        Throws("logSumExp: expected empty or length 8, got 9",
               () => FlashAttention.Backward(q, k, v, o, new float[9], dO, dq, dk, dv, shape, opt));
        Throws("output: expected length B·H·L·D = 64, got 60",
               () => FlashAttention.Backward(q, k, v, new float[60], lse, dO, dq, dk, dv, shape, opt));
        Throws("Heads: expected a multiple of KvHeads (2), got 3",
               () => FlashAttention.Backward(new float[96], new float[48], new float[48], new float[96], new float[12],
                                             new float[96], new float[96], new float[48], new float[48],
                                             new AttentionShape(1, 3, 2, 4, 3, 8), opt));
        Throws("KeyLengths[0]: expected a value in [0, 3], got 4",
               () => FlashAttention.Backward(q, k, v, o, lse, dO, dq, dk, dv, shape, new AttentionOptions { KeyLengths = [4] }));
        var shared = new float[128];
        Throws("dQuery: expected memory separate from the inputs",
               () => FlashAttention.Backward(shared.AsSpan(0, 64), k, v, o, lse, dO, shared.AsSpan(32, 64), dk, dv, shape, opt));
        Throws("expected three separate spans",
               () => FlashAttention.Backward(q, k, v, o, lse, dO, dq, shared.AsSpan(0, 24), shared.AsSpan(10, 24), shape, opt));
        Assert.Throws<ArgumentNullException>(() => FlashAttention.Backward(q, k, v, o, lse, dO, dq, dk, dv, shape, null!));
    }
}
