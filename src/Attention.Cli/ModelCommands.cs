using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Attention.Models;
using Attention.Plots;
using Spectre.Console;

namespace Attention.Cli;

/// <summary>
/// The model verbs on the bundled all-MiniLM-L6-v2:
/// <c>attn embed [--json] TEXT…</c> — sentence embeddings (JSON: {"model", "dimension", "embeddings"}; otherwise a
/// cosine-similarity table); <c>attn heads [--json] [--layer L --head H] TEXT</c> — the 6 × 12 heads' attention
/// (JSON: {"tokens", "attention": [layer][head][i][j]}; otherwise a head summary grid, and a heatmap of one head).
/// </summary>
internal static class ModelCommands
{
    public static Command Embed(TextWriter stdout)
    {
        var texts = new Argument<string[]>("TEXT") { Description = "One or more sentences", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print {\"model\", \"dimension\", \"embeddings\"} as JSON, nothing else" };
        var command = new Command("embed", "Sentence embeddings from all-MiniLM-L6-v2 (mean-pooled, L2-normalised)") { texts, json };
        command.SetAction(parse => RunEmbed(parse.GetValue(texts)!, parse.GetValue(json), stdout));
        return command;
    }

    public static Command Heads(TextWriter stdout)
    {
        var text = new Argument<string>("TEXT") { Description = "The sentence whose attention to show" };
        var json = new Option<bool>("--json") { Description = "Print {\"tokens\", \"attention\": [layer][head][i][j]} as JSON, nothing else" };
        var layer = new Option<int?>("--layer") { Description = "Layer 0..5 of the head to draw as a heatmap (with --head); 0-based like the JSON, attn viz and the pages" };
        var head = new Option<int?>("--head") { Description = "Head 0..11 to draw as a heatmap (with --layer); 0-based" };
        var command = new Command("heads", "The attention of all-MiniLM-L6-v2's 72 heads on one sentence") { text, json, layer, head };
        command.SetAction(parse => RunHeads(parse.GetValue(text)!, parse.GetValue(json), parse.GetValue(layer), parse.GetValue(head), stdout));
        return command;
    }

    private static int RunEmbed(string[] texts, bool json, TextWriter stdout)
    {
        if (texts.Length == 0) throw new ModelUsageException("embed expects at least one TEXT");
        var model = BertModel.LoadMiniLm();
        var embeddings = model.Embed(texts);
        if (json)
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("model", MiniLm.ModelName);
                w.WriteNumber("dimension", model.Config.Hidden);
                w.WriteStartArray("embeddings");
                foreach (var e in embeddings)
                {
                    w.WriteStartArray();
                    foreach (var x in e) w.WriteNumberValue(x);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
            return AttnApp.Ok;
        }
        var console = Consoles.For(stdout);
        console.MarkupLine($"[bold]{MiniLm.ModelName}[/]: {texts.Length} sentence{(texts.Length == 1 ? "" : "s")} → {model.Config.Hidden}-dimensional unit vectors");
        if (texts.Length == 1)
        {
            var head = string.Join(", ", embeddings[0].Take(8).Select(x => x.ToString("F4", CultureInfo.InvariantCulture)));
            console.MarkupLine($"[grey]first 8 of {embeddings[0].Length}:[/] {head}, …");
            return AttnApp.Ok;
        }
        var table = new Spectre.Console.Table().Border(TableBorder.Rounded).Title("[bold]cosine similarity[/]");
        table.AddColumn("#");
        table.AddColumn("sentence");
        for (int j = 0; j < texts.Length; j++) table.AddColumn(new TableColumn((j + 1).ToString(CultureInfo.InvariantCulture)).RightAligned());
        for (int i = 0; i < texts.Length; i++)
        {
            var row = new List<string> { (i + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(Shorten(texts[i], 48)) };
            for (int j = 0; j < texts.Length; j++)
            {
                double c = embeddings[i].Zip(embeddings[j]).Sum(p => (double)p.First * p.Second);
                var s = c.ToString("F3", CultureInfo.InvariantCulture);
                row.Add(i == j ? $"[grey]{s}[/]" : c >= 0.5 ? $"[green]{s}[/]" : s);
            }
            table.AddRow(row.ToArray());
        }
        console.Write(table);
        return AttnApp.Ok;
    }

    private static int RunHeads(string text, bool json, int? layer, int? head, TextWriter stdout)
    {
        var model = BertModel.LoadMiniLm();
        int layers = model.Config.Layers, heads = model.Config.Heads;
        if (layer.HasValue != head.HasValue) throw new ModelUsageException("heads expects --layer and --head together");
        if (layer is { } l0 && (l0 < 0 || l0 >= layers)) throw new ModelUsageException($"heads expects --layer 0..{layers - 1}; got {l0}");
        if (head is { } h0 && (h0 < 0 || h0 >= heads)) throw new ModelUsageException($"heads expects --head 0..{heads - 1}; got {h0}");
        var batch = model.Tokenize([text]);
        var output = model.Forward(batch, new BertRunOptions { RecordAttention = true });
        var tokens = batch.Tokens[0];
        int n = tokens.Length;
        if (json)
        {
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteStartArray("tokens");
                foreach (var t in tokens) w.WriteStringValue(t);
                w.WriteEndArray();
                w.WriteStartArray("attention");
                for (int li = 0; li < layers; li++)
                {
                    var a = output.Attention![li];
                    w.WriteStartArray();
                    for (int hi = 0; hi < heads; hi++)
                    {
                        w.WriteStartArray();
                        for (int i = 0; i < n; i++)
                        {
                            w.WriteStartArray();
                            for (int j = 0; j < n; j++) w.WriteNumberValue(a[0, hi, i, j]);
                            w.WriteEndArray();
                        }
                        w.WriteEndArray();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            stdout.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
            return AttnApp.Ok;
        }

        var console = Consoles.For(stdout);
        console.MarkupLine($"[bold]{MiniLm.ModelName}[/] on {n} tokens: {Markup.Escape(string.Join(" ", tokens))}");
        if (layer is { } lSel && head is { } hSel)
        {
            var a = output.Attention![lSel];
            var m = new float[n, n];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i, j] = a[0, hSel, i, j];
            console.Write(new TerminalHeatmap(m, tokens, tokens, $"layer {lSel}, head {hSel}: rows attend (queries) to columns (keys)"));
            return AttnApp.Ok;
        }
        // each head: the key that gets the most attention averaged over queries, and that average
        var table = new Spectre.Console.Table().Border(TableBorder.Rounded)
            .Title("[bold]most-attended token per head[/] (mean weight over queries)");
        table.AddColumn("layer");
        for (int hi = 0; hi < heads; hi++) table.AddColumn(new TableColumn($"h{hi}").Centered());
        for (int li = 0; li < layers; li++)
        {
            var a = output.Attention![li];
            var row = new List<string> { li.ToString(CultureInfo.InvariantCulture) };
            for (int hi = 0; hi < heads; hi++)
            {
                int best = 0; double bestMean = -1;
                for (int j = 0; j < n; j++)
                {
                    double mean = 0;
                    for (int i = 0; i < n; i++) mean += a[0, hi, i, j];
                    mean /= n;
                    if (mean > bestMean) { bestMean = mean; best = j; }
                }
                row.Add($"{Markup.Escape(Shorten(tokens[best], 7))}\n[grey]{bestMean.ToString("F2", CultureInfo.InvariantCulture)}[/]");
            }
            table.AddRow(row.ToArray());
        }
        console.Write(table);
        console.MarkupLine("[grey]attn heads --layer L --head H \"TEXT\" draws one head as a heatmap; --json prints every weight.[/]");
        return AttnApp.Ok;
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}

/// <summary>A usage error in a model verb (exit code 2).</summary>
internal sealed class ModelUsageException(string message) : Exception(message);
