using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Attention.Kernels;

/// <summary>
/// Dynamic scheduling for the attention kernels: workers pull item indices from one shared
/// Interlocked counter, so a thread that drew short items (masked-out causal blocks) simply takes more.
/// Each worker owns one 64-byte aligned scratch block for the whole call; nothing is allocated per item.
/// The calling thread is a worker too, and it waits only for items that another worker has started:
/// a helper the OS has not scheduled yet (another process holds the core) finds nothing left when it
/// wakes and leaves, instead of the call waiting a scheduler quantum for it (Parallel.For waits for every
/// iteration, which made 2-thread calls slower than 1-thread ones on a busy machine).
/// The job holds raw pointers because spans cannot cross into the worker delegates; callers pin the
/// spans for the duration of <see cref="Run"/>, which returns only when every item is done and no
/// worker is inside <see cref="Execute"/>. Its methods, like the kernels', are compiled optimised at their first call
/// (AggressiveOptimization): a user's calls 2–10 otherwise ran the worker loop as tier-0 code.
/// </summary>
internal abstract unsafe class AttentionJob
{
    private int _next = -1, _done, _inside;
    private ManualResetEventSlim? _finished;
    private ExceptionDispatchInfo? _error;

    /// <summary>Number of work items.</summary>
    public abstract int Items { get; }

    /// <summary>Floats of scratch each worker needs.</summary>
    public abstract long ScratchFloats { get; }

    /// <summary>Processes item <paramref name="item"/> with the worker's scratch.</summary>
    public abstract void Execute(int item, float* scratch);

    /// <summary>Runs every item on up to <paramref name="threads"/> threads (the caller included). Call once per job.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(int threads)
    {
        if (Items == 0) return;
        if (threads <= 1) { Worker(); _error?.Throw(); return; }
        // Not disposed: a helper that wakes after the call has returned may still Set it (harmlessly).
        var finished = new ManualResetEventSlim(false);
        _finished = finished;
        for (int t = 1; t < threads; t++)
            ThreadPool.UnsafeQueueUserWorkItem(static job => job.Worker(), this, preferLocal: false);
        Worker();
        finished.Wait();
        _error?.Throw();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Worker()
    {
        if (Volatile.Read(ref _next) >= Items - 1) return;      // nothing left: do not even allocate scratch
        nuint bytes = (nuint)(Math.Max(1, ScratchFloats) * sizeof(float));
        float* scratch = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        KernelMemory.RecordNative((long)bytes);
        try
        {
            while (true)
            {
                Interlocked.Increment(ref _inside);
                int item = Interlocked.Increment(ref _next);
                if (item >= Items) { Leave(); return; }
                try { Execute(item, scratch); }
                catch (Exception e)
                {
                    // stop handing out items; the caller rethrows once every worker has left Execute
                    Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                    Volatile.Write(ref _next, Items);
                    Leave();
                    return;
                }
                Interlocked.Increment(ref _done);
                Leave();
            }
        }
        finally { NativeMemory.AlignedFree(scratch); }
    }

    /// <summary>Leaves Execute; the last one out when all items are done (or one failed) wakes the caller.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Leave()
    {
        if (Interlocked.Decrement(ref _inside) == 0 && (Volatile.Read(ref _done) == Items || _error != null))
            _finished?.Set();
    }
}
