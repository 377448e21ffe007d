using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 19: sparse attention patterns (Sparse Transformer strided and fixed, Child et al., 2019; Longformer, Beltagy et al.,
/// 2020; BigBird, Zaheer et al., 2020) at block granularity, run by <see cref="BlockSparseAttention"/>. For each layout the
/// experiment measures (a) time against density beside dense <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>
/// in one process, (b) one-layer retrieval of a key planted far away — a constructed test, not a trained model: each query is
/// a multiple of its target's key, so attention finds the target whenever the layout lets it look, and (c) how many layers
/// (hops) the pattern needs to connect any two tokens, by breadth-first search over the block graph.
/// Page: docs/answers/19-sparse-patterns.md
/// </summary>
public sealed class Q19_SparsePatterns : Experiment
{
    public override int Question => 19;
    public override string Title => "Sparse attention patterns and their benefits";

    /// <summary>The sizes of one run.</summary>
    /// <param name="Lengths">Sequence lengths N timed (L = S = N, non-causal).</param>
    /// <param name="Heads">Heads H (B = 1).</param>
    /// <param name="HeadDim">D.</param>
    /// <param name="BlockSize">Tokens per layout block.</param>
    /// <param name="Repetitions">Timed calls per case (best kept), after a warm-up.</param>
    public sealed record Settings(int[] Lengths, int Heads, int HeadDim, int BlockSize, int Repetitions);

    /// <summary>Quick: N = 1024 and 2048. Full: N = 4096 and 8192 (the published numbers).</summary>
    public static Settings For(bool full) => full
        ? new Settings([4096, 8192], Heads: 2, HeadDim: 64, BlockSize: 64, Repetitions: 5)
        : new Settings([1024, 2048], Heads: 2, HeadDim: 64, BlockSize: 64, Repetitions: 3);

    /// <summary>The layouts compared at length n (non-causal, so that every pattern is measured the same way; the Sparse
    /// Transformer's are causal in the paper). Stride and chunk ≈ √(blocks), as the Sparse Transformer sets them (a power of two).</summary>
    public static IReadOnlyList<(string Name, BlockSparseLayout Layout)> Layouts(int n, int blockSize, int seed)
    {
        // a power of two near √blocks, so that chunks tile the sequence exactly (a partial last chunk of the fixed pattern
        // has no summary column, and its keys could never reach the rest)
        int blocks = (n + blockSize - 1) / blockSize, root = 1 << Math.Max(1, (int)Math.Round(Math.Log2(Math.Sqrt(blocks))));
        return
        [
            ("dense", BlockSparseLayout.Dense(blockSize, n, n)),
            ("local band (±2 blocks)", BlockSparseLayout.Longformer(blockSize, n, n, windowBlocks: 2, globalBlocks: [])),
            ($"strided (stride {root})", BlockSparseLayout.Strided(blockSize, n, n, stride: root, causal: false)),
            ($"fixed (chunk {root}, 1 summary)", BlockSparseLayout.Fixed(blockSize, n, n, chunkBlocks: root, summaryBlocks: 1, causal: false)),
            ("Longformer (±2 + global block 0)", BlockSparseLayout.Longformer(blockSize, n, n, windowBlocks: 2, globalBlocks: [0])),
            ("BigBird (±1, 1 global, 3 random)", BlockSparseLayout.BigBird(blockSize, n, n, windowBlocks: 1, globalBlocks: 1, randomBlocks: 3, seed: seed)),
        ];
    }

    /// <summary>
    /// Layers needed for information to go from key block a to query block b: the shortest path a → … → b where an edge
    /// x → y exists when query block y attends key block x (a layer's output at block y becomes a key of the next layer).
    /// Entry [a, b]; −1 when b is never reached. Layout head 0; square layouts only.
    /// </summary>
    public static int[,] Hops(BlockSparseLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (layout.QueryBlocks != layout.KeyBlocks)
            throw new ArgumentException($"expected a square layout, got {layout.QueryBlocks}×{layout.KeyBlocks} blocks", nameof(layout));
        int n = layout.QueryBlocks;
        var hops = new int[n, n];
        var queue = new Queue<int>();
        for (int a = 0; a < n; a++)
        {
            for (int b = 0; b < n; b++) hops[a, b] = -1;
            queue.Clear();
            // one layer reaches every query block that reads a
            for (int y = 0; y < n; y++)
                if (layout[0, y, a]) { hops[a, y] = 1; queue.Enqueue(y); }
            while (queue.Count > 0)
            {
                int x = queue.Dequeue();
                for (int y = 0; y < n; y++)
                    if (hops[a, y] < 0 && layout[0, y, x]) { hops[a, y] = hops[a, x] + 1; queue.Enqueue(y); }
            }
        }
        return hops;
    }

    /// <summary>
    /// The constructed retrieval test: every query i gets a target key t(i) at distance ≥ n/4, and q_i = c·k_t(i) with c = 3
    /// (keys and values N(0, 1), D = 64), so its score against the target is about 3·√D = 24 against N(0, 3²) for the others.
    /// Retrieval succeeds when ‖o_i − v_t(i)‖ &lt; ½‖v_t(i)‖, i.e. most of the weight landed on the target. Returns the
    /// share of queries that succeed and the share the layout predicts (the target's block attended).
    /// </summary>
    public static (double Observed, double Predicted, int Agree, int Queries) Retrieval(BlockSparseLayout layout, int n, int headDim, int seed)
    {
        var shape = new AttentionShape(1, 1, 1, n, n, headDim);
        var random = new Random(seed);
        var q = new float[n * headDim];
        var k = new float[n * headDim];
        var v = new float[n * headDim];
        Measure.FillNormal(k, random);
        Measure.FillNormal(v, random);
        var target = new int[n];
        for (int i = 0; i < n; i++)
        {
            int t;
            do t = random.Next(n); while (Math.Abs(t - i) < n / 4);
            target[i] = t;
            for (int d = 0; d < headDim; d++) q[i * headDim + d] = 3f * k[t * headDim + d];
        }
        var o = new float[q.Length];
        BlockSparseAttention.Forward(q, k, v, o, shape, layout, new AttentionOptions());
        int observed = 0, predicted = 0, agree = 0;
        for (int i = 0; i < n; i++)
        {
            int t = target[i];
            double err = 0, norm = 0;
            for (int d = 0; d < headDim; d++)
            {
                double e = o[i * headDim + d] - v[t * headDim + d];
                err += e * e;
                norm += (double)v[t * headDim + d] * v[t * headDim + d];
            }
            bool ok = Math.Sqrt(err) < 0.5 * Math.Sqrt(norm);
            bool visible = layout[0, i / layout.BlockSize, t / layout.BlockSize];
            if (ok) observed++;
            if (visible) predicted++;
            if (ok == visible) agree++;
        }
        return (observed / (double)n, predicted / (double)n, agree, n);
    }

    public override ExperimentResult Run(ExperimentContext context)
    {
        var s = For(context.Full);
        var result = new ExperimentResult { Question = Question };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string load = LoadAverage();
        var one = new AttentionOptions { MaxThreads = 1 };

        // (a) time against density, every layout beside dense FlashAttention in this one process
        var timing = new Table($"Time against density, B = 1, H = {s.Heads}, D = {s.HeadDim}, blocks of {s.BlockSize}, non-causal, one thread " +
                               $"(best of {s.Repetitions} CPU-time runs; load average {load} at the start — a loaded machine, read the ratios)",
            "N", "pattern", "density (share of blocks)", "ms", "time / dense FlashAttention", "time ratio ÷ density");
        var series = new List<Series>();
        int step = 0, steps = s.Lengths.Length * 7 + 2;
        foreach (int n in s.Lengths)
        {
            var shape = new AttentionShape(1, s.Heads, s.Heads, n, n, s.HeadDim);
            var (q, k, v) = Measure.AttentionInputs(shape, new Random(context.Seed + n));
            var o = new float[q.Length];
            context.Report(step++ / (double)steps, $"N = {n}: dense");
            double dense = Time(() => FlashAttention.Forward(q, k, v, o, shape, one), s.Repetitions);
            timing.AddRow(n, "FlashAttention.Forward (dense kernel)", 1.0, dense, 1.0, 1.0);
            var xs = new List<double>(); var ys = new List<double>();
            foreach (var (name, layout) in Layouts(n, s.BlockSize, context.Seed))
            {
                context.Report(step++ / (double)steps, $"N = {n}: {name}");
                double ms = Time(() => BlockSparseAttention.Forward(q, k, v, o, shape, layout, one), s.Repetitions);
                double ratio = ms / dense;
                timing.AddRow(n, name, layout.Density, ms, ratio, ratio / layout.Density);
                xs.Add(layout.Density); ys.Add(ratio);
                string key = Key(name);
                if (n == s.Lengths[^1]) result.Metrics[$"time_ratio_{key}_n{n}"] = ratio;
                if (n == s.Lengths[^1]) result.Metrics[$"density_{key}_n{n}"] = layout.Density;
            }
            series.Add(new Series($"N = {n}", xs.ToArray(), ys.ToArray()));
        }
        result.Tables.Add(timing);
        var diagonal = new Series("time = density", [0.01, 1], [0.01, 1]);
        string timePath = context.FigurePath("q19-time-vs-density.png");
        Charts.Scatter(timePath, "Block-sparse time against density (one thread)", "density (share of blocks computed)", "time / dense FlashAttention",
                       [.. series, diagonal], logX: true, logY: true);
        result.Figures.Add(new Figure(timePath, $"Each point is one layout; time is relative to dense FlashAttention in the same run (load average {load}). " +
                                                "Points on the diagonal would mean time exactly proportional to the blocks computed."));

        // (b) retrieval of a far key, and (c) hops, at the largest N
        int nMax = s.Lengths[^1];
        context.Report(step++ / (double)steps, "retrieval and hops");
        var reach = new Table($"N = {nMax} (blocks of {s.BlockSize}): one-layer retrieval of a key planted ≥ N/4 away (constructed test, all {nMax} queries), and layers needed to connect any two tokens (BFS over the block graph)",
            "pattern", "density", "retrieved in one layer", "layout predicts", "max hops (diameter)", "mean hops", "pairs within 1 layer", "within 2 layers", "within 3 layers");
        bool allAgree = true, denseRetrieves = false, localFails = false;
        int globalDiameter = 0, localDiameter = 0, stridedDiameter = 0;
        var layouts = Layouts(nMax, s.BlockSize, context.Seed);
        foreach (var (name, layout) in layouts)
        {
            var (observed, predicted, agree, queries) = Retrieval(layout, nMax, s.HeadDim, context.Seed + 7);
            allAgree &= agree == queries;
            var hops = Hops(layout);
            int nb = layout.QueryBlocks, diameter = 0, unreachable = 0;
            double sum = 0; int pairs = 0;
            var within = new int[4];
            for (int a = 0; a < nb; a++)
                for (int b = 0; b < nb; b++)
                {
                    int h = hops[a, b];
                    if (h < 0) { unreachable++; continue; }
                    diameter = Math.Max(diameter, h);
                    sum += h; pairs++;
                    for (int l = 1; l <= 3; l++) if (h <= l) within[l]++;
                }
            double total = nb * (double)nb;
            reach.AddRow(name, layout.Density, observed, predicted, unreachable > 0 ? $"∞ ({unreachable} pairs never)" : diameter, sum / Math.Max(1, pairs),
                         within[1] / total, within[2] / total, within[3] / total);
            string key = Key(name);
            result.Metrics[$"retrieval_{key}"] = observed;
            result.Metrics[$"diameter_{key}"] = unreachable > 0 ? -1 : diameter;
            if (name == "dense") denseRetrieves = observed == 1.0;
            if (key == "local_band") { localFails = observed < 0.01; localDiameter = diameter; }
            if (key == "longformer") globalDiameter = diameter;
            if (key == "strided") stridedDiameter = diameter;
        }
        result.Tables.Add(reach);
        LayoutFigure(context, result, layouts);

        result.Check($"Dense attention retrieves the planted key for all {nMax} queries", denseRetrieves);
        result.Check("For every pattern and query, retrieval succeeds exactly when the layout lets the query's block see the target's block",
            allAgree, "one attention layer cannot reach what its layout hides");
        result.Check("The local band alone retrieves (almost) none of the keys planted ≥ N/4 away", localFails);
        result.Check($"A global block connects any two tokens in at most 2 layers (Longformer diameter {globalDiameter}); the strided pattern too ({stridedDiameter}); the local band needs {localDiameter}",
            globalDiameter <= 2 && stridedDiameter <= 2 && localDiameter > 2 * globalDiameter);
        double sparsest = layouts.Where(l => l.Name != "dense").Min(l => l.Layout.Density);
        result.Check($"The sparsest layout at N = {nMax} is faster than dense FlashAttention", result.Metrics.Where(m => m.Key.StartsWith("time_ratio_", StringComparison.Ordinal) && !m.Key.Contains("dense")).Min(m => m.Value) < 1,
                     $"density {sparsest:0.###}", timing: true);
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        result.Notes.Add($"Timings: {Measure.Machine()}; load average {load} at the start, {LoadAverage()} at the end. Shown, not asserted.");
        result.Notes.Add("Retrieval is a constructed one-layer test (no training): it shows what a pattern can reach, not what a trained model learns to use.");
        return result;
    }

    private static double Time(Action action, int repetitions)
    {
        action();   // warm-up (JIT, scratch)
        return Measure.BestCpuMilliseconds(action, repetitions);
    }

    /// <summary>Metric-name key of a layout name.</summary>
    public static string Key(string name) => name.Split(' ')[0] switch
    {
        "local" => "local_band",
        var first => first.ToLowerInvariant(),
    };

    private static void LayoutFigure(ExperimentContext context, ExperimentResult result, IReadOnlyList<(string Name, BlockSparseLayout Layout)> layouts)
    {
        var shown = layouts.Where(l => l.Name != "dense").ToList();
        int nb = shown[0].Layout.QueryBlocks, gap = 2;
        var heat = new float[nb, shown.Count * (nb + gap) - gap];
        var columns = new List<string>();
        for (int g = 0; g < shown.Count; g++)
        {
            for (int kb = 0; kb < nb; kb++)
            {
                for (int qb = 0; qb < nb; qb++) heat[qb, g * (nb + gap) + kb] = shown[g].Layout[0, qb, kb] ? 1f : 0f;
                columns.Add(kb == 0 ? Key(shown[g].Name) : "");
            }
            if (g + 1 < shown.Count)
                for (int c = 0; c < gap; c++)
                {
                    for (int qb = 0; qb < nb; qb++) heat[qb, g * (nb + gap) + nb + c] = float.NaN;
                    columns.Add("");
                }
        }
        string path = context.FigurePath("q19-layouts.png");
        Charts.Heatmap(path, heat, "Block layouts (1 = computed), left to right: " + string.Join(", ", shown.Select(l => Key(l.Name))),
                       Enumerable.Range(0, nb).Select(i => i % 8 == 0 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : "").ToList(), columns,
                       "key block", "query block");
        result.Figures.Add(new Figure(path, $"The five sparse layouts at {nb} blocks per side: local band, strided (local + every stride-th block), fixed (own chunk + summary columns), Longformer (band + a global row and column), BigBird (band + global + random)."));
    }

    private static string LoadAverage()
    {
        try { return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a"; }
        catch (IOException) { return "n/a"; }
    }
}
