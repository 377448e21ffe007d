namespace Attention.Kernels;

/// <summary>
/// Counts the unmanaged scratch the kernels allocate (per-worker tiles come from NativeMemory, which the
/// GC's allocation counter does not see), so that the extra memory of one call can be measured:
/// managed bytes from <see cref="GC.GetTotalAllocatedBytes(bool)"/> plus the change of
/// <see cref="NativeBytesAllocated"/>.
/// </summary>
public static class KernelMemory
{
    private static long _native;

    /// <summary>Total bytes of native scratch allocated by the kernels since the process started (all threads).</summary>
    public static long NativeBytesAllocated => Interlocked.Read(ref _native);

    internal static void RecordNative(long bytes) => Interlocked.Add(ref _native, bytes);
}
