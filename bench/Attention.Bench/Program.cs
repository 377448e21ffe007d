// Benchmarks. Usage:
//   dotnet run -c Release --project bench/Attention.Bench -- peers [--full]     side-by-side peer runner → bench/results/peers-*.md
//   dotnet run -c Release --project bench/Attention.Bench -- gemm [--reps N]    GEMM vs the FMA peak → bench/results/gemm.md
//   dotnet run -c Release --project bench/Attention.Bench -- forward           FlashAttention forward vs the FMA peak, 1 and 2 threads → bench/results/forward.md
//   dotnet run -c Release --project bench/Attention.Bench -- backward [--full]  FlashAttention backward vs the composed path
//   dotnet run -c Release --project bench/Attention.Bench -- minilm [--rounds N]  all-MiniLM-L6-v2 forward vs ONNX Runtime → bench/results/minilm.md
//   dotnet run -c Release --project bench/Attention.Bench -- long [--full]     long-context targets: packing, block-sparse, paged, window → bench/results/long-context.md
//   dotnet run -c Release --project bench/Attention.Bench -- warmup            first call vs steady state, fresh processes → bench/results/warmup.md
//   dotnet run -c Release --project bench/Attention.Bench -- bdn [BenchmarkDotNet switches]   the BenchmarkDotNet suites
using Attention.Bench;
using Attention.Peers;

string verb = args.Length > 0 ? args[0] : "";
string[] rest = args.Skip(1).ToArray();
try
{
    return Run(verb, rest);
}
catch (ArgumentException e)
{
    // a mistyped option or value (BenchArgs): one line and exit 2, as the attn CLI does
    Console.Error.WriteLine(e.Message);
    return 2;
}

static int Run(string verb, string[] rest)
{
switch (verb)
{
    case "peers":
        string results = Path.Combine(BenchMachine.RepoRoot(), "bench", "results");
        Console.WriteLine(PeerBench.Run(rest.Contains("--full"), results, Console.Out));
        return 0;
    case "gemm":
        GemmBench.Run(rest);
        return 0;
    case "forward":
        ForwardBench.Run(rest);
        return 0;
    case "backward":
        BackwardBench.Run(rest);
        return 0;
    case "minilm":
        MiniLmBench.Run(rest);
        return 0;
    case "long":
        LongContextBench.Run(rest);
        return 0;
    case "warmup":
        WarmupBench.Run(rest);
        return 0;
    case "warmup-case":
        return WarmupBench.RunCase(rest.Length > 0 ? rest[0] : "");
    case "bdn":
        PeerBenchmarks.Run(rest);
        return 0;
    default:
        Console.Error.WriteLine($"unknown benchmark '{verb}': expected one of peers, gemm, forward, backward, minilm, warmup, long, bdn");
        return 2;
}
}
