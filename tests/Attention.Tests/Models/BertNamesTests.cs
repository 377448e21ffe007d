using Attention.Models;

namespace Attention.Tests.Models;

/// <summary>The one table of BERT tensor names that the loaders, the tape path and the inference path share.</summary>
public class BertNamesTests
{
    private static string[] Fields(BertLayer<string> n) =>
        [n.Wq, n.Bq, n.Wk, n.Bk, n.Wv, n.Bv, n.Wo, n.Bo, n.Ln1G, n.Ln1B, n.W1, n.B1, n.W2, n.B2, n.Ln2G, n.Ln2B];

    [Fact]
    public void LayerOfT_ReadsEachRoleByItsOwnName()
    {
        // read = identity: a role given another role's tensor (a swapped argument) shows as a different name
        for (int l = 0; l < 3; l++)
            Assert.Equal(BertNames.Layer(l), BertNames.Layer(l, name => name));
    }

    [Fact]
    public void Layer_NamesAreHuggingFaceBertNames_SixteenDistinctPerLayer()
    {
        var n = BertNames.Layer(4);
        Assert.Equal("encoder.layer.4.attention.self.query.weight", n.Wq);
        Assert.Equal("encoder.layer.4.attention.self.value.bias", n.Bv);
        Assert.Equal("encoder.layer.4.attention.output.dense.weight", n.Wo);
        Assert.Equal("encoder.layer.4.attention.output.LayerNorm.bias", n.Ln1B);
        Assert.Equal("encoder.layer.4.intermediate.dense.weight", n.W1);
        Assert.Equal("encoder.layer.4.output.dense.bias", n.B2);
        Assert.Equal("encoder.layer.4.output.LayerNorm.weight", n.Ln2G);
        Assert.Equal(16, Fields(n).Distinct().Count());
        Assert.All(Fields(n), f => Assert.StartsWith(BertNames.LayerPrefix(4), f, StringComparison.Ordinal));
    }

    [Fact]
    public void ExpectedShapes_CoverExactlyTheTableNames_AndMiniLmHasThemAll()
    {
        var c = BertConfig.MiniLmL6;
        var expected = BertWeights.ExpectedShapes(c).Select(e => e.Name).ToList();
        var table = new[] { BertNames.WordEmbeddings, BertNames.PositionEmbeddings, BertNames.TypeEmbeddings,
                            BertNames.EmbeddingNormGamma, BertNames.EmbeddingNormBeta }
            .Concat(Enumerable.Range(0, c.Layers).SelectMany(l => Fields(BertNames.Layer(l)))).ToList();
        Assert.Equal(table.Count, expected.Distinct().Count());
        Assert.Equal(table.OrderBy(s => s, StringComparer.Ordinal), expected.OrderBy(s => s, StringComparer.Ordinal));
        var weights = BertModel.LoadMiniLm().Weights;
        Assert.All(table, name => Assert.True(weights.Tensors.ContainsKey(name), $"all-MiniLM-L6-v2 lacks {name}"));
    }
}
