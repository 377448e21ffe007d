using System.Text.Json;
using Markdig.Syntax;
using Attention.Book;

namespace Attention.Tests.Book;

public class ResultMarkdownTests
{
    private static ExperimentRun RunFake(Experiment e, string tag) =>
        ExperimentRunner.Run(e, full: false, seed: 99, figureDirectory: Path.Combine(TempRepo.NewFolder(tag), "figs"));

    [Fact]
    public void FakeExperiment_RenderedIntoATempPage_HasMetricsTablesFigureChecksNotesAndFooter()
    {
        var root = TempRepo.NewRepo("render");
        var page = Path.Combine(RepoPaths.Answers(root), "07-fake.md");
        File.WriteAllText(page, "# 7 · Fake\nBefore.\n<!-- experiment:07 -->\n<!-- /experiment -->\nAfter.\n");
        var run = RunFake(new Q07_FakeWeights(), "render-run");
        Assert.True(run.Succeeded, run.Error?.ToString());

        RenderedBlock.From(run, machine: "Test CPU, 2 cores").WriteInto(page);

        var text = File.ReadAllText(page);
        Assert.StartsWith("# 7 · Fake\nBefore.\n<!-- experiment:07 -->\n", text, StringComparison.Ordinal);
        Assert.EndsWith("<!-- /experiment -->\nAfter.\n", text, StringComparison.Ordinal);
        Assert.Contains("| `row_sum` | 1 |", text);
        Assert.Contains("| `seed_echo` | 99 |", text);
        Assert.Contains("**Weights by row**", text);
        Assert.Contains("| b\\|c | 0.7 |", text);                 // a pipe inside a cell is escaped
        Assert.Contains("![Fake attention weights](figures/q07/q07-weights.png)", text);
        Assert.Contains("- ✓ rows sum to one — max error 0", text);
        Assert.Contains("> A fake experiment used by the tests.", text);
        Assert.Contains("Setting quick · seed 99 · Test CPU, 2 cores", text);
        Assert.True(File.Exists(Path.Combine(RepoPaths.Answers(root), "figures", "q07", "q07-weights.png")));
    }

    [Fact]
    public void FailedCheck_IsRenderedWithACross()
    {
        var run = RunFake(new Q08_FakeFailingCheck(), "cross");
        Assert.Contains("- ✗ pigs fly — they did not", ResultMarkdown.Render(run, machine: "m"));
    }

    [Fact]
    public void Runner_CapturesAnExperimentsException()
    {
        var run = RunFake(new Q09_FakeThrows(), "throws");
        Assert.False(run.Succeeded);
        Assert.Equal("boom from the fake", run.Error!.Message);
        Assert.Throws<ArgumentException>(() => ResultMarkdown.Render(run));
    }

    [Fact]
    public void Json_HasTheContractKeys()
    {
        var run = RunFake(new Q07_FakeWeights(), "json");
        using var doc = JsonDocument.Parse(ResultJson.Write(run));
        var o = doc.RootElement;
        Assert.Equal(7, o.GetProperty("question").GetInt32());
        Assert.Equal(1.0, o.GetProperty("metrics").GetProperty("row_sum").GetDouble());
        var check = o.GetProperty("checks")[0];
        Assert.Equal("rows sum to one", check.GetProperty("claim").GetString());
        Assert.True(check.GetProperty("holds").GetBoolean());
        Assert.Equal("Weights by row", o.GetProperty("tables")[0].GetProperty("title").GetString());
        Assert.True(File.Exists(o.GetProperty("figures")[0].GetString()));
    }

    [Fact]
    public void Json_WritesNonFiniteMetricsAsNull()
    {
        var result = new ExperimentResult { Question = 7 };
        result.Metrics["nan"] = double.NaN;
        var run = new ExperimentRun(new Q07_FakeWeights(), result, null, false, 1, TimeSpan.Zero, "");
        using var doc = JsonDocument.Parse(ResultJson.Write(run));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("metrics").GetProperty("nan").ValueKind);
    }
}

public class TimingCheckTests
{
    [Fact]
    public void TimingCheck_IsMarked_InTheBlockAndTheJson()
    {
        var result = new ExperimentResult { Question = 7 }.Check("flash is faster", false, "0.8×", timing: true);
        Assert.True(Assert.Single(result.Checks).Timing);
        var run = new ExperimentRun(new Q07_FakeWeights(), result, null, false, 1, TimeSpan.Zero, "");
        Assert.Contains("- ✗ flash is faster *(timing)* — 0.8×", ResultMarkdown.Render(run, machine: "m"));
        using var doc = System.Text.Json.JsonDocument.Parse(ResultJson.Write(run));
        Assert.True(doc.RootElement.GetProperty("checks")[0].GetProperty("timing").GetBoolean());
    }

    [Fact]
    public void FigureCaptions_WithBrackets_StayAnImageAndALink_ThroughTheSitePipeline()
    {
        var result = new ExperimentResult { Question = 7 };
        result.Figures.Add(new Figure("/tmp/x/q07-a.png", "Weight on [CLS] and [SEP]"));
        result.Figures.Add(new Figure("/tmp/x/q07-v.html", "A view of [CLS]"));
        var md = ResultMarkdown.Render(new ExperimentRun(new Q07_FakeWeights(), result, null, false, 1, TimeSpan.Zero, "/tmp/x"), machine: "m");
        var links = Markdig.Markdown.Parse(md, SiteBuilder.Pipeline).Descendants<Markdig.Syntax.Inlines.LinkInline>().ToList();
        Assert.Contains(links, l => l.IsImage && l.Url == "figures/q07/q07-a.png");
        Assert.Contains(links, l => !l.IsImage && l.Url == "figures/q07/q07-v.html");
        Assert.Equal(2, links.Count);
        Assert.Contains("alt=\"Weight on [CLS] and [SEP]\"", Markdig.Markdown.ToHtml(md, SiteBuilder.Pipeline));
    }
}
