using System.Globalization;
using System.Text;

namespace Attention.Book;

/// <summary>
/// Renders a run as the Markdown that goes between a page's experiment markers: metrics as a small table,
/// each <see cref="Table"/> under its title, figures as images with captions, checks as ✓/✗ lines, notes,
/// and a footer naming the setting, seed, machine and run time.
/// </summary>
public static class ResultMarkdown
{
    /// <summary>More metrics than this are folded into a &lt;details&gt; element.</summary>
    public const int FoldMetricsAbove = 12;

    /// <summary>
    /// The block for <paramref name="run"/>. <paramref name="figureLink"/> maps each figure to the link written in the
    /// page (relative to the page); by default <see cref="FigureLink"/>.
    /// </summary>
    public static string Render(ExperimentRun run, Func<Figure, string>? figureLink = null, string? machine = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Result is null)
            throw new ArgumentException($"Run of {run.Experiment.GetType().Name} has no result (it failed: {run.Error?.Message}).", nameof(run));
        var result = run.Result;
        int question = run.Experiment.Question;
        figureLink ??= f => FigureLink(question, f);
        var md = new StringBuilder();

        // a few metrics lead the block; a long list (they are the keys outside checks read) folds away at its end
        bool fold = result.Metrics.Count > FoldMetricsAbove;
        if (!fold) AppendMetrics(md, result);

        foreach (var table in result.Tables)
        {
            md.Append("**").Append(Inline(table.Title)).AppendLine("**");
            md.AppendLine();
            md.Append("| ").AppendJoin(" | ", table.Columns.Select(Cell)).AppendLine(" |");
            md.Append('|').AppendJoin("", table.Columns.Select(_ => "---|")).AppendLine();
            foreach (var row in table.Rows)
                md.Append("| ").AppendJoin(" | ", row.Select(Cell)).AppendLine(" |");
            md.AppendLine();
        }

        foreach (var figure in result.Figures)
        {
            string link = figureLink(figure).Replace(" ", "%20", StringComparison.Ordinal);
            if (figure.IsInteractive)
            {
                // an HTML figure is opened, not shown inline: a link the site copies beside the page
                md.Append("[▶ ").Append(LinkText(figure.Caption)).Append(" (interactive, opens in the browser)](")
                  .Append(link).AppendLine(")");
                md.AppendLine();
                continue;
            }
            md.Append("![").Append(LinkText(figure.Caption)).Append("](")
              .Append(link).AppendLine(")");
            md.AppendLine();
            md.Append('*').Append(Inline(figure.Caption)).AppendLine("*");
            md.AppendLine();
        }

        foreach (var check in result.Checks)
        {
            md.Append("- ").Append(check.Holds ? "✓ " : "✗ ").Append(Inline(check.Claim));
            if (check.Timing) md.Append(" *(timing)*");
            if (!string.IsNullOrWhiteSpace(check.Detail)) md.Append(" — ").Append(Inline(check.Detail));
            md.AppendLine();
        }
        if (result.Checks.Count > 0) md.AppendLine();

        foreach (var note in result.Notes)
        {
            md.Append("> ").AppendLine(Inline(note));
            md.AppendLine();
        }

        if (fold)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"<details><summary>All {result.Metrics.Count} metrics</summary>").AppendLine();
            AppendMetrics(md, result);
            md.AppendLine("</details>").AppendLine();
        }

        md.Append("<sub>").Append(Footer(run, machine)).AppendLine("</sub>");
        return md.ToString().TrimEnd() + "\n";
    }

    private static void AppendMetrics(StringBuilder md, ExperimentResult result)
    {
        if (result.Metrics.Count == 0) return;
        md.AppendLine("| metric | value |");
        md.AppendLine("|---|---:|");
        foreach (var (name, value) in result.Metrics)
            md.Append("| `").Append(Cell(name)).Append("` | ").Append(Cell(Table.FormatNumber(value))).AppendLine(" |");
        md.AppendLine();
    }

    /// <summary>"Setting quick · seed 1234 · AMD EPYC 9R14, 2 cores · 3.2 s · `attn show 14`".</summary>
    public static string Footer(ExperimentRun run, string? machine = null)
        => $"Setting {run.Setting} · seed {run.Seed} · {machine ?? MachineInfo.Describe()} · " +
           $"{FormatSeconds(run.Elapsed)} · reproduce with <code>attn show {run.Experiment.Question}{(run.Full ? " --full" : "")}</code>";

    /// <summary>The link a page uses for a figure: figures/qNN/file.png, relative to docs/answers/.</summary>
    public static string FigureLink(int question, Figure figure) => $"figures/q{question:00}/{Path.GetFileName(figure.Path)}";

    public static string FormatSeconds(TimeSpan t)
        => t.TotalSeconds < 10 ? t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s"
                               : t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    // A table cell: one line, pipes escaped.
    private static string Cell(string text) => Inline(text).Replace("|", "\\|", StringComparison.Ordinal);

    private static string Inline(string text) => text.ReplaceLineEndings(" ").Trim();

    /// <summary>
    /// A caption inside [ ]: both brackets escaped. Escaping only ']' leaves an unmatched '[' (as in "[CLS]"), which
    /// CommonMark then takes as the start of a link, so the image becomes a plain link and "![…" shows as text.
    /// </summary>
    private static string LinkText(string caption) =>
        Inline(caption).Replace("[", "\\[", StringComparison.Ordinal).Replace("]", "\\]", StringComparison.Ordinal);
}
