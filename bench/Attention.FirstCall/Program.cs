// The warm-up bench's child: `Attention.FirstCall CASE` times one first-call case in this fresh process and prints
// its RESULT line (FirstCallCases). ATTN_BENCH_PREWARM=1 calls KernelWarmup.Run() first, untimed.
using Attention.FirstCall;
using Attention.Kernels;

if (args.Length != 1 || !FirstCallCases.Names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: Attention.FirstCall CASE, where CASE is one of {string.Join(", ", FirstCallCases.Names)}; got '{string.Join(" ", args)}'");
    return 2;
}
if (Environment.GetEnvironmentVariable("ATTN_BENCH_PREWARM") == "1") KernelWarmup.Run();
Console.WriteLine(FirstCallCases.Time(FirstCallCases.Create(args[0]), FirstCallCases.Before(args[0])));
return 0;
