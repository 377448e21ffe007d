using Attention.Kernels;
using Attention.Peers;

namespace Attention.Tests.Peers;

public class GgmlPeerTests
{
    [Theory, MemberData(nameof(OrtPeerTests.Cases), MemberType = typeof(OrtPeerTests))]
    public void GgmlFlashAttention_MatchesFloat64Reference(int b, int h, int l, int s, int d, bool causal)
    {
        var shape = new AttentionShape(b, h, h, l, s, d);
        using var peer = new GgmlFlashAttention(shape, causal, threads: 2);
        OrtPeerTests.AssertMatchesReference(shape, causal, peer.Run);
    }

    [Fact]
    public void GgmlFlashAttention_MatchesFloat64Reference_GroupedQuery_Causal()
    {
        var shape = new AttentionShape(2, 8, 2, 33, 33, 16);
        using var peer = new GgmlFlashAttention(shape, causal: true, threads: 1);
        OrtPeerTests.AssertMatchesReference(shape, true, peer.Run);
    }

    [Fact]
    public void GgmlLibraries_LoadFromTheAppFolder_BestVariantForThisCpu()
    {
        // the csproj copies runtimes/linux-x64/native/<variant>/ beside the assemblies; the NuGet folder is only a fallback
        var folder = GgmlFlashAttention.LibraryFolder;
        Assert.StartsWith(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"), folder);
        string expected = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "avx512"
                        : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "avx2"
                        : System.Runtime.Intrinsics.X86.Avx.IsSupported ? "avx" : "noavx";
        Assert.Equal(expected, Path.GetFileName(folder));
    }

    [Fact]
    public void GgmlFlashAttention_RepeatedRuns_GiveTheSameBits()
    {
        // each run takes its work buffer from a fresh context over the same memory: nothing leaks or drifts
        var shape = new AttentionShape(1, 2, 2, 65, 65, 32);
        using var peer = new GgmlFlashAttention(shape, causal: true, threads: 2);
        var (q, k, v) = OrtPeerTests.Inputs(shape, 9);
        var first = new float[q.Length]; var again = new float[q.Length];
        peer.Run(q, k, v, first);
        for (int i = 0; i < 20; i++) peer.Run(q, k, v, again);
        Assert.Equal(first, again);
    }
}
