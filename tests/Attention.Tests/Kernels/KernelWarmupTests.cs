using Attention.Kernels;

namespace Attention.Tests.Kernels;

public class KernelWarmupTests
{
    [Fact]
    public void Run_CoversEveryKernelFamily_AndAfterItADecodeCallCompilesNothingOnThisThread()
    {
        var ran = KernelWarmup.Run();
        foreach (string family in new[] { "decode", "packed", "backward", "matrix products" })
            Assert.Contains(ran, r => r.Contains(family, StringComparison.Ordinal));

        // the same paths again: every method they need was compiled by Run on this thread (tiering's later
        // recompilations happen on a background thread and are not counted here)
        var shape = new AttentionShape(1, 4, 2, 1, 1000, 64);
        var q = new float[4 * 64];
        var kv = new float[2 * 1000 * 64];
        for (int i = 0; i < kv.Length; i++) kv[i] = MathF.Sin(i);
        var o = new float[q.Length];
        long before = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true);
        FlashAttention.Forward(q, kv, kv, o, shape, new AttentionOptions { MaxThreads = 1 });
        long compiled = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true) - before;
        Assert.True(compiled == 0, $"the decode call compiled {compiled} method(s) that KernelWarmup.Run did not");
        Assert.All(o, x => Assert.True(float.IsFinite(x)));
    }
}
