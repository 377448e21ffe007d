using System.Text.RegularExpressions;
using Attention.Book;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Attention.Tests.Book;

/// <summary>Checks the real answer pages in docs/answers against the files and experiments they name.</summary>
public partial class PageCheckTests
{
    private static readonly string Root = RepoPaths.FindRoot();

    public static TheoryData<string> PageFiles()
    {
        var data = new TheoryData<string>();
        foreach (var page in Pages.Find(RepoPaths.Answers(Root)).Values) data.Add(page.FileName);
        if (data.Count == 0) data.Add("");   // no pages yet: one vacuous case, as xunit rejects empty data
        return data;
    }

    public static TheoryData<int> RegisteredQuestions()
    {
        var data = new TheoryData<int>();
        foreach (var e in ExperimentRegistry.Default.All) data.Add(e.Question);
        if (data.Count == 0) data.Add(0);
        return data;
    }

    [Theory]
    [MemberData(nameof(PageFiles))]
    public void Page_EveryRelativeLinkResolvesToAFile(string fileName)
    {
        if (fileName.Length == 0) return;
        var path = Path.Combine(RepoPaths.Answers(Root), fileName);
        var document = Markdig.Markdown.Parse(File.ReadAllText(path), SiteBuilder.Pipeline);
        var broken = new List<string>();
        foreach (var link in document.Descendants<LinkInline>())
        {
            var url = link.Url;
            if (string.IsNullOrEmpty(url) || url.StartsWith('#') || Scheme().IsMatch(url)) continue;
            var target = Uri.UnescapeDataString(url.Split('#', '?')[0]);
            var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, target));
            if (!File.Exists(full) && !Directory.Exists(full)) broken.Add(url);
        }
        Assert.True(broken.Count == 0, $"{fileName} links to missing files: {string.Join(", ", broken)}");
    }

    [Theory]
    [MemberData(nameof(PageFiles))]
    public void Page_EveryPictureItLinksIsAnImage_NotALinkThatLostItsBang(string fileName)
    {
        if (fileName.Length == 0) return;
        var document = Markdig.Markdown.Parse(File.ReadAllText(Path.Combine(RepoPaths.Answers(Root), fileName)), SiteBuilder.Pipeline);
        // an unescaped '[' in a caption turns "![caption](x.png)" into the text "![" and a link to the picture
        var notShown = document.Descendants<LinkInline>()
            .Where(l => !l.IsImage && l.Url is { } u && Regex.IsMatch(u, @"\.(png|jpe?g|gif|svg)$", RegexOptions.IgnoreCase))
            .Select(l => l.Url).ToList();
        Assert.True(notShown.Count == 0, $"{fileName} links pictures that do not render as images: {string.Join(", ", notShown)}");
    }

    [Theory]
    [MemberData(nameof(PageFiles))]
    public void Page_EveryExperimentClassItNamesIsRegistered(string fileName)
    {
        if (fileName.Length == 0) return;
        var text = File.ReadAllText(Path.Combine(RepoPaths.Answers(Root), fileName));
        // experiment classes are named by their source file (Experiments/QNN_Slug.cs) or as `attn show NN`'s class;
        // test names such as Q14Tests.Q14_Quick_AllChecksHold are not experiment classes
        var named = ExperimentFile().Matches(text).Select(m => m.Groups[1].Value).Distinct().ToList();
        var registered = ExperimentRegistry.Default.All.Select(e => e.GetType().Name).ToHashSet();
        var missing = named.Where(n => !registered.Contains(n)).ToList();
        Assert.True(missing.Count == 0, $"{fileName} names experiment classes that are not registered: {string.Join(", ", missing)}");
    }

    [Theory]
    [MemberData(nameof(RegisteredQuestions))]
    public void Experiment_HasAPageWithItsBlockMarkers(int question)
    {
        if (question == 0) return;
        var pages = Pages.Find(RepoPaths.Answers(Root));
        Assert.True(pages.TryGetValue(question, out var page), $"experiment {question} has no page docs/answers/{question:00}-*.md");
        var text = File.ReadAllText(page!.Path);
        Assert.True(PageBlock.Has(text, question),
            $"{page.FileName} needs one '{PageBlock.StartMarker(question)}' … '{PageBlock.EndMarker}' block");
    }

    [Theory]
    [MemberData(nameof(PageFiles))]
    public void Page_EveryTestItCitesUnderCheckedByExists(string fileName)
    {
        if (fileName.Length == 0) return;
        var text = File.ReadAllText(Path.Combine(RepoPaths.Answers(Root), fileName)).ReplaceLineEndings("\n");
        int at = text.IndexOf("**Checked by.**", StringComparison.Ordinal);
        if (at < 0) return;
        int end = text.IndexOf("\n\n", at, StringComparison.Ordinal);
        var paragraph = end < 0 ? text[at..] : text[at..end];
        var tests = typeof(PageCheckTests).Assembly.GetTypes();
        var missing = new List<string>();
        foreach (Match m in CitedTest().Matches(paragraph))
        {
            string type = m.Groups[1].Value, method = m.Groups[2].Value;
            var candidates = tests.Where(t => t.Name == type).ToList();
            if (candidates.Count == 0 || !candidates.Any(t => t.GetMethod(method) is not null)) missing.Add($"{type}.{method}");
        }
        Assert.True(missing.Count == 0, $"{fileName} cites tests that do not exist: {string.Join(", ", missing)}");
    }

    /// <summary>A control character in a page is a TeX command eaten by a string escape ("\\approx" written as "\a" + "pprox",
    /// "\\frac" as a form feed): KaTeX then renders an error instead of the formula.</summary>
    [Theory]
    [MemberData(nameof(PageFiles))]
    public void Page_HasNoControlCharacters(string fileName)
    {
        if (fileName.Length == 0) return;
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Answers(Root), fileName));
        var bad = lines.Select((l, i) => (Line: i + 1, Text: l)).Where(x => x.Text.Any(c => char.IsControl(c) && c != '\t')).Select(x => x.Line).ToList();
        Assert.True(bad.Count == 0, $"{fileName}: control characters on lines {string.Join(", ", bad)}");
    }

    [Fact]
    public void Pages_AreNamedForTheirQuestion_AndTitledWithTheirNumber()
    {
        foreach (var page in Pages.Find(RepoPaths.Answers(Root)).Values)
        {
            var first = File.ReadLines(page.Path).FirstOrDefault() ?? "";
            Assert.True(first.StartsWith($"# {page.Question} ", StringComparison.Ordinal) || first.StartsWith($"# {page.Question:00} ", StringComparison.Ordinal),
                $"{page.FileName} should open with '# {page.Question} · …'; it opens with '{first}'");
        }
    }

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex Scheme();

    [GeneratedRegex(@"`([A-Z][A-Za-z0-9_]*Tests)\.([A-Za-z0-9_]+)`")]
    private static partial Regex CitedTest();

    [GeneratedRegex(@"Experiments/(Q\d{2}_[A-Za-z0-9]+)\.cs")]
    private static partial Regex ExperimentFile();
}

/// <summary>Experiments measure time; running them beside other tests on two cores would make their timing claims noise.</summary>
[CollectionDefinition("Experiments", DisableParallelization = true)]
public sealed class ExperimentsCollection;

/// <summary>
/// Runs every registered experiment quick with a fixed seed and renders its page block: it must render, every
/// check must hold (except claims about wall time, Check.Timing) and every figure must exist. Slow-ish (seconds per experiment): filter with Category=Experiments.
/// </summary>
[Collection("Experiments")]
public class ExperimentRenderTests
{
    [Theory]
    [Trait("Category", "Experiments")]
    [MemberData(nameof(PageCheckTests.RegisteredQuestions), MemberType = typeof(PageCheckTests))]
    public void Experiment_RunsQuick_RendersItsBlock_AndItsChecksHold(int question)
    {
        if (question == 0) return;
        var experiment = ExperimentRegistry.Default.Find(question)!;
        var run = ExperimentRunner.Run(experiment, full: false, seed: 1234,
                                       figureDirectory: Path.Combine(TempRepo.NewFolder($"exp{question:00}"), "figures"));
        Assert.True(run.Succeeded, $"{experiment.GetType().Name} threw: {run.Error}");
        var block = RenderedBlock.From(run, machine: "test machine");
        var result = run.Result!;
        // the block shows what the run measured: every table, every check with its verdict
        static string Line(string text) => text.ReplaceLineEndings(" ").Trim();
        foreach (var table in result.Tables) Assert.Contains(Line(table.Title), block.Markdown);
        foreach (var check in result.Checks) Assert.Contains((check.Holds ? "✓ " : "✗ ") + Line(check.Claim), block.Markdown);
        var root = RepoPaths.FindRoot();
        if (Pages.Find(RepoPaths.Answers(root)).TryGetValue(question, out var page))
        {
            // writing the block replaces only what lies between the markers: the prose around it survives byte for byte
            var text = File.ReadAllText(page.Path);
            var rendered = PageBlock.Replace(text, question, block.Markdown);
            string start = PageBlock.StartMarker(question), end = PageBlock.EndMarker;
            Assert.Equal(text[..text.IndexOf(start, StringComparison.Ordinal)], rendered[..rendered.IndexOf(start, StringComparison.Ordinal)]);
            Assert.Equal(text[text.IndexOf(end, text.IndexOf(start, StringComparison.Ordinal), StringComparison.Ordinal)..],
                         rendered[rendered.IndexOf(end, rendered.IndexOf(start, StringComparison.Ordinal), StringComparison.Ordinal)..]);
        }
        Assert.All(result.Figures, f => Assert.True(File.Exists(f.Path), $"figure {f.Path} was not written"));
        // an experiment proves its page with claims that do not rest on the clock; losing them all must fail here
        Assert.True(result.Checks.Count(c => !c.Timing) >= 1, $"{experiment.GetType().Name} makes no check that is not about timing");
        // Claims that rest on wall-clock time are reported on the page but not asserted: machines are noisy.
        var failed = result.Checks.Where(c => !c.Holds && !c.Timing).Select(c => c.Claim + (c.Detail is null ? "" : $" ({c.Detail})")).ToList();
        Assert.True(failed.Count == 0, $"{experiment.GetType().Name}: checks that do not hold: {string.Join("; ", failed)}");
    }
}
