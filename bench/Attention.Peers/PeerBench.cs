using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Attention.Kernels;
using Microsoft.ML.OnnxRuntime;

namespace Attention.Peers;

/// <summary>Settings of one <see cref="PeerBench"/> run.</summary>
public sealed record PeerBenchOptions
{
    /// <summary>"short" or "full": names the result files.</summary>
    public string Mode { get; init; } = "short";
    /// <summary>N = L = S of the prefill cases.</summary>
    public int[] Sizes { get; init; } = [512, 1024, 2048];
    /// <summary>S of the decode cases (one query).</summary>
    public int[] DecodeKeys { get; init; } = [1024, 4096];
    public int[] Threads { get; init; } = [1, 2];
    public int Batch { get; init; } = 1;
    public int Heads { get; init; } = 8;
    public int HeadDim { get; init; } = 64;
    /// <summary>Other head sizes, run at N = <see cref="OtherHeadDimsLength"/>, full, on each thread count (MiniLM's 32, LLMs' 128).</summary>
    public int[] OtherHeadDims { get; init; } = [];
    public int OtherHeadDimsLength { get; init; } = 2048;
    /// <summary>Timed repetitions per implementation (the median is reported), after <see cref="Warmup"/> untimed ones.</summary>
    public int Repetitions { get; init; } = 3;
    public int Warmup { get; init; } = 2;
    /// <summary>Seconds one implementation may spend on one case; a slow one gets fewer repetitions (at least one).</summary>
    public double SecondsPerImplementation { get; init; } = 4;
    /// <summary>N of the extra-memory table; sizes above <see cref="MemoryMeasureLimit"/> get the formula only.</summary>
    public int[] MemorySizes { get; init; } = [1024, 4096, 16384];
    public int MemoryMeasureLimit { get; init; } = 4096;

    public static PeerBenchOptions Short { get; } = new() { OtherHeadDims = [32, 128] };
    public static PeerBenchOptions Full { get; } = new()
    {
        Mode = "full", Sizes = [512, 1024, 2048, 4096], Repetitions = 5, Warmup = 2, SecondsPerImplementation = 20, OtherHeadDims = [32, 128],
        MemoryMeasureLimit = 16384,
    };
}

/// <summary>
/// The side-by-side peer benchmark behind `attn bench`: our FlashAttention, MathAttention and
/// DecodeAttention against a naive C# loop, ONNX Runtime (MultiHeadAttention and opset-23 Attention)
/// and llama.cpp's ggml_flash_attn_ext, all in this one process on the same machine state.
/// Per case every implementation is built and warmed up, then the timed repetitions interleave them,
/// forward order on even repetitions and reverse order on odd ones, so drift (thermal, a neighbour's
/// load) falls on all alike; the median is reported. The peers time their kernel alone on data
/// already in their layout (inputs and outputs allocated once, outside the loop).
/// </summary>
public static class PeerBench
{
    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    private const string Flash = "ours: FlashAttention", Math_ = "ours: MathAttention", Decode = "ours: DecodeAttention",
        Naive = "naive C# (TensorPrimitives)", OrtMha = "ORT MultiHeadAttention", Ort23 = "ORT Attention (opset 23)",
        Ggml = "ggml flash_attn_ext F32";

    /// <summary>Runs the benchmark (short unless <paramref name="full"/>), writes Markdown/JSON results into
    /// <paramref name="resultsDirectory"/> and a readable table to <paramref name="log"/>. Returns the Markdown path.</summary>
    public static string Run(bool full, string resultsDirectory, TextWriter log)
        => Run(full ? PeerBenchOptions.Full : PeerBenchOptions.Short, resultsDirectory, log);

    /// <summary>As <see cref="Run(bool, string, TextWriter)"/> with every setting open.</summary>
    public static string Run(PeerBenchOptions options, string resultsDirectory, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(resultsDirectory);
        ArgumentNullException.ThrowIfNull(log);
        if (options.Repetitions < 1) throw new ArgumentException($"expected at least 1 repetition, got {options.Repetitions}", nameof(options));
        if (options.Threads.Length == 0 || options.Threads.Any(t => t < 1))
            throw new ArgumentException($"expected thread counts ≥ 1, got [{string.Join(", ", options.Threads)}]", nameof(options));
        Directory.CreateDirectory(resultsDirectory);
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();

        var machine = DescribeMachine();
        var loadAtStart = LoadAverage();
        log.WriteLine($"peer benchmark ({options.Mode}) on {machine.Cpu}, {machine.Cores} cores, {machine.Runtime}");
        log.WriteLine("measuring the FMA peak ...");
        var peak = options.Threads.Distinct().ToDictionary(t => t, t => FmaPeak.MeasureGflops(t));
        log.WriteLine("  " + string.Join(", ", peak.Select(p => $"{p.Key} thread{(p.Key > 1 ? "s" : "")}: {p.Value:F1} GFLOP/s")));

        var cases = new List<(string kind, int l, int s, bool causal, int threads, int d)>();
        foreach (var n in options.Sizes)
            foreach (var causal in new[] { false, true })
                foreach (var t in options.Threads) cases.Add(("prefill", n, n, causal, t, options.HeadDim));
        foreach (var d in options.OtherHeadDims)
            foreach (var t in options.Threads) cases.Add(("prefill", options.OtherHeadDimsLength, options.OtherHeadDimsLength, false, t, d));
        foreach (var s in options.DecodeKeys)
            foreach (var t in options.Threads) cases.Add(("decode", 1, s, false, t, options.HeadDim));

        log.WriteLine("JIT warm-up on small sizes ...");
        WarmUpJit(options);
        // before the timed cases: the math path rents its L×S block from the shared pool, which only shows as an
        // allocation while the pool holds no array of that size yet
        log.WriteLine("extra memory ...");
        var memory = MeasureMemory(options);

        var results = new List<CaseResult>();
        for (int c = 0; c < cases.Count; c++)
        {
            var (kind, l, s, causal, threads, d) = cases[c];
            var shape = new AttentionShape(options.Batch, options.Heads, options.Heads, l, s, d);
            string label = (kind == "decode" ? $"decode, 1 query vs {s} keys" : $"N={l} {(causal ? "causal" : "full")}") +
                           (d == options.HeadDim ? "" : $", D={d}");
            log.Write($"[{c + 1}/{cases.Count}] {label}, {threads} thread{(threads > 1 ? "s" : "")} ({clock.Elapsed.TotalSeconds:F0} s) ...");
            var result = RunCase(kind, label, shape, causal, threads, peak[threads], options);
            results.Add(result);
            var ours = result.Rows.FirstOrDefault(r => r.IsOurs);
            log.WriteLine(ours?.Milliseconds is { } ms ? $" ours {ms:F2} ms" : $" ours {ours?.Failure ?? "n/a"}");
        }

        // the peak again at the end: other processes' load moves it; the better of the two is the yardstick
        foreach (var t in peak.Keys.ToList()) peak[t] = Math.Max(peak[t], FmaPeak.MeasureGflops(t));
        results = results.Select(c => c with
        {
            Rows = c.Rows.Select(x => x with { PercentOfPeak = x.Gflops is { } g ? 100 * g / peak[c.Threads] : null }).ToList(),
        }).ToList();

        var report = new BenchReport(options.Mode, started.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            machine with { LoadAverage = $"{loadAtStart} at start, {LoadAverage()} at end" }, peak.OrderBy(p => p.Key).Select(p => new PeakResult(p.Key, p.Value)).ToList(), results, memory,
            clock.Elapsed.TotalSeconds);
        var markdown = ToMarkdown(report);
        var mdPath = Path.Combine(resultsDirectory, $"peers-{options.Mode}.md");
        File.WriteAllText(mdPath, markdown);
        File.WriteAllText(Path.Combine(resultsDirectory, $"peers-{options.Mode}.json"),
            JsonSerializer.Serialize(report, IndentedJson));
        log.WriteLine();
        log.WriteLine(markdown);
        log.WriteLine($"written {mdPath} and its .json ({clock.Elapsed.TotalSeconds:F0} s)");
        return mdPath;
    }

    private sealed class Candidate(string name, bool isOurs) : IDisposable
    {
        public string Name { get; } = name;
        public bool IsOurs { get; } = isOurs;
        public Action? Body { get; set; }
        public IDisposable? Owner { get; set; }
        public string? Failure { get; set; }
        public List<double> Samples { get; } = [];
        public int Budget { get; set; }
        public long? ManagedBytes { get; set; }
        public void Dispose() => Owner?.Dispose();
    }

    private static List<(string name, Func<Candidate> make)> Factories(string kind, AttentionShape shape, bool causal, int threads)
    {
        var s = shape;
        var inputs = new Lazy<(float[] q, float[] k, float[] v)>(() => (Random((long)s.Batch * s.Heads * s.QueryLength * s.HeadDim, 1),
            Random((long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim, 2), Random((long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim, 3)));
        var opts = new AttentionOptions { Causal = causal, MaxThreads = threads };

        Candidate Ours(string name, bool isOurs, Action<float[], float[], float[], float[]> kernel)
        {
            var (q, k, v) = inputs.Value;
            var output = new float[q.Length];
            return new Candidate(name, isOurs) { Body = () => kernel(q, k, v, output) };
        }

        var factories = new List<(string name, Func<Candidate> make)>();
        if (kind == "decode")
            factories.Add((Decode, () => Ours(Decode, true, (q, k, v, y) => DecodeAttention.Forward(q, k, v, y, s, opts))));
        factories.Add((Flash, () => Ours(Flash, kind != "decode", (q, k, v, y) => FlashAttention.Forward(q, k, v, y, s, opts))));
        factories.Add((Math_, () => Ours(Math_, false, (q, k, v, y) => MathAttention.Forward(q, k, v, y, s, opts))));
        factories.Add((Naive, () => Ours(Naive, false, (q, k, v, y) => NaiveCSharpAttention.Forward(q, k, v, y, s, causal, threads))));
        factories.Add((OrtMha, () => { var p = new OrtMultiHeadAttention(s, causal, threads); p.FillRandom(1); return new Candidate(OrtMha, false) { Body = p.RunPrepared, Owner = p }; }));
        factories.Add((Ort23, () => { var p = new OrtAttention23(s, causal, threads); p.FillRandom(1); return new Candidate(Ort23, false) { Body = p.RunPrepared, Owner = p }; }));
        factories.Add((Ggml, () => { var p = new GgmlFlashAttention(s, causal, threads); p.FillRandom(1); return new Candidate(Ggml, false) { Body = p.RunPrepared, Owner = p }; }));

        return factories;
    }

    private static CaseResult RunCase(string kind, string label, AttentionShape shape, bool causal, int threads, double peakGflops, PeerBenchOptions o)
    {
        var s = shape;
        var factories = Factories(kind, shape, causal, threads);
        var candidates = new List<Candidate>();
        foreach (var (name, make) in factories)
        {
            try { candidates.Add(make()); }
            catch (Exception e) { candidates.Add(new Candidate(name, name == Decode || (name == Flash && kind != "decode")) { Failure = Reason(e) }); }
        }
        try
        {
            // warm-up: JIT, thread pools, first-touch of pages; also sizes each one's repetition budget
            foreach (var c in candidates.Where(c => c.Failure is null))
            {
                try
                {
                    // at least Warmup calls, then on until a call is no more than 10% faster than the one before
                    // (ONNX Runtime's first two calls at N = 2048 take ~7× longer while its memory arena grows);
                    // at most 6 calls or 3× the time budget
                    double previous = double.PositiveInfinity, last = 0, spent = 0;
                    for (int w = 0; w < 6; w++)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        c.Body!();
                        last = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                        spent += last;
                        bool settled = last >= 0.9 * previous;
                        previous = last;
                        if (w + 1 >= Math.Max(1, o.Warmup) && (settled || spent > 3 * o.SecondsPerImplementation)) break;
                    }
                    c.Budget = Math.Clamp((int)(o.SecondsPerImplementation / Math.Max(last, 1e-9)), 1, o.Repetitions);
                    if (c.Name.StartsWith("ours", StringComparison.Ordinal) || c.Name == Naive)
                    {
                        // bytes one warm call allocates (all threads): managed plus our kernels' native scratch
                        c.ManagedBytes = AllocatedBytes(c.Body!);
                    }
                }
                catch (Exception e) { c.Failure = Reason(e); }
            }
            for (int r = 0; r < o.Repetitions; r++)
            {
                var order = r % 2 == 0 ? candidates : Enumerable.Reverse(candidates).ToList();
                foreach (var c in order)
                {
                    if (c.Failure is not null || c.Samples.Count >= c.Budget) continue;
                    try
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        c.Body!();
                        c.Samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                    catch (Exception e) { c.Failure = Reason(e); }
                }
            }
        }
        finally { foreach (var c in candidates) c.Dispose(); }

        double flops = 4.0 * s.Batch * s.Heads * s.QueryLength * s.KeyLength * s.HeadDim;
        if (causal && s.QueryLength == s.KeyLength) flops /= 2;
        var ours = candidates.First(c => c.IsOurs);
        double? oursMs = ours.Failure is null && ours.Samples.Count > 0 ? Median(ours.Samples) : null;
        var rows = candidates.Select(c =>
        {
            if (c.Failure is not null || c.Samples.Count == 0)
                return new ImplResult(c.Name, c.IsOurs, null, null, null, null, c.Samples.Count, c.ManagedBytes, c.Failure ?? "no samples");
            double ms = Median(c.Samples);
            double gflops = flops / (ms * 1e-3) / 1e9;
            return new ImplResult(c.Name, c.IsOurs, ms, gflops, 100 * gflops / peakGflops, oursMs is { } om ? ms / om : null,
                c.Samples.Count, c.ManagedBytes, null, c.Samples.Min());
        }).ToList();
        return new CaseResult(kind, label, s.Batch, s.Heads, s.QueryLength, s.KeyLength, s.HeadDim, causal, threads, flops, rows);
    }

    /// <summary>
    /// Tiered compilation starts every method unoptimised and promotes it after about 30 calls; a kernel
    /// called a handful of times per case would be timed half in tier 0. Forty calls of every
    /// implementation on small shapes, then a pause for the background compiler, put them all at tier 1
    /// before anything is timed.
    /// </summary>
    private static void WarmUpJit(PeerBenchOptions o)
    {
        var shapes = new[] { (new AttentionShape(1, 2, 2, 64, 64, o.HeadDim), false), (new AttentionShape(1, 2, 2, 64, 64, o.HeadDim), true),
                             (new AttentionShape(1, 2, 2, 1, 256, o.HeadDim), false) };
        foreach (var (shape, causal) in shapes)
            foreach (var t in o.Threads.Distinct())
            {
                var candidates = new List<Candidate>();
                try
                {
                    foreach (var (name, make) in Factories(shape.QueryLength == 1 ? "decode" : "prefill", shape, causal, t))
                        try { candidates.Add(make()); } catch (Exception) { /* reported by the timed case */ }
                    foreach (var c in candidates)
                        for (int i = 0; i < 40; i++)
                            try { c.Body!(); } catch (Exception) { break; }
                }
                finally { foreach (var c in candidates) c.Dispose(); }
            }
        Thread.Sleep(500);
    }

    /// <summary>Bytes allocated while <paramref name="body"/> runs (all threads): the GC's counter plus the native
    /// scratch our kernels report to <see cref="KernelMemory"/>; peers' native allocations are not seen.</summary>
    private static long AllocatedBytes(Action body)
    {
        long before = GC.GetTotalAllocatedBytes(true), nativeBefore = KernelMemory.NativeBytesAllocated;
        body();
        return GC.GetTotalAllocatedBytes(true) - before + (KernelMemory.NativeBytesAllocated - nativeBefore);
    }

    private static List<MemoryResult> MeasureMemory(PeerBenchOptions o)
    {
        var rows = new List<MemoryResult>();
        int threads = o.Threads.Max();
        foreach (var n in o.MemorySizes)
        {
            var s = new AttentionShape(o.Batch, o.Heads, o.Heads, n, n, o.HeadDim);
            long lse = 4L * s.Batch * s.Heads * n;
            long mathOneHead = 4L * n * n, mathAllHeads = mathOneHead * s.Batch * s.Heads;
            string flashMeasured = "not run (formula only)", mathMeasured = "not run (formula only)";
            if (n <= o.MemoryMeasureLimit)
            {
                flashMeasured = MeasureOnce(s, threads, (q, k, v, y, lse2) => FlashAttention.Forward(q, k, v, y, s, new AttentionOptions { MaxThreads = threads }, lse2));
                // math at the largest sizes would materialise ≥ 1 GiB per head: measured only up to 4096
                if (n <= 4096)
                    mathMeasured = MeasureOnce(s, threads, (q, k, v, y, _) => MathAttention.Forward(q, k, v, y, s, new AttentionOptions { MaxThreads = threads }));
            }
            rows.Add(new MemoryResult(n, threads, flashMeasured, lse, mathMeasured, mathOneHead, mathAllHeads));
        }
        return rows;
    }

    private static string MeasureOnce(AttentionShape s, int threads, Action<float[], float[], float[], float[], float[]> kernel)
    {
        try
        {
            var q = Random((long)s.Batch * s.Heads * s.QueryLength * s.HeadDim, 1);
            var k = Random((long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim, 2);
            var v = Random((long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim, 3);
            var y = new float[q.Length];
            var lse = new float[s.Batch * s.Heads * s.QueryLength];
            return AllocatedBytes(() => kernel(q, k, v, y, lse)).ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception e) { return "n/a (" + Reason(e) + ")"; }
    }

    private static string Reason(Exception e)
    {
        var inner = e is AggregateException { InnerException: { } i } ? i : e;
        var message = inner.Message.Split('\n')[0].Trim();
        if (message.Length > 90) message = message[..90] + "…";
        return $"{inner.GetType().Name}: {message}";
    }

    private static double Median(List<double> samples)
    {
        var sorted = samples.OrderBy(x => x).ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }

    private static float[] Random(long length, int seed)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (long i = 0; i < length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    private static MachineInfo DescribeMachine()
    {
        string cpu = "unknown";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
                      ?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        string ort, ggml;
        try { ort = "ONNX Runtime " + OrtEnv.Instance().GetVersionString(); } catch (Exception e) { ort = "ONNX Runtime n/a (" + Reason(e) + ")"; }
        try { ggml = GgmlFlashAttention.Describe(); } catch (Exception e) { ggml = "ggml n/a (" + Reason(e) + ")"; }
        string isa = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "128-bit SIMD";
        return new MachineInfo(cpu, Environment.ProcessorCount, RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription, isa, ort, ggml, "");
    }

    /// <summary>The 1-minute load average (Linux): a number above the core count means other work shared the cores and timings, above all the multi-threaded ones, are noisy.</summary>
    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "unknown"; }
    }

    private static string ToMarkdown(BenchReport r)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(CultureInfo.InvariantCulture, $"# Attention kernels against CPU peers ({r.Mode} run)");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- date: {r.Date}; wall time {r.Seconds:F0} s");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- machine: {r.Machine.Cpu}, {r.Machine.Cores} logical cores visible, {r.Machine.Os}; {r.Machine.Runtime}, vectors: {r.Machine.Simd}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- 1-minute load average: {r.Machine.LoadAverage} (a load above the core count means other processes shared the cores, and multi-threaded rows are then the noisiest)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- peers: {r.Machine.OnnxRuntime} (CPU provider, intra_op_num_threads = threads, inter_op 1); {r.Machine.Ggml}");
        sb.AppendLine($"- FMA peak measured in this run: " + string.Join(", ", r.Peak.Select(p => $"{p.Threads} thread(s) {p.Gflops:F1} GFLOP/s")));
        sb.AppendLine("- fp32, B=1, H=8, D=64; FLOPs = 4·B·H·L·S·D, half when causal with L = S. Median of interleaved repetitions " +
                      "(order reversed every other repetition) after warm-up, all in one process. " +
                      "`vs ours` = this time / our time: above 1 means ours is faster.");
        sb.AppendLine("- peers are timed on their kernel alone with inputs already in their layout; ORT MultiHeadAttention takes Q as (B, L, H·D) and K/V as (B, H, S, D).");
        sb.AppendLine();
        SummaryTable(sb, r, "## Summary: peer time / our time (medians)", row => row.Milliseconds);
        SummaryTable(sb, r, "## Same, from each one's best repetition (less sensitive to other processes' load)", row => row.BestMilliseconds);
        sb.AppendLine("## Every implementation");
        sb.AppendLine();
        sb.AppendLine("| case | threads | implementation | ms (median) | ms (best) | GFLOP/s | % of FMA peak | vs ours | reps | bytes per call (ours: managed + native scratch; others: managed only) |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var c in r.Cases)
            foreach (var row in c.Rows)
            {
                string failure = row.Failure is null ? "" : $"n/a ({Escape(row.Failure)})";
                sb.AppendLine(string.Create(inv,
                    $"| {c.Label} | {c.Threads} | {row.Name} | {(row.Failure is null ? Cell(row.Milliseconds, "F2", null) : failure)} | {Cell(row.BestMilliseconds, "F2", "")} | {Cell(row.Gflops, "F1", row.Failure is null ? null : "n/a")} | " +
                    $"{Cell(row.PercentOfPeak, "F0", row.Failure is null ? null : "n/a")}{(row.PercentOfPeak is null ? "" : "%")} | {Cell(row.VersusOurs, "F2", "n/a")} | {row.Repetitions} | " +
                    $"{(row.ManagedBytes is { } mb ? Bytes(mb) : "")} |"));
            }
        sb.AppendLine();
        sb.AppendLine("## Extra memory: flash O(N) against math O(N²)");
        sb.AppendLine();
        sb.AppendLine($"B=1, H=8, D=64, {r.Memory.FirstOrDefault()?.Threads} threads. *Measured* = bytes one call allocates on all threads: " +
                      "the GC's counter (`GC.GetTotalAllocatedBytes(true)`) plus the native per-worker scratch our kernels report to `KernelMemory`. " +
                      "Flash's log-sum-exp output (B·H·L·4) is the caller's buffer, only when asked for. The math path allocates one head's L·S·4 " +
                      "block per call, or writes B·H·L·S·4 when the caller asks for every probability.");
        sb.AppendLine();
        sb.AppendLine("| N | flash measured | flash LSE output, if requested | math measured | formula, one head L·S·4 | all heads' P B·H·L·S·4 |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var m in r.Memory)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {m.N} | {MaybeBytes(m.FlashMeasured)} | {Bytes(m.LseBytes)} | {MaybeBytes(m.MathMeasured)} | {Bytes(m.MathOneHeadBytes)} | {Bytes(m.MathAllHeadsBytes)} |");
        return sb.ToString();
    }

    private static void SummaryTable(StringBuilder sb, BenchReport r, string title, Func<ImplResult, double?> time)
    {
        sb.AppendLine(title);
        sb.AppendLine();
        var peers = new[] { Math_, Naive, OrtMha, Ort23, Ggml };
        sb.AppendLine("| case | threads | ours ms | " + string.Join(" | ", peers) + " |");
        sb.AppendLine("|---|---|---|" + string.Concat(peers.Select(_ => "---|")));
        foreach (var c in r.Cases)
        {
            var ours = c.Rows.First(x => x.IsOurs);
            double? oursMs = ours.Failure is null ? time(ours) : null;
            sb.Append(CultureInfo.InvariantCulture, $"| {c.Label} | {c.Threads} | {Cell(oursMs, "F2", ours.Failure)} |");
            foreach (var p in peers)
            {
                var row = c.Rows.FirstOrDefault(x => x.Name == p);
                double? ms = row?.Failure is null && row is not null ? time(row) : null;
                string cell = row is null ? "" : row.Failure is not null ? "n/a"
                    : oursMs is null ? $"n/a (ours missing; peer {Cell(ms, "F2", null)} ms)"
                    : Cell(ms / oursMs, "F2", null) + "×";
                sb.Append(CultureInfo.InvariantCulture, $" {cell} |");
            }
            sb.AppendLine();
        }
        sb.AppendLine();
    }

    private static string Cell(double? value, string format, string? failure) =>
        value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : failure is null ? "" : failure;

    private static string Escape(string s) => s.Replace("|", "/", StringComparison.Ordinal);

    private static string MaybeBytes(string measured) =>
        long.TryParse(measured, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) ? Bytes(b) : Escape(measured);

    private static string Bytes(long b) => b switch
    {
        >= 1L << 30 => (b / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (b / (double)(1L << 20)).ToString("F2", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (b / (double)(1L << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => b.ToString(CultureInfo.InvariantCulture) + " B",
    };
}

public sealed record MachineInfo(string Cpu, int Cores, string Os, string Runtime, string Simd, string OnnxRuntime, string Ggml, string LoadAverage);
public sealed record PeakResult(int Threads, double Gflops);
public sealed record ImplResult(string Name, bool IsOurs, double? Milliseconds, double? Gflops, double? PercentOfPeak,
                                double? VersusOurs, int Repetitions, long? ManagedBytes, string? Failure, double? BestMilliseconds = null);
public sealed record CaseResult(string Kind, string Label, int Batch, int Heads, int QueryLength, int KeyLength, int HeadDim,
                                bool Causal, int Threads, double Flops, List<ImplResult> Rows);
public sealed record MemoryResult(int N, int Threads, string FlashMeasured, long LseBytes,
                                  string MathMeasured, long MathOneHeadBytes, long MathAllHeadsBytes);
public sealed record BenchReport(string Mode, string Date, MachineInfo Machine, List<PeakResult> Peak, List<CaseResult> Cases,
                                 List<MemoryResult> Memory, double Seconds);
