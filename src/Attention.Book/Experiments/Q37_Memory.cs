using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 37: the extra memory of attention. Measures the bytes each kernel allocates during its first
/// call at each sequence length (the GC's allocation counter sees every managed buffer), against the
/// formula L·S·4 bytes per head for the materialised path, and works out KV-cache sizes for real model
/// shapes from the formula 2·layers·Hkv·d·n·bytes. Page: docs/answers/37-memory.md
/// </summary>
public sealed class Q37_Memory : Experiment
{
    public override int Question => 37;
    public override string Title => "Memory requirements of attention";

    public override ExperimentResult Run(ExperimentContext context)
    {
        const int d = 64;
        int[] sizes = context.Full ? [512, 1024, 2048, 4096, 8192, 16384] : [256, 512, 1024, 2048, 4096];
        var random = new Random(context.Seed);
        var result = new ExperimentResult { Question = Question };
        var table = new Table($"Bytes allocated by one call, one head, d = {d}, one thread",
            "n", "math path (measured)", "formula n²·4", "measured / formula", "flash (measured)", "flash bound 16·n·d·4 + 1 MiB", "math / flash");
        var mathBytes = new List<double>(); var flashBytes = new List<double>();
        for (int s = 0; s < sizes.Length; s++)
        {
            int n = sizes[s];
            context.Report((double)s / sizes.Length, $"n = {n}");
            var shape = new AttentionShape(1, 1, 1, n, n, d);
            var q = new float[n * d]; var k = new float[n * d]; var v = new float[n * d]; var o = new float[n * d];
            Measure.FillNormal(q, random); Measure.FillNormal(k, random); Measure.FillNormal(v, random);
            var options = new AttentionOptions { MaxThreads = 1 };
            long math = Measure.AllocatedBytes(() => MathAttention.Forward(q, k, v, o, shape, options));
            long flash = Measure.AllocatedBytes(() => FlashAttention.Forward(q, k, v, o, shape, options));
            mathBytes.Add(math); flashBytes.Add(flash);
            double formula = 4.0 * n * n, bound = 16.0 * n * d * 4 + (1 << 20);
            table.AddRow(n, Bytes(math), Bytes(formula), math / formula, Bytes(flash), Bytes(bound), flash == 0 ? double.PositiveInfinity : (double)math / flash);
            result.Check($"n = {n}: the materialised path allocates at least the n² score matrix", math >= formula, $"{Bytes(math)} vs {Bytes(formula)}");
            result.Check($"n = {n}: flash stays within an O(n) bound", flash <= bound, $"{Bytes(flash)} ≤ {Bytes(bound)}");
        }
        result.Tables.Add(table);

        var large = sizes.Where(n => n >= 1024).Select(n => (double)n).ToArray();
        double slope = Measure.LogLogSlope(large, mathBytes.Skip(sizes.Length - large.Length).ToArray());
        result.Metrics["math_bytes_exponent"] = slope;
        result.Metrics["math_bytes_largest_n"] = mathBytes[^1];
        result.Metrics["flash_bytes_largest_n"] = flashBytes[^1];
        result.Metrics["largest_n"] = sizes[^1];
        result.Check("the materialised path's bytes grow like n² (fitted exponent within 2 ± 0.15)", Math.Abs(slope - 2) <= 0.15, $"p = {slope:F3}");

        // KV cache sizes from the formula, for real model shapes (no measurement: arithmetic only).
        var kv = new Table("KV cache per sequence, fp16 (formula 2·layers·Hkv·d·n·2 bytes)",
            "model shape", "layers", "query heads", "KV heads", "head dim", "per token", "at 4096 tokens");
        foreach (var (name, layers, h, hkv, hd) in new[]
                 {
                     ("Llama-2-7B (MHA)", 32, 32, 32, 128),
                     ("Llama-2-70B (GQA)", 80, 64, 8, 128),
                     ("Mistral-7B (GQA)", 32, 32, 8, 128),
                     ("same as 7B, MQA", 32, 32, 1, 128),
                 })
        {
            double perToken = 2.0 * layers * hkv * hd * 2;
            kv.AddRow(name, layers, h, hkv, hd, Bytes(perToken), Bytes(perToken * 4096));
        }
        result.Tables.Add(kv);

        string path = context.FigurePath("q37-bytes-vs-n.png");
        var xs = sizes.Select(n => (double)n).ToArray();
        Charts.Lines(path, "Extra memory of one attention call vs n", "n (tokens)", "bytes allocated",
            [
                new Series("math path (measured)", xs, mathBytes.ToArray()),
                new Series("formula n²·4", xs, xs.Select(n => 4 * n * n).ToArray()),
                new Series("flash (measured: managed + native scratch)", xs, flashBytes.Select(b => Math.Max(b, 1)).ToArray()),
            ], logX: true, logY: true);
        result.Figures.Add(new Figure(path, "The materialised path follows n²·4 bytes; the tiled kernel's allocation does not grow with n²."));
        result.Notes.Add("Bytes are everything allocated during the call: managed buffers (the GC's counter) plus the kernels' native per-worker scratch (KernelMemory). The math path allocates its L×S buffer per call; the tiled kernel allocates one scratch block per worker thread.");
        return result;
    }

    private static string Bytes(double b) => b switch
    {
        >= 1 << 30 => $"{b / (1 << 30):0.##} GiB",
        >= 1 << 20 => $"{b / (1 << 20):0.##} MiB",
        >= 1 << 10 => $"{b / (1 << 10):0.##} KiB",
        _ => $"{b:0} B",
    };
}
