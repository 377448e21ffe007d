using Attention.Kernels;

namespace Attention.Tests.Kernels;

/// <summary>
/// The tiled AVX-512 kernel is only there on CPUs with AVX-512; elsewhere <c>FlashPath.Tiled</c> silently runs the
/// portable kernel. A test about the tiled kernel asks for it here and is reported skipped, with the reason, where it
/// is missing — instead of passing by testing the portable kernel twice.
/// </summary>
internal static class KernelPaths
{
    public const string NoAvx512 = "this CPU has no AVX-512 (FlashAttentionAvx512.IsSupported is false): the tiled kernel cannot run here";

    /// <summary><c>FlashPath.Tiled</c>, or a skip where the tiled kernel would fall back.</summary>
    public static FlashAttention.FlashPath Tiled()
    {
        Skip.If(!FlashAttentionAvx512.IsSupported, NoAvx512);
        return FlashAttention.FlashPath.Tiled;
    }

    /// <summary>The path a <c>tiled</c>/<c>fast</c> flag of a test names.</summary>
    public static FlashAttention.FlashPath Of(bool tiled) => tiled ? Tiled() : FlashAttention.FlashPath.Portable;
}

public class KernelPathTests
{
    /// <summary>Visible in every test report: on a CPU without AVX-512 this is "skipped", and the loops over all kernels
    /// (<see cref="AttentionKernelTests.AvailableKernels"/>) leave the tiled kernel out.</summary>
    [SkippableFact]
    public void TheTiledAvx512Kernel_RunsOnThisMachine()
    {
        Skip.If(!FlashAttentionAvx512.IsSupported, KernelPaths.NoAvx512);
        Assert.True(FastExp.IsSupported);
        Assert.Contains("tiled", AttentionKernelTests.AvailableKernels);
    }
}
