using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using Attention.Kernels;
using Attention.Models;
using Attention.Tensors;
using static Attention.Bench.BenchMachine;

namespace Attention.Bench;

/// <summary>
/// First-call speed: how fast a kernel runs in a fresh process, before the JIT's tiering has promoted it, against
/// the same process's steady state. Each (case, runtime setting) runs in a child process of its own, so every 1st
/// call is a real first call: the child prepares its inputs (untimed), then times call 1, calls 2–10 and, after
/// about 3 s more of calls (tiering promotes hot methods in the background after 30 calls), the median of 15
/// calls. One thread throughout. Writes bench/results/warmup.md (or --out PATH).
/// Arguments: [--out PATH] [--cases a,b] [--settings a,b].
/// </summary>
public static class WarmupBench
{
    private sealed record Case(string Name, string What);
    /// <summary>One child's times (ms) and the JIT compilation its first call triggered.</summary>
    private sealed record Timings(double First, double Next, double Steady, double FirstJitMs, int FirstJitMethods);
    private sealed record Setting(string Name, string What, (string Key, string Value)[] Env);

    private static readonly Case[] Cases =
    [
        new("decode", "`DecodeAttention` through `FlashAttention.Forward`: 1 query, H = 8, S = 4096, D = 64; K/V cold (8 sets of 16.8 MB, rotated)"),
        new("decode-flushed", "the same decode on one K/V set, the caches flushed before every call (64 MB written, untimed)"),
        new("decode-ort", "the same call in ONNX Runtime (`Attention`, opset 23, one intra-op thread), the caches flushed before every call the same way"),
        new("forward", "`FlashAttention.Forward`: B = 1, H = 8, N = 2048, D = 64, full (not causal)"),
        new("minilm-batch", "all-MiniLM-L6-v2 `BertModel.Forward`, batch 8 × 128 tokens"),
        new("minilm-sentence", "all-MiniLM-L6-v2 `BertModel.Embed` of one 12-token sentence (what `attn embed` does)"),
    ];

    // The runtime knobs a program can set in its project file (TieredCompilation, TieredCompilationQuickJitForLoops)
    // or its environment; the library itself can only mark its methods (AggressiveOptimization).
    private static readonly Setting[] Settings =
    [
        new("default", "tiered compilation on (the .NET default, what a user's program runs with; `attn` and this bench turn it off in their project files)", [("DOTNET_TieredCompilation", "1")]),
        new("no-quick-loops", "tiered, but methods with loops are compiled optimised at once (`TieredCompilationQuickJitForLoops=false`)",
            [("DOTNET_TieredCompilation", "1"), ("DOTNET_TC_QuickJitForLoops", "0")]),
        new("tiering-off", "tiered compilation off (`DOTNET_TieredCompilation=0`): every method fully optimised at its first call", [("DOTNET_TieredCompilation", "0")]),
        new("prewarmed", "the default, and the program calls `KernelWarmup.Run()` before it prepares its inputs (untimed, as ORT's session creation is)",
            [("DOTNET_TieredCompilation", "1"), ("ATTN_BENCH_PREWARM", "1")]),
    ];

    public static void Run(string[] args)
    {
        string? outPath = null;
        string[]? only = null, settingsOnly = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--out" && i + 1 < args.Length) outPath = args[++i];
            else if (args[i] == "--cases" && i + 1 < args.Length) only = args[++i].Split(',');
            else if (args[i] == "--settings" && i + 1 < args.Length) settingsOnly = args[++i].Split(',');
        }
        outPath ??= Path.Combine(RepoRoot(), "bench", "results", "warmup.md");
        var cases = Cases.Where(c => only is null || only.Contains(c.Name)).ToArray();
        var settings = Settings.Where(s => settingsOnly is null || settingsOnly.Contains(s.Name)).ToArray();
        string loadAtStart = LoadAverage();
        var rows = new List<(Case Case, Setting Setting, Timings T)>();
        int done = 0, total = cases.Length * settings.Length;
        foreach (var c in cases)
            foreach (var s in settings)
            {
                Console.Error.Write($"\r[{new string('#', 20 * done / total).PadRight(20)}] {done}/{total} {c.Name} / {s.Name}          ");
                rows.Add((c, s, RunChild(c.Name, s)));
                done++;
            }
        Console.Error.WriteLine($"\r[{new string('#', 20)}] {total}/{total}                                   ");

        var md = new StringBuilder();
        md.AppendLine("# First-call speed: a fresh process against its own steady state");
        md.AppendLine();
        md.AppendLine($"Machine: {CpuModel()}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, " +
                      $"{RuntimeInformation.FrameworkDescription}, Vector512 accelerated: {Vector512.IsHardwareAccelerated}. " +
                      $"Generated by `dotnet run -c Release --project bench/Attention.Bench -- warmup` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; " +
                      $"load average {loadAtStart} at the start, {LoadAverage()} at the end; " + Scheduling() + ".");
        md.AppendLine();
        md.AppendLine("Each row is one child process: inputs prepared and the harness's own timing code compiled untimed, then the 1st call, the mean of calls 2–10, and the " +
                      "steady state (median of 15 calls after about 3 s of calls, by which time tiering has promoted the hot methods). " +
                      "One thread; wall time. The ratios compare calls within one process; the columns of one case compare processes " +
                      "run one after the other on the same machine.");
        md.AppendLine();
        md.AppendLine("Cases:");
        foreach (var c in cases) md.AppendLine(CultureInfo.InvariantCulture, $"- **{c.Name}**: {c.What}");
        md.AppendLine();
        md.AppendLine("Runtime settings:");
        foreach (var s in settings) md.AppendLine(CultureInfo.InvariantCulture, $"- **{s.Name}**: {s.What}");
        md.AppendLine();
        md.AppendLine("| case | setting | 1st call ms | of which JIT ms (methods) | calls 2–10 mean ms | steady ms | 1st / steady | 1st without JIT / steady | 2–10 / steady |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var (c, s, t) in rows)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {c.Name} | {s.Name} | {t.First:F2} | {t.FirstJitMs:F1} ({t.FirstJitMethods}) | {t.Next:F2} | {t.Steady:F2} | {t.First / t.Steady:F2}× | " +
                          $"{(t.First - t.FirstJitMs) / t.Steady:F2}× | **{t.Next / t.Steady:F2}×** |");
        md.AppendLine();
        var ours = rows.Where(r => r.Case.Name == "decode-flushed").ToList();
        var ort = rows.Where(r => r.Case.Name == "decode-ort").ToList();
        if (ours.Count > 0 && ort.Count > 0)
        {
            md.AppendLine("Decode from a fresh process with K/V cold, ours against ONNX Runtime (ORT's time / ours: above 1 = we are faster; " +
                          "both processes under the same runtime setting, which only changes how our code is compiled):");
            md.AppendLine();
            md.AppendLine("| setting | 1st call | calls 2–10 | steady |");
            md.AppendLine("|---|---|---|---|");
            foreach (var (c, s, t) in ours)
            {
                var peer = ort.FirstOrDefault(r => r.Setting.Name == s.Name);
                if (peer.T is null) continue;
                md.AppendLine(CultureInfo.InvariantCulture, $"| {s.Name} | {peer.T.First / t.First:F2}× | **{peer.T.Next / t.Next:F2}×** | {peer.T.Steady / t.Steady:F2}× |");
            }
            md.AppendLine();
        }
        md.AppendLine("What the library does for its first calls: the kernels' hot methods carry `MethodImplOptions.AggressiveOptimization`, " +
                      "so the JIT compiles them fully optimised at their first call instead of running tier-0 code until tiering promotes " +
                      "them (calls 2–10 are what that fixes: see the last column); `BertModel` packs its weights and runs its inference path " +
                      "once on dummy tokens while it loads. What is left in a 1st call is mostly the JIT compiling those methods, once per " +
                      "process (the 'of which JIT' column, from `System.Runtime.JitInfo`); only ahead-of-time compilation removes that, and " +
                      "ReadyToRun does not precompile methods marked AggressiveOptimization. The 1st-call column is a single sample per " +
                      "process: page faults on first-touched buffers and the scheduler move it by tens of percent from run to run.");
        md.AppendLine();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, md.ToString());
        Console.Write(md.ToString());
        Console.WriteLine($"wrote {outPath}");
    }

    private static Timings RunChild(string caseName, Setting setting)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // run as `dotnet Attention.Bench.dll` the child needs the dll named; run through the apphost, it does not
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        psi.ArgumentList.Add("warmup-case");
        psi.ArgumentList.Add(caseName);
        foreach (var (k, v) in setting.Env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the child process");
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        var line = stdout.Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        if (p.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"warm-up case '{caseName}' ({setting.Name}) failed with exit code {p.ExitCode}: {stderr.Trim()}");
        var f = line.Split(' ').Skip(1).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        return new Timings(f[0], f[1], f[2], f[3], (int)f[4]);
    }

    /// <summary>The child: one case, timed from its very first call.</summary>
    public static int RunCase(string caseName)
    {
        if (Environment.GetEnvironmentVariable("ATTN_BENCH_PREWARM") == "1" && caseName != "decode-ort") KernelWarmup.Run();
        Action? before = caseName is "decode-flushed" or "decode-ort" ? FlushCaches : null;
        Action call = caseName switch
        {
            "decode" => Decode(),
            "decode-flushed" => DecodeOneSet(),
            "decode-ort" => DecodeOrt(),
            "forward" => Forward(),
            "minilm-batch" => MiniLmBatch(),
            "minilm-sentence" => MiniLmSentence(),
            _ => throw new ArgumentException($"unknown warm-up case '{caseName}': expected {string.Join(", ", Cases.Select(c => c.Name))}"),
        };
        double Time() { before?.Invoke(); var sw = Stopwatch.StartNew(); call(); return sw.Elapsed.TotalMilliseconds; }
        // the harness's own code (this timing function and the case's lambda) is compiled before the clock starts, so
        // the 1st call and its JIT column measure the library alone
        RuntimeHelpers.PrepareMethod(((Func<double>)Time).Method.MethodHandle);
        RuntimeHelpers.PrepareMethod(call.Method.MethodHandle);
        var jit0 = System.Runtime.JitInfo.GetCompilationTime();
        long methods0 = System.Runtime.JitInfo.GetCompiledMethodCount();
        double first = Time();
        double jitMs = (System.Runtime.JitInfo.GetCompilationTime() - jit0).TotalMilliseconds;
        long methods = System.Runtime.JitInfo.GetCompiledMethodCount() - methods0;
        double next = Enumerable.Range(0, 9).Select(_ => Time()).Average();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < 3) { Time(); if (sw.ElapsedMilliseconds % 500 < 5) Thread.Sleep(20); }
        var steady = Enumerable.Range(0, 15).Select(_ => Time()).OrderBy(x => x).ToArray()[7];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RESULT {first} {next} {steady} {jitMs} {methods}"));
        return 0;
    }

    private static Action Decode()
    {
        var shape = new AttentionShape(1, 8, 8, 1, 4096, 64);
        var rng = new Rng(1);
        float[] q = rng.NormalArray(8 * 64), o = new float[8 * 64];
        var kv = Enumerable.Range(0, 8).Select(_ => (K: rng.NormalArray(8 * 4096 * 64), V: rng.NormalArray(8 * 4096 * 64))).ToArray();
        var options = new AttentionOptions { MaxThreads = 1 };
        int next = 0;
        return () => { var (k, v) = kv[next++ % kv.Length]; FlashAttention.Forward(q, k, v, o, shape, options); };
    }

    private static Action DecodeOneSet()
    {
        var shape = new AttentionShape(1, 8, 8, 1, 4096, 64);
        var rng = new Rng(1);
        float[] q = rng.NormalArray(8 * 64), o = new float[8 * 64], k = rng.NormalArray(8 * 4096 * 64), v = rng.NormalArray(8 * 4096 * 64);
        var options = new AttentionOptions { MaxThreads = 1 };
        return () => FlashAttention.Forward(q, k, v, o, shape, options);
    }

    private static Action DecodeOrt()
    {
        var peer = new Attention.Peers.OrtAttention23(new AttentionShape(1, 8, 8, 1, 4096, 64), causal: false, threads: 1);
        peer.FillRandom(1);
        return peer.RunPrepared;
    }

    private static readonly byte[] Flush = new byte[64 << 20];
    private static byte _flushValue;

    /// <summary>Writes 64 MB (twice the L3) so that no K/V line is left in any cache.</summary>
    private static void FlushCaches()
    {
        _flushValue++;
        for (int i = 0; i < Flush.Length; i += 64) Flush[i] = _flushValue;
    }

    private static Action Forward()
    {
        var shape = new AttentionShape(1, 8, 8, 2048, 2048, 64);
        var rng = new Rng(2);
        float[] q = rng.NormalArray(8 * 2048 * 64), k = rng.NormalArray(8 * 2048 * 64), v = rng.NormalArray(8 * 2048 * 64), o = new float[q.Length];
        var options = new AttentionOptions { MaxThreads = 1 };
        return () => FlashAttention.Forward(q, k, v, o, shape, options);
    }

    private static Action MiniLmBatch()
    {
        var model = BertModel.LoadMiniLm();
        var batch = model.Tokenize(MiniLmBench.Texts(), maxLength: 128);
        var options = new BertRunOptions { MaxThreads = 1 };
        return () => model.Forward(batch, options);
    }

    private static Action MiniLmSentence()
    {
        var model = BertModel.LoadMiniLm();
        string[] text = ["The cat sat on the mat, and then it purred."];
        var options = new BertRunOptions { MaxThreads = 1 };
        var batch = model.Tokenize(text);
        return () => model.Forward(batch, options);
    }
}
