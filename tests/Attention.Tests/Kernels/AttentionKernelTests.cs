using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary>
/// The semantics every attention kernel shares (FlashAttention as called, its tiled AVX-512 and portable paths
/// forced, DecodeAttention, MathAttention), each checked against the float64 <see cref="NaiveAttention"/> over odd and round sizes.
/// </summary>
public class AttentionKernelTests
{
    public static readonly string[] KernelNames = ["flash", "tiled", "portable", "decode", "math"];

    /// <summary>The kernels that can run on this CPU: all but "tiled" where there is no AVX-512 (see <see cref="KernelPathTests"/>).</summary>
    public static readonly string[] AvailableKernels = KernelNames.Where(n => n != "tiled" || FlashAttentionAvx512.IsSupported).ToArray();

    public static AttentionKernel Kernel(string name) => name switch
    {
        "flash" => FlashAttention.Forward,
        "tiled" => Tiled(KernelPaths.Tiled()),   // asks for the path (and skips without AVX-512) before any call
        "portable" => (q, k, v, o, s, opt, l) => FlashAttention.Forward(q, k, v, o, s, opt, l, FlashAttention.FlashPath.Portable),
        "decode" => DecodeAttention.Forward,
        "math" => (q, k, v, o, s, opt, l) => MathAttention.Forward(q, k, v, o, s, opt),
        _ => throw new ArgumentException($"unknown kernel {name}"),
    };

    private static AttentionKernel Tiled(FlashAttention.FlashPath path) =>
        (q, k, v, o, s, opt, l) => FlashAttention.Forward(q, k, v, o, s, opt, l, path);

    /// <summary>Runs one kernel and checks output, logSumExp (probabilities for the math path) against float64.</summary>
    internal static void CheckAgainstReference(string kernel, AttentionShape shape, AttentionOptions options, int seed = 1,
                                             double abs = 1e-6, double rel = 1e-5)
    {
        var (q, k, v) = NaiveAttention.Inputs(shape, seed);
        var want = NaiveAttention.Forward(q, k, v, shape, options);
        var o = Enumerable.Repeat(float.NaN, q.Length).ToArray();   // sentinel: every element must be written
        if (kernel == "math")
        {
            var p = Enumerable.Repeat(float.NaN, want.Probabilities.Length).ToArray();
            MathAttention.Forward(q, k, v, o, shape, options, p);
            NaiveAttention.AssertClose(p, want.Probabilities, "probabilities", abs, rel);
        }
        else
        {
            var lse = Enumerable.Repeat(float.NaN, want.LogSumExp.Length).ToArray();
            Kernel(kernel)(q, k, v, o, shape, options, lse);
            NaiveAttention.AssertClose(lse, want.LogSumExp, "logSumExp", 1e-5, 1e-5);
        }
        NaiveAttention.AssertClose(o, want.Output, "output", abs, rel);
    }

    private static readonly int[] Sizes = [1, 7, 63, 127, 129];

    public static TheoryData<string, int, int, int, bool> LengthCases()
    {
        var data = new TheoryData<string, int, int, int, bool>();
        foreach (var kernel in AvailableKernels)
            foreach (int l in Sizes)
                foreach (int s in Sizes)
                    foreach (bool causal in new[] { false, true })
                        data.Add(kernel, l, s, (l + s) % 2 == 0 ? 64 : 7, causal);
        return data;
    }

    [SkippableTheory, MemberData(nameof(LengthCases))]
    public void Kernel_MatchesReference_QueryAndKeyLengths(string kernel, int l, int s, int d, bool causal) =>
        CheckAgainstReference(kernel, new AttentionShape(1, 2, 1, l, s, d), new AttentionOptions { Causal = causal });

    public static TheoryData<string, int> HeadDimCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var kernel in AvailableKernels)
            foreach (int d in new[] { 1, 7, 15, 16, 17, 63, 64, 65, 127, 128, 129 })
                data.Add(kernel, d);
        return data;
    }

    [SkippableTheory, MemberData(nameof(HeadDimCases))]
    public void Kernel_MatchesReference_HeadDims(string kernel, int d)
    {
        CheckAgainstReference(kernel, new AttentionShape(1, 2, 2, 70, 131, d), new AttentionOptions());
        CheckAgainstReference(kernel, new AttentionShape(1, 1, 1, 131, 70, d), new AttentionOptions { Causal = true }, seed: 5);
    }

    public static TheoryData<string, int?, int?, bool, int, int> WindowCases()
    {
        var data = new TheoryData<string, int?, int?, bool, int, int>();
        var windows = new (int?, int?)[] { (5, null), (null, 3), (4, 2), (0, 0), (70, null) };
        foreach (var kernel in AvailableKernels)
            foreach (var (wl, wr) in windows)
                foreach (bool causal in new[] { false, true })
                    foreach (var (l, s) in new[] { (37, 150), (150, 37), (130, 130) })
                        data.Add(kernel, wl, wr, causal, l, s);
        return data;
    }

    [SkippableTheory, MemberData(nameof(WindowCases))]
    public void Kernel_MatchesReference_SlidingWindows(string kernel, int? left, int? right, bool causal, int l, int s) =>
        CheckAgainstReference(kernel, new AttentionShape(1, 1, 1, l, s, 16),
                              new AttentionOptions { WindowLeft = left, WindowRight = right, Causal = causal });

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_MatchesReference_KeyPaddingIncludingEmptyBatch(string kernel)
    {
        foreach (bool causal in new[] { false, true })
            CheckAgainstReference(kernel, new AttentionShape(3, 2, 1, 70, 100, 24),
                                  new AttentionOptions { KeyLengths = [0, 17, 100], Causal = causal });
    }

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_MatchesReference_GroupedAndMultiQuery(string kernel)
    {
        CheckAgainstReference(kernel, new AttentionShape(2, 8, 2, 65, 130, 32), new AttentionOptions { Causal = true });
        CheckAgainstReference(kernel, new AttentionShape(1, 4, 1, 65, 130, 32), new AttentionOptions(), seed: 3);
    }

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_MatchesReference_ManyBlocksWithCausalWindowAndPadding(string kernel) =>
        CheckAgainstReference(kernel, new AttentionShape(2, 2, 1, 300, 520, 64),
                              new AttentionOptions { Causal = true, WindowLeft = 150, KeyLengths = [520, 411] });

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_FullyMaskedRows_GiveZerosAndNegativeInfinityLse(string kernel)
    {
        // L = 5 > S = 3 with causal: rows 0 and 1 see no key. Window (0, 0) past KeyLengths: row sees nothing.
        var shape = new AttentionShape(1, 1, 1, 5, 3, 8);
        var (q, k, v) = NaiveAttention.Inputs(shape, 9);
        var o = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        var lse = Enumerable.Repeat(float.NaN, 5).ToArray();
        var p = Enumerable.Repeat(float.NaN, 15).ToArray();
        if (kernel == "math") MathAttention.Forward(q, k, v, o, shape, new AttentionOptions { Causal = true }, p);
        else Kernel(kernel)(q, k, v, o, shape, new AttentionOptions { Causal = true }, lse);
        for (int i = 0; i < 2; i++)
        {
            Assert.All(o.AsSpan(i * 8, 8).ToArray(), x => Assert.Equal(0f, x));
            if (kernel == "math") Assert.All(p.AsSpan(i * 3, 3).ToArray(), x => Assert.Equal(0f, x));
            else Assert.Equal(float.NegativeInfinity, lse[i]);
        }
        Assert.All(o, x => Assert.False(float.IsNaN(x)));
        if (kernel != "math") Assert.All(lse.AsSpan(2).ToArray(), x => Assert.True(float.IsFinite(x)));
    }

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_NoKeys_S0_GivesZerosAndNegativeInfinityLse(string kernel)
    {
        var shape = new AttentionShape(2, 2, 1, 3, 0, 5);
        var q = NaiveAttention.Random(2 * 2 * 3 * 5, 1);
        var o = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        var lse = Enumerable.Repeat(float.NaN, 12).ToArray();
        Kernel(kernel)(q, [], [], o, shape, AttentionOptions.Default, kernel == "math" ? default : lse);
        Assert.All(o, x => Assert.Equal(0f, x));
        if (kernel != "math") Assert.All(lse, x => Assert.Equal(float.NegativeInfinity, x));
    }

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_NoQueries_L0_IsANoOp(string kernel)
    {
        var shape = new AttentionShape(1, 2, 2, 0, 9, 4);
        var kv = NaiveAttention.Random(2 * 9 * 4, 2);
        var before = kv.ToArray();
        var ex = Record.Exception(() =>
        {
            Kernel(kernel)([], kv, kv, [], shape, AttentionOptions.Default, default);
            Kernel(kernel)([], [], [], [], new AttentionShape(0, 2, 2, 5, 9, 4), AttentionOptions.Default, default);
        });
        Assert.Null(ex);                 // no queries (L = 0) or no batch (B = 0): nothing to do, nothing to refuse
        Assert.Equal(before, kv);        // and the inputs are left alone
    }

    [SkippableTheory]
    [InlineData("flash"), InlineData("tiled"), InlineData("portable"), InlineData("decode"), InlineData("math")]
    public void Kernel_LargeLogits_StayFiniteAndMatchReference(string kernel)
    {
        // scale ×100: logits of several hundred, softmax close to one-hot; score rounding error (≈1e-7·|s|) is
        // amplified by |s| in the exponent, hence the looser tolerance (the 2×-naive rule is in FlashAttentionTests).
        var shape = new AttentionShape(1, 2, 1, 63, 129, 64);
        CheckAgainstReference(kernel, shape, new AttentionOptions { Scale = 100f / 8, Causal = true }, abs: 2e-4, rel: 2e-4);
    }

    public static TheoryData<string> Names() => [.. KernelNames];

    [SkippableTheory, MemberData(nameof(Names))]
    public void Kernel_BadArguments_ThrowArgumentExceptionNamingExpectedAndActual(string kernel)
    {
        var f = Kernel(kernel);
        var shape = new AttentionShape(1, 4, 2, 3, 5, 8);
        float[] q = new float[96], kv = new float[80], o = new float[96];

        void Throws(string expected, string actual, Action call)
        {
            var ex = Assert.ThrowsAny<ArgumentException>(call);
            Assert.Contains(expected, ex.Message);
            Assert.Contains(actual, ex.Message);
        }
        Throws("96", "95", () => f(q.AsSpan(1), kv, kv, o, shape, AttentionOptions.Default, default));
        Throws("80", "81", () => f(q, new float[81], kv, o, shape, AttentionOptions.Default, default));
        Throws("80", "79", () => f(q, kv, new float[79], o, shape, AttentionOptions.Default, default));
        Throws("96", "97", () => f(q, kv, kv, new float[97], shape, AttentionOptions.Default, default));
        Throws("multiple of KvHeads (3)", "4", () => f(q, kv, kv, o, shape with { KvHeads = 3 }, AttentionOptions.Default, default));
        Throws(">= 0", "-1", () => f(q, kv, kv, o, shape with { QueryLength = -1 }, AttentionOptions.Default, default));
        Throws("1 entries", "2", () => f(q, kv, kv, o, shape, new AttentionOptions { KeyLengths = [1, 2] }, default));
        Throws("[0, 5]", "6", () => f(q, kv, kv, o, shape, new AttentionOptions { KeyLengths = [6] }, default));
        Throws(">= 0", "-2", () => f(q, kv, kv, o, shape, new AttentionOptions { WindowLeft = -2 }, default));
        Throws(">= 0", "-3", () => f(q, kv, kv, o, shape, new AttentionOptions { WindowRight = -3 }, default));
        if (kernel == "math")
            Throws("60", "59", () => MathAttention.Forward(q, kv, kv, o, shape, AttentionOptions.Default, new float[59]));
        else
            Throws("12", "11", () => f(q, kv, kv, o, shape, AttentionOptions.Default, new float[11]));
    }
}
