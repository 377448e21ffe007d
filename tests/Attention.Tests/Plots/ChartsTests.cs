using Attention.Plots;
using SkiaSharp;
using Spectre.Console;

namespace Attention.Tests.Plots;

public class ChartsTests
{
    private static string TempPng(string name) => Path.Combine(Attention.Tests.Book.TempRepo.NewFolder("plots"), name);

    private static SKBitmap Load(string path)
    {
        Assert.True(File.Exists(path), $"expected a PNG at {path}");
        var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        return bitmap;
    }

    // Pixels that can only be text: the charts draw frames grey and the viridis map never gets this dark.
    private static int DarkPixels(SKBitmap b, int x0, int x1, int y0, int y1)
    {
        int n = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
            {
                var c = b.GetPixel(x, y);
                if (Math.Max(c.Red, Math.Max(c.Green, c.Blue)) < 60) n++;
            }
        return n;
    }

    [Fact]
    public void Heatmap_TitleTextIsRendered_WithTheBundledFont()
    {
        var values = new float[8, 8];
        for (int i = 0; i < 8; i++) values[i, i] = 1;
        var with = TempPng("with.png");
        var without = TempPng("without.png");
        Charts.Heatmap(with, values, "WWWW Attention WWWW");
        Charts.Heatmap(without, values, "");
        using var a = Load(with);
        using var b = Load(without);
        int band = a.Height / 10;
        int withTitle = DarkPixels(a, a.Width / 5, a.Width * 4 / 5, 0, band);
        int withoutTitle = DarkPixels(b, b.Width / 5, b.Width * 4 / 5, 0, band);
        Assert.True(withTitle > 100, $"expected title glyph pixels in the top band; found {withTitle}");
        Assert.Equal(0, withoutTitle);
    }

    [Fact]
    public void Heatmap_DrawsRowZeroAtTheTop_AndColumnZeroAtTheLeft()
    {
        // only cell (0, 0) is hot: the yellow end of viridis must sit in the top-left of the data area
        var values = new float[6, 6];
        values[0, 0] = 1;
        var path = TempPng("corner.png");
        Charts.Heatmap(path, values, "corner");
        using var b = Load(path);
        double sx = 0, sy = 0; int hot = 0, cold = 0; double cy = 0, cx = 0;
        for (int y = 0; y < b.Height; y++)
            for (int x = 0; x < b.Width * 3 / 4; x++)  // leave out the colour bar on the right
            {
                var c = b.GetPixel(x, y);
                if (c.Red > 200 && c.Green > 200 && c.Blue < 100) { sx += x; sy += y; hot++; }
                else if (c.Red < 90 && c.Green < 20 && c.Blue > 60) { cx += x; cy += y; cold++; }
            }
        Assert.True(hot > 100 && cold > 100, $"expected hot and cold cells; found {hot} hot, {cold} cold pixels");
        Assert.True(sy / hot < cy / cold, "the hot row 0 should lie above the centre of the cold cells");
        Assert.True(sx / hot < cx / cold, "the hot column 0 should lie left of the centre of the cold cells");
    }

    [Fact]
    public void Heatmap_RejectsLabelCountsThatDoNotMatchTheShape()
    {
        var ex = Assert.Throws<ArgumentException>(() => Charts.Heatmap(TempPng("x.png"), new float[2, 3], "t", rowLabels: ["a"]));
        Assert.Contains("2 rows", ex.Message);
        Assert.Throws<ArgumentException>(() => Charts.Heatmap(TempPng("y.png"), new float[0, 3], "t"));
    }

    [Fact]
    public void Lines_LogAxes_WritesA440PixelHighPng_WiderForItsLegend()
    {
        var path = TempPng("lines.png");
        double[] x = [0, 64, 128, 256, 512];
        Charts.Lines(path, "time", "N", "ms", [new Series("naive", x, x.Select(v => v * v).ToArray()), new Series("fast", x, x.ToArray())], logX: true, logY: true);
        using var b = Load(path);
        Assert.Equal(440, b.Height);
        Assert.True(b.Width > 640, $"expected room for the legend beside 640 px of chart; width {b.Width}");
    }

    [Fact]
    public void Lines_RejectsSeriesWithUnequalLengths()
    {
        var ex = Assert.Throws<ArgumentException>(() => Charts.Lines(TempPng("z.png"), "t", "x", "y", [new Series("s", [1, 2], [1])]));
        Assert.Contains("2 x values and 1 y values", ex.Message);
    }

    [Fact]
    public void Bars_And_Scatter_WritePngs()
    {
        var bars = TempPng("bars.png");
        Charts.Bars(bars, "accuracy", "acc", ["additive", "dot"], [new BarSeries("short", [0.9, 0.8]), new BarSeries("long", [0.7, 0.4])]);
        var scatter = TempPng("scatter.png");
        Charts.Scatter(scatter, "points", "x", "y", [new Series("p", [1, 2, 3], [3, 1, 2])]);
        using var a = Load(bars);
        using var b = Load(scatter);
        Assert.True(a.Width >= 480 && b.Width >= 640, $"widths {a.Width} and {b.Width}");
    }

    [Theory]
    [InlineData(0.0, "1")]
    [InlineData(-2.0, "0.01")]
    [InlineData(3.0, "1000")]
    [InlineData(6.0, "1e6")]
    [InlineData(-5.0, "1e-5")]
    public void FormatPowerOfTen_WritesPlainNumbersNearOne_AndExponentsFarAway(double exponent, string expected)
        => Assert.Equal(expected, Charts.FormatPowerOfTen(exponent));
}

public class TerminalHeatmapTests
{
    private static string Render(float[,] values, ColorSystemSupport colours, IReadOnlyList<string>? rows = null, IReadOnlyList<string>? cols = null, int width = 120)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = colours == ColorSystemSupport.NoColors ? AnsiSupport.No : AnsiSupport.Yes,
            ColorSystem = colours,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        console.Write(TerminalHeatmap.Render(values, rows, cols));
        return writer.ToString();
    }

    [Fact]
    public void Render_30x30_WithoutColour_HasOneLinePerRow_LabelledAndShaded()
    {
        var values = new float[30, 30];
        for (int i = 0; i < 30; i++)
            for (int j = 0; j < 30; j++)
                values[i, j] = i == j ? 1f : 0f;
        var labels = Enumerable.Range(0, 30).Select(i => $"tok{i}").ToArray();
        var lines = Render(values, ColorSystemSupport.NoColors, labels, labels).Split('\n');
        var rowLines = lines.Where(l => l.TrimStart().StartsWith("tok", StringComparison.Ordinal)).ToList();
        Assert.Equal(30, rowLines.Count);
        // row i has its full block at cell i: 2 characters per cell after the label column
        for (int i = 0; i < 30; i++)
        {
            var cells = rowLines[i][(rowLines[i].IndexOf($"tok{i} ", StringComparison.Ordinal) + $"tok{i} ".Length)..];
            Assert.Equal("██", cells.Substring(2 * i, 2));
            Assert.Equal(1, cells.Count(c => c == '█') / 2);
        }
    }

    [Fact]
    public void Render_WithTrueColour_EmitsColourEscapes()
    {
        var output = Render(new float[,] { { 0, 1 }, { 1, 0 } }, ColorSystemSupport.TrueColor);
        Assert.Contains("\u001b[38;2;253;231;37m", output);  // the top of the viridis ramp
    }

    [Fact]
    public void Render_WiderThanTheConsole_AveragesColumnsToFit()
    {
        var output = Render(new float[10, 200], ColorSystemSupport.NoColors, width: 60);
        Assert.All(output.Split('\n'), line => Assert.True(line.Length <= 60, $"line too wide ({line.Length}): {line}"));
        Assert.Contains("block means", output);
    }

    [Fact]
    public void Colour_IsTheRampEnds_AtZeroAndOne()
    {
        Assert.Equal(((byte)68, (byte)1, (byte)84), TerminalHeatmap.Colour(0));
        Assert.Equal(((byte)253, (byte)231, (byte)37), TerminalHeatmap.Colour(1));
    }
}
