using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Markdig;
using Markdig.Renderers;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Attention.Book;

/// <summary>What to build the static site from and where.</summary>
public sealed class SiteOptions
{
    /// <summary>The repository root: links from pages into the code (../../src/...) resolve against it.</summary>
    public required string Root { get; init; }

    /// <summary>The Markdown folder mirrored into the site; default Root/docs.</summary>
    public string? DocsDirectory { get; init; }

    /// <summary>Where the site goes (created; a folder an earlier build made is emptied first).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The experiments, for the status column of the contents page.</summary>
    public ExperimentRegistry Registry { get; init; } = ExperimentRegistry.Default;

    /// <summary>Blocks from a run just made, shown in place of what the pages hold (the pages themselves are not changed).</summary>
    public IReadOnlyDictionary<int, RenderedBlock>? FreshBlocks { get; init; }
}

/// <summary>What a site build wrote.</summary>
public sealed record SiteReport(string IndexPath, int PagesWritten, int FilesCopied);

/// <summary>
/// Builds the static HTML site of the book: the docs/ Markdown (Markdig with the advanced extensions and
/// mathematics) mirrored into HTML pages, math typeset in the browser by the vendored KaTeX (never a CDN),
/// links between pages rewritten .md → .html, links into the code rewritten to reach the repository files
/// from the site folder, linked images copied, and a contents page listing all 50 questions with their status.
/// </summary>
public static partial class SiteBuilder
{
    private const string MarkerFile = ".attn-site";

    /// <summary>The Markdig pipeline the site uses.</summary>
    public static MarkdownPipeline Pipeline { get; } = new MarkdownPipelineBuilder().UseAdvancedExtensions().UseMathematics().Build();

    public static SiteReport Build(SiteOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = Path.GetFullPath(options.Root);
        var docs = Path.GetFullPath(options.DocsDirectory ?? RepoPaths.Docs(root));
        var output = Path.GetFullPath(options.OutputDirectory);
        if (PathContains(output, docs) || PathContains(docs, output))
            throw new ArgumentException($"The site folder must be outside the docs folder and must not hold it; got '{output}' for docs '{docs}'.", nameof(options));
        PrepareOutput(output);

        int copied = CopyAssets(Path.Combine(output, "assets"));
        var pages = Pages.Find(Path.Combine(docs, "answers"));
        var statuses = Pages.Status(pages, options.Registry);
        int written = 0;

        var markdownFiles = Directory.Exists(docs)
            ? Directory.EnumerateFiles(docs, "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList()
            : [];
        var answerList = pages.Values.ToList();
        foreach (var file in markdownFiles)
        {
            var rel = Path.GetRelativePath(docs, file);
            var htmlPath = Path.Combine(output, Path.ChangeExtension(rel, ".html"));
            var text = File.ReadAllText(file);
            var page = answerList.FirstOrDefault(p => Path.GetFullPath(p.Path) == Path.GetFullPath(file));
            if (page is not null && options.FreshBlocks?.GetValueOrDefault(page.Question) is { } block)
            {
                if (PageBlock.Has(text, page.Question)) text = PageBlock.Replace(text, page.Question, block.Markdown);
                block.CopyFigures(Path.GetDirectoryName(htmlPath)!);
                copied += block.Figures.Count;
            }
            var (body, localFiles) = RenderMarkdown(text, file, htmlPath, root, docs, output);
            foreach (var (source, target) in localFiles)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(source, target, overwrite: true);
                copied++;
            }
            string title = TitleOf(text) ?? (page is null ? Path.GetFileNameWithoutExtension(file) : $"{page.Question} · {Questions.Get(page.Question).Title}");
            string nav = Navigation(htmlPath, output, page, answerList, docs);
            WritePage(htmlPath, output, title, nav, body);
            written++;
        }

        var index = Path.Combine(output, "index.html");
        WritePage(index, output, "Attention, answered and implemented in C#", "", ContentsBody(statuses, docs, output));
        File.WriteAllText(Path.Combine(output, MarkerFile), "written by `attn book`; the whole folder is replaced on the next build\n");
        return new SiteReport(index, written + 1, copied);
    }

    /// <summary>
    /// A line that is only <c>$$ … $$</c> is display math, but Markdig reads it as inline math (and KaTeX then
    /// rejects <c>\tag</c>); splitting the delimiters onto their own lines makes it a math block.
    /// </summary>
    public static string DisplayMathOnOwnLines(string markdown) =>
        System.Text.RegularExpressions.Regex.Replace(markdown, @"(?m)^[ \t]*\$\$(?<body>[^\n]+?)\$\$[ \t]*\r?$", "$$$$\n${body}\n$$$$");

    /// <summary>
    /// Renders a page's Markdown to an HTML fragment, rewriting its links for the site; returns the fragment and the
    /// local files (under docs) it links that must be copied into the site.
    /// </summary>
    public static (string Html, List<(string Source, string Target)> Files) RenderMarkdown(
        string markdown, string sourcePath, string htmlPath, string root, string docs, string output)
    {
        var document = Markdown.Parse(DisplayMathOnOwnLines(markdown), Pipeline);
        var files = new List<(string, string)>();
        var sourceDir = Path.GetDirectoryName(Path.GetFullPath(sourcePath))!;
        var htmlDir = Path.GetDirectoryName(Path.GetFullPath(htmlPath))!;
        foreach (var link in document.Descendants<LinkInline>())
        {
            if (link.Url is null) continue;
            link.Url = RewriteLink(link.Url, sourceDir, htmlDir, docs, output, files);
        }
        using var writer = new StringWriter();
        var renderer = new HtmlRenderer(writer);
        Pipeline.Setup(renderer);
        renderer.Render(document);
        writer.Flush();
        return (writer.ToString(), files);
    }

    /// <summary>
    /// A link as the site needs it: external and in-page links unchanged; a .md file under docs becomes its .html;
    /// another file under docs is copied into the site at the same place (link unchanged); anything else in the
    /// repository (code, data) is linked by its path relative to the HTML page.
    /// </summary>
    public static string RewriteLink(string url, string sourceDir, string htmlDir, string docs, string output,
                                     List<(string Source, string Target)>? filesToCopy = null)
    {
        if (url.Length == 0 || url.StartsWith('#') || url.StartsWith('/') || SchemePattern().IsMatch(url)) return url;
        int cut = url.IndexOfAny(['#', '?']);
        string path = cut < 0 ? url : url[..cut], suffix = cut < 0 ? "" : url[cut..];
        if (path.Length == 0) return url;
        var target = Path.GetFullPath(Path.Combine(sourceDir, Uri.UnescapeDataString(path).Replace('/', Path.DirectorySeparatorChar)));
        string siteTarget;
        if (PathContains(docs, target))
        {
            var rel = Path.GetRelativePath(docs, target);
            if (string.Equals(Path.GetExtension(target), ".md", StringComparison.OrdinalIgnoreCase))
                siteTarget = Path.Combine(output, Path.ChangeExtension(rel, ".html"));
            else
            {
                siteTarget = Path.Combine(output, rel);
                if (File.Exists(target)) filesToCopy?.Add((target, siteTarget));
            }
        }
        else siteTarget = target;
        var relative = Path.GetRelativePath(htmlDir, siteTarget).Replace(Path.DirectorySeparatorChar, '/');
        return Uri.EscapeDataString(relative).Replace("%2F", "/", StringComparison.Ordinal) + suffix;
    }

    private static string ContentsBody(IEnumerable<(Question Question, AnswerStatus Status, AnswerPage? Page, Experiment? Experiment)> statuses,
                                       string docs, string output)
    {
        var html = new StringBuilder();
        var list = statuses.ToList();
        int answered = list.Count(s => s.Status == AnswerStatus.Answered), pages = list.Count(s => s.Page is not null);
        html.AppendLine("<h1>Attention, answered and implemented in C#</h1>");
        html.Append("<p>Fifty interview questions on attention, each answered by a page whose numbers and figures come from an experiment ")
            .Append("that runs the library's code. Run any of them with <code>attn show N</code>. ")
            .Append(CultureInvariant($"{pages} of {Questions.Count} pages written, {answered} backed by an experiment.</p>")).AppendLine();
        html.AppendLine("<ol class=\"contents\">");
        foreach (var (q, status, page, _) in list)
        {
            html.Append(CultureInvariant($"<li value=\"{q.Number}\">"));
            var title = WebUtility.HtmlEncode(q.Title);
            if (page is not null)
            {
                var htmlPath = Path.Combine(output, Path.ChangeExtension(Path.GetRelativePath(docs, page.Path), ".html"));
                html.Append("<a href=\"").Append(Path.GetRelativePath(output, htmlPath).Replace('\\', '/')).Append("\">").Append(title).Append("</a>");
            }
            else html.Append(title);
            var css = status switch
            {
                AnswerStatus.Answered => "answered", AnswerStatus.PageOnly => "page-only",
                AnswerStatus.ExperimentOnly => "experiment-only", _ => "not-yet",
            };
            html.Append("<span class=\"status ").Append(css).Append("\">").Append(Pages.Describe(status)).AppendLine("</span></li>");
        }
        html.AppendLine("</ol>");
        return html.ToString();
    }

    private static string Navigation(string htmlPath, string output, AnswerPage? page, List<AnswerPage> answers, string docs)
    {
        var htmlDir = Path.GetDirectoryName(htmlPath)!;
        string Link(string targetHtml) => Path.GetRelativePath(htmlDir, targetHtml).Replace('\\', '/');
        string HtmlOf(AnswerPage p) => Path.Combine(output, Path.ChangeExtension(Path.GetRelativePath(docs, p.Path), ".html"));
        var nav = new StringBuilder();
        nav.Append("<a href=\"").Append(Link(Path.Combine(output, "index.html"))).Append("\">Contents</a><span class=\"spacer\"></span>");
        if (page is not null)
        {
            int i = answers.IndexOf(page);
            if (i > 0) nav.Append(CultureInvariant($"<a href=\"{Link(HtmlOf(answers[i - 1]))}\">← {answers[i - 1].Question}</a>"));
            if (i + 1 < answers.Count) nav.Append(CultureInvariant($"<a href=\"{Link(HtmlOf(answers[i + 1]))}\">{answers[i + 1].Question} →</a>"));
        }
        return nav.ToString();
    }

    private static void WritePage(string htmlPath, string output, string title, string nav, string body)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(htmlPath)!);
        var assets = Path.GetRelativePath(Path.GetDirectoryName(htmlPath)!, Path.Combine(output, "assets")).Replace('\\', '/');
        var html = new StringBuilder();
        html.AppendLine("<!doctype html>");
        html.AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.Append("<title>").Append(WebUtility.HtmlEncode(title)).AppendLine("</title>");
        html.AppendLine($"<link rel=\"stylesheet\" href=\"{assets}/katex/katex.min.css\">");
        html.AppendLine($"<link rel=\"stylesheet\" href=\"{assets}/site.css\">");
        html.AppendLine($"<script defer src=\"{assets}/katex/katex.min.js\"></script>");
        html.AppendLine($"<script defer src=\"{assets}/katex/contrib/auto-render.min.js\"></script>");
        // runs after the deferred scripts: Markdig writes math as \( \) and \[ \] inside span/div.math
        html.AppendLine("<script>document.addEventListener(\"DOMContentLoaded\", function () { renderMathInElement(document.body, " +
                        "{ delimiters: [{ left: \"\\\\[\", right: \"\\\\]\", display: true }, { left: \"\\\\(\", right: \"\\\\)\", display: false }], throwOnError: false }); });</script>");
        html.AppendLine("</head><body>");
        if (nav.Length > 0) html.Append("<nav class=\"top\">").Append(nav).AppendLine("</nav>");
        html.AppendLine("<main>");
        html.Append(body);
        html.AppendLine("</main></body></html>");
        File.WriteAllText(htmlPath, html.ToString());
    }

    /// <summary>Writes the embedded assets (site.css, katex/...) under <paramref name="assetsDirectory"/>.</summary>
    public static int CopyAssets(string assetsDirectory)
    {
        var assembly = typeof(SiteBuilder).Assembly;
        int n = 0;
        foreach (var name in assembly.GetManifestResourceNames())
        {
            var normalized = name.Replace('\\', '/');
            if (!normalized.StartsWith("Assets/", StringComparison.Ordinal)) continue;
            var target = Path.Combine(assetsDirectory, normalized["Assets/".Length..].Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using var source = assembly.GetManifestResourceStream(name)!;
            using var file = File.Create(target);
            source.CopyTo(file);
            n++;
        }
        if (n == 0) throw new InvalidOperationException("The site assets are not embedded in Attention.Book; check its csproj.");
        return n;
    }

    private static void PrepareOutput(string output)
    {
        if (Directory.Exists(output))
        {
            // only a folder an earlier build made is emptied: --out could name anything
            if (File.Exists(Path.Combine(output, MarkerFile))) Directory.Delete(output, recursive: true);
            else if (Directory.EnumerateFileSystemEntries(output).Any())
                throw new IOException($"The site folder '{output}' is not empty and was not written by `attn book`; choose another --out.");
        }
        Directory.CreateDirectory(output);
    }

    private static string? TitleOf(string markdown)
    {
        var m = TitlePattern().Match(markdown);
        return m.Success ? m.Groups[1].Value.Replace("**", "", StringComparison.Ordinal).Replace("`", "", StringComparison.Ordinal).Trim() : null;
    }

    private static bool PathContains(string folder, string path)
    {
        var f = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar;
        return (Path.GetFullPath(path) + Path.DirectorySeparatorChar).StartsWith(f, StringComparison.Ordinal);
    }

    private static string CultureInvariant(FormattableString s) => FormattableString.Invariant(s);

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex SchemePattern();

    [GeneratedRegex(@"^#\s+(.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex TitlePattern();
}
