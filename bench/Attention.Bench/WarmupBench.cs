using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using Attention.FirstCall;
using Attention.Kernels;
using static Attention.Bench.BenchMachine;

namespace Attention.Bench;

/// <summary>
/// First-call speed: how fast a kernel runs in a fresh process, before the JIT's tiering has promoted it, against
/// the same process's steady state. Each (case, runtime setting) runs in a child process of its own, so every 1st
/// call is a real first call: the child prepares its inputs (untimed), then times call 1, calls 2–10 and, after
/// about 3 s more of calls (tiering promotes hot methods in the background after 30 calls), the median of 15
/// calls. One thread throughout. Writes bench/results/warmup.md (or --out PATH).
/// Arguments: [--out PATH] [--cases a,b] [--settings a,b] [--repeats N] (processes per case and setting, default 3).
/// </summary>
public static class WarmupBench
{
    private sealed record Case(string Name, string What);
    /// <summary>One child's times (ms) and the JIT compilation its first call triggered.</summary>
    private sealed record Timings(double First, double Next, double Steady, double FirstJitMs, int FirstJitMethods);
    /// <summary>A runtime setting: environment variables for a JIT child, or (Native) the child compiled ahead of time.</summary>
    private sealed record Setting(string Name, string What, (string Key, string Value)[] Env, bool Native = false);

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
        new("native-aot", "the same child program published with Native AOT for this CPU (`dotnet publish bench/Attention.FirstCall -c Release -r RID " +
            "-p:PublishAot=true -p:IlcInstructionSet=native`): every method compiled ahead of time, no JIT at run time, no warm-up call. " +
            "ONNX Runtime's case is not run again: its default row is the comparison", [], Native: true),
    ];

    public static void Run(string[] args)
    {
        var cli = new BenchArgs("warmup", args, ["--out", "--cases", "--settings", "--repeats"]);
        string[]? only = cli.Text("--cases")?.Split(','), settingsOnly = cli.Text("--settings")?.Split(',');
        int repeats = cli.Int("--repeats", 3);
        string outPath = cli.Text("--out") ?? Path.Combine(RepoRoot(), "bench", "results", "warmup.md");
        foreach (var name in only ?? [])
            if (!Cases.Any(c => c.Name == name)) throw new ArgumentException($"warmup: unknown case '{name}': expected {string.Join(", ", Cases.Select(c => c.Name))}");
        foreach (var name in settingsOnly ?? [])
            if (!Settings.Any(x => x.Name == name)) throw new ArgumentException($"warmup: unknown setting '{name}': expected {string.Join(", ", Settings.Select(x => x.Name))}");
        var cases = Cases.Where(c => only is null || only.Contains(c.Name)).ToArray();
        var settings = Settings.Where(s => settingsOnly is null || settingsOnly.Contains(s.Name)).ToArray();
        var notes = new List<string>();
        string? native = null;
        if (settings.Any(s => s.Native))
        {
            native = PublishNative(out string? why);
            if (native is null)
            {
                notes.Add($"native-aot: not run, the Native AOT publish failed ({why})");
                Console.Error.WriteLine($"warmup: skipping native-aot: {why}");
                settings = settings.Where(s => !s.Native).ToArray();
            }
        }
        string loadAtStart = LoadAverage();
        var rows = new List<(Case Case, Setting Setting, Timings T)>();
        // ONNX Runtime's child does not change with how our code is compiled: native-aot compares against its default run
        var pairs = cases.SelectMany(c => settings.Where(s => !(s.Native && c.Name == "decode-ort")).Select(s => (c, s))).ToArray();
        // every (case, setting) runs in `repeats` processes, round after round, so that a slow moment of the machine
        // lands on one process of each and not on all of one; each column is the median over the processes
        var runs = pairs.Select(_ => new List<Timings>()).ToArray();
        int done = 0, total = pairs.Length * repeats;
        for (int round = 0; round < repeats; round++)
            for (int i = 0; i < pairs.Length; i++)
            {
                var (c, s) = pairs[i];
                Console.Error.Write($"\r[{new string('#', 20 * done / total).PadRight(20)}] {done}/{total} {c.Name} / {s.Name}          ");
                runs[i].Add(RunChild(c.Name, s, native));
                done++;
            }
        Console.Error.WriteLine($"\r[{new string('#', 20)}] {total}/{total}                                   ");
        for (int i = 0; i < pairs.Length; i++) rows.Add((pairs[i].c, pairs[i].s, Median(runs[i])));

        var md = new StringBuilder();
        md.AppendLine("# First-call speed: a fresh process against its own steady state");
        md.AppendLine();
        md.AppendLine($"Machine: {CpuModel()}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, " +
                      $"{RuntimeInformation.FrameworkDescription}, Vector512 accelerated: {Vector512.IsHardwareAccelerated}. " +
                      $"Generated by `dotnet run -c Release --project bench/Attention.Bench -- warmup` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; " +
                      $"load average {loadAtStart} at the start, {LoadAverage()} at the end; " + Scheduling() + ".");
        md.AppendLine();
        foreach (var note in notes) { md.AppendLine(note + "."); md.AppendLine(); }
        md.AppendLine(CultureInfo.InvariantCulture, $"Each row is the median of {repeats} child processes, run round after round (each column's median on its own). " +
                      $"A child (`bench/Attention.FirstCall`; ONNX Runtime's in `Attention.Bench`) prepares its inputs and compiles the harness's own timing code untimed, then times the 1st call, the mean of calls 2–10, and the " +
                      $"steady state (median of 15 calls after about 3 s of calls, by which time tiering has promoted the hot methods). " +
                      $"One thread; wall time. The ratios are between those medians; the rows of one case compare processes " +
                      $"run one after the other on the same machine.");
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
                          "both processes under the same runtime setting, which only changes how our code is compiled; native-aot against ORT's default):");
            md.AppendLine();
            md.AppendLine("| setting | 1st call | calls 2–10 | steady |");
            md.AppendLine("|---|---|---|---|");
            foreach (var (c, s, t) in ours)
            {
                var peer = ort.FirstOrDefault(r => r.Setting.Name == (s.Native ? "default" : s.Name));
                if (peer.T is null) continue;
                md.AppendLine(CultureInfo.InvariantCulture, $"| {s.Name} | {peer.T.First / t.First:F2}× | **{peer.T.Next / t.Next:F2}×** | {peer.T.Steady / t.Steady:F2}× |");
            }
            md.AppendLine();
        }
        md.AppendLine("What the library does for its first calls: the kernels' hot methods carry `MethodImplOptions.AggressiveOptimization`, " +
                      "so the JIT compiles them fully optimised at their first call instead of running tier-0 code until tiering promotes " +
                      "them (calls 2–10 are what that fixes: see the last column); `BertModel` packs its weights and runs its inference path " +
                      "once on dummy tokens while it loads. What is left in a JIT process's 1st call is mostly the JIT compiling those methods, once per " +
                      "process (the 'of which JIT' column, from `System.Runtime.JitInfo`). Two ways remove it: `KernelWarmup.Run()` at start-up " +
                      "(the prewarmed rows), or compiling ahead of time with Native AOT (the native-aot rows). ReadyToRun is not one: it does not " +
                      "precompile methods marked AggressiveOptimization. Native AOT needs `IlcInstructionSet` (`native`, or `x86-64-v4` for AVX-512 " +
                      "machines): without it the code targets the x86-64 baseline, where no 256- or 512-bit vector path is taken (measured once: the N = 2048 forward 18× slower). The 1st call is one sample per " +
                      "process (page faults on first-touched buffers and the scheduler move it by tens of percent), hence the median over processes.");
        md.AppendLine();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, md.ToString());
        Console.Write(md.ToString());
        Console.WriteLine($"wrote {outPath}");
    }

    /// <summary>Each column's median over the processes of one (case, setting).</summary>
    private static Timings Median(List<Timings> t)
    {
        static double Mid(IEnumerable<double> xs) { var a = xs.Order().ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
        return new Timings(Mid(t.Select(x => x.First)), Mid(t.Select(x => x.Next)), Mid(t.Select(x => x.Steady)),
                           Mid(t.Select(x => x.FirstJitMs)), (int)Math.Round(Mid(t.Select(x => (double)x.FirstJitMethods))));
    }

    /// <summary>Publishes bench/Attention.FirstCall with Native AOT for this CPU and returns the executable's path, or null
    /// with the reason (no C toolchain, no ILCompiler package, ...).</summary>
    private static string? PublishNative(out string? why)
    {
        string project = Path.Combine(RepoRoot(), "bench", "Attention.FirstCall", "Attention.FirstCall.csproj");
        string rid = RuntimeInformation.RuntimeIdentifier;
        string outDir = Path.Combine(RepoRoot(), "bench", "Attention.FirstCall", "bin", "aot-" + rid);
        Console.Error.WriteLine($"warmup: publishing bench/Attention.FirstCall with Native AOT for {rid} (about a minute the first time)…");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "publish", project, "-c", "Release", "-r", rid, "-p:PublishAot=true", "-p:IlcInstructionSet=native", "-o", outDir, "-nologo" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet publish");
        var stderrTask = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string exe = Path.Combine(outDir, "Attention.FirstCall" + (OperatingSystem.IsWindows() ? ".exe" : ""));
        if (p.ExitCode == 0 && File.Exists(exe)) { why = null; return exe; }
        var error = (stdout + stderrTask.Result).Split('\n').LastOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase))?.Trim();
        why = $"dotnet publish exited with {p.ExitCode}: {error ?? "no error line"}";
        return null;
    }

    private static Timings RunChild(string caseName, Setting setting, string? native)
    {
        ProcessStartInfo psi;
        if (caseName == "decode-ort")
        {
            // ONNX Runtime's case lives in this program (its package is referenced here only)
            psi = new ProcessStartInfo(Environment.ProcessPath!);
            // run as `dotnet Attention.Bench.dll` the child needs the dll named; run through the apphost, it does not
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
            psi.ArgumentList.Add("warmup-case");
        }
        else if (setting.Native) psi = new ProcessStartInfo(native ?? throw new InvalidOperationException("native-aot: no published child"));
        else
        {
            psi = new ProcessStartInfo("dotnet");
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Attention.FirstCall.dll"));
        }
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
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

    /// <summary>The child for ONNX Runtime's case (`warmup-case decode-ort`), timed from its very first call as
    /// <see cref="FirstCallCases.Time"/> times the library's; the library's cases run the same way here too.</summary>
    public static int RunCase(string caseName)
    {
        if (caseName != "decode-ort" && !FirstCallCases.Names.Contains(caseName))
        {
            Console.Error.WriteLine($"unknown warm-up case '{caseName}': expected {string.Join(", ", Cases.Select(c => c.Name))}");
            return 2;
        }
        if (Environment.GetEnvironmentVariable("ATTN_BENCH_PREWARM") == "1" && caseName != "decode-ort") KernelWarmup.Run();
        Console.WriteLine(caseName == "decode-ort"
            ? FirstCallCases.Time(DecodeOrt(), FirstCallCases.FlushCaches)
            : FirstCallCases.Time(FirstCallCases.Create(caseName), FirstCallCases.Before(caseName)));
        return 0;
    }

    private static Action DecodeOrt()
    {
        var peer = new Attention.Peers.OrtAttention23(new AttentionShape(1, 8, 8, 1, 4096, 64), causal: false, threads: 1);
        peer.FillRandom(1);
        return peer.RunPrepared;
    }
}
