using System.Text.Json;
using Attention.Book;
using Attention.Cli;
using Attention.Tests.Book;

namespace Attention.Tests.Cli;

public class AttnAppTests
{
    private static (int Code, string Out, string Err) Run(AttnApp app, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = app.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static (AttnApp App, string Root) FakeApp()
    {
        var root = TempRepo.NewRepo("cli");
        File.WriteAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md"),
            "# 7 · Fake weights\n\n**Short answer.** Weights come from a **softmax** of `scores`.\n\n<!-- experiment:07 -->\nold\n<!-- /experiment -->\n");
        var registry = TempRepo.Fakes(typeof(Q07_FakeWeights), typeof(Q08_FakeFailingCheck), typeof(Q09_FakeThrows));
        return (new AttnApp(registry, root), root);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("show", "0")]
    [InlineData("show", "51")]
    [InlineData("show", "abc")]
    [InlineData("show", "-3")]
    [InlineData("show")]
    [InlineData("show", "7", "--bogus")]
    [InlineData("show", "7", "--seed", "x")]
    [InlineData("list", "extra")]
    [InlineData("book", "--frob")]
    [InlineData("book", "--only", "7,x")]
    [InlineData("book", "--only", "51")]
    [InlineData("book", "--only", "12")]
    [InlineData("book", "--pages-only", "--full")]
    [InlineData("book", "--pages-only", "--only", "7")]
    [InlineData("book", "--pages-only", "--write-pages")]
    [InlineData("bench", "--bogus")]
    [InlineData]
    public void UsageErrors_ExitWith2_AndOneLineOnStderr(params string[] args)
    {
        var (code, output, error) = Run(FakeApp().App, args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = Assert.Single(Lines(error));
        Assert.StartsWith("attn: ", line);
    }

    [Fact]
    public void MissingVerb_NamesEveryVerbTheCommandHas()
    {
        var (code, _, error) = Run(FakeApp().App);
        Assert.Equal(2, code);
        foreach (var verb in new[] { "list", "show N", "book", "bench", "quiz", "embed", "heads", "viz" })
            Assert.Contains(verb, error);
    }

    [Fact]
    public void Book_IntoAFolderThatCannotBeWritten_Exits2BeforeRunningAnything()
    {
        var (app, root) = FakeApp();
        var blocker = Path.Combine(root, "a-file");
        File.WriteAllText(blocker, "not a folder");
        var (code, output, error) = Run(app, "book", "--out", Path.Combine(blocker, "site"));
        Assert.Equal(2, code);
        Assert.Contains("cannot write the site", Assert.Single(Lines(error)));
        Assert.DoesNotContain("Q07_FakeWeights", output);   // no experiment ran
    }

    [Fact]
    public void Show_SaysWhereFiguresGo_AndOutChoosesTheFolder()
    {
        var (app, root) = FakeApp();
        var figures = Path.Combine(root, "my-figures");
        var (code, output, error) = Run(app, "show", "7", "--out", figures);
        Assert.True(code == 0, error);
        Assert.Contains("figures go to " + figures, output.ReplaceLineEndings(""));
        Assert.True(File.Exists(Path.Combine(figures, "q07-weights.png")));
    }

    [Fact]
    public void ShowOutOfRange_NamesTheRangeAndTheValue()
    {
        var (_, _, error) = Run(FakeApp().App, "show", "0");
        Assert.Contains("1..50", error);
        Assert.Contains("got 0", error);
    }

    [Fact]
    public void List_Exits0_WithOneLinePerQuestion()
    {
        var (code, output, error) = Run(FakeApp().App, "list");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var lines = Lines(output);
        Assert.Equal(50, lines.Length);
        for (int i = 0; i < 50; i++) Assert.StartsWith($"{i + 1} ", lines[i]);
        Assert.Contains("answered, with experiment", lines[6]);
        Assert.Contains("experiment only", lines[7]);
        Assert.Contains("not yet", lines[0]);
    }

    [Fact]
    public void List_OnTheRealRepository_ListsFiftyQuestions()
    {
        var (code, output, _) = Run(new AttnApp(), "list");
        Assert.Equal(0, code);
        Assert.Equal(50, Lines(output).Length);
    }

    [Fact]
    public void ShowJson_PrintsOneJsonObjectWithTheContractKeys_AndNothingElse()
    {
        var (code, output, error) = Run(FakeApp().App, "show", "7", "--json", "--seed", "5", "--full");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var line = Assert.Single(Lines(output));
        using var doc = JsonDocument.Parse(line);
        var o = doc.RootElement;
        Assert.Equal(JsonValueKind.Object, o.ValueKind);
        Assert.Equal(7, o.GetProperty("question").GetInt32());
        Assert.Equal(5, o.GetProperty("metrics").GetProperty("seed_echo").GetInt32());
        Assert.Equal(1, o.GetProperty("metrics").GetProperty("setting_full").GetInt32());
        Assert.All(o.GetProperty("checks").EnumerateArray(), c =>
        {
            Assert.Equal(JsonValueKind.String, c.GetProperty("claim").ValueKind);
            Assert.True(c.GetProperty("holds").ValueKind is JsonValueKind.True or JsonValueKind.False);
        });
        Assert.Equal(JsonValueKind.Array, o.GetProperty("tables").ValueKind);
        Assert.All(o.GetProperty("figures").EnumerateArray(), f => Assert.True(File.Exists(f.GetString())));
    }

    [Fact]
    public void ShowJson_ForTheFirstRegisteredExperiment_ParsesWithTheContractKeys()
    {
        var first = ExperimentRegistry.Default.All.FirstOrDefault();
        if (first is null) return;   // no experiment registered yet: covered by the fake above
        var (code, output, error) = Run(new AttnApp(), "show", first.Question.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(Assert.Single(Lines(output)));
        foreach (var key in new[] { "question", "metrics", "checks", "tables", "figures" })
            Assert.True(doc.RootElement.TryGetProperty(key, out _), $"missing key {key}");
        Assert.Equal(first.Question, doc.RootElement.GetProperty("question").GetInt32());
    }

    [Fact]
    public void ShowJson_WithoutAnExperiment_Exits1WithOneLine()
    {
        var (code, output, error) = Run(FakeApp().App, "show", "12", "--json");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("no experiment", Assert.Single(Lines(error)));
    }

    [Fact]
    public void Show_PrintsTheProse_ThenTheResultsTablesChecksAndHeatmap()
    {
        var (code, output, error) = Run(FakeApp().App, "show", "7");
        Assert.True(code == 0, error);
        Assert.Contains("Short answer. Weights come from a softmax of scores.", output);
        Assert.DoesNotContain("old", output);             // the stale block is not shown: a live run follows
        Assert.Contains("Weights by row", output);
        Assert.Contains("✓ rows sum to one", output);
        Assert.Contains("Fake attention weights", output);  // heatmap title
        Assert.Contains("██", output);
    }

    [Fact]
    public void Show_AFailingExperiment_Exits1_NamingIt()
    {
        var (code, _, error) = Run(FakeApp().App, "show", "9");
        Assert.Equal(1, code);
        var line = Assert.Single(Lines(error));
        Assert.Contains("Q09_FakeThrows", line);
        Assert.Contains("boom from the fake", line);
    }

    [Fact]
    public void Book_RunsTheRestWhenOneFails_WritesPagesAndSite_ThenExits1()
    {
        var (app, root) = FakeApp();
        var site = Path.Combine(root, "out-site");
        var (code, output, error) = Run(app, "book", "--out", site, "--write-pages");
        Assert.Equal(1, code);
        var line = Assert.Single(Lines(error));
        Assert.Contains("1 of 3 experiments failed: Q09_FakeThrows", line);
        Assert.Contains("Q07_FakeWeights", output);
        Assert.Contains("Q08_FakeFailingCheck", output);
        var page = File.ReadAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md"));
        Assert.Contains("✓ rows sum to one", page);
        Assert.Contains("Setting quick · seed 1234", page);
        Assert.True(File.Exists(Path.Combine(RepoPaths.Answers(root), "figures", "q07", "q07-weights.png")));
        Assert.True(File.Exists(Path.Combine(site, "index.html")));
        Assert.Contains("✓ rows sum to one", File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html")));
    }

    [Fact]
    public void Book_WithoutWritePages_LeavesThePagesAlone()
    {
        var (app, root) = FakeApp();
        var pagePath = Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md");
        var before = File.ReadAllText(pagePath);
        Run(app, "book", "--out", Path.Combine(root, "s"));
        Assert.Equal(before, File.ReadAllText(pagePath));
    }

    [Theory]
    [InlineData("--input")]
    [InlineData("--word")]
    public void Show_PassesInputToTheExperiment(string option)
    {
        var (code, output, _) = Run(FakeApp().App, "show", "7", option, "ATTENTION");
        Assert.Equal(0, code);
        Assert.Contains("input: ATTENTION", output);
    }

    [Fact]
    public void BookOnly_RunsJustTheNamedQuestions_AndWritesOnlyTheirPages()
    {
        var (app, root) = FakeApp();
        var (code, output, error) = Run(app, "book", "--only", "7,8", "--out", Path.Combine(root, "s"), "--write-pages");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Contains("Q08_FakeFailingCheck", output);
        Assert.DoesNotContain("Q09_FakeThrows", output);
        Assert.Contains("✓ rows sum to one", File.ReadAllText(Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md")));
    }

    [Fact]
    public void BookPagesOnly_RunsNoExperiment_AndBuildsTheSiteFromTheCommittedPages()
    {
        var (app, root) = FakeApp();
        var pagePath = Path.Combine(RepoPaths.Answers(root), "07-fake-weights.md");
        var before = File.ReadAllText(pagePath);
        var site = Path.Combine(root, "s");
        var (code, output, error) = Run(app, "book", "--pages-only", "--out", site);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.DoesNotContain("Q07_FakeWeights", output);                     // nothing ran: the fakes' names would be listed
        Assert.DoesNotContain("Q09_FakeThrows", output);
        Assert.Contains("<p>old</p>", File.ReadAllText(Path.Combine(site, "answers", "07-fake-weights.html")));   // the committed block
        Assert.Equal(before, File.ReadAllText(pagePath));
        Assert.True(File.Exists(Path.Combine(site, SiteBuilder.SearchIndexFile)));
    }
}
