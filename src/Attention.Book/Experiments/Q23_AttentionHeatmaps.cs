using System.Diagnostics;
using Attention.Interpret;
using Attention.Models;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 23: attention heatmaps and how to make them, on all-MiniLM-L6-v2. (a) One head drawn with token labels
/// on both axes (rows = queries, columns = keys); (b) the same sentence inside a padded batch, to show the padding
/// rows and columns a heatmap must crop; (c) a sink-dominated head, raw and with [CLS]/[SEP] removed and rows
/// renormalised, to show what the colour scale hides; (d) the 6 × 12 head grid on one shared scale; (e) the same heads as
/// an interactive head view (HTML).
/// Page: docs/answers/23-attention-heatmaps.md
/// </summary>
public sealed class Q23_AttentionHeatmaps : Experiment
{
    public override int Question => 23;
    public override string Title => "Attention heatmaps and how to create them";

    public const string Sentence = "She said, \"I'll be there at 7:30,\" and she was.";
    public const string LongerSentence = "The committee, after much debate and two long evenings of argument, finally approved the budget for next year and the year after.";

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var model = BertModel.LoadMiniLm();
        var c = model.Config;

        // the sentence alone: all heads, and the statistics to pick heads by behaviour
        string sentence = string.IsNullOrWhiteSpace(context.Input) ? Sentence : context.Input;        // attn show 23 --input "your sentence"
        var alone = ModelProbe.Attend(model, [sentence])[0];
        var stats = ModelProbe.Statistics([alone], c.Layers, c.Heads).All();
        var prevHead = stats.MaxBy(h => h.ToPrevious)!;
        var sinkHead = stats.MaxBy(h => h.ToCls)!;
        var tokens = alone.Tokens;
        int n = alone.Length;

        // (a) one head with token labels
        var head = alone.Head(prevHead.Layer, prevHead.Head);
        var headPath = context.FigurePath("q23-one-head.png");
        Charts.Heatmap(headPath, head, $"Layer {prevHead.Layer}, head {prevHead.Head}: each row is a query's distribution over the keys", tokens, tokens, "key (attended to)", "query (attending)");
        result.Figures.Add(new Figure(headPath, $"One head (L{prevHead.Layer} H{prevHead.Head}) with token labels: row i is token i's weights over all tokens; this head looks at the previous token.")
            { Heatmap = head, RowLabels = tokens, ColumnLabels = tokens });

        // (b) the same sentence padded inside a batch with a longer one
        context.Report(0.3, "padded batch");
        var batch = model.Tokenize([sentence, sentence + " " + LongerSentence]);
        var output = model.Forward(batch, new BertRunOptions { RecordAttention = true });
        int t = batch.Length, pads = t - n;
        var p = output.Attention![prevHead.Layer].AsSpan();                                // (2, H, T, T), row 0 = our sentence
        var padded = new float[t, t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) padded[i, j] = p[(prevHead.Head * t + i) * t + j];
        var paddedTokens = batch.Tokens[0].Take(n).Concat(Enumerable.Repeat("[PAD]", pads)).ToArray();
        double padColumnMax = 0, blockDiff = 0, padRowMass = 0;
        for (int i = 0; i < t; i++)
            for (int j = n; j < t; j++) padColumnMax = Math.Max(padColumnMax, padded[i, j]);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) blockDiff = Math.Max(blockDiff, Math.Abs(padded[i, j] - head[i, j]));
        for (int i = n; i < t; i++)
            for (int j = 0; j < n; j++) padRowMass += padded[i, j] / pads;
        var paddedPath = context.FigurePath("q23-padded.png");
        Charts.Heatmap(paddedPath, padded, $"The same head in a padded batch ({n} real tokens + {pads} [PAD])", paddedTokens, paddedTokens, "key", "query");
        result.Figures.Add(new Figure(paddedPath, "Padded: the [PAD] columns are exactly 0 (masked keys), but the [PAD] rows are full rows of weights — padded queries still attend to real keys. Crop both before drawing.")
            { Heatmap = padded, RowLabels = paddedTokens, ColumnLabels = paddedTokens });

        // (c) a sink head, raw and with the special tokens removed
        var sink = alone.Head(sinkHead.Layer, sinkHead.Head);
        var inner = new float[n - 2, n - 2];
        double innerMax = 0;
        for (int i = 1; i < n - 1; i++)
        {
            double sum = 0;
            for (int j = 1; j < n - 1; j++) sum += sink[i, j];
            for (int j = 1; j < n - 1; j++) innerMax = Math.Max(innerMax, inner[i - 1, j - 1] = (float)(sink[i, j] / sum));
        }
        double sinkMax = 0, sinkInnerRaw = 0;
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++) sinkInnerRaw = Math.Max(sinkInnerRaw, sink[i, j]);
        for (int i = 0; i < n; i++) sinkMax = Math.Max(sinkMax, sink[i, 0]);
        var sinkPath = context.FigurePath("q23-sink-raw.png");
        Charts.Heatmap(sinkPath, sink, $"Layer {sinkHead.Layer}, head {sinkHead.Head}, raw: almost everything goes to [CLS]", tokens, tokens, "key", "query");
        result.Figures.Add(new Figure(sinkPath, $"A sink head (L{sinkHead.Layer} H{sinkHead.Head}): the [CLS] column takes the colour scale; the rest looks empty."));
        var innerTokens = tokens[1..^1];
        var innerPath = context.FigurePath("q23-sink-renormalised.png");
        Charts.Heatmap(innerPath, inner, $"Same head, [CLS] and [SEP] removed, rows renormalised", innerTokens, innerTokens, "key", "query");
        result.Figures.Add(new Figure(innerPath, "The same head with the special tokens dropped and each row rescaled to sum to 1: the pattern under the sink appears. Say so in the caption when you do this."));

        // (d) the grid
        context.Report(0.6, "head grid");
        var gridPath = context.FigurePath("q23-head-grid.png");
        HeadGrid.Write(gridPath, Enumerable.Range(0, c.Layers).Select(l => (IReadOnlyList<float[,]>)Enumerable.Range(0, c.Heads).Select(h => alone.Head(l, h)).ToList()).ToList(),
                       tokens, $"all-MiniLM-L6-v2 on \"{sentence}\" (one colour scale, 0 to 1)");
        result.Figures.Add(new Figure(gridPath, "The head grid: 6 layers × 12 heads on one colour scale, tokens on the left column and bottom row (attn viz --out DIR writes it)."));

        // (e) the same heads as an interactive view: one head at a time as lines, hover or click a query
        var viewPath = context.FigurePath("q23-head-view.html");
        HeadView.Write(viewPath, tokens, Enumerable.Range(0, c.Layers).Select(l => (IReadOnlyList<float[,]>)Enumerable.Range(0, c.Heads).Select(h => alone.Head(l, h)).ToList()).ToList(),
                       $"all-MiniLM-L6-v2 on \"{sentence}\": pick a layer and heads, hover or click a query token");
        result.Figures.Add(new Figure(viewPath, $"The same 72 heads as lines (attn viz TEXT --html FILE writes one): try layer {prevHead.Layer} with only head {prevHead.Head} on, then layer {sinkHead.Layer} head {sinkHead.Head}"));

        var table = new Table("What the figures show, measured", "quantity", "value");
        table.AddRow("real tokens / padded length", $"{n} / {t}");
        table.AddRow("largest weight on a [PAD] key (any query)", padColumnMax);
        table.AddRow("largest |difference|, real block padded vs alone", blockDiff);
        table.AddRow("mean weight a [PAD] query puts on real keys (its row sum)", padRowMass);
        table.AddRow($"sink head L{sinkHead.Layer} H{sinkHead.Head}: largest weight on [CLS]", sinkMax);
        table.AddRow("sink head: largest weight between word tokens, raw", sinkInnerRaw);
        table.AddRow("sink head: largest weight between word tokens, renormalised", innerMax);
        result.Tables.Add(table);

        result.Metrics["tokens"] = n;
        result.Metrics["padded_length"] = t;
        result.Metrics["max_weight_on_pad_keys"] = padColumnMax;
        result.Metrics["padded_vs_alone_max_abs_diff"] = blockDiff;
        result.Metrics["pad_query_row_mass"] = padRowMass;
        result.Metrics["sink_head_max_cls_weight"] = sinkMax;
        result.Metrics["sink_head_max_inner_weight_raw"] = sinkInnerRaw;
        result.Metrics["sink_head_max_inner_weight_renormalised"] = innerMax;
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;

        result.Check("padding keys get exactly zero weight from every query", padColumnMax == 0, $"largest {padColumnMax}");
        result.Check("the real block of the padded heatmap equals the unpadded one within 1e-5", blockDiff < 1e-5, $"{blockDiff:e1}");
        result.Check("padding queries are not empty: each [PAD] row still sums to 1 over the real keys (what to crop)", Math.Abs(padRowMass - 1) < 1e-4, $"{padRowMass:0.######}");
        result.Check("the sink head puts more than half of some row's weight on [CLS]", sinkMax > 0.5, $"{sinkMax:0.###}");
        result.Check("renormalising without the special tokens raises the largest word-to-word weight at least threefold",
            innerMax > 3 * sinkInnerRaw, $"{sinkInnerRaw:0.###} → {innerMax:0.###}");
        result.Check($"the head drawn in (a) is a previous-token head: mean weight on the token before > 0.5", prevHead.ToPrevious > 0.5, $"{prevHead.ToPrevious:0.###}");
        result.Notes.Add($"all-MiniLM-L6-v2 run by BertModel with RecordAttention; figures by Attention.Plots (Charts.Heatmap, HeadGrid). Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }
}
