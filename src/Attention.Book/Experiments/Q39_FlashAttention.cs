using System.Diagnostics;
using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 39: FlashAttention is exact, needs O(n) extra memory, and is fast. (1) The online-softmax
/// recurrence (39.1) traced on one row, block by block; (2) the tiled kernel against the float64
/// reference at block-unfriendly sizes; (3) bytes allocated by the tiled and the materialised path;
/// (4) time beside ONNX Runtime and llama.cpp's ggml in this process, alternating the order.
/// Page: docs/answers/39-flash-attention.md
/// </summary>
public sealed class Q39_FlashAttention : Experiment
{
    public override int Question => 39;
    public override string Title => "FlashAttention and memory-efficient attention";

    public override ExperimentResult Run(ExperimentContext context)
    {
        var random = new Random(context.Seed);
        var result = new ExperimentResult { Question = Question };
        TraceOnlineSoftmax(random, result);
        context.Report(0.1, "exactness");
        Exactness(random, result, context.Full);
        context.Report(0.3, "memory");
        Memory(random, result, context.Full);
        context.Report(0.5, "speed against ONNX Runtime and ggml");
        Speed(context, result);
        return result;
    }

    /// <summary>Equation (39.1) on one row of 16 scores in blocks of 4, printed step by step.</summary>
    private static void TraceOnlineSoftmax(Random random, ExperimentResult result)
    {
        const int S = 16, block = 4, dv = 3;
        var s = new double[S]; var v = new double[S, dv];
        // Scores in ±1 around a per-block offset chosen so that the running max grows at blocks 2 and 4 (block maxima at
        // least 2 and 5, above everything before) and not at block 3 (at most 2): the rescaling shows, and so does its absence.
        double[] offset = [0, 3, 1, 6];
        for (int j = 0; j < S; j++) { s[j] = offset[j / block] + (random.NextDouble() * 2 - 1); for (int x = 0; x < dv; x++) v[j, x] = random.NextDouble(); }
        var trace = new Table("Online softmax on one row of 16 scores, blocks of 4 (equation 39.1)",
            "block", "block max", "running max m", "rescale e^(m_prev − m)", "running sum ℓ");
        double m = double.NegativeInfinity, l = 0; var o = new double[dv];
        var factors = new double[S / block];
        for (int t = 0; t < S / block; t++)
        {
            double bmax = double.NegativeInfinity;
            for (int j = t * block; j < (t + 1) * block; j++) bmax = Math.Max(bmax, s[j]);
            double mNew = Math.Max(m, bmax), alpha = Math.Exp(m - mNew);
            factors[t] = alpha;
            l *= alpha; for (int x = 0; x < dv; x++) o[x] *= alpha;
            for (int j = t * block; j < (t + 1) * block; j++)
            {
                double p = Math.Exp(s[j] - mNew); l += p;
                for (int x = 0; x < dv; x++) o[x] += p * v[j, x];
            }
            trace.AddRow(t + 1, bmax, mNew, t == 0 ? "— (first block)" : Table.FormatNumber(alpha), l);
            m = mNew;
        }
        // The one-shot softmax for comparison.
        double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max)), err = 0;
        for (int x = 0; x < dv; x++)
        {
            double exact = 0;
            for (int j = 0; j < S; j++) exact += Math.Exp(s[j] - max) / sum * v[j, x];
            err = Math.Max(err, Math.Abs(o[x] / l - exact));
        }
        result.Tables.Add(trace);
        result.Metrics["online_softmax_trace_error"] = err;
        result.Check("the block-by-block recurrence gives softmax(s)·V of the whole row (float64, |Δ| < 1e-12)", err < 1e-12, $"|Δ| = {err:e1}");
        result.Check("the trace exercises the rescaling: the running max grows at blocks 2 and 4 (factor < 1) and not at block 3 (factor 1)",
            factors[1] < 1 && factors[3] < 1 && factors[2] == 1, string.Join(", ", factors.Skip(1).Select((f, i) => $"block {i + 2}: {f:0.####}")));
    }

    private static void Exactness(Random random, ExperimentResult result, bool full)
    {
        int[] sizes = full ? [1, 7, 63, 64, 127, 129, 500, 1000] : [1, 7, 63, 127, 129, 300];
        var table = new Table("Max |error| against float64, H = 2, d = 64 (sizes chosen to leave partial tiles)",
            "n", "mask", "flash", "math path", "plain float32 loop", "flash / plain");
        foreach (int n in sizes)
        foreach (bool causal in new[] { false, true })
        {
            var shape = new AttentionShape(1, 2, 2, n, n, 64);
            var options = new AttentionOptions { Causal = causal };
            var (q, k, v) = Measure.AttentionInputs(shape, random);
            var (reference, lseRef) = ReferenceAttention.Forward(q, k, v, shape, options);
            var (plain, _) = ReferenceAttention.Forward<float>(q, k, v, shape, options);
            var o = new float[q.Length]; var lse = new float[n * 2];
            FlashAttention.Forward(q, k, v, o, shape, options, lse);
            double flash = ReferenceAttention.MaxAbsDiff(o, reference), lseErr = ReferenceAttention.MaxAbsDiff(lse, lseRef);
            MathAttention.Forward(q, k, v, o, shape, options);
            double math = ReferenceAttention.MaxAbsDiff(o, reference);
            double plainErr = plain.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
            table.AddRow(n, causal ? "causal" : "full", flash, math, plainErr, flash / Math.Max(plainErr, 1e-12));
            result.Check($"n = {n}, {(causal ? "causal" : "full")}: flash within 2 × the plain float32 error (+1e-7) and its log-sum-exp within 1e-5",
                flash <= 2 * plainErr + 1e-7 && lseErr <= 1e-5, $"flash {flash:e2}, plain {plainErr:e2}, lse {lseErr:e2}");
        }
        result.Tables.Add(table);
    }

    private static void Memory(Random random, ExperimentResult result, bool full)
    {
        int n = full ? 16384 : 2048;
        var shape = new AttentionShape(1, 1, 1, n, n, 64);
        var (q, k, v) = Measure.AttentionInputs(shape, random);
        var o = new float[q.Length];
        var options = new AttentionOptions { MaxThreads = 1 };
        long math = Measure.AllocatedBytes(() => MathAttention.Forward(q, k, v, o, shape, options));
        long flash = Measure.AllocatedBytes(() => FlashAttention.Forward(q, k, v, o, shape, options));
        var table = new Table($"Bytes allocated by one call at n = {n}, one head, d = 64", "path", "bytes", "n²·4 (the score matrix)");
        table.AddRow("math (materialises P)", math, 4.0 * n * n).AddRow("flash (tiles only)", flash, 4.0 * n * n);
        result.Tables.Add(table);
        result.Metrics["memory_n"] = n;
        result.Metrics["math_bytes"] = math;
        result.Metrics["flash_bytes"] = flash;
        result.Check($"at n = {n} the tiled kernel allocates under 1% of what the materialised path does", flash < 0.01 * math, $"{flash} vs {math} bytes");
    }

    private static void Speed(ExperimentContext context, ExperimentResult result)
    {
        int[] sizes = context.Full ? [1024, 2048, 4096] : [512, 1024];
        int reps = context.Full ? 7 : 3;
        const int heads = 8, d = 64;
        double peak = FmaPeak.MeasureGflops(1, 0.2);
        var table = new Table($"Forward time, one thread, B = 1, H = {heads}, d = {d}: median of {reps} alternating runs; ratio = peer time / flash time (> 1: ours faster)",
            "n", "mask", "flash ms", "flash GFLOP/s", "% of FMA peak", "math path ×", "ORT MultiHeadAttention ×", "ORT Attention (opset 23) ×", "ggml flash_attn_ext ×");
        var ratioSeries = new Dictionary<string, List<double>>();
        var peers = PeerKernels.Current;
        foreach (int n in sizes)
        foreach (bool causal in new[] { false, true })
        {
            var shape = new AttentionShape(1, heads, heads, n, n, d);
            var options = new AttentionOptions { Causal = causal, MaxThreads = 1 };
            var (q, k, v) = Measure.AttentionInputs(shape, new Random(context.Seed + n));
            var o = new float[q.Length];
            using var ortMha = peers?.OrtMultiHeadAttention(shape, causal, 1);
            using var ort23 = peers?.OrtAttention23(shape, causal, 1);
            using var ggml = peers?.GgmlFlashAttention(shape, causal, 1);
            ortMha?.FillRandom(context.Seed); ort23?.FillRandom(context.Seed);
            ggml?.SetInputs(q, k, v);
            var runners = new List<(string Name, Action Run)>
            {
                ("flash", () => FlashAttention.Forward(q, k, v, o, shape, options)),
                ("math", () => MathAttention.Forward(q, k, v, o, shape, options)),
            };
            if (peers is not null)
            {
                runners.Add(("ort_mha", ortMha!.RunPrepared));
                runners.Add(("ort_attention23", ort23!.RunPrepared));
                runners.Add(("ggml", ggml!.RunPrepared));
            }
            var times = new double[runners.Count][];
            for (int r = 0; r < runners.Count; r++) { runners[r].Run(); times[r] = new double[reps]; }
            for (int rep = 0; rep < reps; rep++)
                for (int r0 = 0; r0 < runners.Count; r0++)
                {
                    int r = (r0 + rep) % runners.Count;      // rotate the order so no runner always goes first
                    long t0 = Stopwatch.GetTimestamp();
                    runners[r].Run();
                    times[r][rep] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
            var median = times.Select(t => { var c = (double[])t.Clone(); Array.Sort(c); return c[reps / 2]; }).ToArray();
            double flops = 4.0 * heads * n * (double)n * d * (causal ? 0.5 : 1);
            double gflops = flops / (median[0] * 1e6);
            if (peers is null)
                table.AddRow(n, causal ? "causal" : "full", median[0], gflops, 100 * gflops / peak, median[1] / median[0], "—", "—", "—");
            else
                table.AddRow(n, causal ? "causal" : "full", median[0], gflops, 100 * gflops / peak,
                    median[1] / median[0], median[2] / median[0], median[3] / median[0], median[4] / median[0]);
            string key = causal ? "causal" : "full";
            for (int r = 1; r < runners.Count; r++)
                result.Metrics[$"ratio_{runners[r].Name}_{key}_n{n}"] = median[r] / median[0];
            result.Metrics[$"flash_gflops_{key}_n{n}"] = gflops;
            if (n == sizes[^1] && peers is not null)
            {
                double bestPeer = median.Skip(2).Min();
                result.Check($"n = {n}, {key}: flash is at least as fast as the fastest peer", median[0] <= bestPeer, $"best peer / flash = {bestPeer / median[0]:F2}", timing: true);
            }
        }
        result.Metrics["fma_peak_gflops_1thread"] = peak;
        result.Tables.Add(table);
        if (peers is null) result.Notes.Add($"— : {PeerKernels.NotAvailable}.");
        result.Notes.Add($"FMA peak measured in the same run: {peak:F0} GFLOP/s on one thread ({Measure.Machine()}). Peers get their inputs in their own layout, prepared outside the timed call. The full benchmark with 2 threads and decode is `attn bench` (bench/results/).");
    }
}
