using System.Diagnostics;
using Attention.Autograd;
using Attention.Kernels;
using Attention.Models;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 20: window attention for long sequences. (a) The KJV character model with ALiBi of answers 44/45 (trained on
/// windows of T characters, step-budgeted, shared through <see cref="PositionLms"/>) reads held-out text as a stream of
/// 8·T characters, one token at a time, four ways: window only (a rolling KV cache of T tokens), window + 4 sink tokens
/// (StreamingLLM, Xiao et al., 2023; same cache size), the full KV cache (nothing evicted) and the sliding window with
/// recomputation (every prediction from a fresh forward over the last T characters). Perplexity by position, memory held
/// per step and time per token are measured; the attention each head pays to the first key is measured too (StreamingLLM's
/// sinks appear in models trained with full attention over long texts; what this small model does is reported as found).
/// (b) The window kernel (<see cref="AttentionOptions.WindowLeft"/>) against dense causal attention as N grows, and one decode
/// step against a rolling cache of W tokens and against a full cache of N.
/// Page: docs/answers/20-window-attention.md
/// </summary>
public sealed class Q20_WindowAttention : Experiment
{
    public override int Question => 20;
    public override string Title => "Window-based attention in long sequences";

    /// <summary>The sizes of one run.</summary>
    /// <param name="Streams">Held-out streams read (each 8·T characters, at evenly spaced offsets of the test books).</param>
    /// <param name="Sinks">Sink tokens of the StreamingLLM variant.</param>
    /// <param name="KernelLengths">N for the kernel timing.</param>
    /// <param name="KernelWindow">W for the kernel timing.</param>
    /// <param name="Repetitions">Timed calls per case (best kept).</param>
    public sealed record Settings(int Streams, int Sinks, int[] KernelLengths, int KernelWindow, int Repetitions);

    /// <summary>Quick: 1 stream, N up to 4096. Full: 12 streams, N up to 16384.</summary>
    public static Settings For(bool full) => full
        ? new Settings(Streams: 12, Sinks: 4, KernelLengths: [2048, 4096, 8192, 16384], KernelWindow: 512, Repetitions: 5)
        : new Settings(Streams: 1, Sinks: 4, KernelLengths: [1024, 2048, 4096], KernelWindow: 256, Repetitions: 3);

    private sealed record Method(string Name, string Key);

    /// <summary>The position schemes streamed: ALiBi (a recency bias in every head) and NoPE (no position at all).</summary>
    public static readonly PositionKind[] Kinds = [PositionKind.Alibi, PositionKind.None];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var s = For(context.Full);
        var ps = PositionLms.Settings(context.Full);
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();
        string load = LoadAverage();
        int t = ps.Context, length = 8 * t;
        Method[] methods =
        [
            new("window only (rolling cache of T)", "window"),
            new($"window + {s.Sinks} sinks (cache of T)", "sinks"),
            new("full KV cache (nothing evicted)", "full_cache"),
            new("sliding window, recomputed (T)", "recompute"),
        ];
        var memory = new Table($"Memory held between steps (key and value floats of all layers, float32) and time per token (load average {load}; shown, not asserted)",
            "model", "method", $"held at position T − 1 = {t - 1}", $"held at position 8T − 1 = {length - 1}", "grows with the stream?", "ms per token");
        var sinkTable = new Table($"Attention on the first key of a T-window (queries i ≥ T/2, 16 held-out windows): mean weight × (i + 1) per head; 1 = what a uniform head gives, ≫ 1 = a sink",
            "model", "layer", "heads");
        bool identicalBeforeEviction = true, constant = true, finite = true;
        double progress = 0;
        foreach (var kind in Kinds)
        {
            // the model: trained on windows of T characters (shared with answers 44 and 45)
            var trained = PositionLms.Get(kind, context.Full, context.Seed, context, progress, progress + 0.2);
            var model = trained.Model;
            var test = PositionLms.Text.Test;
            var config = model.Config;
            string label = trained.Label, tag = kind == PositionKind.Alibi ? "alibi" : "nope";
            progress += 0.2;

            var nll = methods.ToDictionary(m => m.Key, _ => new double[length]);
            var held = methods.ToDictionary(m => m.Key, _ => new long[length]);
            var seconds = methods.ToDictionary(m => m.Key, _ => 0.0);
            for (int stream = 0; stream < s.Streams; stream++)
            {
                int start = (int)((long)stream * (test.Length - length - 1) / Math.Max(1, s.Streams));
                var tokens = test.AsSpan(start, length + 1).ToArray();
                foreach (var m in methods)
                {
                    context.Report(progress + 0.2 * (stream + Array.IndexOf(methods, m) / 4.0) / s.Streams, $"{label}, stream {stream + 1}/{s.Streams}: {m.Name}");
                    var watch = Stopwatch.StartNew();
                    if (m.Key == "recompute") Recompute(model, tokens, t, nll[m.Key], held[m.Key]);
                    else
                    {
                        var cache = m.Key switch
                        {
                            "window" => new CharLmStream(model, 0, t),
                            "sinks" => new CharLmStream(model, s.Sinks, t - s.Sinks),
                            _ => new CharLmStream(model, 0, length),
                        };
                        for (int p = 0; p < length; p++)
                        {
                            var logits = cache.Step(tokens[p]);
                            nll[m.Key][p] += Nll(logits, tokens[p + 1]);
                            held[m.Key][p] = cache.HeldFloats;
                        }
                    }
                    seconds[m.Key] += watch.Elapsed.TotalSeconds;
                }
            }
            progress += 0.2;
            foreach (var m in methods)
                for (int p = 0; p < length; p++) nll[m.Key][p] /= s.Streams;

            // perplexity by position, in bins of T
            var byPosition = new Table($"{label}: held-out perplexity by position in the stream ({s.Streams} streams of 8·T = {length} characters from the test books; " +
                                       $"model trained on windows of T = {t}, {config.Layers} layers, E = {config.Dim}, {config.Heads} heads, {trained.Losses.Length} steps)",
                ["positions", .. methods.Select(m => m.Name)]);
            var binPpl = methods.ToDictionary(m => m.Key, _ => new double[8]);
            for (int bin = 0; bin < 8; bin++)
            {
                var row = new List<object> { $"{bin * t}–{(bin + 1) * t - 1}" };
                foreach (var m in methods)
                {
                    double ppl = Math.Exp(nll[m.Key].Skip(bin * t).Take(t).Average());
                    binPpl[m.Key][bin] = ppl;
                    row.Add(ppl);
                }
                byPosition.AddRow(row.ToArray());
            }
            var afterRow = new List<object> { $"all positions ≥ T" };
            foreach (var m in methods) afterRow.Add(Math.Exp(nll[m.Key].Skip(t).Average()));
            byPosition.AddRow(afterRow.ToArray());
            result.Tables.Add(byPosition);

            var series = new List<Series>();
            int binWidth = Math.Max(1, t / 4);
            foreach (var m in methods)
            {
                var xs = new List<double>(); var ys = new List<double>();
                for (int p0 = 0; p0 + binWidth <= length; p0 += binWidth)
                {
                    xs.Add(p0 + binWidth / 2.0);
                    ys.Add(Math.Exp(nll[m.Key].Skip(p0).Take(binWidth).Average()));
                }
                series.Add(new Series(m.Name, xs.ToArray(), ys.ToArray()));
            }
            string pplPath = context.FigurePath($"q20-perplexity-{tag}.png");
            Charts.Lines(pplPath, $"{label}: streaming perplexity, trained on T = {t}", "position in the stream (characters)", "perplexity (bins of T/4)", series);
            result.Figures.Add(new Figure(pplPath, $"{label} model: perplexity over the stream, averaged over {s.Streams} held-out streams; the first eviction happens at position T = {t}."));

            foreach (var m in methods)
            {
                long a = held[m.Key][t - 1], b = held[m.Key][length - 1];
                double ms = 1000 * seconds[m.Key] / (s.Streams * (double)length);
                memory.AddRow(label, m.Name, Bytes(a * 4), Bytes(b * 4), b > a ? "yes" : "no", ms);
                result.Metrics[$"ms_per_token_{tag}_{m.Key}"] = ms;
                result.Metrics[$"ppl_after_T_{tag}_{m.Key}"] = Math.Exp(nll[m.Key].Skip(t).Average());
                result.Metrics[$"ppl_last_bin_{tag}_{m.Key}"] = binPpl[m.Key][7];
                finite &= binPpl[m.Key].All(double.IsFinite);
            }
            result.Metrics[$"ppl_first_T_{tag}"] = Math.Exp(nll["recompute"].Take(t).Average());
            result.Metrics[$"train_steps_{tag}"] = trained.Losses.Length;

            context.Report(progress, $"{label}: attention on the first key");
            double maxRatio = FirstKeyAttention(model, test, t, context.Seed, label, sinkTable);
            result.Metrics[$"first_key_weight_max_head_{tag}"] = maxRatio;

            for (int p = 0; p < t; p++)
                if (Math.Abs(nll["window"][p] - nll["full_cache"][p]) > 1e-4 || Math.Abs(nll["window"][p] - nll["recompute"][p]) > 1e-4) identicalBeforeEviction = false;
            constant &= held["window"][length - 1] == held["window"][t - 1] && held["sinks"][length - 1] == held["sinks"][t - 1]
                        && held["full_cache"][length - 1] == held["full_cache"][t - 1] * 8;
            result.Notes.Add($"{label} model: CharLm of answers 44/45, {trained.Losses.Length} AdamW steps (step budget), trained in {trained.Seconds:0.#} s.");
        }
        result.Tables.Add(memory);
        result.Tables.Add(sinkTable);

        // (b) the kernel
        context.Report(0.9, "window kernel");
        result.Tables.Add(KernelTable(s, load, result));

        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        result.Check($"Before the first eviction (positions < T = {t}) window, full cache and recompute give the same predictions (within 1e-4 nats), both models", identicalBeforeEviction);
        result.Check("The rolling caches hold a constant number of floats after the window fills; the full cache grows linearly", constant);
        result.Check("Every method's perplexity stays finite over 8·T", finite);
        result.Notes.Add("Positions inside the rolling caches are cache positions (StreamingLLM's rule); with ALiBi only distances matter, NoPE has none. " +
                         "The recomputed window keeps nothing between steps but rebuilds the keys and values of T tokens at every step.");
        result.Notes.Add($"Timings: {Measure.Machine()}; load average {load} at the start, {LoadAverage()} at the end.");
        return result;
    }

    /// <summary>The sliding window with recomputation: the first T predictions from one causal forward over the first T
    /// characters, then each later one from a fresh forward over the T characters that end at it (32 windows a batch).</summary>
    private static void Recompute(CharLm model, int[] tokens, int t, double[] nll, long[] held)
    {
        int length = tokens.Length - 1, v = model.Config.Vocab;
        using var _ = Var.NoGrad();
        var first = model.Forward(tokens[..t], 1, t).Value.ToArray();
        for (int p = 0; p < t; p++)
        {
            nll[p] += Nll(first.AsSpan(p * v, v), tokens[p + 1]);
            held[p] = 0;   // nothing is kept between steps; each step rebuilds min(p + 1, T) tokens' keys and values
        }
        const int batch = 32;
        for (int p0 = t; p0 < length; p0 += batch)
        {
            int nb = Math.Min(batch, length - p0);
            var ids = new int[nb * t];
            for (int b = 0; b < nb; b++) Array.Copy(tokens, p0 + b - t + 1, ids, b * t, t);
            var logits = model.Forward(ids, nb, t).Value.ToArray();
            for (int b = 0; b < nb; b++)
            {
                nll[p0 + b] += Nll(logits.AsSpan(((b + 1) * t - 1) * v, v), tokens[p0 + b + 1]);
                held[p0 + b] = 0;
            }
        }
    }

    private static double Nll(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (float x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (float x in logits) sum += Math.Exp(x - max);
        return Math.Log(sum) + max - logits[target];
    }

    /// <summary>Mean attention weight on key 0 for the queries in the second half of a T-window, per layer and head,
    /// divided by the uniform share 1/(i+1) (ratio 1 = no preference; StreamingLLM's sinks are ratios far above 1).</summary>
    private static double FirstKeyAttention(CharLm model, int[] test, int t, int seed, string label, Table table)
    {
        const int windows = 16;
        using var _ = Var.NoGrad();
        var rng = new Random(seed + 20);
        int layers = model.Config.Layers, heads = model.Config.Heads;
        var ratio = new double[layers, heads];
        for (int w = 0; w < windows; w++)
        {
            int start = rng.Next(test.Length - t);
            var ids = test.AsSpan(start, t).ToArray();
            var x = model.Tokens.Forward(ids, 1, t);
            for (int l = 0; l < layers; l++)
            {
                var block = model.Blocks[l];
                var attention = block.Attention.ForwardWithProbabilities(block.Ln1.Forward(x), causal: true);
                var p = attention.Probabilities.Value.ToArray();                        // (1, H, T, T)
                for (int h = 0; h < heads; h++)
                {
                    double sum = 0;
                    for (int i = t / 2; i < t; i++) sum += p[(h * t + i) * t] * (i + 1);
                    ratio[l, h] += sum / (t - t / 2) / windows;
                }
                x = x + attention.Output;
                x = x + block.Fc2.Forward(block.Fc1.Forward(block.Ln2.Forward(x)).Gelu());
            }
        }
        double max = 0;
        for (int l = 0; l < layers; l++)
        {
            var cells = Enumerable.Range(0, heads).Select(h => Table.FormatNumber(ratio[l, h])).ToArray();
            for (int h = 0; h < heads; h++) max = Math.Max(max, ratio[l, h]);
            table.AddRow(label, l + 1, string.Join(" · ", cells));
        }
        return max;
    }

    private static Table KernelTable(Settings s, string load, ExperimentResult result)
    {
        const int heads = 1, d = 64;
        int w = s.KernelWindow;
        var one = new AttentionOptions { Causal = true, MaxThreads = 1 };
        var windowed = one with { WindowLeft = w - 1 };
        var table = new Table($"The window kernel against dense causal attention, one thread, H = {heads}, D = {d}, W = {w} (best of {s.Repetitions} CPU-time runs; load average {load}; ratios are what to read)",
            "N", "dense causal prefill, ms", $"window W = {w} prefill, ms", "dense / window", "bytes allocated by the window call",
            "decode one token: full cache of N, µs", "decode: rolling cache of W, µs", "KV cache, full (bytes)", "KV cache, rolling (bytes)");
        foreach (int n in s.KernelLengths)
        {
            var shape = new AttentionShape(1, heads, heads, n, n, d);
            var (q, k, v) = Measure.AttentionInputs(shape, new Random(n));
            var o = new float[q.Length];
            FlashAttention.Forward(q, k, v, o, shape, one);
            FlashAttention.Forward(q, k, v, o, shape, windowed);
            double dense = Measure.BestCpuMilliseconds(() => FlashAttention.Forward(q, k, v, o, shape, one), s.Repetitions);
            double win = Measure.BestCpuMilliseconds(() => FlashAttention.Forward(q, k, v, o, shape, windowed), s.Repetitions);
            long allocated = Measure.AllocatedBytes(() => FlashAttention.Forward(q, k, v, o, shape, windowed));

            // one decode step: the newest query against all N keys, and against a rolling cache holding the last W
            var rolling = new RollingKvCache(heads, d, 0, w);
            for (int j = 0; j < n; j++) rolling.Append(k.AsSpan(j * d, d), v.AsSpan(j * d, d));
            var qLast = q.AsSpan((n - 1) * d, d).ToArray();
            var oLast = new float[d];
            var decodeShape = new AttentionShape(1, heads, heads, 1, n, d);
            double full = 1000 * Measure.BestCpuMilliseconds(() => { for (int r = 0; r < 20; r++) DecodeAttention.Forward(qLast, k, v, oLast, decodeShape, one); }, s.Repetitions) / 20;
            double roll = 1000 * Measure.BestCpuMilliseconds(() => { for (int r = 0; r < 20; r++) rolling.Attend(qLast, oLast, heads, new AttentionOptions { MaxThreads = 1 }); }, s.Repetitions) / 20;
            long fullBytes = 2L * n * d * 4, rollingBytes = 4L * (rolling.Keys.Length + rolling.Values.Length);
            table.AddRow(n, dense, win, dense / win, allocated, full, roll, fullBytes, rollingBytes);
            if (n == s.KernelLengths[^1])
            {
                result.Metrics["kernel_dense_over_window_largest_n"] = dense / win;
                result.Metrics["decode_full_over_rolling_largest_n"] = full / roll;
            }
        }
        return table;
    }

    private static string Bytes(long b) => b switch
    {
        0 => "0",
        < 1 << 20 => $"{b / 1024.0:0.#} KiB",
        _ => $"{b / (1024.0 * 1024):0.##} MiB",
    };

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }
}
