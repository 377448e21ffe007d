using System.Text.RegularExpressions;
using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Book;

public class BookPipelineTests
{
    private const string FakePage = "# 7 · Fake weights\n\nBefore the block.\n\n<!-- experiment:07 -->\nold\n<!-- /experiment -->\n\nAfter the block.\n";

    /// <summary>A temporary repository with page 7 and a registry of the fakes named.</summary>
    private static (string Root, ExperimentRegistry Registry) FakeRepo(params Type[] experiments)
    {
        var root = TempRepo.NewRepo("pipeline");
        File.WriteAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md"), FakePage);
        return (root, TempRepo.Fakes(experiments));
    }

    /// <summary>Collects every report, in order; safe from the experiments' threads.</summary>
    private sealed class Recorder : IProgress<BookProgress>
    {
        private readonly List<BookProgress> _seen = [];
        public IReadOnlyList<BookProgress> Seen { get { lock (_seen) return [.. _seen]; } }
        public void Report(BookProgress value) { lock (_seen) _seen.Add(value); }
    }

    [Fact]
    public void PagesOnly_RunsNoExperiment_AndBuildsTheSiteFromThePagesAsTheyAre()
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights), typeof(Q09_FakeThrows));
        var site = Path.Combine(root, "site");
        var pipeline = new BookPipeline(new BookOptions { Root = root, OutputDirectory = site, Registry = registry, PagesOnly = true });
        Assert.Empty(pipeline.Experiments);
        var recorder = new Recorder();
        var report = pipeline.Run(recorder);
        Assert.Empty(recorder.Seen);
        Assert.Empty(report.Runs);
        Assert.Empty(report.PageWrites);
        Assert.True(report.Succeeded);
        Assert.Equal(Path.Combine(site, "index.html"), report.Site.IndexPath);
        Assert.Contains("<p>old</p>", File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html")));
        Assert.Equal(FakePage, File.ReadAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md")));
    }

    [Fact]
    public void Only_RunsJustTheNamedQuestions_ReportsEachOneStartingAndFinishing_AndTheSiteShowsTheFreshBlock()
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights), typeof(Q08_FakeFailingCheck), typeof(Q09_FakeThrows));
        var site = Path.Combine(root, "site");
        var pipeline = new BookPipeline(new BookOptions { Root = root, OutputDirectory = site, Registry = registry, Only = new HashSet<int> { 7, 8 } });
        Assert.Equal([7, 8], pipeline.Experiments.Select(e => e.Question));
        var recorder = new Recorder();
        var report = pipeline.Run(recorder);

        Assert.Equal([7, 8], report.Runs.Select(r => r.Experiment.Question));
        Assert.True(report.Succeeded);                               // a claim that does not hold is shown, not a failure
        var stages = recorder.Seen.Where(p => p.Stage != BookStage.ExperimentProgress).Select(p => (p.Stage, p.Experiment.Question, p.Index, p.Count)).ToList();
        Assert.Equal([(BookStage.ExperimentStarting, 7, 0, 2), (BookStage.ExperimentFinished, 7, 0, 2),
                      (BookStage.ExperimentStarting, 8, 1, 2), (BookStage.ExperimentFinished, 8, 1, 2)], stages);
        Assert.Contains(recorder.Seen, p => p.Stage == BookStage.ExperimentProgress && p.Experiment.Question == 7 && p.Status == "drawing");
        Assert.Same(report.Runs[0], recorder.Seen.First(p => p.Stage == BookStage.ExperimentFinished).Run);

        var html = File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html"));
        Assert.Contains("✓ rows sum to one", html);
        Assert.True(File.Exists(Path.Combine(site, "answers", "figures", "q07", "q07-weights.png")));
        Assert.Equal(FakePage, File.ReadAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md")));   // no WritePages
        Assert.All(report.Runs, r => Assert.False(Directory.Exists(r.FigureDirectory), $"temporary figures left in {r.FigureDirectory}"));
    }

    [Fact]
    public void AFailingExperiment_DoesNotStopTheOthers_AndIsNamedInFailed()
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights), typeof(Q09_FakeThrows));
        var report = new BookPipeline(new BookOptions { Root = root, OutputDirectory = Path.Combine(root, "site"), Registry = registry, WritePages = true }).Run();
        Assert.Equal(2, report.Runs.Count);
        Assert.False(report.Succeeded);
        Assert.Equal(["Q09_FakeThrows"], report.Failed);
        Assert.Equal("boom from the fake", report.Runs.Single(r => !r.Succeeded).Error!.Message);
        var write = Assert.Single(report.PageWrites);                // Q09 has no result, so no block
        Assert.Equal(PageWriteOutcome.Written, write.Outcome);
        Assert.True(File.Exists(report.Site.IndexPath));
    }

    [Fact]
    public void WritePages_AQuestionWithoutPage_IsNoted_AndAPageWithoutMarkers_IsAFailure()
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights), typeof(Q08_FakeFailingCheck));
        File.WriteAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md"), "# 7 · Fake weights\n\nNo markers here.\n");
        var report = new BookPipeline(new BookOptions { Root = root, OutputDirectory = Path.Combine(root, "site"), Registry = registry, WritePages = true }).Run();
        var seven = Assert.Single(report.PageWrites, w => w.Question == 7);
        Assert.Equal(PageWriteOutcome.Failed, seven.Outcome);
        Assert.Contains("experiment:07", seven.Error);
        var eight = Assert.Single(report.PageWrites, w => w.Question == 8);
        Assert.Equal(PageWriteOutcome.NoPage, eight.Outcome);
        Assert.Null(eight.PagePath);
        Assert.Equal(["Q07_FakeWeights"], report.Failed);
    }

    [Fact]
    public void WritePages_WithARealExperiment_RewritesOnlyTheBlockOfACopiedPage_AndCopiesItsFigures()
    {
        // answer 8's real page and its quick experiment (well under a second), in a temporary checkout
        var page = Pages.Find(RepoPaths.Answers(RepoPaths.FindRoot()))[8];
        var root = TempRepo.NewRepo("write-pages");
        var copy = Path.Combine(RepoPaths.Answers(root), page.FileName);
        var before = File.ReadAllText(page.Path);
        File.WriteAllText(copy, PageBlock.Replace(before, 8, "stale block"));
        var report = new BookPipeline(new BookOptions
        {
            Root = root, OutputDirectory = Path.Combine(root, "site"), Registry = new ExperimentRegistry([typeof(Q08_Softmax)]),
            Only = new HashSet<int> { 8 }, WritePages = true,
        }).Run();

        Assert.True(report.Succeeded, string.Join("; ", report.Failed));
        Assert.Equal(new PageWrite(8, copy, PageWriteOutcome.Written), Assert.Single(report.PageWrites));
        var after = File.ReadAllText(copy);
        var block = PageBlock.Read(after, 8);
        Assert.DoesNotContain("stale block", block);
        Assert.Equal(RenderedBlock.From(report.Runs[0]).Markdown.Trim('\r', '\n'), block);
        Assert.Equal(PageBlock.Replace(before, 8, "x"), PageBlock.Replace(after, 8, "x"));   // nothing outside the markers moved
        var figures = Regex.Matches(block, @"\]\((figures/q08/[^)]+)\)");
        Assert.NotEmpty(figures);
        foreach (Match m in figures)
            Assert.True(File.Exists(Path.Combine(RepoPaths.Answers(root), m.Groups[1].Value)), $"figure {m.Groups[1].Value} not copied beside the page");
    }

    [Fact]
    public void Run_ChecksTheSiteFolderBeforeAnyExperimentRuns()
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights));
        var foreign = TempRepo.NewFolder("foreign");
        File.WriteAllText(Path.Combine(foreign, "keep.txt"), "mine");
        var recorder = new Recorder();
        var pipeline = new BookPipeline(new BookOptions { Root = root, OutputDirectory = foreign, Registry = registry });
        var e = Assert.Throws<IOException>(() => pipeline.Run(recorder));
        Assert.Contains(foreign, e.Message);
        Assert.Empty(recorder.Seen);
        Assert.True(File.Exists(Path.Combine(foreign, "keep.txt")));
    }

    public static TheoryData<string, Func<string, BookOptions>> BadOptions => new()
    {
        { "Root", r => new BookOptions { Root = " ", OutputDirectory = Path.Combine(r, "s") } },
        { "OutputDirectory", r => new BookOptions { Root = r, OutputDirectory = "" } },
        { "docs/answers", r => new BookOptions { Root = Path.Combine(r, "src"), OutputDirectory = Path.Combine(r, "s") } },
        { "PagesOnly", r => new BookOptions { Root = r, OutputDirectory = Path.Combine(r, "s"), PagesOnly = true, Full = true } },
        { "PagesOnly", r => new BookOptions { Root = r, OutputDirectory = Path.Combine(r, "s"), PagesOnly = true, Only = new HashSet<int> { 7 } } },
        { "PagesOnly", r => new BookOptions { Root = r, OutputDirectory = Path.Combine(r, "s"), PagesOnly = true, WritePages = true } },
        { "at least one", r => new BookOptions { Root = r, OutputDirectory = Path.Combine(r, "s"), Only = new HashSet<int>() } },
        { "1..50; got 0, 51", r => new BookOptions { Root = r, OutputDirectory = Path.Combine(r, "s"), Only = new HashSet<int> { 51, 7, 0 } } },
        { "without an experiment: 12", r => new BookOptions { Root = r, OutputDirectory = Path.Combine(r, "s"), Only = new HashSet<int> { 7, 12 } } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void BadOptions_ThrowArgumentException_NamingWhatWasExpected(string named, Func<string, BookOptions> make)
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights));
        var e = Assert.ThrowsAny<ArgumentException>(() => new BookPipeline(make(root) with { Registry = registry }));
        Assert.Contains(named, e.Message);
        Assert.Throws<ArgumentNullException>(() => new BookPipeline(null!));
    }

    [Fact]
    public void WritePages_IsRefusedForAFolderThatIsNotACheckout_SuchAsTheToolsOwnCopy()
    {
        var (root, registry) = FakeRepo(typeof(Q07_FakeWeights));
        File.Delete(Path.Combine(root, RepoPaths.SolutionFile));
        var e = Assert.Throws<ArgumentException>(() => new BookPipeline(new BookOptions { Root = root, OutputDirectory = Path.Combine(root, "s"), Registry = registry, WritePages = true }));
        Assert.Contains("checkout", e.Message);
    }

    [Fact]
    public void TheBookTheToolCarries_BuildsTheSameSiteAsTheCheckout()
    {
        // book/ beside the program is what `attn book` reads outside a checkout (the test host gets attn's copy); a page
        // citing a file the copy lacks would show up here as a missing site file or a link kept as text
        var shipped = RepoPaths.ShippedBook();
        Assert.NotNull(shipped);
        Assert.False(File.Exists(Path.Combine(shipped, RepoPaths.SolutionFile)));   // never taken for a checkout
        var output = TempRepo.NewFolder("shipped");
        var fromCheckout = new BookPipeline(new BookOptions { Root = RepoPaths.FindRoot(), OutputDirectory = Path.Combine(output, "checkout"), PagesOnly = true }).Run();
        var fromTool = new BookPipeline(new BookOptions { Root = shipped, OutputDirectory = Path.Combine(output, "tool"), PagesOnly = true }).Run();
        static List<string> Files(string site) =>
            Directory.EnumerateFiles(site, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(site, f)).Order(StringComparer.Ordinal).ToList();
        var checkoutSite = Path.GetDirectoryName(fromCheckout.Site.IndexPath)!;
        var toolSite = Path.GetDirectoryName(fromTool.Site.IndexPath)!;
        // every file of the checkout's site is in the tool's (a file a build left in bin/ may add to the tool's listings)
        Assert.Empty(Files(checkoutSite).Except(Files(toolSite)));
        Assert.Equal(fromCheckout.Site.KeptAsText, fromTool.Site.KeptAsText);
        Assert.Equal(File.ReadAllText(Path.Combine(checkoutSite, "index.html")), File.ReadAllText(Path.Combine(toolSite, "index.html")));
        Directory.Delete(output, recursive: true);
    }
}
