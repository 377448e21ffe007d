using System.Diagnostics;

namespace Attention.Book.Experiments;

/// <summary>Small measuring helpers shared by the experiments: timing, allocation counting, log–log fits.</summary>
public static class Measure
{
    /// <summary>Median wall time in milliseconds of <paramref name="repetitions"/> runs after one warm-up run.</summary>
    public static double MedianMilliseconds(Action action, int repetitions)
    {
        if (repetitions < 1) throw new ArgumentOutOfRangeException(nameof(repetitions), repetitions, "expected at least 1");
        action();
        var times = new double[repetitions];
        for (int r = 0; r < repetitions; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[repetitions / 2];
    }

    /// <summary>Fastest wall time in milliseconds of <paramref name="repetitions"/> runs after one warm-up run: on a
    /// shared machine other work only ever adds time, so the minimum is the least disturbed estimate.</summary>
    public static double BestMilliseconds(Action action, int repetitions)
    {
        if (repetitions < 1) throw new ArgumentOutOfRangeException(nameof(repetitions), repetitions, "expected at least 1");
        action();
        double best = double.PositiveInfinity;
        for (int r = 0; r < repetitions; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return best;
    }

    /// <summary>Bytes allocated (all threads) while <paramref name="action"/> ran: the managed heap's counter plus
    /// the kernels' native scratch (<see cref="Attention.Kernels.KernelMemory"/>), which the GC does not see.</summary>
    public static long AllocatedBytes(Action action)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true), nativeBefore = Attention.Kernels.KernelMemory.NativeBytesAllocated;
        action();
        return GC.GetTotalAllocatedBytes(precise: true) - before + (Attention.Kernels.KernelMemory.NativeBytesAllocated - nativeBefore);
    }

    /// <summary>
    /// Best of <paramref name="repetitions"/> runs of the process CPU time (user + system, getrusage) that
    /// <paramref name="action"/> takes, in milliseconds. Unlike wall time it does not count the time the thread waited
    /// for a core, so on a busy machine it still measures the work; run the action on one thread, in a quiet process,
    /// after a warm-up (other threads of the process count too). Cache and memory contention still show.
    /// </summary>
    public static double BestCpuMilliseconds(Action action, int repetitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        double best = double.PositiveInfinity;
        for (int r = 0; r < repetitions; r++)
        {
            var before = Environment.CpuUsage.TotalTime;
            action();
            best = Math.Min(best, (Environment.CpuUsage.TotalTime - before).TotalMilliseconds);
        }
        return best;
    }

    /// <summary>
    /// The resident memory <paramref name="action"/> adds at its peak, in bytes: the process's high-water mark (VmHWM)
    /// after the call minus its resident size (VmRSS) before, with the mark reset just before the call through
    /// /proc/self/clear_refs (Linux 4.0+). Everything is collected and decommitted first, so memory freed by an earlier
    /// call is not silently reused. Page-granular, and it sees every thread of the process: run it on a quiet process.
    /// Null where the kernel interface is missing (not Linux, or clear_refs not writable).
    /// </summary>
    public static long? PeakResidentBytes(Action action)
    {
        if (!OperatingSystem.IsLinux()) return null;
        for (int i = 0; i < 2; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        long? baseline = ProcStatusBytes("VmRSS");
        if (baseline is null) return null;
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        action();
        long? peak = ProcStatusBytes("VmHWM");
        return peak is null ? null : Math.Max(0, peak.Value - baseline.Value);
    }

    /// <summary>
    /// Whether <see cref="PeakResidentBytes"/> can be trusted right now: it measures a known 8 MiB allocation (every page
    /// touched) and requires the answer within [0.9, 1.25]·8 MiB + 1 MiB. In a process where other threads allocate or free
    /// at the same time (a test host running tests in parallel) it fails, and peak-based claims should not be judged.
    /// </summary>
    public static bool PeakResidentIsQuiet()
    {
        const int size = 8 << 20;
        var peak = PeakResidentBytes(() =>
        {
            var a = new byte[size];
            for (int i = 0; i < size; i += 4096) a[i] = 1;
            GC.KeepAlive(a);
        });
        return peak is { } p && p >= 0.9 * size && p <= 1.25 * size + (1 << 20);
    }

    private static long? ProcStatusBytes(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    var parts = line[(field.Length + 1)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;   // "kB"
                }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return null;
    }

    /// <summary>Least-squares slope of log(y) against log(x): the exponent p in y ≈ c·xᵖ.</summary>
    public static double LogLogSlope(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count || x.Count < 2) throw new ArgumentException($"need two equally long series of at least 2 points; got {x.Count} and {y.Count}");
        double mx = 0, my = 0;
        for (int i = 0; i < x.Count; i++) { mx += Math.Log(x[i]); my += Math.Log(y[i]); }
        mx /= x.Count; my /= x.Count;
        double sxy = 0, sxx = 0;
        for (int i = 0; i < x.Count; i++)
        {
            double dx = Math.Log(x[i]) - mx;
            sxy += dx * (Math.Log(y[i]) - my);
            sxx += dx * dx;
        }
        return sxy / sxx;
    }

    /// <summary>Fills a span with N(0, 1) draws from a seeded generator.</summary>
    public static void FillNormal(Span<float> values, Random random)
    {
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
    }

    /// <summary>Random N(0, 1) query (B, H, L, D), key and value (B, Hkv, S, D) for <paramref name="shape"/>.</summary>
    public static (float[] Q, float[] K, float[] V) AttentionInputs(Attention.Kernels.AttentionShape shape, Random random)
    {
        var q = new float[shape.Batch * shape.Heads * shape.QueryLength * shape.HeadDim];
        var k = new float[shape.Batch * shape.KvHeads * shape.KeyLength * shape.HeadDim];
        var v = new float[k.Length];
        FillNormal(q, random); FillNormal(k, random); FillNormal(v, random);
        return (q, k, v);
    }

    /// <summary>A short description of this machine for result footers.</summary>
    public static string Machine()
    {
        string cpu = "unknown CPU";
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line != null) cpu = line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{cpu}, {Environment.ProcessorCount} cores, .NET {Environment.Version}";
    }
}
