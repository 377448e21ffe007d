using System.Diagnostics;
using System.Text.Json;
using Attention.Book;
using Xunit.Abstractions;

namespace Attention.Tests.Browser;

/// <summary>
/// The book's site as a reader's browser sees it. The site is built once, in seconds, from the committed pages and
/// figures (what <c>attn book --pages-only</c> does: no experiment runs), so every figure a page links exists and
/// every image must load.
/// </summary>
public sealed class SiteFixture : IDisposable
{
    public SiteFixture()
    {
        Root = RepoPaths.FindRoot();
        Site = Path.Combine(Directory.CreateTempSubdirectory("attn-site-browser-").FullName, "site");
        var clock = Stopwatch.StartNew();
        Report = SiteBuilder.Build(new SiteOptions { Root = Root, OutputDirectory = Site });
        BuildSeconds = clock.Elapsed.TotalSeconds;
    }

    public string Root { get; }
    public string Site { get; }
    public SiteReport Report { get; }
    public double BuildSeconds { get; }

    private ChromiumSession? _browser;

    /// <summary>One Chromium for the class (started on first use; skips where there is none).</summary>
    internal ChromiumSession Browser => _browser ??= ChromiumSession.Start();

    public void Dispose()
    {
        _browser?.Dispose();
        try { Directory.Delete(Path.GetDirectoryName(Site)!, true); } catch (IOException) { }
    }
}

public class SiteBrowserTests(SiteFixture fixture, ITestOutputHelper output) : IClassFixture<SiteFixture>
{
    /// <summary>What one page reports after it has loaded and KaTeX has run.</summary>
    private const string Inspect = """
        JSON.stringify({
          katexErrors: [...document.querySelectorAll(".katex-error")].slice(0, 3).map(e => e.getAttribute("title") || e.textContent),
          untypesetMath: [...document.querySelectorAll(".math")].filter(e => !e.querySelector(".katex")).slice(0, 3).map(e => e.textContent),
          brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
          images: document.images.length,
          links: [...document.querySelectorAll("a[href], img[src], iframe[src], link[href], script[src]")].map(e => e.href || e.src),
          toc: document.querySelectorAll("nav.toc li").length,
          current: [...document.querySelectorAll("nav.toc li.current")].map(li => li.value),
          pager: document.querySelectorAll("nav.pager a[rel]").length,
          search: !!document.getElementById("search"),
          siteBuilt: document.body.hasAttribute("data-root")
        })
        """;

    [SkippableFact]
    public void EveryPage_LoadsInChromium_WithoutErrors_WithMathTypeset_ImagesLoaded_NavigationPresent_AndLinksInsideTheSite()
    {
        Skip.If(HeadlessChromium.Executable is null, HeadlessChromium.Missing);
        var site = Path.TrimEndingDirectorySeparator(Path.GetFullPath(fixture.Site)) + Path.DirectorySeparatorChar;
        var all = Directory.GetFiles(fixture.Site, "*.html", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var answers = Pages.Find(RepoPaths.Answers(fixture.Root));
        Assert.True(all.Count > answers.Count + 50, $"expected the answer pages plus the repository files they cite, got {all.Count} pages");
        // every page the Markdown makes is loaded; of the ~250 highlighted source files (one template, no script of
        // their own) every tenth, and the links of all the others are resolved from their HTML
        var sourcePages = all.Where(p => File.ReadAllText(p).Contains("<pre class=\"code", StringComparison.Ordinal)).ToList();
        var pages = all.Except(sourcePages).Concat(sourcePages.Where((_, i) => i % 10 == 0)).ToList();
        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        int images = 0, links = 0, math = 0;
        foreach (var page in sourcePages.Except(pages))
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(page), "(?:href|src)=\"([^\"#]+)[^\"]*\""))
            {
                links++;
                var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(m.Groups[1].Value)));
                if (!target.StartsWith(site, StringComparison.Ordinal) || !File.Exists(target))
                    failures.Add($"{Path.GetRelativePath(fixture.Site, page)}: link {m.Groups[1].Value} leaves the site or resolves to nothing");
            }
        var browser = fixture.Browser;
        foreach (var page in pages)
        {
            var rel = Path.GetRelativePath(fixture.Site, page).Replace('\\', '/');
            var (r, problems) = Load(browser, fixture.Site, page);
            failures.AddRange(problems);
            images += r.GetProperty("images").GetInt32();
            links += r.GetProperty("links").GetArrayLength();
            if (rel.Contains("/figures/", StringComparison.Ordinal)) continue;  // interactive figures are standalone views
            if (!r.GetProperty("siteBuilt").GetBoolean()) { failures.Add($"{rel}: not a page of the site layout"); continue; }
            if (!r.GetProperty("search").GetBoolean()) failures.Add($"{rel}: no search box");
            var answer = answers.Values.FirstOrDefault(a => Path.GetFileNameWithoutExtension(a.Path) == Path.GetFileNameWithoutExtension(page) && rel.StartsWith("answers/", StringComparison.Ordinal));
            if (rel == "index.html") continue;                                   // the contents page is the contents
            if (r.GetProperty("toc").GetInt32() != Questions.Count) failures.Add($"{rel}: contents beside the page list {r.GetProperty("toc").GetInt32()} questions, expected {Questions.Count}");
            if (answer is not null)
            {
                math += r.GetProperty("untypesetMath").GetArrayLength() == 0 ? 1 : 0;
                var current = r.GetProperty("current").EnumerateArray().Select(c => c.GetInt32()).ToList();
                if (current.Count != 1 || current[0] != answer.Question) failures.Add($"{rel}: contents mark [{string.Join(",", current)}] as current, expected {answer.Question}");
                int expectedPager = (answer.Question == answers.Keys.Min() || answer.Question == answers.Keys.Max() ? 1 : 2) * 2;   // top and bottom
                if (r.GetProperty("pager").GetInt32() != expectedPager) failures.Add($"{rel}: {r.GetProperty("pager").GetInt32()} previous/next links, expected {expectedPager}");
            }
        }
        output.WriteLine($"site built in {fixture.BuildSeconds:0.0} s ({fixture.Report.PagesWritten} pages, {fixture.Report.SourcePagesWritten} repository files); " +
                         $"{pages.Count} of {all.Count} pages loaded in {clock.Elapsed.TotalSeconds:0.0} s; {images} images, {links} links checked");
        Assert.True(failures.Count == 0, $"{failures.Count} problems:\n" + string.Join("\n", failures.Take(40)));
        Assert.True(images > 50, $"expected the committed figures to be shown, saw {images} images");
        Assert.Equal(answers.Count, math);
        Assert.Empty(fixture.Report.KeptAsText);
    }

    /// <summary>Loads one page and lists what is wrong with it: errors it reported, KaTeX errors, math left as TeX,
    /// images that did not load, links that leave the site folder or reach no file.</summary>
    private static (JsonElement Report, List<string> Problems) Load(ChromiumSession browser, string siteFolder, string page)
    {
        var site = Path.TrimEndingDirectorySeparator(Path.GetFullPath(siteFolder)) + Path.DirectorySeparatorChar;
        var rel = Path.GetRelativePath(siteFolder, page).Replace('\\', '/');
        browser.Navigate(page);
        var r = browser.EvaluateJson(Inspect);
        var failures = browser.Problems().Select(p => $"{rel}: {p}").ToList();
        foreach (var e in r.GetProperty("katexErrors").EnumerateArray()) failures.Add($"{rel}: KaTeX error {e}");
        foreach (var e in r.GetProperty("untypesetMath").EnumerateArray()) failures.Add($"{rel}: math left untypeset: {e}");
        foreach (var e in r.GetProperty("brokenImages").EnumerateArray()) failures.Add($"{rel}: image did not load: {e}");
        foreach (var link in r.GetProperty("links").EnumerateArray().Select(l => l.GetString()!))
        {
            var uri = new Uri(link);
            if (uri.Scheme is "http" or "https" or "mailto") continue;             // external: leaves on purpose
            if (uri.Scheme != "file") { failures.Add($"{rel}: link with scheme {uri.Scheme}: {link}"); continue; }
            var target = Path.GetFullPath(Uri.UnescapeDataString(uri.AbsolutePath));
            if (!target.StartsWith(site, StringComparison.Ordinal)) failures.Add($"{rel}: link leaves the site folder: {link}");
            else if (!File.Exists(target)) failures.Add($"{rel}: link to a missing file: {link}");
        }
        return (r, failures);
    }

    [SkippableFact]
    public void PageCheck_CatchesAScriptError_AnUnreadableFormula_ABrokenImage_AndLinksOutOfTheSite()
    {
        var browser = fixture.Browser;
        var root = Attention.Tests.Book.TempRepo.NewRepo("broken-site");
        var answers = RepoPaths.Answers(root);
        Directory.CreateDirectory(Path.Combine(answers, "figures"));
        File.WriteAllText(Path.Combine(answers, "figures", "not-a.png"), "these bytes are no PNG");
        File.WriteAllText(Path.Combine(answers, "07-broken.md"),
            "# 7 · Broken\n\nMath $\\notacommand{x}$ and ![a picture](figures/not-a.png).\n\n" +
            "<a href=\"../../../outside.html\">raw HTML the builder does not rewrite</a> <a href=\"nowhere.html\">gone</a>\n\n" +
            "<script>throw new Error(\"boom in the page\");</script>\n");
        var site = Path.Combine(root, "site");
        SiteBuilder.Build(new SiteOptions { Root = root, OutputDirectory = site, Registry = Attention.Tests.Book.TempRepo.Fakes() });
        var (_, problems) = Load(browser, site, Path.Combine(site, "answers", "07-broken.html"));
        var all = string.Join("\n", problems);
        output.WriteLine(all);
        Assert.Contains("boom in the page", all);
        Assert.Contains("KaTeX auto-render: Failed to parse", all);            // an unknown command: reported, left as TeX
        Assert.Contains("math left untypeset", all);
        Assert.Contains("image did not load", all);
        Assert.Contains("link leaves the site folder", all);
        Assert.Contains("link to a missing file", all);
    }

    [SkippableFact]
    public void Search_FromAnAnswerPage_FindsThePageOnATopic_AndSaysWhenNothingMatches()
    {
        var browser = fixture.Browser;
        browser.Navigate(Path.Combine(fixture.Site, "answers", "13-scaled-dot-product.html"));
        browser.Evaluate("document.getElementById('search').focus()");
        browser.Type("squeeze excitation");
        Assert.True(browser.WaitUntil("document.querySelectorAll('#search-results a').length > 0"), "no search results appeared");
        var top = browser.EvaluateJson("JSON.stringify([...document.querySelectorAll('#search-results a')].slice(0, 3).map(a => a.href))");
        Assert.Contains(top.EnumerateArray(), h => h.GetString()!.EndsWith("/answers/26-squeeze-and-excitation.html", StringComparison.Ordinal));
        Assert.Empty(browser.Problems());

        browser.Evaluate("(() => { const s = document.getElementById('search'); s.value = ''; s.focus(); })()");
        browser.Type("zqxjv");
        Assert.True(browser.WaitUntil("document.querySelector('#search-results .none') !== null"), "no 'nothing found' line for a word no page has");
        Assert.Equal(0, browser.Evaluate("document.querySelectorAll('#search-results a').length").GetInt32());
    }

    [SkippableFact]
    public void HeadView_OnPage23_IsEmbedded_AndAnswersHoverClickLayerAndHeadSelection()
    {
        var browser = fixture.Browser;
        // embedded in the page: the frame loads the view, whose script reports its height to the page
        browser.Navigate(Path.Combine(fixture.Site, "answers", "23-attention-heatmaps.html"));
        Assert.Equal("figures/q23/q23-head-view.html", browser.Evaluate("document.querySelector('figure.embed iframe').getAttribute('src')").GetString());
        browser.Evaluate("document.querySelector('figure.embed iframe').scrollIntoView()");
        Assert.True(browser.WaitUntil("document.querySelector('figure.embed iframe').style.height !== ''"), "the embedded head view never reported its height (its script did not run in the frame)");
        Assert.Empty(browser.Problems());

        // alone: drive it with the mouse
        browser.Navigate(Path.Combine(fixture.Site, "answers", "figures", "q23", "q23-head-view.html"));
        Assert.Empty(browser.Problems());
        const string state = """
            JSON.stringify({
              layer: document.getElementById("layer").value,
              queries: [...new Set([...document.querySelectorAll("#view line")].map(l => l.getAttribute("y1")))].length,
              heads: [...new Set([...document.querySelectorAll("#view line")].map(l => l.dataset.head))].length,
              lines: document.querySelectorAll("#view line").length,
              signature: [...document.querySelectorAll("#view line")].map(l => l.getAttribute("y1") + ">" + l.getAttribute("y2") + ":" + l.getAttribute("stroke-opacity")).join("|"),
              active: [...document.querySelectorAll("#view text.active")].map(t => t.textContent)
            })
            """;
        var all = browser.EvaluateJson(state);
        int tokens = browser.Evaluate("document.querySelectorAll('#view text[data-side=query]').length").GetInt32();
        Assert.True(tokens > 5, $"expected the sentence's tokens, got {tokens}");
        Assert.Equal(12, all.GetProperty("heads").GetInt32());                  // every head of the last layer drawn
        Assert.True(all.GetProperty("queries").GetInt32() > 1);

        // hover the third query token: only its lines remain, and it is bold
        var box = browser.EvaluateJson("JSON.stringify((r => ({ x: r.x + r.width / 2, y: r.y + r.height / 2 }))(document.querySelectorAll('#view text[data-side=query]')[2].getBoundingClientRect()))");
        double x = box.GetProperty("x").GetDouble(), y = box.GetProperty("y").GetDouble();
        browser.MouseMove(x, y);
        var hovered = browser.EvaluateJson(state);
        Assert.Equal(1, hovered.GetProperty("queries").GetInt32());
        Assert.True(hovered.GetProperty("lines").GetInt32() < all.GetProperty("lines").GetInt32());
        Assert.Single(hovered.GetProperty("active").EnumerateArray());

        // moving away restores every query; a click keeps the token after the mouse leaves
        browser.MouseMove(5, 5);
        Assert.Equal(all.GetProperty("signature").GetString(), browser.EvaluateJson(state).GetProperty("signature").GetString());
        browser.Click(x, y);
        browser.MouseMove(5, 5);
        var pinned = browser.EvaluateJson(state);
        Assert.Equal(hovered.GetProperty("signature").GetString(), pinned.GetProperty("signature").GetString());
        browser.Click(x, y);                                                    // unpin
        browser.MouseMove(5, 5);
        Assert.Equal(all.GetProperty("signature").GetString(), browser.EvaluateJson(state).GetProperty("signature").GetString());

        // another layer draws other weights
        browser.Evaluate("(() => { const s = document.getElementById('layer'); s.value = '0'; s.dispatchEvent(new Event('change')); })()");
        var layer0 = browser.EvaluateJson(state);
        Assert.Equal("0", layer0.GetProperty("layer").GetString());
        Assert.NotEqual(all.GetProperty("signature").GetString(), layer0.GetProperty("signature").GetString());

        // "none", then one head's checkbox clicked with the mouse: only that head's lines
        browser.Evaluate("document.getElementById('none').click()");
        Assert.Equal(0, browser.EvaluateJson(state).GetProperty("lines").GetInt32());
        var check = browser.EvaluateJson("JSON.stringify((r => ({ x: r.x + r.width / 2, y: r.y + r.height / 2 }))(document.querySelector('#heads input[data-head=\"3\"]').getBoundingClientRect()))");
        browser.Click(check.GetProperty("x").GetDouble(), check.GetProperty("y").GetDouble());
        var one = browser.EvaluateJson(state);
        Assert.Equal(1, one.GetProperty("heads").GetInt32());
        Assert.Equal("3", browser.Evaluate("document.querySelector('#view line').dataset.head").GetString());
        Assert.Empty(browser.Problems());
    }
}
