using Attention.Cli;

namespace Attention.Tests.Interpret;

public class VizCommandTests
{
    [Fact]
    public void Viz_WithOut_WritesTheChosenHeadAndTheGrid()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"viz-{Guid.NewGuid():N}");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = new AttnApp().Run(["viz", "Owls hunt at night.", "--layer", "0", "--head", "2", "--out", dir], stdout, stderr);
        Assert.Equal(AttnApp.Ok, code);
        Assert.True(File.Exists(Path.Combine(dir, "layer0-head02.png")), stdout.ToString() + stderr);
        Assert.True(File.Exists(Path.Combine(dir, "heads.png")));
        Assert.Single(Directory.GetFiles(dir, "layer*.png"));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Viz_WithoutOut_DrawsATerminalHeatmapLabelledWithTheTokens()
    {
        var stdout = new StringWriter();
        int code = new AttnApp().Run(["viz", "Owls hunt at night.", "--head", "0"], stdout, new StringWriter());
        Assert.Equal(AttnApp.Ok, code);
        Assert.Contains("owls", stdout.ToString());
        Assert.Contains("layer 5, head 0", stdout.ToString());
    }

    [Fact]
    public void Viz_WithHtml_WritesOneHeadViewWithEveryLayerAndHeadOfTheModel()
    {
        var file = Path.Combine(Path.GetTempPath(), $"viz-{Guid.NewGuid():N}", "view.html");
        var stdout = new StringWriter();
        int code = new AttnApp().Run(["viz", "Owls hunt at night.", "--html", file], stdout, new StringWriter());
        Assert.Equal(AttnApp.Ok, code);
        var html = File.ReadAllText(file);
        var json = System.Text.RegularExpressions.Regex.Match(html, "id=\"data\">(.*?)</script>", System.Text.RegularExpressions.RegexOptions.Singleline).Groups[1].Value;
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var attention = doc.RootElement.GetProperty("attention");
        Assert.Equal(6, attention.GetArrayLength());                  // MiniLM: 6 layers
        Assert.Equal(12, attention[0].GetArrayLength());              // × 12 heads
        var tokens = doc.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToList();
        Assert.Equal("[CLS]", tokens[0]);
        Assert.Contains("owls", tokens);
        foreach (var row in attention[5][0].EnumerateArray())          // every query row is a distribution (rounded to 4 decimals)
            Assert.InRange(row.EnumerateArray().Sum(w => w.GetDouble()), 0.99, 1.01);
        Assert.Contains(Path.GetFullPath(file), stdout.ToString());
        Directory.Delete(Path.GetDirectoryName(file)!, true);
    }

    [Fact]
    public void Viz_LayerOutOfRange_IsAUsageError()
    {
        var stderr = new StringWriter();
        Assert.Equal(AttnApp.Usage, new AttnApp().Run(["viz", "text", "--layer", "6"], new StringWriter(), stderr));
        Assert.Contains("--layer expects 0..5", stderr.ToString());
    }
}
