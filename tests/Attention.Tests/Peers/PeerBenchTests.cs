using System.Text.Json;
using Attention.Peers;

namespace Attention.Tests.Peers;

public class PeerBenchTests
{
    [Fact]
    public void PeerBench_TinyRun_WritesMarkdownAndJson_WithEveryImplementationPerCase()
    {
        var dir = Directory.CreateTempSubdirectory("peers-").FullName;
        try
        {
            var options = new PeerBenchOptions
            {
                Mode = "test", Sizes = [32], DecodeKeys = [64], Threads = [1], Heads = 2, HeadDim = 16,
                Repetitions = 1, Warmup = 1, MemorySizes = [32], MemoryMeasureLimit = 32,
            };
            var log = new StringWriter();
            var md = PeerBench.Run(options, dir, log);
            Assert.Equal(Path.Combine(dir, "peers-test.md"), md);
            var report = JsonSerializer.Deserialize<BenchReport>(File.ReadAllText(Path.Combine(dir, "peers-test.json")))!;
            Assert.Equal(3, report.Cases.Count); // full, causal, decode
            foreach (var c in report.Cases)
            {
                // our kernel must run: a failure row for it (an exception turned into a row) fails the test
                var ours = Assert.Single(c.Rows, r => r.IsOurs);
                Assert.True(ours.Failure is null or "", $"{c.Label}: our kernel failed: {ours.Failure}");
                Assert.True(ours.Milliseconds > 0, $"{c.Label}: our kernel has no time");
                // peers that ran have a positive time; one that failed says why instead
                Assert.All(c.Rows, r => Assert.True(r.Milliseconds > 0 || r.Failure is { Length: > 0 }, $"{c.Label} / {r.Name}"));
                Assert.Contains(c.Rows, r => r.Name.StartsWith("ORT", StringComparison.Ordinal) && r.Milliseconds > 0);
                Assert.Contains(c.Rows, r => r.Name.StartsWith("ggml", StringComparison.Ordinal) && r.Milliseconds > 0);
            }
            Assert.Contains("FMA peak", File.ReadAllText(md));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
