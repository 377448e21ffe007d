using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary><see cref="RollingKvCache"/>: what it holds after a long stream, its memory, and its attention against the
/// full-history kernel with a window and sink tokens.</summary>
public class RollingKvCacheTests
{
    private static float[] Token(int t, int kvHeads, int d, int salt) => NaiveAttention.Random(kvHeads * d, t * 31 + salt);

    [Fact]
    public void Rolling_HoldsTheSinksAndTheLastWindow_InOrder_WithConstantMemory()
    {
        const int kvHeads = 2, d = 3, sinks = 2, window = 5;
        var cache = new RollingKvCache(kvHeads, d, sinks, window);
        int floats = cache.Keys.Length;
        for (int t = 0; t < 40; t++)
        {
            cache.Append(Token(t, kvHeads, d, 0), Token(t, kvHeads, d, 1));
            Assert.Equal(floats, cache.Keys.Length);
            int[] held = t + 1 <= sinks + window ? Enumerable.Range(0, t + 1).ToArray()
                : [.. Enumerable.Range(0, sinks), .. Enumerable.Range(t + 1 - window, window)];
            Assert.Equal(held.Length, cache.Count);
            for (int j = 0; j < held.Length; j++)
                for (int h = 0; h < kvHeads; h++)
                {
                    Assert.Equal(Token(held[j], kvHeads, d, 0).AsSpan(h * d, d).ToArray(), cache.Key(h, j).ToArray());
                    Assert.Equal(Token(held[j], kvHeads, d, 1).AsSpan(h * d, d).ToArray(), cache.Value(h, j).ToArray());
                }
        }
        Assert.Equal(40, cache.Seen);
    }

    [Fact]
    public void Rolling_Attend_EqualsFullHistoryKernelWithWindowAndSinkTokens()
    {
        // without position-dependent options the last token's attention over the cache is exactly the full-history
        // kernel's with Causal, WindowLeft = window − 1 and SinkTokens: both see the sinks and the last window tokens
        const int heads = 4, kvHeads = 2, d = 16, sinks = 4, window = 20, total = 100;
        var cache = new RollingKvCache(kvHeads, d, sinks, window);
        var k = new float[kvHeads * total * d];
        var v = new float[kvHeads * total * d];
        for (int t = 0; t < total; t++)
        {
            var kt = Token(t, kvHeads, d, 0); var vt = Token(t, kvHeads, d, 1);
            cache.Append(kt, vt);
            for (int h = 0; h < kvHeads; h++)
            {
                Array.Copy(kt, h * d, k, (h * total + t) * d, d);
                Array.Copy(vt, h * d, v, (h * total + t) * d, d);
            }
        }
        var q = NaiveAttention.Random(heads * d, 7);
        var rolling = new float[heads * d];
        var options = new AttentionOptions { SinkLogits = [0.5f, -1f, 0f, 2f], SoftCap = 3 };
        cache.Attend(q, rolling, heads, options);
        var shape = new AttentionShape(1, heads, kvHeads, 1, total, d);
        var want = NaiveAttention.Forward(q, k, v, shape, options with { Causal = true, WindowLeft = window - 1, SinkTokens = sinks });
        NaiveAttention.AssertClose(rolling, want.Output, "rolling");
    }

    [Fact]
    public void Rolling_AlibiUsesPositionsInsideTheCache()
    {
        const int heads = 2, kvHeads = 1, d = 8, sinks = 2, window = 6;
        var cache = new RollingKvCache(kvHeads, d, sinks, window);
        for (int t = 0; t < 30; t++) cache.Append(Token(t, kvHeads, d, 0), Token(t, kvHeads, d, 1));
        // the reference over the held rows as a plain sequence of Count keys: query at position Count − 1
        var k = new float[cache.Count * d];
        var v = new float[cache.Count * d];
        for (int j = 0; j < cache.Count; j++) { cache.Key(0, j).CopyTo(k.AsSpan(j * d)); cache.Value(0, j).CopyTo(v.AsSpan(j * d)); }
        var q = NaiveAttention.Random(heads * d, 3);
        var options = new AttentionOptions { AlibiSlopes = [0.5f, 0.25f] };
        var got = new float[heads * d];
        cache.Attend(q, got, heads, options);
        var want = NaiveAttention.Forward(q, k, v, new AttentionShape(1, heads, 1, 1, cache.Count, d), options);
        NaiveAttention.AssertClose(got, want.Output, "alibi");
    }

    [Fact]
    public void Rolling_BadArguments_ThrowNamingExpectedAndActual()
    {
        var cache = new RollingKvCache(2, 4, 1, 3);
        var e = Assert.Throws<ArgumentException>(() => cache.Append(new float[7], new float[8]));
        Assert.Contains("= 8", e.Message); Assert.Contains("got 7", e.Message);
        cache.Append(new float[8], new float[8]);
        e = Assert.Throws<ArgumentException>(() => cache.Attend(new float[12], new float[12], 3));
        Assert.Contains("multiple of KvHeads (2)", e.Message); Assert.Contains("got 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => cache.Attend(new float[16], new float[16], 4, new AttentionOptions { AlibiSlopes = [1f] }));
        Assert.Contains("expected 4", e.Message); Assert.Contains("got 1", e.Message);
    }
}
