using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;
using Attention.Tests.Autograd;

namespace Attention.Tests.Models;

public class ClickThroughModelTests
{
    [Theory]
    [InlineData(HistoryPooling.Sum)] [InlineData(HistoryPooling.Mean)] [InlineData(HistoryPooling.SelfAttention)]
    [InlineData(HistoryPooling.Din)] [InlineData(HistoryPooling.DinSoftmax)]
    public void ClickThroughModel_IgnoresPaddedHistoryPositions(HistoryPooling pooling)
    {
        var task = new TriggerClickTask(40, 2, 9, seed: 1);
        var batch = task.Sample(6, new Rng(2));
        var model = new ClickThroughModel(40, 8, 12, pooling, new Rng(3));
        using var _ = Var.NoGrad();
        var y = model.Forward(batch).Logits.Value.ToArray();
        var history = (int[])batch.History.Clone();
        for (int b = 0; b < batch.Count; b++)
            for (int j = batch.Lengths[b]; j < batch.MaxLength; j++) history[b * batch.MaxLength + j] = 39;
        var y2 = model.Forward(batch with { History = history }).Logits.Value.ToArray();
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - y2[i]) <= 1e-5f, $"logit {i}: {y[i]} vs {y2[i]}");
        Assert.Equal(pooling is HistoryPooling.Din or HistoryPooling.DinSoftmax, model.Forward(batch).Weights is not null);
    }
}

public class HierarchicalAttentionNetworkTests
{
    private static readonly Lazy<(IReadOnlyList<KjvChapter> Chapters, WordVocabulary Vocabulary)> Data = new(() =>
    {
        var chapters = KjvChapters.From(Kjv.LoadRepoCopy());
        var some = chapters.Where(c => c.Book is 0 or 18 or 44).ToList();
        return (chapters, new WordVocabulary(some, minCount: 3));
    });

    private static KjvChapter Chapter(string reference) => Data.Value.Chapters.Single(c => c.Reference == reference);

    [Theory]
    [InlineData(DocumentReadout.Hierarchical)] [InlineData(DocumentReadout.FlatAttention)] [InlineData(DocumentReadout.MeanPooling)]
    public void Han_AChaptersLogitsDoNotDependOnItsBatchmatesOrPadding(DocumentReadout readout)
    {
        var vocabulary = Data.Value.Vocabulary;
        var model = new HierarchicalAttentionNetwork(vocabulary.Size, 6, 4, 7, readout, new Rng(1));
        using var _ = Var.NoGrad();
        var alone = model.Forward(ChapterBatch.From([Chapter("Psa117")], vocabulary, 8, 12)).Logits.Value.ToArray();
        var padded = model.Forward(ChapterBatch.From([Chapter("Ge1"), Chapter("Psa117")], vocabulary, 8, 12)).Logits.Value.ToArray();
        for (int k = 0; k < 7; k++) Assert.True(Math.Abs(alone[k] - padded[7 + k]) <= 1e-5f, $"logit {k}: {alone[k]} vs {padded[7 + k]}");
    }

    [Fact]
    public void Han_VerseWeightsSumToOneOverRealVerses_WordWeightsOverEachVersesWords()
    {
        var vocabulary = Data.Value.Vocabulary;
        var model = new HierarchicalAttentionNetwork(vocabulary.Size, 6, 4, 7, DocumentReadout.Hierarchical, new Rng(2));
        var batch = ChapterBatch.From([Chapter("Rom1"), Chapter("Psa117")], vocabulary, 10, 9);
        using var _ = Var.NoGrad();
        var output = model.Forward(batch);
        var verse = output.VerseWeights!.Value.ToArray();
        var word = output.WordWeights!.Value.ToArray();
        int s = batch.MaxVerses, w = batch.MaxWords;
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(1.0, Enumerable.Range(0, s).Sum(v => (double)verse[i * s + v]), 5);
            for (int v = 0; v < s; v++)
            {
                double sum = Enumerable.Range(0, w).Sum(t => (double)word[(i * s + v) * w + t]);
                Assert.Equal(v < batch.VerseCounts[i] ? 1.0 : 0.0, sum, 5);
                if (v >= batch.VerseCounts[i]) Assert.Equal(0f, verse[i * s + v]);
            }
        }
    }

    [Fact]
    public void Han_Gradients_MatchFiniteDifferences_ThroughBothAttentionLevels()
    {
        // a tiny vocabulary so that every parameter is small enough to perturb one by one
        var chapters = new[] { Chapter("Psa117"), Chapter("Ge1") };
        var vocabulary = new WordVocabulary([Chapter("Psa117")], minCount: 2);
        var model = new HierarchicalAttentionNetwork(vocabulary.Size, 4, 3, 3, DocumentReadout.Hierarchical, new Rng(4));
        // larger weights than the training initialisation, so that both attention levels are far from uniform
        foreach (var p in model.Parameters()) { var v = p.Value.AsSpan(); for (int i = 0; i < v.Length; i++) v[i] *= 3f; }
        var batch = ChapterBatch.From(chapters, vocabulary, 3, 5);
        // the logits are scaled up so that the small word-encoder gradients clear the check's vacuity guard
        GradCheck.CheckLeaves(() => model.Forward(batch).Logits * 10f, model.Parameters());
    }
}
