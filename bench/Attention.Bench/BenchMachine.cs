using System.Runtime.InteropServices;

namespace Attention.Bench;

/// <summary>What every benchmark writes beside its numbers: the machine, its load, the repository's root, and
/// the calling thread's CPU time (which leaves out the time other processes held the core).</summary>
internal static class BenchMachine
{
    /// <summary>Model name plus the x86 family: a virtual machine may hide the name ("AMD EPYC"), while family
    /// 25 is Zen 3/4 and 26 is Zen 5, which tells whether 512-bit FMAs are double-pumped or native.</summary>
    public static string CpuModel()
    {
        string? name = null, family = null;
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (name is null && line.StartsWith("model name", StringComparison.Ordinal)) name = line[(line.IndexOf(':') + 1)..].Trim();
                if (family is null && line.StartsWith("cpu family", StringComparison.Ordinal)) family = line[(line.IndexOf(':') + 1)..].Trim();
                if (name is not null && family is not null) break;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (name is null) return RuntimeInformation.ProcessArchitecture.ToString();
        return family is null ? name : $"{name} (x86 family {family})";
    }

    /// <summary>The 1-, 5- and 15-minute load averages, "a / b / c (1 / 5 / 15 min)".</summary>
    public static string LoadAverage()
    {
        try { return string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) + " (1 / 5 / 15 min)"; }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>
    /// How the benchmark process was scheduled: under a real-time policy (started with `chrt -f 50 ...`) its threads
    /// preempt ordinary processes, so a loaded machine still gives it whole cores; the results then say so.
    /// </summary>
    public static string Scheduling()
    {
        try
        {
            // /proc/self/stat: field 41 is the policy (0 normal, 1 FIFO, 2 round-robin); the name in field 2 may hold spaces
            string stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 38 && int.TryParse(fields[38], out int policy)
                ? policy switch
                {
                    0 => "normal scheduling (SCHED_OTHER)",
                    1 => "real-time scheduling (SCHED_FIFO, `chrt -f`): its threads preempted ordinary processes, so the load did not take its cores",
                    2 => "real-time scheduling (SCHED_RR, `chrt -r`): its threads preempted ordinary processes, so the load did not take its cores",
                    _ => $"scheduling policy {policy}",
                }
                : "unknown scheduling";
        }
        catch (IOException) { return "unknown scheduling"; }
        catch (UnauthorizedAccessException) { return "unknown scheduling"; }
    }

    /// <summary>The folder holding Attention.slnx above the running binary, else the current directory.</summary>
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attention.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    /// <summary>Best wall time and best CPU time of the calling thread, in seconds, over <paramref name="reps"/> calls
    /// (after one untimed call when <paramref name="warmUp"/>). With one thread every kernel runs on the calling thread,
    /// so its CPU time is the call's length minus the time other jobs held the core; where the CPU time is unavailable
    /// the wall time stands in for it.</summary>
    public static (double Wall, double Cpu) BestSeconds(int reps, bool warmUp, Action call)
    {
        if (warmUp) call();
        double wall = double.MaxValue, cpu = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            double c0 = ThreadCpuMilliseconds();
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            call();
            wall = Math.Min(wall, System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds);
            cpu = Math.Min(cpu, (ThreadCpuMilliseconds() - c0) * 1e-3);
        }
        return (wall, double.IsNaN(cpu) ? wall : cpu);
    }

    /// <summary>CLOCK_THREAD_CPUTIME_ID (Linux): the calling thread's CPU time in ms; NaN where unavailable.</summary>
    public static double ThreadCpuMilliseconds()
    {
        const int clockThreadCpuTimeId = 3;
        try { return ClockGetTime(clockThreadCpuTimeId, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds * 1e-6 : double.NaN; }
        catch (DllNotFoundException) { return double.NaN; }
        catch (EntryPointNotFoundException) { return double.NaN; }
    }
}
