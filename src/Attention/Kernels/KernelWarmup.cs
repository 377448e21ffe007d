namespace Attention.Kernels;

/// <summary>
/// Compiles the kernels before they are needed. The JIT compiles each kernel method at its first call (fully
/// optimised, as they are marked AggressiveOptimization), which costs 10–20 ms for a path such as decode, twenty times
/// the call itself (bench/results/warmup.md); ONNX Runtime pays its equivalent when a session is created. A program
/// that wants its first request as fast as its hundredth calls <see cref="Run"/> (or <see cref="RunInBackground"/>)
/// at start-up: it runs every kernel once on tiny inputs, so the same methods are compiled, on the paths this CPU takes.
/// The other way is to compile ahead of time: the library is Native AOT compatible, and an app published with
/// <c>PublishAot</c> and <c>IlcInstructionSet</c> set to <c>native</c> (or <c>x86-64-v4</c>) compiles nothing at run time
/// (the native-aot rows of bench/results/warmup.md). Without IlcInstructionSet, Native AOT targets the x86-64 baseline
/// and the kernels lose their 256- and 512-bit paths. ReadyToRun does not help: it skips AggressiveOptimization methods.
/// </summary>
public static class KernelWarmup
{
    /// <summary>Runs each kernel once on tiny inputs (a few milliseconds of arithmetic plus the compilation) and returns
    /// the names of the paths it ran. Safe to call more than once and from any thread.</summary>
    public static IReadOnlyList<string> Run()
    {
        var ran = new List<string>();
        foreach (int threads in new[] { 1, 2 })
        {
            var options = new AttentionOptions { MaxThreads = threads };
            foreach (int d in new[] { 32, 64, 128 })
            {
                // the tiled forward (plain and causal), its general tile loop (key lengths), and decode (one query row)
                Attend(new AttentionShape(1, 2, 2, 80, 80, d), options);
                Attend(new AttentionShape(1, 2, 2, 80, 80, d), options with { Causal = true });
                Attend(new AttentionShape(2, 2, 2, 80, 80, d), options with { KeyLengths = [80, 50] });
                Attend(new AttentionShape(1, 2, 2, 1, 300, d), options);
                ran.Add($"forward, causal, key lengths and decode at D = {d} on {threads} thread(s)");
            }
            var packed = new float[70 * 2 * 64];
            FlashAttention.ForwardVarlen(packed, packed, packed, new float[packed.Length], [0, 30, 70], [0, 30, 70], 2, 2, 64, options);
            ran.Add($"packed sequences on {threads} thread(s)");

            var shape = new AttentionShape(1, 2, 2, 80, 80, 64);
            float[] q = Filled(80 * 2 * 64), o = new float[q.Length], lse = new float[2 * 80];
            FlashAttention.Forward(q, q, q, o, shape, options, lse);
            float[] dq = new float[q.Length], dk = new float[q.Length], dv = new float[q.Length];
            FlashAttention.Backward(q, q, q, o, lse, q, dq, dk, dv, shape, options);
            ran.Add($"backward on {threads} thread(s)");
        }
        // matrix products: plain, transposed, and with a B packed once
        float[] a = Filled(70 * 70), b = Filled(70 * 70), c = new float[70 * 70];
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false) })
            Gemm.Multiply(ta, tb, 70, 70, 70, 1f, a, 70, b, 70, 0f, c, 70);
        Gemm.Multiply(false, 70, 1f, a, 70, Gemm.Prepack(true, b, 70, 70, 70), 0f, c, 70);
        ran.Add("matrix products (plain, transposed, prepacked)");
        return ran;
    }

    /// <summary><see cref="Run"/> on a thread-pool thread: start-up goes on while the kernels compile.</summary>
    public static Task<IReadOnlyList<string>> RunInBackground() => Task.Run(Run);

    private static void Attend(AttentionShape shape, AttentionOptions options)
    {
        long qn = (long)shape.Batch * shape.Heads * shape.QueryLength * shape.HeadDim;
        long kn = (long)shape.Batch * shape.KvHeads * shape.KeyLength * shape.HeadDim;
        float[] q = Filled((int)qn), k = Filled((int)kn);
        FlashAttention.Forward(q, k, k, new float[qn], shape, options);
    }

    private static float[] Filled(int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = ((i * 37) % 101 - 50) / 50f;
        return x;
    }
}
