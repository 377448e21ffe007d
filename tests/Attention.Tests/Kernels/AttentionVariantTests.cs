using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary>
/// The kernel variants — ALiBi, soft-capping, sink tokens, sink logits — on every forward path
/// (FlashAttention as called, tiled AVX-512, portable, decode, math) and in the backward (both exponentials), each against
/// the float64 reference, over odd sizes, causal, windows, grouped-query heads, L ≠ S and key-padding lengths.
/// </summary>
public class AttentionVariantTests
{
    private static readonly float[] FourSlopes = Alibi.Slopes(4), TwoSlopes = Alibi.Slopes(2);

    /// <summary>Named cases: shape and options (names so that each case is its own test).</summary>
    public static (AttentionShape Shape, AttentionOptions Options) Case(string name) => name switch
    {
        "alibi-causal-gqa-odd" => (new(2, 4, 2, 129, 127, 7), new() { Causal = true, AlibiSlopes = FourSlopes }),
        "alibi-full-L<S" => (new(1, 2, 1, 63, 200, 64), new() { AlibiSlopes = [0.5f, 0.03125f] }),
        "alibi-full-L>S" => (new(1, 2, 2, 150, 70, 16), new() { AlibiSlopes = [0.25f, -0.1f] }),
        "alibi-window-padding" => (new(2, 2, 1, 100, 131, 33), new() { Causal = true, WindowLeft = 17, AlibiSlopes = TwoSlopes, KeyLengths = [90, 131] }),
        "alibi-decode" => (new(1, 4, 1, 1, 129, 64), new() { AlibiSlopes = FourSlopes }),
        "softcap-causal" => (new(1, 2, 1, 127, 129, 64), new() { Causal = true, SoftCap = 5, Scale = 3f / 8 }),
        "softcap-window-gqa" => (new(2, 4, 2, 70, 65, 15), new() { WindowLeft = 9, WindowRight = 4, SoftCap = 2.5f, Scale = 1 }),
        "softcap-50-large-cap" => (new(1, 2, 1, 130, 130, 64), new() { Causal = true, SoftCap = 50, AlibiSlopes = [0.5f, 0.00390625f] }),
        "softcap-decode" => (new(2, 2, 2, 3, 300, 17), new() { Causal = true, SoftCap = 1.5f, Scale = 1 }),
        "sinks-causal-window" => (new(1, 2, 1, 200, 200, 32), new() { Causal = true, WindowLeft = 10, SinkTokens = 4 }),
        "sinks-two-sided-window" => (new(1, 2, 2, 70, 131, 64), new() { WindowLeft = 5, WindowRight = 3, SinkTokens = 4 }),
        "sinks-wide-padding" => (new(2, 2, 1, 129, 150, 7), new() { Causal = true, WindowLeft = 40, SinkTokens = 70, KeyLengths = [2, 150] }),
        "sinks-L>S" => (new(1, 3, 1, 160, 90, 16), new() { Causal = true, WindowLeft = 20, WindowRight = 0, SinkTokens = 3 }),
        "sinks-decode" => (new(1, 2, 1, 4, 700, 64), new() { Causal = true, WindowLeft = 64, SinkTokens = 4 }),
        "sinklogits-full" => (new(1, 4, 2, 127, 63, 64), new() { SinkLogits = [0.5f, -2f, float.NegativeInfinity, 3f] }),
        "sinklogits-masked-rows" => (new(2, 2, 1, 129, 40, 7), new() { Causal = true, SinkLogits = [1f, -1f], KeyLengths = [0, 40] }),
        "sinklogits-dominant" => (new(1, 2, 1, 65, 65, 16), new() { Causal = true, SinkLogits = [20f, 40f] }),
        "sinklogits-decode" => (new(1, 2, 1, 2, 200, 32), new() { Causal = true, WindowLeft = 50, SinkLogits = [0f, 2f] }),
        "everything" => (new(2, 4, 2, 131, 129, 63), new()
        {
            Causal = true, WindowLeft = 30, SinkTokens = 5, SoftCap = 4, Scale = 0.5f, AlibiSlopes = FourSlopes,
            SinkLogits = [1f, -1f, 0f, float.NegativeInfinity], KeyLengths = [100, 129],
        }),
        "everything-decode" => (new(1, 4, 1, 3, 257, 64), new()
        {
            Causal = true, WindowLeft = 30, SinkTokens = 5, SoftCap = 4, AlibiSlopes = FourSlopes, SinkLogits = [1f, -1f, 0f, 2f],
        }),
        _ => throw new ArgumentException($"unknown case {name}"),
    };

    private static readonly string[] CaseNames =
    [
        "alibi-causal-gqa-odd", "alibi-full-L<S", "alibi-full-L>S", "alibi-window-padding", "alibi-decode",
        "softcap-causal", "softcap-window-gqa", "softcap-50-large-cap", "softcap-decode",
        "sinks-causal-window", "sinks-two-sided-window", "sinks-wide-padding", "sinks-L>S", "sinks-decode",
        "sinklogits-full", "sinklogits-masked-rows", "sinklogits-dominant", "sinklogits-decode",
        "everything", "everything-decode",
    ];

    public static TheoryData<string, string> ForwardCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var kernel in AttentionKernelTests.AvailableKernels)
            foreach (var name in CaseNames) data.Add(kernel, name);
        return data;
    }

    [SkippableTheory, MemberData(nameof(ForwardCases))]
    public void Variant_MatchesFloat64Reference_OnEveryForwardPath(string kernel, string caseName)
    {
        var (shape, options) = Case(caseName);
        AttentionKernelTests.CheckAgainstReference(kernel, shape, options, seed: caseName.Length);
    }

    public static TheoryData<string, bool> BackwardCases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in CaseNames)
        {
            data.Add(name, true);
            if (name.StartsWith("everything", StringComparison.Ordinal) || name.StartsWith("softcap", StringComparison.Ordinal)) data.Add(name, false);
        }
        return data;
    }

    [SkippableTheory, MemberData(nameof(BackwardCases))]
    public void Variant_BackwardMatchesFloat64Reference(string caseName, bool fastExp)
    {
        var (shape, options) = Case(caseName);
        var (q, k, v) = NaiveAttention.Inputs(shape, caseName.Length);
        var dO = NaiveAttention.Random(q.Length, 99);
        var want = NaiveAttentionBackward.Backward(q, k, v, dO, shape, options);
        var o = new float[q.Length];
        var lse = new float[shape.Batch * shape.Heads * shape.QueryLength];
        FlashAttention.Forward(q, k, v, o, shape, options, lse);
        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        FlashAttentionBackward.Run(q, k, v, o, lse, dO, dq, dk, dv, shape, options, fastExp);
        AssertGradient(dq, want.DQuery, "dQuery");
        AssertGradient(dk, want.DKey, "dKey");
        AssertGradient(dv, want.DValue, "dValue");
    }

    /// <summary>|got − want| ≤ 1e-6 + 1e-5·|want| + 2e-6·max|want| (gradient entries are sums whose terms cancel; see
    /// FlashAttentionBackwardTests).</summary>
    internal static void AssertGradient(ReadOnlySpan<float> got, double[] want, string what)
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

    /// <summary>The reference's gradients with every variant on — dQuery, dKey, dValue and each head's sink-logit gradient —
    /// against central finite differences of its own float64 forward (loss = Σ O·R).</summary>
    [SkippableTheory]
    [InlineData(5, 7, true, 1, 2), InlineData(7, 4, true, 0, 1), InlineData(4, 6, false, 2, 0)]
    public void Reference_WithVariants_MatchesCentralFiniteDifferences(int l, int s, bool causal, int window, int sinkTokens)
    {
        var shape = new AttentionShape(2, 2, 1, l, s, 3);
        var sinks = new float[] { 0.3f, -0.4f };
        AttentionOptions Options() => new()
        {
            Causal = causal, Scale = 1.3f, WindowLeft = window, WindowRight = causal ? null : 1, SinkTokens = sinkTokens,
            SoftCap = 1.5f, AlibiSlopes = [0.5f, 0.25f], SinkLogits = sinks, KeyLengths = [s - 1, s],
        };
        var (qf, kf, vf) = NaiveAttention.Inputs(shape, 21);
        double[] q = NaiveAttentionBackward.ToDouble(qf), k = NaiveAttentionBackward.ToDouble(kf), v = NaiveAttentionBackward.ToDouble(vf);
        double[] r = NaiveAttentionBackward.ToDouble(NaiveAttention.Random(qf.Length, 22));
        var analytic = NaiveAttentionBackward.Backward(q, k, v, r, shape, Options());

        double Loss()
        {
            var o = NaiveAttentionBackward.Forward(q, k, v, shape, Options());
            double sum = 0;
            for (int i = 0; i < o.Length; i++) sum += o[i] * r[i];
            return sum;
        }
        const double h = 1e-5;
        void Check(double[] x, double[] grad, string what)
        {
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
        // the sink logits are float options: step them in float with a larger h (the loss is smooth in them)
        for (int hd = 0; hd < sinks.Length; hd++)
        {
            const float step = 1e-2f;
            float saved = sinks[hd];
            sinks[hd] = saved + step; double up = Loss();
            sinks[hd] = saved - step; double down = Loss();
            sinks[hd] = saved;
            double numeric = (up - down) / (((double)saved + step) - ((double)saved - step));
            Assert.True(Math.Abs(numeric - analytic.DSinks[hd]) <= 1e-4 * Math.Max(1, Math.Abs(numeric)),
                        $"dSink[{hd}]: finite difference {numeric:R}, analytic {analytic.DSinks[hd]:R}");
        }
    }

    [SkippableFact]
    public void Alibi_Slopes_FollowThePapersRecipe()
    {
        // H = 8 (a power of two): 2^(−8/8·k), k = 1..8
        Assert.Equal(Enumerable.Range(1, 8).Select(k => MathF.Pow(2, -k)).ToArray(), Alibi.Slopes(8));
        // H = 6: the 4-head slopes 2^−2, 2^−4, 2^−6, 2^−8, then the 1st and 3rd of the 8-head slopes, 2^−1 and 2^−3
        Assert.Equal(new[] { 0.25f, 0.0625f, 1f / 64, 1f / 256, 0.5f, 0.125f }, Alibi.Slopes(6));
        Assert.Equal(new[] { 1f / 256 }, Alibi.Slopes(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Alibi.Slopes(0));
    }

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode")]
    public void SinkLogits_RowWithoutVisibleKey_GivesZeroOutputAndTheSinkAsLogSumExp(string kernel)
    {
        // L > S causal: the first L − S rows see no key
        var shape = new AttentionShape(1, 2, 1, 12, 5, 16);
        var options = new AttentionOptions { Causal = true, SinkLogits = [0.7f, -3f] };
        var (q, k, v) = NaiveAttention.Inputs(shape, 3);
        var o = new float[q.Length];
        var lse = new float[24];
        AttentionKernelTests.Kernel(kernel)(q, k, v, o, shape, options, lse);
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 7; i++)
            {
                Assert.Equal(options.SinkLogits[h], lse[h * 12 + i]);
                Assert.All(o.AsSpan((h * 12 + i) * 16, 16).ToArray(), x => Assert.Equal(0f, x));
            }
        Assert.DoesNotContain(o, float.IsNaN);
    }

    [SkippableFact]
    public void SinkTokens_KeepTheFirstKeysVisible_BeyondTheWindow()
    {
        // with a window of 2 the last query would only see keys 98..99; with 4 sinks it also sees 0..3
        var shape = new AttentionShape(1, 1, 1, 1, 100, 8);
        var (q, k, v) = NaiveAttention.Inputs(shape, 8);
        var baseOptions = new AttentionOptions { Causal = true, WindowLeft = 1 };
        var o1 = new float[8];
        var o2 = new float[8];
        FlashAttention.Forward(q, k, v, o1, shape, baseOptions);
        FlashAttention.Forward(q, k, v, o2, shape, baseOptions with { SinkTokens = 4 });
        Assert.NotEqual(o1, o2);
        // changing a key between the sinks and the window changes nothing
        k[50 * 8] += 10;
        var o3 = new float[8];
        FlashAttention.Forward(q, k, v, o3, shape, baseOptions with { SinkTokens = 4 });
        Assert.Equal(o2, o3);
    }

    [SkippableFact]
    public void Variants_BadOptions_ThrowNamingExpectedAndActual()
    {
        var shape = new AttentionShape(1, 4, 2, 3, 5, 8);
        var (q, k, v) = NaiveAttention.Inputs(shape, 1);
        var o = new float[q.Length];
        void Check(AttentionOptions options, string expected, string actual)
        {
            var e = Assert.Throws<ArgumentException>(() => FlashAttention.Forward(q, k, v, o, shape, options));
            Assert.Contains(expected, e.Message);
            Assert.Contains(actual, e.Message);
        }
        Check(new() { AlibiSlopes = [1f, 2f] }, "expected 4", "got 2");
        Check(new() { AlibiSlopes = [1f, 2f, float.NaN, 1f] }, "AlibiSlopes[2]", "NaN");
        Check(new() { SinkLogits = [1f] }, "expected 4", "got 1");
        Check(new() { SinkLogits = [1f, float.PositiveInfinity, 0, 0] }, "SinkLogits[1]", "∞");
        Check(new() { SoftCap = -1 }, "SoftCap", "got -1");
        Check(new() { SinkTokens = -2 }, "SinkTokens", "got -2");
    }
}

/// <summary>The soft-cap's tanh against Math.Tanh: relative error within a few float ulps at every scale.</summary>
public class SoftCapMathTests
{
    [SkippableFact]
    public void SoftCapTanh_RelativeErrorWithinFourUlps_FromTinyToSaturated()
    {
        var x = new List<float> { 0f, -0f, 1e-30f, -1e-20f, 0.39999f, 0.4f, 0.40001f, -0.4f, 9f, -9f, 20f, 100f, float.PositiveInfinity, float.NegativeInfinity };
        for (int i = -4000; i <= 4000; i++) x.Add(i * 0.00173f);
        for (int e = -30; e <= 5; e++) { x.Add(MathF.Pow(2, e) * 1.37f); x.Add(-MathF.Pow(2, e) * 1.11f); }
        var y = x.ToArray();
        Attention.Kernels.SoftCapMath.Tanh(y);
        for (int i = 0; i < y.Length; i++)
        {
            double want = Math.Tanh(x[i]);
            double err = Math.Abs(y[i] - want);
            Assert.True(err <= 4 * 6e-8 * Math.Abs(want) + 1e-45, $"tanh({x[i]:R}) = {y[i]:R}, expected {want:R} (relative error {err / Math.Abs(want):E2})");
        }
    }
}
