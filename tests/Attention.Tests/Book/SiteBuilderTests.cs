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
            "[a paper](https://arxiv.org/abs/1706.03762) and ![a sketch](img/sketch.png).\n\n" +
            "<!-- experiment:07 -->\nold\n<!-- /experiment -->\n");
        File.WriteAllText(Path.Combine(answers, "08-other.md"), "# 8 · Other\n\nBack to [7](07-fake-weights.md).\n");
        var site = Path.Combine(root, "site");
        var report = SiteBuilder.Build(new SiteOptions
        {
            Root = root, OutputDirectory = site, FreshBlocks = fresh,
            Registry = TempRepo.Fakes(typeof(Q07_FakeWeights), typeof(Q09_FakeThrows)),
        });
        return (root, site, report);
    }

    [Fact]
    public void Site_RewritesPageLinksToHtml_AndCodeLinksToRepositoryFiles()
    {
        var (_, site, _) = BuildSample();
        var page = Path.Combine(site, "answers", "07-fake-weights.html");
        var html = File.ReadAllText(page);
        Assert.Contains("href=\"08-other.html#pitfalls\"", html);
        Assert.Contains("href=\"https://arxiv.org/abs/1706.03762\"", html);
        foreach (var href in Links(html).Where(h => !h.StartsWith("http", StringComparison.Ordinal)))
        {
            var path = href.Split('#')[0];
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(path))), $"link {href} from the site page resolves to nothing");
        }
        Assert.Contains("../../src/Attention/Kernels/Code.cs", html);   // site/answers → repo/src
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
