using Attention.Kernels;
using Attention.Peers;

namespace Attention.Tests.Peers;

/// <summary>
/// The peers are oracles only if they compute what we think they compute: each is held to the float64
/// reference on random inputs, with our layouts and our bottom-right causal convention.
/// Tolerance 1e-6 + 1e-5·|ref|, the kernels' contract: at these sizes (S ≤ 129) every peer's float32
/// path meets it, so it is also the bar a peer sets when it stands in for the reference. A wrong
/// layout, mask or scale misses by orders of magnitude more (inputs are scaled so softmax is peaked).
/// </summary>
public class OrtPeerTests
{
    internal const double Atol = 1e-6, Rtol = 1e-5;

    public static TheoryData<int, int, int, int, int, bool> Cases => new()
    {
        // B, H, L, S, D, causal
        { 1, 1, 1, 1, 8, false },
        { 1, 2, 7, 7, 16, false },
        { 1, 2, 7, 7, 16, true },
        { 2, 3, 63, 63, 64, false },
        { 2, 3, 63, 63, 64, true },
        { 1, 2, 129, 129, 32, true },
        { 1, 2, 127, 127, 64, false },
        { 1, 2, 7, 129, 16, false },   // L ≠ S
        { 1, 2, 7, 129, 16, true },    // L ≠ S, bottom-right through an explicit mask
        { 1, 4, 1, 127, 64, false },   // decode: one query against a cache
    };

    [Theory, MemberData(nameof(Cases))]
    public void OrtMultiHeadAttention_MatchesFloat64Reference(int b, int h, int l, int s, int d, bool causal)
    {
        var shape = new AttentionShape(b, h, h, l, s, d);
        using var peer = new OrtMultiHeadAttention(shape, causal, threads: 1);
        AssertMatchesReference(shape, causal, peer.Run);
    }

    [Theory, MemberData(nameof(Cases))]
    public void OrtAttention23_MatchesFloat64Reference(int b, int h, int l, int s, int d, bool causal)
    {
        var shape = new AttentionShape(b, h, h, l, s, d);
        using var peer = new OrtAttention23(shape, causal, threads: 1);
        AssertMatchesReference(shape, causal, peer.Run);
    }

    [Fact]
    public void OrtAttention23_MatchesFloat64Reference_GroupedQuery_Causal()
    {
        var shape = new AttentionShape(1, 8, 2, 33, 33, 16);
        using var peer = new OrtAttention23(shape, causal: true, threads: 2);
        AssertMatchesReference(shape, true, peer.Run);
    }

    [Fact]
    public void OrtMultiHeadAttention_RejectsGroupedQuery_NamingBothHeadCounts()
    {
        var e = Assert.Throws<ArgumentException>(() => new OrtMultiHeadAttention(new AttentionShape(1, 8, 2, 4, 4, 8), false, 1));
        Assert.Contains("Heads=8", e.Message);
        Assert.Contains("KvHeads=2", e.Message);
    }

    [Fact]
    public void OrtAttention23_CausalDiffersFromFull()
    {
        // guards against an attribute that is written but silently ignored
        var shape = new AttentionShape(1, 1, 1, 16, 16, 8);
        var (q, k, v) = Inputs(shape, 5);
        var full = new float[q.Length]; var causal = new float[q.Length];
        using (var p = new OrtAttention23(shape, false, 1)) p.Run(q, k, v, full);
        using (var p = new OrtAttention23(shape, true, 1)) p.Run(q, k, v, causal);
        Assert.NotEqual(full[0], causal[0]);              // row 0 sees one key when causal, 16 when full
        Assert.Equal(full[^1], causal[^1], 1e-6f);        // the last row sees every key either way
    }

    [Fact]
    public void Onnx23IsCausal_IsTopLeftAligned_WhenQueryShorterThanKeys()
    {
        // the reason OrtAttention23 passes an explicit mask for L ≠ S: ONNX's is_causal lets query i see keys j ≤ i
        var shape = new AttentionShape(1, 2, 2, 5, 12, 16);
        var (q, k, v) = Inputs(shape, 21);
        for (int i = 0; i < q.Length; i++) q[i] *= 3;
        var actual = new float[q.Length];
        using (var peer = new OrtAttention23(shape, causal: true, threads: 1, useIsCausalAttribute: true)) peer.Run(q, k, v, actual);
        var topLeft = PeerReference.Attention(q, k, v, shape, causal: true, diagonalOffset: 0);
        var bottomRight = PeerReference.Attention(q, k, v, shape, causal: true);
        Assert.True(PeerReference.WorstRatio(actual, topLeft, Atol, Rtol) <= 1, "is_causal should match the top-left mask");
        Assert.True(PeerReference.WorstRatio(actual, bottomRight, Atol, Rtol) > 100, "is_causal should differ from our bottom-right mask");
    }

    internal delegate void PeerRun(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o);

    internal static (float[] q, float[] k, float[] v) Inputs(AttentionShape s, int seed) =>
        (PeerReference.Random((long)s.Batch * s.Heads * s.QueryLength * s.HeadDim, seed),
         PeerReference.Random((long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim, seed + 1),
         PeerReference.Random((long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim, seed + 2));

    internal static void AssertMatchesReference(AttentionShape shape, bool causal, PeerRun run)
    {
        // scale the inputs up so the softmax is peaked, not nearly uniform: a wrong mask or scale then shows
        var (q, k, v) = Inputs(shape, 1234 + shape.QueryLength);
        for (int i = 0; i < q.Length; i++) q[i] *= 3;
        var expected = PeerReference.Attention(q, k, v, shape, causal);
        var actual = new float[q.Length];
        run(q, k, v, actual);
        double worst = PeerReference.WorstRatio(actual, expected, Atol, Rtol);
        Assert.True(worst <= 1, $"worst error is {worst:F2}× the tolerance {Atol} + {Rtol}·|ref| for {shape}, causal={causal}");
    }
}
