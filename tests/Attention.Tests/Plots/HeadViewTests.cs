using System.Text.Json;
using System.Text.RegularExpressions;
using Attention.Plots;

namespace Attention.Tests.Plots;

public class HeadViewTests
{
    private static List<IReadOnlyList<float[,]>> Attention(int layers, int heads, int t)
    {
        var all = new List<IReadOnlyList<float[,]>>();
        for (int l = 0; l < layers; l++)
        {
            var layer = new List<float[,]>();
            for (int h = 0; h < heads; h++)
            {
                var m = new float[t, t];
                for (int i = 0; i < t; i++) m[i, (i + l + h) % t] = 1f;   // each head looks at a different offset
                layer.Add(m);
            }
            all.Add(layer);
        }
        return all;
    }

    private static string Write(IReadOnlyList<string> tokens, List<IReadOnlyList<float[,]>> attention)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("headview-").FullName, "view.html");
        HeadView.Write(path, tokens, attention, "test <view>");
        return File.ReadAllText(path);
    }

    [Fact]
    public void HeadView_IsOneOfflineFile_WhoseDataRoundTripsEveryLayerHeadAndWeight()
    {
        string[] tokens = ["[CLS]", "the", "cat", "[SEP]"];
        var attention = Attention(2, 3, tokens.Length);
        var html = Write(tokens, attention);
        // nothing is fetched: no external script, stylesheet, image or import (the SVG namespace URI is a name, not a fetch)
        Assert.DoesNotMatch(new Regex(@"(src|href)\s*=\s*[""']?(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("@import", html);
        Assert.DoesNotContain("<link", html);
        var json = Regex.Match(html, "<script type=\"application/json\" id=\"data\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value;
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(tokens, doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!));
        var a = doc.RootElement.GetProperty("attention");
        Assert.Equal(2, a.GetArrayLength());
        for (int l = 0; l < 2; l++)
            for (int h = 0; h < 3; h++)
                for (int i = 0; i < tokens.Length; i++)
                    for (int j = 0; j < tokens.Length; j++)
                        Assert.Equal(attention[l][h][i, j], a[l][h][i][j].GetDouble(), 4);
    }

    [Fact]
    public void HeadView_ATokenThatLooksLikeMarkup_StaysData()
    {
        string[] tokens = ["</script><img src=x onerror=alert(1)>", "ok"];
        var html = Write(tokens, Attention(1, 1, 2));
        // the only closing script tags are the two the page itself writes
        Assert.Equal(2, Regex.Matches(html, "</script>", RegexOptions.IgnoreCase).Count);
        Assert.DoesNotContain("<img", html);
        var json = Regex.Match(html, "<script type=\"application/json\" id=\"data\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value;
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(tokens[0], doc.RootElement.GetProperty("tokens")[0].GetString());
        Assert.Contains("test &lt;view&gt;", html);   // the title is escaped in <title>
    }

    [Fact]
    public void HeadView_RejectsWrongShapes_Ragged_AndNonFinite_NamingWhatCame()
    {
        var path = Path.Combine(Path.GetTempPath(), $"hv-{Guid.NewGuid():N}.html");
        string[] tokens = ["a", "b", "c"];
        Assert.Contains("3 × 3", Assert.Throws<ArgumentException>(() => HeadView.Write(path, tokens, Attention(1, 2, 2), "x")).Message);
        var ragged = Attention(2, 2, 3);
        ragged[1] = [ragged[1][0]];
        Assert.Contains("layer 1", Assert.Throws<ArgumentException>(() => HeadView.Write(path, tokens, ragged, "x")).Message);
        var nan = Attention(1, 1, 3);
        nan[0][0][1, 2] = float.NaN;
        Assert.Contains("row 1, column 2", Assert.Throws<ArgumentException>(() => HeadView.Write(path, tokens, nan, "x")).Message);
        Assert.Throws<ArgumentException>(() => HeadView.Write(path, [], Attention(1, 1, 0), "x"));
        Assert.False(File.Exists(path));
    }
}
