using System.Runtime.InteropServices;

namespace Attention.Kernels;

/// <summary>
/// Dynamic scheduling for the attention kernels: workers pull item indices from one shared
/// Interlocked counter, so a thread that drew short items (masked-out causal blocks) simply takes more.
/// Each worker owns one 64-byte aligned scratch block for the whole call; nothing is allocated per item.
/// The job holds raw pointers because spans cannot cross into the worker delegates; callers pin the
/// spans for the duration of <see cref="Run"/>, which returns only when every item is done.
/// </summary>
internal abstract unsafe class AttentionJob
{
    private int _next = -1;

    /// <summary>Number of work items.</summary>
    public abstract int Items { get; }

    /// <summary>Floats of scratch each worker needs.</summary>
    public abstract long ScratchFloats { get; }

    /// <summary>Processes item <paramref name="item"/> with the worker's scratch.</summary>
    public abstract void Execute(int item, float* scratch);

    public void Run(int threads)
    {
        if (Items == 0) return;
        _next = -1;
        if (threads <= 1) { Worker(); return; }
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => Worker());
    }

    private void Worker()
    {
        nuint bytes = (nuint)(Math.Max(1, ScratchFloats) * sizeof(float));
        float* scratch = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        KernelMemory.RecordNative((long)bytes);
        try
        {
            int item;
            while ((item = Interlocked.Increment(ref _next)) < Items)
                Execute(item, scratch);
        }
        finally { NativeMemory.AlignedFree(scratch); }
    }
}
