using System.Text.Json;
using Attention.Cli;
using Attention.Models;

namespace Attention.Tests.Models;

/// <summary>The contract outside checks rely on: <c>attn embed --json</c> and <c>attn heads --json</c>.</summary>
public class ModelCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = new AttnApp().Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void EmbedJson_PrintsModelDimensionAndOneUnitVectorPerText_EqualToTheLibrary()
    {
        var (code, output, error) = Run("embed", "--json", "The cat sat.", "Un café, s'il vous plaît!");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal("all-MiniLM-L6-v2", root.GetProperty("model").GetString());
        Assert.Equal(384, root.GetProperty("dimension").GetInt32());
        var rows = root.GetProperty("embeddings").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        Assert.Equal(2, rows.Length);
        var expected = BertModel.LoadMiniLm().Embed(["The cat sat.", "Un café, s'il vous plaît!"]);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(384, rows[i].Length);
            Assert.Equal(expected[i], rows[i]);   // shortest round-trip floats: exact
        }
    }

    [Fact]
    public void HeadsJson_PrintsTokensAndSixByTwelveSquareMatrices_WhoseRowsSumToOne()
    {
        var (code, output, _) = Run("heads", "--json", "Where is the bank?");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var tokens = doc.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.Equal(["[CLS]", "where", "is", "the", "bank", "?", "[SEP]"], tokens);
        var layers = doc.RootElement.GetProperty("attention").EnumerateArray().ToArray();
        Assert.Equal(6, layers.Length);
        foreach (var layer in layers)
        {
            var heads = layer.EnumerateArray().ToArray();
            Assert.Equal(12, heads.Length);
            foreach (var head in heads)
            {
                var rows = head.EnumerateArray().ToArray();
                Assert.Equal(tokens.Length, rows.Length);
                foreach (var row in rows)
                {
                    var values = row.EnumerateArray().Select(x => x.GetDouble()).ToArray();
                    Assert.Equal(tokens.Length, values.Length);
                    Assert.Equal(1.0, values.Sum(), 4);
                }
            }
        }
    }

    [Fact]
    public void Embed_WithoutJson_PrintsACosineTable_AndHeads_ASummaryAndAHeatmap()
    {
        var (code, output, _) = Run("embed", "A man plays guitar.", "Someone is playing a guitar.", "Stocks fell.");
        Assert.Equal(0, code);
        Assert.Contains("cosine similarity", output);
        Assert.Contains("1.000", output);
        (code, output, _) = Run("heads", "Time flies like an arrow.");
        Assert.Equal(0, code);
        Assert.Contains("most-attended token per head", output);
        (code, output, _) = Run("heads", "--layer", "2", "--head", "5", "Time flies like an arrow.");
        Assert.Equal(0, code);
        Assert.Contains("layer 2, head 5", output);
    }

    [Theory]
    [InlineData("embed")]
    [InlineData("embed", "--json")]
    [InlineData("heads")]
    [InlineData("heads", "a", "b")]
    [InlineData("heads", "--bogus", "text")]
    [InlineData("heads", "--layer", "6", "--head", "1", "text")]
    [InlineData("heads", "--layer", "1", "text")]
    [InlineData("heads", "--head", "12", "--layer", "1", "text")]
    [InlineData("heads", "--head", "-1", "--layer", "1", "text")]
    public void UsageErrors_ExitWith2_AndOneLineOnStderr(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("attn: ", lines[0]);
    }
}
