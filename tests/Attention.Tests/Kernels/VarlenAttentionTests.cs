using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary><see cref="FlashAttention.ForwardVarlen(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, ReadOnlySpan{int}, ReadOnlySpan{int}, int, int, int, AttentionOptions, Span{float})"/>
/// against the float64 reference run on each sequence alone, and against the padded dense call.</summary>
public class VarlenAttentionTests
{
    private static int[] Offsets(int[] lengths)
    {
        var cu = new int[lengths.Length + 1];
        for (int b = 0; b < lengths.Length; b++) cu[b + 1] = cu[b] + lengths[b];
        return cu;
    }

    /// <summary>Rows [start, start + n) of head h from a token-major (T, heads, D) tensor, as (1, heads, n, D).</summary>
    private static float[] Gather(float[] x, int start, int n, int heads, int d)
    {
        var y = new float[heads * n * d];
        for (int h = 0; h < heads; h++)
            for (int t = 0; t < n; t++)
                Array.Copy(x, ((start + t) * heads + h) * d, y, (h * n + t) * d, d);
        return y;
    }

    private static void CheckAgainstReference(int[] qLengths, int[] kLengths, int heads, int kvHeads, int d,
                                              AttentionOptions options, FlashAttention.FlashPath path, int seed)
    {
        int[] cuQ = Offsets(qLengths), cuK = Offsets(kLengths);
        var q = NaiveAttention.Random(cuQ[^1] * heads * d, seed);
        var k = NaiveAttention.Random(cuK[^1] * kvHeads * d, seed + 1);
        var v = NaiveAttention.Random(cuK[^1] * kvHeads * d, seed + 2);
        var o = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        var lse = Enumerable.Repeat(float.NaN, cuQ[^1] * heads).ToArray();
        FlashAttention.ForwardVarlen(q, k, v, o, cuQ, cuK, heads, kvHeads, d, options, lse, path);
        for (int b = 0; b < qLengths.Length; b++)
        {
            int l = qLengths[b], s = kLengths[b];
            if (l == 0) continue;
            var shape = new AttentionShape(1, heads, kvHeads, l, s, d);
            var want = NaiveAttention.Forward(Gather(q, cuQ[b], l, heads, d), Gather(k, cuK[b], s, kvHeads, d),
                                              Gather(v, cuK[b], s, kvHeads, d), shape, options);
            var got = Gather(o, cuQ[b], l, heads, d);
            NaiveAttention.AssertClose(got, want.Output, $"sequence {b} output");
            var gotLse = new float[heads * l];
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < l; t++) gotLse[h * l + t] = lse[(cuQ[b] + t) * heads + h];
            NaiveAttention.AssertClose(gotLse, want.LogSumExp, $"sequence {b} logSumExp", 1e-5, 1e-5);
        }
    }

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in new[] { "self-causal", "cross-full", "gqa-window-sinks", "alibi-softcap-sinklogits", "empty-and-tiny" })
        {
            data.Add(name, true);
            data.Add(name, false);
        }
        return data;
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void Varlen_EachSequenceMatchesFloat64ReferenceAlone(string name, bool tiled)
    {
        var path = KernelPaths.Of(tiled);
        switch (name)
        {
            case "self-causal":
                CheckAgainstReference([7, 129, 1, 64, 65], [7, 129, 1, 64, 65], 2, 1, 64, new() { Causal = true }, path, 1);
                break;
            case "cross-full":
                CheckAgainstReference([63, 5, 130], [20, 200, 1], 3, 3, 17, new(), path, 2);
                break;
            case "gqa-window-sinks":
                CheckAgainstReference([100, 3, 70], [120, 3, 50], 4, 2, 33,
                                      new() { Causal = true, WindowLeft = 9, SinkTokens = 2 }, path, 3);
                break;
            case "alibi-softcap-sinklogits":
                CheckAgainstReference([66, 40], [66, 90], 2, 2, 16,
                                      new() { Causal = true, AlibiSlopes = [0.5f, 0.125f], SoftCap = 3, Scale = 0.6f, SinkLogits = [0.2f, -1f] }, path, 4);
                break;
            case "empty-and-tiny":
                CheckAgainstReference([0, 1, 0, 2, 0], [3, 0, 0, 2, 5], 2, 1, 7, new() { Causal = true }, path, 5);
                break;
        }
    }

    [SkippableFact]
    public void Varlen_EqualsPaddedBatchWithKeyLengths_OnTheRealRows()
    {
        int[] lengths = [30, 7, 64, 1];
        const int heads = 2, d = 32, paddedLength = 64;
        int[] cu = Offsets(lengths);
        var q = NaiveAttention.Random(cu[^1] * heads * d, 7);
        var k = NaiveAttention.Random(cu[^1] * heads * d, 8);
        var v = NaiveAttention.Random(cu[^1] * heads * d, 9);
        var packed = new float[q.Length];
        var options = new AttentionOptions { Causal = true };
        FlashAttention.ForwardVarlen(q, k, v, packed, cu, cu, heads, heads, d, options);

        // the same batch padded to T and laid out (B, H, T, D), keys masked past each length
        float[] Pad(float[] x)
        {
            var y = new float[lengths.Length * heads * paddedLength * d];
            for (int b = 0; b < lengths.Length; b++)
                for (int h = 0; h < heads; h++)
                    for (int t = 0; t < lengths[b]; t++)
                        Array.Copy(x, ((cu[b] + t) * heads + h) * d, y, ((b * heads + h) * paddedLength + t) * d, d);
            return y;
        }
        var padded = new float[lengths.Length * heads * paddedLength * d];
        FlashAttention.Forward(Pad(q), Pad(k), Pad(v), padded, new AttentionShape(lengths.Length, heads, heads, paddedLength, paddedLength, d),
                               options with { KeyLengths = lengths });
        for (int b = 0; b < lengths.Length; b++)
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < lengths[b]; t++)
                    for (int x = 0; x < d; x++)
                        Assert.Equal(padded[((b * heads + h) * paddedLength + t) * d + x], packed[((cu[b] + t) * heads + h) * d + x], 5e-6f);
    }

    [SkippableFact]
    public void Varlen_BadArguments_ThrowNamingExpectedAndActual()
    {
        var q = new float[10 * 2 * 4];
        var o = new float[q.Length];
        void Check(Action call, string expected, string actual)
        {
            var e = Assert.Throws<ArgumentException>(call);
            Assert.Contains(expected, e.Message);
            Assert.Contains(actual, e.Message);
        }
        Check(() => FlashAttention.ForwardVarlen(q, q, q, o, [0, 4, 10], [0, 4, 10], 2, 2, 4, new() { KeyLengths = [4, 6] }), "KeyLengths", "got 2");
        Check(() => FlashAttention.ForwardVarlen(q, q, q, o, [1, 4, 10], [0, 4, 10], 2, 2, 4, new()), "expected 0", "got 1");
        Check(() => FlashAttention.ForwardVarlen(q, q, q, o, [0, 6, 4], [0, 4, 10], 2, 2, 4, new()), "never decrease", "got 4");
        Check(() => FlashAttention.ForwardVarlen(q, q, q, o, [0, 4, 10], [0, 10], 2, 2, 4, new()), "expected 3", "got 2");
        Check(() => FlashAttention.ForwardVarlen(q, q, q, o, [0, 4, 9], [0, 4, 10], 2, 2, 4, new()), "= 72", "got 80");
        Check(() => FlashAttention.ForwardVarlen(q, q, q, o, [0, 4, 10], [0, 4, 10], 3, 2, 4, new()), "= 120", "got 80");
    }
}
