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
    public void Viz_LayerOutOfRange_IsAUsageError()
    {
        var stderr = new StringWriter();
        Assert.Equal(AttnApp.Usage, new AttnApp().Run(["viz", "text", "--layer", "6"], new StringWriter(), stderr));
        Assert.Contains("--layer expects 0..5", stderr.ToString());
    }
}
