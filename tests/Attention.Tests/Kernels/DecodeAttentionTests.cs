using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

public class DecodeAttentionTests
{
    [Theory]
    [InlineData(1, 4096, 64, false), InlineData(1, 4097, 64, true), InlineData(2, 1000, 129, true), InlineData(4, 777, 7, false)]
    public void Decode_MatchesReference_LongCache(int l, int s, int d, bool causal) =>
        AttentionKernelTests.CheckAgainstReference("decode", new AttentionShape(1, 8, 2, l, s, d), new AttentionOptions { Causal = causal });

    [Fact]
    public void Decode_MatchesReference_SlidingWindowOverLongCache() =>
        AttentionKernelTests.CheckAgainstReference("decode", new AttentionShape(2, 4, 4, 3, 3000, 64),
                                                   new AttentionOptions { Causal = true, WindowLeft = 1000, KeyLengths = [3000, 2500] });

    [Fact]
    public void Decode_OneThreadAndManyThreads_Agree()
    {
        // the key range is chunked by thread count, so the sums associate differently: close, not bit-equal
        var shape = new AttentionShape(1, 8, 8, 1, 4096, 64);
        var (q, k, v) = NaiveAttention.Inputs(shape, 21);
        float[] o1 = new float[q.Length], o4 = new float[q.Length], l1 = new float[8], l4 = new float[8];
        DecodeAttention.Forward(q, k, v, o1, shape, new AttentionOptions { MaxThreads = 1 }, l1);
        DecodeAttention.Forward(q, k, v, o4, shape, new AttentionOptions { MaxThreads = 4 }, l4);
        for (int i = 0; i < o1.Length; i++) Assert.True(Math.Abs(o1[i] - o4[i]) <= 1e-6 + 1e-5 * Math.Abs(o1[i]), $"output {i}");
        for (int i = 0; i < 8; i++) Assert.True(Math.Abs(l1[i] - l4[i]) <= 1e-5 + 1e-6 * Math.Abs(l1[i]), $"lse {i}");
    }
}
