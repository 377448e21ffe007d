using System.Text.RegularExpressions;
using Attention.Book;

namespace Attention.Tests.Book;

public partial class SiteBuilderTests
{
    private static (string Root, string Site, SiteReport Report) BuildSample(IReadOnlyDictionary<int, RenderedBlock>? fresh = null)
    {
        var root = TempRepo.NewRepo("site");
        var answers = RepoPaths.Answers(root);
        Directory.CreateDirectory(Path.Combine(answers, "img"));
        File.WriteAllBytes(Path.Combine(answers, "img", "sketch.png"), [137, 80, 78, 71]);
        File.WriteAllText(Path.Combine(answers, "07-fake-weights.md"),
            "# 7 · Fake weights\n\nInline $q \\cdot k$ and display:\n\n$$\\alpha = \\operatorname{softmax}(z)$$\n\n" +
            "See [the next answer](08-other.md#pitfalls), [the kernel](../../src/Attention/Kernels/Code.cs), " +
            "[a paper](https://arxiv.org/abs/1706.03762), [the folder](../../src/Attention/Kernels/), [a lost file](../../src/Gone.cs) and ![a sketch](img/sketch.png).\n\n" +
            "<!-- experiment:07 -->\nold\n<!-- /experiment -->\n");
        File.WriteAllText(Path.Combine(answers, "08-other.md"), "# 8 · Other\n\nBack to [7](07-fake-weights.md), or [all answers](../answers).\n");
        File.WriteAllText(Path.Combine(answers, "README.md"), "# The answer pages\n");
        Directory.CreateDirectory(Path.Combine(root, "src", "Attention", "Kernels"));
        File.WriteAllText(Path.Combine(root, "src", "Attention", "Kernels", "Code.cs"),
            "// a kernel\nnamespace K;\npublic static class Code { public const string Name = \"<flash>\"; }\n");
        var site = Path.Combine(root, "site");
        var report = SiteBuilder.Build(new SiteOptions
        {
            Root = root, OutputDirectory = site, FreshBlocks = fresh,
            Registry = TempRepo.Fakes(typeof(Q07_FakeWeights), typeof(Q09_FakeThrows)),
        });
        return (root, site, report);
    }

    [Fact]
    public void Site_RewritesPageLinksToHtml_AndRendersCitedCodeIntoTheSite_SoNoLinkLeavesIt()
    {
        var (_, site, report) = BuildSample();
        var page = Path.Combine(site, "answers", "07-fake-weights.html");
        var html = File.ReadAllText(page);
        Assert.Contains("href=\"08-other.html#pitfalls\"", html);
        Assert.Contains("href=\"https://arxiv.org/abs/1706.03762\"", html);
        Assert.Contains("href=\"../src/Attention/Kernels/Code.cs.html\"", html);   // the code, copied into the site
        Assert.Contains("href=\"../src/Attention/Kernels/index.html\"", html);     // the folder, as a listing
        var siteRoot = Path.GetFullPath(site) + Path.DirectorySeparatorChar;
        foreach (var file in Directory.GetFiles(site, "*.html", SearchOption.AllDirectories))
            foreach (var href in Links(File.ReadAllText(file)).Where(h => !h.StartsWith("http", StringComparison.Ordinal) && !h.StartsWith('#')))
            {
                var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(href.Split('#')[0])));
                Assert.True(target.StartsWith(siteRoot, StringComparison.Ordinal), $"link {href} in {file} leaves the site");
                Assert.True(File.Exists(target), $"link {href} in {file} resolves to nothing");
            }
        // the missing file is kept as marked text, and reported
        Assert.Contains("<span class=\"repo-path\"", html);
        Assert.Contains("a lost file</span>", html);
        Assert.Equal(["docs/answers/07-fake-weights.md: ../../src/Gone.cs"], report.KeptAsText);
        var code = File.ReadAllText(Path.Combine(site, "src", "Attention", "Kernels", "Code.cs.html"));
        Assert.Contains("<span class=\"tk-c\">// a kernel</span>", code);
        Assert.Contains("<span class=\"tk-s\">&quot;&lt;flash&gt;&quot;</span>", code);   // escaped, never markup
        Assert.Contains("id=\"L3\"", code);
        Assert.Contains("Code.cs.html", File.ReadAllText(Path.Combine(site, "src", "Attention", "Kernels", "index.html")));
    }

    [Fact]
    public void Site_PutsContentsBesideEveryPage_MarksTheCurrentOne_AndLinksPreviousAndNext()
    {
        var (_, site, _) = BuildSample();
        var html = File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html"));
        var toc = html[html.IndexOf("<nav class=\"toc\"", StringComparison.Ordinal)..];
        toc = toc[..toc.IndexOf("</nav>", StringComparison.Ordinal)];
        Assert.Equal(50, Regex.Matches(toc, "<li value=").Count);
        Assert.Single(Regex.Matches(toc, "class=\"current\""));
        Assert.Contains("<li value=\"7\" class=\"current\"><a href=\"07-fake-weights.html\" aria-current=\"page\">", toc);
        Assert.Contains("<li value=\"8\"><a href=\"08-other.html\">", toc);
        Assert.Contains("<li value=\"9\"><span class=\"unwritten\">", toc);   // no page: listed, not linked
        Assert.Contains("rel=\"next\" href=\"08-other.html\"", html);
        Assert.DoesNotContain("rel=\"prev\"", html);
        var other = File.ReadAllText(Path.Combine(site, "answers", "08-other.html"));
        Assert.Contains("rel=\"prev\" href=\"07-fake-weights.html\"", other);
        Assert.Contains("href=\"README.html\">all answers</a>", other);                 // a docs folder is its README page
    }

    [Fact]
    public void Site_WritesASearchIndexOfEveryPage_AsAScriptTheSearchBoxLoads()
    {
        var (_, site, _) = BuildSample();
        var script = File.ReadAllText(Path.Combine(site, SiteBuilder.SearchIndexFile));
        Assert.StartsWith("// written by attn book", script);
        var json = script[(script.IndexOf('=') + 1)..].Trim().TrimEnd(';');
        var entries = System.Text.Json.JsonDocument.Parse(json).RootElement.EnumerateArray().ToList();
        var seven = Assert.Single(entries, e => e.GetProperty("u").GetString() == "answers/07-fake-weights.html");
        Assert.Equal("7 · Fake weights", seven.GetProperty("t").GetString());
        Assert.Contains("See the next answer", seven.GetProperty("x").GetString());
        Assert.DoesNotContain("Fake weights", seven.GetProperty("x").GetString());   // the title is its own field, not repeated in the text
        Assert.DoesNotContain("<", seven.GetProperty("x").GetString());          // text, not markup
        Assert.Contains(entries, e => e.GetProperty("u").GetString() == "answers/08-other.html");
        Assert.True(File.Exists(Path.Combine(site, "assets", "site.js")));
        Assert.Contains("site.js", File.ReadAllText(Path.Combine(site, "answers", "08-other.html")));
    }

    [Fact]
    public void Site_EmbedsAnInteractiveFigure_InAFrame_WithItsLink()
    {
        var root = TempRepo.NewRepo("embed");
        var answers = RepoPaths.Answers(root);
        Directory.CreateDirectory(Path.Combine(answers, "figures", "q07"));
        File.WriteAllText(Path.Combine(answers, "figures", "q07", "q07-view.html"), "<!doctype html><p>view</p>");
        File.WriteAllText(Path.Combine(answers, "07-fake-weights.md"),
            "# 7 · Fake weights\n\n[▶ The view (interactive, opens in the browser)](figures/q07/q07-view.html)\n\nSee [8](08-other.md).\n");
        File.WriteAllText(Path.Combine(answers, "08-other.md"), "# 8 · Other\n");
        var site = Path.Combine(root, "site");
        SiteBuilder.Build(new SiteOptions { Root = root, OutputDirectory = site, Registry = TempRepo.Fakes(typeof(Q07_FakeWeights)) });
        var html = File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html"));
        Assert.Contains("<figure class=\"embed\"><iframe src=\"figures/q07/q07-view.html\" title=\"▶ The view (interactive, opens in the browser)\"", html);
        Assert.Contains("<figcaption><a href=\"figures/q07/q07-view.html\">", html);
        Assert.DoesNotContain("<iframe src=\"08-other.html", html);              // a link to a page stays a link
        Assert.True(File.Exists(Path.Combine(site, "answers", "figures", "q07", "q07-view.html")));
    }

    [Fact]
    public void Site_HasKatexAssets_AndLinksNoCdn()
    {
        var (_, site, _) = BuildSample();
        foreach (var asset in new[] { "katex/katex.min.js", "katex/katex.min.css", "katex/contrib/auto-render.min.js", "katex/LICENSE", "site.css" })
            Assert.True(File.Exists(Path.Combine(site, "assets", asset)), $"missing asset {asset}");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(site, "assets", "katex", "fonts"), "KaTeX_Main-Regular.woff2"));
        foreach (var file in Directory.GetFiles(site, "*.html", SearchOption.AllDirectories))
        {
            var html = File.ReadAllText(file);
            Assert.DoesNotMatch("(src|href)=\"https?://[^\"]*(cdn|jsdelivr|unpkg|katex)", html);
            Assert.Contains("katex.min.js", html);
        }
        // the fonts the stylesheet asks for first are all there
        var css = File.ReadAllText(Path.Combine(site, "assets", "katex", "katex.min.css"));
        foreach (Match m in Woff2().Matches(css))
            Assert.True(File.Exists(Path.Combine(site, "assets", "katex", m.Groups[1].Value)), $"missing {m.Groups[1].Value}");
    }

    [Fact]
    public void Site_KeepsMathForKatex_AndCopiesLinkedImages()
    {
        var (_, site, _) = BuildSample();
        var html = File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html"));
        Assert.Contains("\\(q \\cdot k\\)", html);
        Assert.Contains("\\[", html);
        Assert.Contains("renderMathInElement", html);
        Assert.True(File.Exists(Path.Combine(site, "answers", "img", "sketch.png")));
    }

    [Fact]
    public void Site_ContentsListsAllFiftyQuestionsWithStatus()
    {
        var (_, site, report) = BuildSample();
        var index = File.ReadAllText(report.IndexPath);
        Assert.Equal(50, Regex.Matches(index, "<li value=").Count);
        Assert.Contains("href=\"answers/07-fake-weights.html\"", index);
        Assert.Single(Regex.Matches(index, "status answered\""));       // 7: page and experiment
        Assert.Single(Regex.Matches(index, "status page-only\""));      // 8: page only
        Assert.Single(Regex.Matches(index, "status experiment-only\"")); // 9: experiment only
        Assert.Equal(47, Regex.Matches(index, "status not-yet\"").Count);
        Assert.True(File.Exists(Path.Combine(site, "answers", "08-other.html")));
    }

    [Fact]
    public void Site_HomePage_SaysWhatTheProjectIsAndHowToRunIt_AndLinksTheReadme_RenderedIntoTheSite()
    {
        var (root, site, report) = BuildSample();
        var index = File.ReadAllText(report.IndexPath);
        Assert.Contains("<h2 id=\"about\">About this book</h2>", index);
        Assert.Contains("show 14", index);
        Assert.DoesNotContain("README", index);                         // the sample repository has none: no dead link

        File.WriteAllText(Path.Combine(root, "README.md"), "# The project\n\nIts [kernel](src/Attention/Kernels/Code.cs).\n");
        report = SiteBuilder.Build(new SiteOptions { Root = root, OutputDirectory = site, Registry = TempRepo.Fakes(typeof(Q07_FakeWeights)) });
        index = File.ReadAllText(report.IndexPath);
        Assert.Contains("<a href=\"README.html\">README</a>", index);
        var readme = File.ReadAllText(Path.Combine(site, "README.html"));
        Assert.Contains("<h1", readme);
        Assert.Contains("href=\"src/Attention/Kernels/Code.cs.html\"", readme);   // what the README cites comes along
    }

    [Fact]
    public void Site_ShowsFreshBlocks_WithTheirFigures_WithoutTouchingThePages()
    {
        var run = ExperimentRunner.Run(new Q07_FakeWeights(), figureDirectory: Path.Combine(TempRepo.NewFolder("fresh"), "f"));
        var (root, site, _) = BuildSample(new Dictionary<int, RenderedBlock> { [7] = RenderedBlock.From(run, "m") });
        var html = File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html"));
        Assert.Contains("src=\"figures/q07/q07-weights.png\"", html);
        Assert.Contains("✓ rows sum to one", html);
        Assert.True(File.Exists(Path.Combine(site, "answers", "figures", "q07", "q07-weights.png")));
        Assert.Contains("\nold\n", File.ReadAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md")));
    }

    [Fact]
    public void Site_RefusesToEmptyAFolderItDidNotWrite_AndRebuildsItsOwn()
    {
        var (root, site, _) = BuildSample();
        SiteBuilder.Build(new SiteOptions { Root = root, OutputDirectory = site });   // its own folder: rebuilt
        var foreign = TempRepo.NewFolder("foreign");
        File.WriteAllText(Path.Combine(foreign, "keep.txt"), "mine");
        Assert.Throws<IOException>(() => SiteBuilder.Build(new SiteOptions { Root = root, OutputDirectory = foreign }));
        Assert.True(File.Exists(Path.Combine(foreign, "keep.txt")));
        Assert.Throws<ArgumentException>(() => SiteBuilder.Build(new SiteOptions { Root = root, OutputDirectory = root }));
    }

    private static IEnumerable<string> Links(string html) => Regex.Matches(html, "(?:href|src)=\"([^\"]+)\"").Select(m => m.Groups[1].Value);

    [GeneratedRegex(@"url\((fonts/[^)]+\.woff2)\)")]
    private static partial Regex Woff2();
}
