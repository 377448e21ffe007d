using Attention.Plots;

namespace Attention.Tests.Browser;

public class HeadViewBrowserTests
{
    [SkippableFact]
    public void HeadView_RunsInChromium_WithoutConsoleErrors_AndDrawsLinesAndTokens()
    {
        Skip.If(HeadlessChromium.Executable is null, HeadlessChromium.Missing);
        string[] tokens = ["[CLS]", "owls", "hunt", "[SEP]"];
        var attention = new List<IReadOnlyList<float[,]>>();
        for (int l = 0; l < 2; l++)
        {
            var heads = new List<float[,]>();
            for (int h = 0; h < 3; h++)
            {
                var m = new float[4, 4];
                for (int i = 0; i < 4; i++) m[i, (i + h) % 4] = 1f;
                heads.Add(m);
            }
            attention.Add(heads);
        }
        var path = Path.Combine(Directory.CreateTempSubdirectory("headview-browser-").FullName, "view.html");
        HeadView.Write(path, tokens, attention, "browser test");
        var (dom, console) = HeadlessChromium.Load(path);
        Assert.True(console.Count == 0, "console messages: " + string.Join(" | ", console));
        Assert.Contains("browser test", dom);                                   // the script set the title
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(dom, "<option").Count);   // one per layer
        Assert.Equal(3 * 4, System.Text.RegularExpressions.Regex.Matches(dom, "<line").Count); // every head draws one line per query
        Assert.Equal(2 * 4, System.Text.RegularExpressions.Regex.Matches(dom, "<text").Count); // the tokens twice
    }
}
