using System.Globalization;
using Attention.Tensors;

namespace Attention.Tests.Fuzz;

/// <summary>
/// Runs seeded mutation cases against one reader. Each case runs on its own thread under a time limit (a hang guard,
/// far above the milliseconds a case takes, even on a machine busy with the rest of the suite) and an allocation budget (<see cref="GC.GetAllocatedBytesForCurrentThread"/>
/// around the call, so a 200-byte file that asks for gigabytes fails even when the machine could give them). The
/// outcome must be either a clean error — exactly ArgumentException, InvalidDataException, EndOfStreamException or
/// FormatException, whose message says what was "expected" and, for a file, names it — or a load that the
/// format's own check accepts as correct.
/// <para>
/// CI runs <see cref="CiCases"/> cases per format; set ATTN_FUZZ_CASES (e.g. 100000) for the long run before a
/// release, and ATTN_FUZZ_SEED to draw other cases.
/// </para>
/// </summary>
internal static class FuzzRunner
{
    public const int CiCases = 300;
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(30);

    private static readonly Type[] Allowed =
        [typeof(ArgumentException), typeof(InvalidDataException), typeof(EndOfStreamException), typeof(FormatException)];

    public static int Cases => int.TryParse(Environment.GetEnvironmentVariable("ATTN_FUZZ_CASES"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : CiCases;

    public static ulong Seed => ulong.TryParse(Environment.GetEnvironmentVariable("ATTN_FUZZ_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out ulong s) ? s : 0;

    /// <summary>What one format needs: how to load mutated bytes, and how to check a load that succeeded.</summary>
    /// <param name="Name">Names the format in reports.</param>
    /// <param name="Sample">The valid file the cases mutate.</param>
    /// <param name="File">The name of the file the mutated bytes are written to, which an error must name (null when
    /// the reader takes bytes).</param>
    /// <param name="Load">Reads the bytes (writing them to <paramref name="File"/> first when the reader takes a path).</param>
    /// <param name="CheckLoaded">Throws (any exception) when a successful load is wrong for these bytes.</param>
    /// <param name="Budget">Bytes the call may allocate for an input of this many bytes.</param>
    public sealed record Format(string Name, byte[] Sample, string? File, Func<byte[], object> Load,
                                Action<byte[], object> CheckLoaded, Func<int, long> Budget);

    public sealed record Outcome(int Loaded, int Rejected, IReadOnlyList<string> Failures);

    public static Outcome Run(Format format, int cases, ulong seed)
    {
        var failures = new List<string>();
        int loaded = 0, rejected = 0;
        for (int i = 0; i < cases; i++)
        {
            var rng = new Rng(seed * 0x9E3779B97F4A7C15UL + (ulong)i + 1);
            var (bytes, what) = Mutator.Mutate(format.Sample, rng);
            string Case(string problem) => $"{format.Name} case {i} (seed {seed}; {what}; {bytes.Length} bytes): {problem}";
            // a thread of its own, not the pool: under a busy parallel test run a pool task can wait seconds to start
            long allocated = 0;
            object? result = null;
            Exception? error = null;
            var thread = new Thread(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try { result = format.Load(bytes); }
                catch (Exception e) { error = e; }
                finally { allocated = GC.GetAllocatedBytesForCurrentThread() - before; }
            }) { IsBackground = true, Name = $"fuzz {format.Name} {i}" };
            thread.Start();
            if (!thread.Join(TimeLimit)) { failures.Add(Case($"still running after {TimeLimit.TotalSeconds} s")); continue; }
            long budget = format.Budget(bytes.Length);
            if (allocated > budget) failures.Add(Case($"allocated {allocated:N0} bytes, budget {budget:N0}"));
            if (error is { } thrown)
            {
                if (Array.IndexOf(Allowed, thrown.GetType()) < 0)
                    failures.Add(Case($"threw {thrown.GetType().Name}: {thrown.Message}\n{thrown.StackTrace}"));
                else if (!thrown.Message.Contains("expected", StringComparison.OrdinalIgnoreCase))
                    failures.Add(Case($"{thrown.GetType().Name} without saying what was expected: {thrown.Message}"));
                else if (format.File is { } name && !thrown.Message.Contains(name, StringComparison.Ordinal))
                    failures.Add(Case($"{thrown.GetType().Name} not naming the file {name}: {thrown.Message}"));
                else rejected++;
                continue;
            }
            try { format.CheckLoaded(bytes, result!); loaded++; }
            catch (Exception e) { failures.Add(Case($"loaded, but wrongly: {e.GetType().Name}: {e.Message}")); }
        }
        return new Outcome(loaded, rejected, failures);
    }

    /// <summary>Asserts a run found no defect, listing the first ones when it did.</summary>
    public static void AssertClean(Outcome outcome, int cases, string format, bool expectRejections = true)
    {
        Assert.True(outcome.Failures.Count == 0,
            $"{format}: {outcome.Failures.Count} of {cases} cases failed ({outcome.Loaded} loaded, {outcome.Rejected} rejected cleanly):\n" +
            string.Join("\n\n", outcome.Failures.Take(8)));
        // a fuzz run that rejects everything tests nothing beyond the first check: some mutations must load
        Assert.True(outcome.Loaded > 0 || cases < 50, $"{format}: no mutated case loaded; the mutations never reach the data");
        Assert.True(!expectRejections || outcome.Rejected > cases / 10, $"{format}: only {outcome.Rejected} of {cases} mutated cases were rejected");
    }
}
