using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace Attention.Kernels;

/// <summary>
/// Measures the fused multiply-add peak of this machine, the yardstick every kernel's GFLOP/s is
/// divided by ("% of peak"). Twelve independent FMA chains per thread hide the FMA latency
/// (4 cycles × 2 pipes ≈ 8 chains needed on Zen 4), so the loop is bound by FMA throughput only.
/// </summary>
public static class FmaPeak
{
    /// <summary>GFLOP/s of fused multiply-adds (2 FLOPs each) on <paramref name="threads"/> threads, best of a few short bursts.</summary>
    public static double MeasureGflops(int threads = 1, double seconds = 0.3)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "expected at least 1 thread");
        if (!(seconds > 0)) throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "expected a positive duration");
        double best = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds || best == 0)
        {
            const long iterations = 2_000_000;
            var t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => Burst(iterations));
            var dt = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            double flops = 2.0 * 12 * Vector512<float>.Count * iterations * threads;
            best = Math.Max(best, flops / dt / 1e9);
        }
        return best;
    }

    // Not inlined: once tiered up, an inlined Burst whose result the Parallel.For body discards was
    // removed as dead code, and the "peak" jumped to ~1400 GFLOP/s.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static float Burst(long iterations)
    {
        var m = Vector512.Create(0.999999f); var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0,
                         c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a);
            c2 = Vector512.FusedMultiplyAdd(c2, m, a); c3 = Vector512.FusedMultiplyAdd(c3, m, a);
            c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a);
            c8 = Vector512.FusedMultiplyAdd(c8, m, a); c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
        }
        var s = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
        return Vector512.Sum(s);
    }
}
