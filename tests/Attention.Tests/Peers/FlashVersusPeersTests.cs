using Attention.Kernels;
using Attention.Peers;

namespace Attention.Tests.Peers;

/// <summary>Differential tests: our kernels against ONNX Runtime on the same random inputs.</summary>
public class FlashVersusPeersTests
{
    [Theory]
    [InlineData(1, 4, 129, 129, 64, false)]
    [InlineData(2, 2, 127, 127, 32, true)]
    [InlineData(1, 2, 7, 63, 16, true)]
    public void FlashAttention_MatchesOrtMultiHeadAttention_Random(int b, int h, int l, int s, int d, bool causal)
    {
        var shape = new AttentionShape(b, h, h, l, s, d);
        var (q, k, v) = OrtPeerTests.Inputs(shape, 77 + l);
        var ours = new float[q.Length]; var theirs = new float[q.Length];
        FlashAttention.Forward(q, k, v, ours, shape, new AttentionOptions { Causal = causal, MaxThreads = 2 });
        using (var peer = new OrtMultiHeadAttention(shape, causal, threads: 2)) peer.Run(q, k, v, theirs);
        // both are float32 paths; ORT's result stands in for the reference, so the tolerance is the peer tolerance
        var reference = Array.ConvertAll(theirs, x => (double)x);
        double worst = PeerReference.WorstRatio(ours, reference, OrtPeerTests.Atol, OrtPeerTests.Rtol);
        Assert.True(worst <= 1, $"FlashAttention differs from ORT MultiHeadAttention by {worst:F2}× the tolerance for {shape}, causal={causal}");
    }
}
