using System.CommandLine;
using System.Globalization;
using Attention.Models;
using Attention.Plots;
using Spectre.Console;

namespace Attention.Cli;

/// <summary>
/// <c>attn viz "text" [--layer L --head H] [--out DIR] [--html FILE]</c>: the attention of all-MiniLM-L6-v2 on one sentence.
/// With <c>--out</c>: a PNG heatmap per head (token labels on both axes, rows = queries, columns = keys) and the
/// 6 × 12 head grid <c>heads.png</c>; <c>--layer</c>/<c>--head</c> narrow the per-head PNGs. Without it: a terminal
/// heatmap of one head, or of a layer's head average when no head is named (the last layer by default). With
/// <c>--html FILE</c>: an interactive head view (<see cref="HeadView"/>), every layer and head, in one offline HTML file.
/// </summary>
internal static class VizCommand
{
    public static Command Create(TextWriter stdout)
    {
        var text = new Argument<string>("TEXT") { Description = "The sentence to look at" };
        var layer = new Option<int?>("--layer") { Description = "Layer, 0-based (0..5)" };
        var head = new Option<int?>("--head") { Description = "Head, 0-based (0..11)" };
        var outDir = new Option<string?>("--out") { Description = "Folder for the PNG heatmaps and the head grid (default: draw in the terminal)" };
        var html = new Option<string?>("--html") { Description = "Write an interactive head view (one self-contained HTML file, no network) to FILE" };
        var viz = new Command("viz", "Draw all-MiniLM-L6-v2's attention heads on a sentence") { text, layer, head, outDir, html };
        viz.SetAction(parse => Run(parse.GetValue(text)!, parse.GetValue(layer), parse.GetValue(head), parse.GetValue(outDir), parse.GetValue(html), stdout));
        return viz;
    }

    private static int Run(string text, int? layer, int? head, string? outDir, string? html, TextWriter stdout)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new AttnApp.UsageException("viz expects a non-empty sentence");
        var model = BertModel.LoadMiniLm();
        var c = model.Config;
        if (layer is { } l0 && (l0 < 0 || l0 >= c.Layers)) throw new AttnApp.UsageException($"--layer expects 0..{c.Layers - 1}; got {l0}");
        if (head is { } h0 && (h0 < 0 || h0 >= c.Heads)) throw new AttnApp.UsageException($"--head expects 0..{c.Heads - 1}; got {h0}");

        var batch = model.Tokenize([text]);
        var tokens = batch.Tokens[0];
        var output = model.Forward(batch, new BertRunOptions { RecordAttention = true });
        int t = batch.Length;
        float[,] Head(int l, int h)
        {
            var p = output.Attention![l].AsSpan();              // (1, H, T, T)
            var m = new float[t, t];
            for (int i = 0; i < t; i++)
                for (int j = 0; j < t; j++) m[i, j] = p[(h * t + i) * t + j];
            return m;
        }

        if (html is not null)
        {
            if (string.IsNullOrWhiteSpace(html)) throw new AttnApp.UsageException("--html expects a file name");
            var views = Enumerable.Range(0, c.Layers).Select(l => (IReadOnlyList<float[,]>)Enumerable.Range(0, c.Heads).Select(h => Head(l, h)).ToList()).ToList();
            HeadView.Write(html, tokens, views, $"all-MiniLM-L6-v2 on \"{Shorten(text, 80)}\": {c.Layers} layers × {c.Heads} heads");
            stdout.WriteLine($"wrote {Path.GetFullPath(html)} (open it in a browser: hover a token, pick a layer and heads)");
            if (outDir is null) return AttnApp.Ok;
        }

        if (outDir is null)
        {
            int l = layer ?? c.Layers - 1;
            float[,] shown;
            string title;
            if (head is { } h) { shown = Head(l, h); title = $"layer {l}, head {h}: rows are queries, columns keys"; }
            else
            {
                shown = new float[t, t];
                for (int k = 0; k < c.Heads; k++)
                {
                    var m = Head(l, k);
                    for (int i = 0; i < t; i++)
                        for (int j = 0; j < t; j++) shown[i, j] += m[i, j] / c.Heads;
                }
                title = $"layer {l}, mean of {c.Heads} heads: rows are queries, columns keys (--head H for one head, --out DIR for PNGs)";
            }
            Consoles.For(stdout).Write(TerminalHeatmap.Render(shown, tokens, tokens, title));
            return AttnApp.Ok;
        }

        Directory.CreateDirectory(outDir);
        var layers = layer is { } only ? new[] { only } : Enumerable.Range(0, c.Layers).ToArray();
        var heads = head is { } oneHead ? new[] { oneHead } : Enumerable.Range(0, c.Heads).ToArray();
        int written = 0;
        foreach (var l in layers)
            foreach (var h in heads)
            {
                var path = Path.Combine(outDir, string.Create(CultureInfo.InvariantCulture, $"layer{l}-head{h:00}.png"));
                Charts.Heatmap(path, Head(l, h), $"all-MiniLM-L6-v2, layer {l}, head {h}", tokens, tokens, xLabel: "key", yLabel: "query");
                written++;
            }
        var grid = Path.Combine(outDir, "heads.png");
        var all = Enumerable.Range(0, c.Layers).Select(l => (IReadOnlyList<float[,]>)Enumerable.Range(0, c.Heads).Select(h => Head(l, h)).ToList()).ToList();
        HeadGrid.Write(grid, all, tokens, $"all-MiniLM-L6-v2: {c.Layers} layers × {c.Heads} heads on \"{Shorten(text, 60)}\" (colour 0–1, rows = queries)");
        stdout.WriteLine($"wrote {written} head heatmap(s) and {grid}");
        return AttnApp.Ok;
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
