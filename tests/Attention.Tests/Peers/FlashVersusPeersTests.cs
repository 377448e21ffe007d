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
        // two float32 paths, each within the contract tolerance of the float64 result, differ by at most twice it
        var reference = Array.ConvertAll(theirs, x => (double)x);
        double worst = PeerReference.WorstRatio(ours, reference, 2 * OrtPeerTests.Atol, 2 * OrtPeerTests.Rtol);
        Assert.True(worst <= 1, $"FlashAttention differs from ORT MultiHeadAttention by {worst:F2}× the tolerance for {shape}, causal={causal}");
    }
}
