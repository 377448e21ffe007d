using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 15: time of full, causal and sliding-window attention as n grows, with the log–log slope
/// fitted to the measurements (≈ 2 for full and causal, ≈ 1 for a fixed window), and the bytes that
/// the materialised path allocates. Page: docs/answers/15-complexities.md
/// </summary>
public sealed class Q15_Complexities : Experiment
{
    public override int Question => 15;
    public override string Title => "Computational complexities of attention types";

    public override ExperimentResult Run(ExperimentContext context)
    {
        int heads = context.Full ? 8 : 2, d = 64, window = 128, reps = context.Full ? 7 : 5;
        int[] sizes = context.Full ? [512, 1024, 2048, 4096, 8192] : [256, 512, 1024, 2048];
        var random = new Random(context.Seed);
        var result = new ExperimentResult { Question = Question };
        var variants = new (string Name, AttentionOptions Options)[]
        {
            ("full", new AttentionOptions { MaxThreads = 1 }),
            ("causal", new AttentionOptions { Causal = true, MaxThreads = 1 }),
            ($"causal window {window}", new AttentionOptions { Causal = true, WindowLeft = window - 1, MaxThreads = 1 }),
        };
        var times = variants.Select(_ => new List<double>()).ToArray();
        var table = new Table($"Forward time, one thread, B=1, H={heads}, d={d} (best of {reps})",
            "n", "full ms", "causal ms", $"window ms", "full GFLOP/s", "causal / full", "window / full", "P bytes (math path, one head)");
        for (int s = 0; s < sizes.Length; s++)
        {
            int n = sizes[s];
            context.Report((double)s / sizes.Length, $"n = {n}");
            var shape = new AttentionShape(1, heads, heads, n, n, d);
            var q = new float[heads * n * d]; var k = new float[q.Length]; var v = new float[q.Length]; var o = new float[q.Length];
            Measure.FillNormal(q, random); Measure.FillNormal(k, random); Measure.FillNormal(v, random);
            for (int t = 0; t < variants.Length; t++)
            {
                var options = variants[t].Options;
                times[t].Add(Measure.BestMilliseconds(() => FlashAttention.Forward(q, k, v, o, shape, options), reps));
            }
            double gflops = 4.0 * heads * n * (double)n * d / (times[0][s] * 1e6);
            table.AddRow(n, times[0][s], times[1][s], times[2][s], gflops,
                times[1][s] / times[0][s], times[2][s] / times[0][s], 4L * n * n);
        }
        result.Tables.Add(table);

        // Fit over the largest three sizes, where the n² term dominates per-call overhead.
        var x = sizes.Skip(sizes.Length - 3).Select(n => (double)n).ToArray();
        var slopes = times.Select(t => Measure.LogLogSlope(x, t.Skip(t.Count - 3).ToArray())).ToArray();
        var fit = new Table("Fitted exponent p in time ≈ c·nᵖ (largest three sizes)", "attention", "measured p", "theory");
        fit.AddRow("full", slopes[0], 2.0).AddRow("causal", slopes[1], 2.0).AddRow($"causal window {window}", slopes[2], 1.0);
        result.Tables.Add(fit);
        result.Metrics["slope_full"] = slopes[0];
        result.Metrics["slope_causal"] = slopes[1];
        result.Metrics["slope_window"] = slopes[2];
        result.Metrics["causal_over_full_largest_n"] = times[1][^1] / times[0][^1];

        result.Check("full attention time grows like n² (fitted exponent within 2 ± 0.35)", Math.Abs(slopes[0] - 2) <= 0.35, $"p = {slopes[0]:F2}", timing: true);
        result.Check("causal attention time grows like n² (fitted exponent within 2 ± 0.35)", Math.Abs(slopes[1] - 2) <= 0.35, $"p = {slopes[1]:F2}", timing: true);
        result.Check($"a fixed window of {window} keys makes time linear in n (exponent within 1 ± 0.35)", Math.Abs(slopes[2] - 1) <= 0.35, $"p = {slopes[2]:F2}", timing: true);
        result.Check("causal attention skips the masked half: at the largest n it takes under 0.7× the full time",
            times[1][^1] / times[0][^1] < 0.7, $"ratio {times[1][^1] / times[0][^1]:F2}", timing: true);

        // The work each mask leaves, counted rather than timed: the nonzero weights of the materialised path at one n.
        const int countN = 512;
        var countShape = new AttentionShape(1, 1, 1, countN, countN, 16);
        var cq = new float[countN * 16]; var ck = new float[cq.Length]; var cv = new float[cq.Length]; var co = new float[cq.Length];
        Measure.FillNormal(cq, random); Measure.FillNormal(ck, random); Measure.FillNormal(cv, random);
        var counted = new long[variants.Length];
        var probabilities = new float[countN * countN];
        for (int t = 0; t < variants.Length; t++)
        {
            MathAttention.Forward(cq, ck, cv, co, countShape, variants[t].Options, probabilities);
            counted[t] = probabilities.Count(p => p != 0);
        }
        long causalPairs = (long)countN * (countN + 1) / 2, windowPairs = (long)window * (window + 1) / 2 + (long)(countN - window) * window;
        var work = new Table($"Scored (query, key) pairs at n = {countN}, counted from the materialised path's nonzero weights",
            "attention", "pairs counted", "share of n²", "formula");
        work.AddRow("full", counted[0], (double)counted[0] / ((long)countN * countN), "n²")
            .AddRow("causal", counted[1], (double)counted[1] / ((long)countN * countN), "n(n+1)/2")
            .AddRow($"causal window {window}", counted[2], (double)counted[2] / ((long)countN * countN), "≈ n·W");
        result.Tables.Add(work);
        result.Check($"the masks leave exactly the pairs the complexity formulas count at n = {countN}: n², n(n+1)/2 and W(W+1)/2 + (n−W)·W",
            counted[0] == (long)countN * countN && counted[1] == causalPairs && counted[2] == windowPairs,
            $"{counted[0]}, {counted[1]}, {counted[2]}");

        string path = context.FigurePath("q15-time-vs-n.png");
        Charts.Lines(path, "Attention forward time vs sequence length", "n (tokens)", "ms (one thread)",
            variants.Select((vt, t) => new Series(vt.Name, sizes.Select(n => (double)n).ToArray(), times[t].ToArray())).ToList(),
            logX: true, logY: true);
        result.Figures.Add(new Figure(path, "Time vs n on log–log axes: slope 2 for full and causal (causal lower by ≈2×), slope 1 for the window."));
        result.Notes.Add("Times are the best of several runs in one process on a shared machine (other work only ever adds time); the exponents, not the absolute times, are the point.");
        return result;
    }
}
