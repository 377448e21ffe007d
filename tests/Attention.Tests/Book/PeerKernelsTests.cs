using Attention.Book;
using Attention.Book.Experiments;
using Attention.Cli;

namespace Attention.Tests.Book;

/// <summary>The peers (ONNX Runtime, ggml) are optional: found by name where a program carries them, and their absence is said, not thrown.</summary>
public class PeerKernelsTests
{
    [Fact]
    public void TheBookAndTheLibrary_DoNotReferenceThePeers()
    {
        Assert.DoesNotContain(typeof(PeerKernels).Assembly.GetReferencedAssemblies(), a => a.Name == "Attention.Peers");
        var library = typeof(Attention.Kernels.FlashAttention).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.All(library, name => Assert.True(name.StartsWith("System", StringComparison.Ordinal) || name == "netstandard", $"the library references {name}"));
    }

    [Fact]
    public void TheTestHost_CarriesThePeers_SoTheRepositoryKeepsItsComparisons()
    {
        Assert.NotNull(PeerKernels.Current);
        Assert.Equal("BookPeers", PeerKernels.Current!.GetType().Name);
    }

    [Fact]
    public void WithoutPeers_Q13_SaysSo_AndKeepsEveryOtherCheck()
    {
        var figures = Directory.CreateTempSubdirectory("attn-q13");
        ExperimentResult withPeers, without;
        try
        {
            withPeers = new Q13_ScaledDotProduct().Run(new ExperimentContext { Seed = 5, FigureDirectory = figures.FullName });
            using (PeerKernels.Override(null))
                without = new Q13_ScaledDotProduct().Run(new ExperimentContext { Seed = 5, FigureDirectory = figures.FullName });
        }
        finally { figures.Delete(recursive: true); }
        Assert.Contains("max_abs_error_ort", withPeers.Metrics.Keys);
        Assert.DoesNotContain("max_abs_error_ort", without.Metrics.Keys);
        Assert.Contains(without.Notes, n => n.Contains("not available in this build", StringComparison.Ordinal));
        Assert.Equal(withPeers.Checks.Count(c => !c.Claim.Contains("ONNX Runtime", StringComparison.Ordinal)), without.Checks.Count);
        Assert.All(without.Checks, c => Assert.True(c.Holds, c.Claim));
        Assert.Equal(withPeers.Metrics["max_abs_error_ours"], without.Metrics["max_abs_error_ours"]);
    }

    [Fact]
    public void WithoutPeers_Bench_ExitsWith1_AndOneLineNamingWhatIsMissing()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code;
        using (PeerKernels.Override(null))
            code = new AttnApp().Run(["bench"], stdout, stderr);
        Assert.Equal(AttnApp.Failure, code);
        var line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ONNX Runtime and ggml are not available in this build", line);
    }
}
