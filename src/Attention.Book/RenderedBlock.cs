namespace Attention.Book;

/// <summary>
/// A run rendered for a page: the Markdown for its experiment block and the figure files it links,
/// each as (file written by the experiment, link relative to docs/answers/).
/// </summary>
public sealed record RenderedBlock(int Question, string Markdown, IReadOnlyList<(string Source, string Link)> Figures)
{
    /// <summary>Renders <paramref name="run"/> with figures linked as figures/qNN/name.png.</summary>
    public static RenderedBlock From(ExperimentRun run, string? machine = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var markdown = ResultMarkdown.Render(run, machine: machine);
        int q = run.Experiment.Question;
        var figures = run.Result!.Figures.Select(f => (f.Path, ResultMarkdown.FigureLink(q, f))).ToList();
        return new RenderedBlock(q, markdown, figures);
    }

    /// <summary>
    /// Writes the block into <paramref name="pagePath"/> (in place, only between the markers) and copies the figures
    /// next to it under figures/qNN/, replacing what an earlier run left there.
    /// </summary>
    public void WriteInto(string pagePath)
    {
        var text = File.ReadAllText(pagePath);
        var updated = PageBlock.Replace(text, Question, Markdown);
        var pageDir = Path.GetDirectoryName(Path.GetFullPath(pagePath))!;
        var figureDir = Path.Combine(pageDir, "figures", $"q{Question:00}");
        if (Directory.Exists(figureDir)) Directory.Delete(figureDir, recursive: true);
        CopyFigures(pageDir);
        if (updated != text) File.WriteAllText(pagePath, updated);
    }

    /// <summary>Copies the figures under <paramref name="pageDirectory"/> at their links; missing sources are skipped.</summary>
    public void CopyFigures(string pageDirectory)
    {
        foreach (var (source, link) in Figures)
        {
            if (!File.Exists(source)) continue;
            var target = Path.Combine(pageDirectory, link.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
        }
    }
}
