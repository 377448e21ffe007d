using Attention.Book;
using Attention.Kernels;
using Attention.Peers;

namespace Attention.Tests.Peers;

public class NaivePeerTests
{
    [Theory, MemberData(nameof(OrtPeerTests.Cases), MemberType = typeof(OrtPeerTests))]
    public void NaiveCSharpAttention_MatchesFloat64Reference(int b, int h, int l, int s, int d, bool causal)
    {
        var shape = new AttentionShape(b, h, h, l, s, d);
        OrtPeerTests.AssertMatchesReference(shape, causal, (q, k, v, o) =>
        {
            var output = new float[o.Length];
            NaiveCSharpAttention.Forward(q.ToArray(), k.ToArray(), v.ToArray(), output, shape, causal, threads: 2);
            output.CopyTo(o);
        });
    }
}
