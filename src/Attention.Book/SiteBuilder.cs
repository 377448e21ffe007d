using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Markdig;
using Markdig.Renderers;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Attention.Book;

/// <summary>What to build the static site from and where.</summary>
public sealed class SiteOptions
{
    /// <summary>
    /// The repository root, or a folder laid out like it (the copy the attn tool carries, <see cref="RepoPaths.ShippedBook"/>):
    /// links from pages into the code (../../src/...) resolve against it, and nothing outside it is linked.
    /// </summary>
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

/// <summary>
/// What a site build wrote. <see cref="KeptAsText"/> lists the links that could not become a file in the site
/// (a missing file, a binary or very large file, a path outside the repository): they are shown as marked text, not links.
/// </summary>
public sealed record SiteReport(string IndexPath, int PagesWritten, int FilesCopied)
{
    /// <summary>Repository source files rendered into the site as highlighted HTML (or Markdown pages, or folder listings).</summary>
    public int SourcePagesWritten { get; init; }

    /// <summary>"page: link" for every link shown as text because its target cannot be part of the site.</summary>
    public IReadOnlyList<string> KeptAsText { get; init; } = [];
}

/// <summary>
/// Builds the static HTML site of the book: the docs/ Markdown (Markdig with the advanced extensions and
/// mathematics) mirrored into HTML pages, math typeset in the browser by the vendored KaTeX (never a CDN),
/// links between pages rewritten .md → .html, linked images and figures copied, and a contents page listing all
/// 50 questions with their status. Every page has the contents beside it (the current question marked),
/// previous/next links and a search box over a build-time index (<c>search-index.js</c>, loaded by a script tag so
/// it works from file:// too); the stylesheet follows the system's dark setting and has print rules.
/// Nothing links outside the site folder: the repository files a page cites (code, data notes, folders) are rendered
/// into it — source as HTML highlighted at build time (<see cref="SourcePages"/>), Markdown through the same
/// pipeline, a folder as a listing — and what cannot be copied is kept as marked text.
/// </summary>
public static partial class SiteBuilder
{
    private const string MarkerFile = ".attn-site";

    /// <summary>The search index's file name at the site root (a script that sets <c>window.attnSearchIndex</c>).</summary>
    public const string SearchIndexFile = "search-index.js";

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
        if (PathContains(output, root))
            throw new ArgumentException($"The site folder must not hold the repository; got '{output}' for the repository '{root}'.", nameof(options));
        PrepareOutput(output);

        int copied = CopyAssets(Path.Combine(output, "assets"));
        var pages = Pages.Find(Path.Combine(docs, "answers"));
        var statuses = Pages.Status(pages, options.Registry).ToList();
        var site = new SiteContext(root, docs, output, statuses);
        int written = 0;

        var markdownFiles = Directory.Exists(docs)
            ? Directory.EnumerateFiles(docs, "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList()
            : [];
        var answerList = pages.Values.ToList();
        var search = new List<SearchEntry>();
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
            var body = RenderMarkdown(text, file, htmlPath, site);
            string title = TitleOf(text) ?? (page is null ? Path.GetFileNameWithoutExtension(file) : $"{page.Question} · {Questions.Get(page.Question).Title}");
            WritePage(htmlPath, site, title, body, page);
            search.Add(new SearchEntry(SiteRelative(output, htmlPath), title, Headings(body), PlainText(FirstHeadingPattern().Replace(body, "", 1))));
            written++;
        }

        var index = Path.Combine(output, "index.html");
        var contents = ContentsBody(statuses, site);
        WritePage(index, site, "Attention, answered and implemented in C#", contents, page: null, sidebar: false);
        search.Insert(0, new SearchEntry("index.html", "Contents: the 50 questions", [], PlainText(contents)));

        // the repository files the pages cite; Markdown among them may cite more, so this drains a queue
        int sources = 0;
        while (site.Pending.TryDequeue(out var item))
        {
            switch (item.Kind)
            {
                case RepoFileKind.Markdown:
                {
                    var text = File.ReadAllText(item.Source);
                    var title = TitleOf(text) ?? Path.GetRelativePath(root, item.Source).Replace('\\', '/');
                    var banner = SourceBanner(Path.GetRelativePath(root, item.Source));
                    WritePage(item.Target, site, title, banner + RenderMarkdown(text, item.Source, item.Target, site), page: null, wide: false);
                    break;
                }
                case RepoFileKind.Source:
                {
                    var rel = Path.GetRelativePath(root, item.Source).Replace('\\', '/');
                    WritePage(item.Target, site, rel, SourceBanner(rel) + SourcePages.Render(File.ReadAllText(item.Source), Path.GetExtension(item.Source)),
                              page: null, wide: true);
                    break;
                }
                case RepoFileKind.Folder:
                    WritePage(item.Target, site, Path.GetRelativePath(root, item.Source).Replace('\\', '/') + "/", FolderBody(item.Source, item.Target, site),
                              page: null, wide: false);
                    break;
            }
            sources++;
        }
        foreach (var (source, target) in site.Copies)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
            copied++;
        }

        File.WriteAllText(Path.Combine(output, SearchIndexFile), SearchIndexScript(search), new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(output, MarkerFile), "written by `attn book`; the whole folder is replaced on the next build\n");
        return new SiteReport(index, written + 1, copied) { SourcePagesWritten = sources, KeptAsText = site.KeptAsText };
    }

    /// <summary>
    /// A line that is only <c>$$ … $$</c> is display math, but Markdig reads it as inline math (and KaTeX then
    /// rejects <c>\tag</c>); splitting the delimiters onto their own lines makes it a math block.
    /// </summary>
    public static string DisplayMathOnOwnLines(string markdown) =>
        System.Text.RegularExpressions.Regex.Replace(markdown, @"(?m)^[ \t]*\$\$(?<body>[^\n]+?)\$\$[ \t]*\r?$", "$$$$\n${body}\n$$$$");

    /// <summary>Renders a page's Markdown to an HTML fragment, rewriting its links for the site (see <see cref="SiteContext.Rewrite"/>).</summary>
    private static string RenderMarkdown(string markdown, string sourcePath, string htmlPath, SiteContext site)
    {
        var document = Markdown.Parse(DisplayMathOnOwnLines(markdown), Pipeline);
        var sourceDir = Path.GetDirectoryName(Path.GetFullPath(sourcePath))!;
        var htmlDir = Path.GetDirectoryName(Path.GetFullPath(htmlPath))!;
        var relSource = Path.GetRelativePath(site.Root, sourcePath).Replace('\\', '/');
        foreach (var link in document.Descendants<LinkInline>().ToList())
        {
            if (link.Url is null) continue;
            var rewritten = site.Rewrite(link.Url, sourceDir, htmlDir);
            if (rewritten is not null) { link.Url = rewritten; continue; }
            site.KeptAsText.Add($"{relSource}: {link.Url}");
            KeepAsText(link);
        }
        using var writer = new StringWriter();
        var renderer = new HtmlRenderer(writer);
        Pipeline.Setup(renderer);
        renderer.Render(document);
        writer.Flush();
        return EmbedInteractiveFigures(writer.ToString());
    }

    /// <summary>Replaces a link whose target cannot be in the site by its text, marked as a repository path.</summary>
    private static void KeepAsText(LinkInline link)
    {
        var title = WebUtility.HtmlEncode($"{link.Url} — in the repository, not part of this site");
        var open = new HtmlInline($"<span class=\"repo-path\" title=\"{title}\">");
        link.InsertBefore(open);
        var close = new HtmlInline("</span>");
        open.InsertAfter(close);
        if (link.IsImage) close.InsertBefore(new LiteralInline(link.Label ?? link.Url ?? ""));
        else
            while (link.FirstChild is { } child)
            {
                child.Remove();
                close.InsertBefore(child);
            }
        link.Remove();
    }

    /// <summary>
    /// A paragraph that is only a link to an HTML figure (an interactive view the experiment wrote beside the page's
    /// PNGs) becomes the view itself, in a frame, with the link under it to open it alone.
    /// </summary>
    private static string EmbedInteractiveFigures(string html) => EmbedPattern().Replace(html, m =>
    {
        var href = m.Groups["href"].Value;
        var label = m.Groups["label"].Value;
        var title = WebUtility.HtmlEncode(WebUtility.HtmlDecode(TagPattern().Replace(label, "")).Trim());
        return $"<figure class=\"embed\"><iframe src=\"{href}\" title=\"{title}\" loading=\"lazy\"></iframe>" +
               $"<figcaption><a href=\"{href}\">{label}</a></figcaption></figure>";
    });

    /// <summary>The line above a repository file rendered into the site: its path and that it is a copy.</summary>
    private static string SourceBanner(string relative) =>
        $"<p class=\"source-banner\">Repository file <code>{WebUtility.HtmlEncode(relative.Replace('\\', '/'))}</code>, copied into the site when it was built.</p>\n";

    private static string FolderBody(string folder, string target, SiteContext site)
    {
        var rel = Path.GetRelativePath(site.Root, folder).Replace('\\', '/');
        var html = new StringBuilder();
        html.Append("<h1>").Append(WebUtility.HtmlEncode(rel)).AppendLine("/</h1>");
        html.Append(SourceBanner(rel + "/").Replace("Repository file", "Repository folder", StringComparison.Ordinal));
        html.AppendLine("<ul class=\"folder\">");
        var targetDir = Path.GetDirectoryName(target)!;
        foreach (var dir in Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            if (name.StartsWith('.') || name is "bin" or "obj") continue;
            html.Append("<li><span class=\"repo-path\" title=\"a folder in the repository, not part of this site\">")
                .Append(WebUtility.HtmlEncode(name)).AppendLine("/</span></li>");
        }
        foreach (var file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(file);
            if (name.StartsWith('.')) continue;
            var link = site.Rewrite(Uri.EscapeDataString(name), folder, targetDir);
            html.Append("<li>");
            if (link is null)
                html.Append("<span class=\"repo-path\" title=\"in the repository, not part of this site\">").Append(WebUtility.HtmlEncode(name)).Append("</span>");
            else html.Append("<a href=\"").Append(link).Append("\">").Append(WebUtility.HtmlEncode(name)).Append("</a>");
            html.AppendLine("</li>");
        }
        html.AppendLine("</ul>");
        return html.ToString();
    }

    private static string ContentsBody(IEnumerable<(Question Question, AnswerStatus Status, AnswerPage? Page, Experiment? Experiment)> statuses, SiteContext site)
    {
        var html = new StringBuilder();
        var list = statuses.ToList();
        int answered = list.Count(s => s.Status == AnswerStatus.Answered), pages = list.Count(s => s.Page is not null);
        html.AppendLine("<h1>Attention, answered and implemented in C#</h1>");
        html.Append("<p>Fifty interview questions on attention, each answered by a page whose numbers and figures come from an experiment ")
            .Append("that runs the library's code. Run any of them with <code>attn show N</code>. ")
            .Append(CultureInvariant($"{pages} of {Questions.Count} pages written, {answered} backed by an experiment.</p>")).AppendLine();
        html.Append(AboutSection(site));
        html.AppendLine("<h2 id=\"questions\">The questions</h2>");
        html.AppendLine("<ol class=\"contents\">");
        foreach (var (q, status, page, _) in list)
        {
            html.Append(CultureInvariant($"<li value=\"{q.Number}\">"));
            var title = WebUtility.HtmlEncode(q.Title);
            if (page is not null)
                html.Append("<a href=\"").Append(SiteRelative(site.Output, site.HtmlOf(page))).Append("\">").Append(title).Append("</a>");
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

    /// <summary>
    /// The home page's "About" section: what the project is, how to run it, and a link to the project's README, rendered
    /// into the site (when the root holds a README.md).
    /// </summary>
    private static string AboutSection(SiteContext site)
    {
        var readme = File.Exists(Path.Combine(site.Root, "README.md")) ? site.Rewrite("README.md", site.Root, site.Output) : null;
        var html = new StringBuilder();
        html.AppendLine("<section class=\"about\" aria-labelledby=\"about\">");
        html.AppendLine("<h2 id=\"about\">About this book</h2>");
        html.Append("<p>The answers, the experiments and the attention library they run on are one C# project: fast CPU kernels ")
            .Append("(FlashAttention-style tiling, grouped-query, sliding-window, paged and block-sparse attention), the layers ")
            .Append("and models the answers discuss, and the <code>attn</code> command that shows an answer and runs its experiment live.");
        if (readme is not null)
            html.Append(" The project's <a href=\"").Append(readme).Append("\">README</a> says what is in it, how fast the kernels are, and how to use the library in your own program.");
        html.AppendLine("</p>");
        html.AppendLine("<p>Run it yourself, from a checkout of the repository (the .NET 10 SDK is all it needs):</p>");
        html.AppendLine("<pre><code>dotnet run -c Release --project src/Attention.Cli -- list      # the 50 questions\n" +
                        "dotnet run -c Release --project src/Attention.Cli -- show 14   # answer 14, its experiment live\n" +
                        "dotnet run -c Release --project src/Attention.Cli -- book      # this site, every experiment rerun</code></pre>");
        html.AppendLine("<p>or with the <code>attn</code> tool installed (<code>attn list</code>, <code>attn show 14</code>, <code>attn book</code>).</p>");
        html.AppendLine("</section>");
        return html.ToString();
    }

    /// <summary>The contents beside every page: the 50 questions, written ones linked, the current one marked.</summary>
    private static string Sidebar(string htmlDir, SiteContext site, AnswerPage? current)
    {
        var nav = new StringBuilder();
        nav.AppendLine("<nav class=\"toc\" aria-label=\"Contents\">");
        nav.Append("<p class=\"toc-title\"><a href=\"").Append(Link(htmlDir, Path.Combine(site.Output, "index.html"))).AppendLine("\">Contents</a></p>");
        nav.AppendLine("<ol>");
        foreach (var (q, _, page, _) in site.Statuses)
        {
            bool here = current is not null && page is not null && current.Question == page.Question;
            nav.Append(CultureInvariant($"<li value=\"{q.Number}\"")).Append(here ? " class=\"current\">" : ">");
            var title = WebUtility.HtmlEncode(q.Title);
            if (page is null) nav.Append("<span class=\"unwritten\">").Append(title).Append("</span>");
            else
            {
                nav.Append("<a href=\"").Append(Link(htmlDir, site.HtmlOf(page))).Append('"');
                if (here) nav.Append(" aria-current=\"page\"");
                nav.Append('>').Append(title).Append("</a>");
            }
            nav.AppendLine("</li>");
        }
        nav.AppendLine("</ol></nav>");
        return nav.ToString();
    }

    /// <summary>Previous / contents / next for an answer page (in question order, over the written pages).</summary>
    private static string Pager(string htmlDir, SiteContext site, AnswerPage page, string css)
    {
        var written = site.Statuses.Where(s => s.Page is not null).Select(s => s.Page!).ToList();
        int i = written.FindIndex(p => p.Question == page.Question);
        var nav = new StringBuilder();
        nav.Append("<nav class=\"").Append(css).AppendLine("\" aria-label=\"Previous and next answer\">");
        if (i > 0)
        {
            var p = written[i - 1];
            nav.Append("<a rel=\"prev\" href=\"").Append(Link(htmlDir, site.HtmlOf(p))).Append("\">← ")
               .Append(WebUtility.HtmlEncode(CultureInvariant($"{p.Question} · {Questions.Get(p.Question).Title}"))).AppendLine("</a>");
        }
        else nav.AppendLine("<span></span>");
        if (i >= 0 && i + 1 < written.Count)
        {
            var n = written[i + 1];
            nav.Append("<a rel=\"next\" href=\"").Append(Link(htmlDir, site.HtmlOf(n))).Append("\">")
               .Append(WebUtility.HtmlEncode(CultureInvariant($"{n.Question} · {Questions.Get(n.Question).Title}"))).AppendLine(" →</a>");
        }
        nav.AppendLine("</nav>");
        return nav.ToString();
    }

    private static void WritePage(string htmlPath, SiteContext site, string title, string body, AnswerPage? page, bool sidebar = true, bool wide = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(htmlPath)!);
        var htmlDir = Path.GetDirectoryName(Path.GetFullPath(htmlPath))!;
        var assets = Link(htmlDir, Path.Combine(site.Output, "assets"));
        var rootLink = Link(htmlDir, site.Output);
        rootLink = rootLink == "." ? "" : rootLink + "/";
        var html = new StringBuilder();
        html.AppendLine("<!doctype html>");
        html.AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        html.AppendLine("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        html.AppendLine("<meta name=\"color-scheme\" content=\"light dark\">");
        html.Append("<title>").Append(WebUtility.HtmlEncode(title)).AppendLine("</title>");
        html.AppendLine(CultureInfo.InvariantCulture, $"<link rel=\"stylesheet\" href=\"{assets}/katex/katex.min.css\">");
        html.AppendLine(CultureInfo.InvariantCulture, $"<link rel=\"stylesheet\" href=\"{assets}/site.css\">");
        html.AppendLine(CultureInfo.InvariantCulture, $"<script defer src=\"{assets}/katex/katex.min.js\"></script>");
        html.AppendLine(CultureInfo.InvariantCulture, $"<script defer src=\"{assets}/katex/contrib/auto-render.min.js\"></script>");
        html.AppendLine(CultureInfo.InvariantCulture, $"<script defer src=\"{assets}/site.js\"></script>");
        // runs after the deferred scripts: Markdig writes math as \( \) and \[ \] inside span/div.math. throwOnError: a
        // formula KaTeX cannot read (an unknown command too, which throwOnError: false would quietly draw in red) stays
        // as its TeX and is reported on the console, where the browser test sees it
        html.AppendLine("<script>document.addEventListener(\"DOMContentLoaded\", function () { renderMathInElement(document.body, " +
                        "{ delimiters: [{ left: \"\\\\[\", right: \"\\\\]\", display: true }, { left: \"\\\\(\", right: \"\\\\)\", display: false }], throwOnError: true }); });</script>");
        html.Append("</head><body data-root=\"").Append(rootLink).AppendLine("\">");
        html.AppendLine("<a class=\"skip\" href=\"#content\">Skip to the text</a>");
        html.AppendLine("<header class=\"bar\">");
        html.Append("<a class=\"home\" href=\"").Append(rootLink).AppendLine("index.html\">Attention, answered <span>in C#</span></a>");
        html.AppendLine("<div class=\"search\" role=\"search\"><input id=\"search\" type=\"search\" placeholder=\"Search the book (/)\" autocomplete=\"off\" " +
                        "aria-label=\"Search the book\" aria-controls=\"search-results\"><ol id=\"search-results\" class=\"results\" hidden></ol></div>");
        html.AppendLine("</header>");
        html.Append("<div class=\"layout").Append(sidebar ? "" : " no-toc").Append(wide ? " wide" : "").AppendLine("\">");
        if (sidebar) html.Append(Sidebar(htmlDir, site, page));
        html.AppendLine("<main id=\"content\">");
        if (page is not null) html.Append(Pager(htmlDir, site, page, "pager"));
        html.Append(body);
        if (page is not null) html.Append(Pager(htmlDir, site, page, "pager bottom"));
        html.AppendLine("</main></div></body></html>");
        File.WriteAllText(htmlPath, html.ToString());
    }

    // ---------- search ----------

    private sealed record SearchEntry(string Url, string Title, IReadOnlyList<string> Headings, string Text);

    /// <summary>
    /// The index as a script (not JSON) so that pages opened from file:// can load it with a script tag, where
    /// fetch() is refused.
    /// </summary>
    private static string SearchIndexScript(List<SearchEntry> entries)
    {
        var json = JsonSerializer.Serialize(entries.Select(e => new { u = e.Url, t = e.Title, h = e.Headings, x = e.Text }));
        return "// written by attn book: one entry per page (u: link from the site root, t: title, h: headings, x: text)\n" +
               "window.attnSearchIndex = " + json.Replace("</", "<\\/", StringComparison.Ordinal) + ";\n";
    }

    private static List<string> Headings(string html) =>
        HeadingPattern().Matches(html).Select(m => CleanText(m.Groups[1].Value)).Where(h => h.Length > 0).ToList();

    /// <summary>The text a reader sees (tags removed, entities decoded, math delimiters dropped, spaces collapsed).</summary>
    private static string PlainText(string html) => CleanText(ScriptPattern().Replace(html, " "));

    private static string CleanText(string html)
    {
        var text = WebUtility.HtmlDecode(TagPattern().Replace(html, " "));
        text = text.Replace("\\(", "", StringComparison.Ordinal).Replace("\\)", "", StringComparison.Ordinal)
                   .Replace("\\[", "", StringComparison.Ordinal).Replace("\\]", "", StringComparison.Ordinal);
        return SpacePattern().Replace(text, " ").Trim();
    }

    // ---------- files ----------

    /// <summary>Writes the embedded assets (site.css, site.js, katex/...) under <paramref name="assetsDirectory"/>.</summary>
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

    /// <summary>
    /// Checks, without changing anything, that a build may write the site into <paramref name="outputDirectory"/>: it is
    /// missing, empty, or a site an earlier build wrote (which the build replaces). Call it before long work.
    /// </summary>
    /// <exception cref="IOException">The path is a file, or a folder that holds other things.</exception>
    public static void CheckOutput(string outputDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        var output = Path.GetFullPath(outputDirectory);
        if (File.Exists(output))
            throw new IOException($"The site folder '{output}' is a file; choose another folder (--out).");
        // only a folder an earlier build made is emptied: --out could name anything
        if (Directory.Exists(output) && !File.Exists(Path.Combine(output, MarkerFile)) && Directory.EnumerateFileSystemEntries(output).Any())
            throw new IOException($"The site folder '{output}' is not empty and was not written by `attn book`; choose another folder (--out).");
    }

    private static void PrepareOutput(string output)
    {
        CheckOutput(output);
        if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        Directory.CreateDirectory(output);
    }

    private static string? TitleOf(string markdown)
    {
        var m = TitlePattern().Match(markdown);
        return m.Success ? m.Groups[1].Value.Replace("**", "", StringComparison.Ordinal).Replace("`", "", StringComparison.Ordinal).Trim() : null;
    }

    internal static bool PathContains(string folder, string path)
    {
        var f = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar;
        return (Path.GetFullPath(path) + Path.DirectorySeparatorChar).StartsWith(f, StringComparison.Ordinal);
    }

    /// <summary>A link from a page in <paramref name="htmlDir"/> to <paramref name="target"/>, '/'-separated and escaped.</summary>
    internal static string Link(string htmlDir, string target)
    {
        var relative = Path.GetRelativePath(htmlDir, target).Replace(Path.DirectorySeparatorChar, '/');
        return Uri.EscapeDataString(relative).Replace("%2F", "/", StringComparison.Ordinal);
    }

    private static string SiteRelative(string output, string path) => Path.GetRelativePath(output, path).Replace(Path.DirectorySeparatorChar, '/');

    private static string CultureInvariant(FormattableString s) => FormattableString.Invariant(s);

    [GeneratedRegex(@"^#\s+(.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex TitlePattern();

    [GeneratedRegex(@"<p><a href=""(?<href>(?:[^"":]*/)?figures/[^"":]+\.html)"">(?<label>[^<]*(?:<(?!/a>)[^<]*)*)</a></p>")]
    private static partial Regex EmbedPattern();

    [GeneratedRegex(@"<h[1-3][^>]*>(.*?)</h[1-3]>", RegexOptions.Singleline)]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"<h1[^>]*>.*?</h1>", RegexOptions.Singleline)]
    private static partial Regex FirstHeadingPattern();

    [GeneratedRegex(@"<[^>]+>")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"<script\b.*?</script>", RegexOptions.Singleline)]
    private static partial Regex ScriptPattern();

    [GeneratedRegex(@"\s+")]
    private static partial Regex SpacePattern();
}
