using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;

namespace Attention.Tests.Models;

public class CharLmTests
{
    private static readonly CharLmConfig Tiny = new(Vocab: 20, Dim: 16, Heads: 2, Layers: 2, MaxPositions: 40, ShawDistance: 4, T5Buckets: 8, T5MaxDistance: 16);

    public static TheoryData<PositionKind> Kinds => new(Enum.GetValues<PositionKind>());

    [Theory]
    [MemberData(nameof(Kinds))]
    public void CharLm_WithEveryScheme_IsCausal_ChangingLaterTokensLeavesEarlierLogitsBitIdentical(PositionKind kind)
    {
        var model = new CharLm(Tiny, kind, new Rng(1));
        model.Eval();
        var rng = new Rng(2);
        var ids = Enumerable.Range(0, 24).Select(_ => rng.NextInt(20)).ToArray();
        var changed = (int[])ids.Clone();
        for (int t = 10; t < 24; t++) changed[t] = (changed[t] + 7) % 20;
        using var _ = Var.NoGrad();
        var a = model.Forward(ids, 1, 24).Value.ToArray();
        var b = model.Forward(changed, 1, 24).Value.ToArray();
        for (int i = 0; i < 10 * 20; i++) Assert.Equal(a[i], b[i]);
        Assert.NotEqual(a[10 * 20], b[10 * 20]);
    }

    [Fact]
    public void CharLm_LearnsKjvText_LossFallsWellBelowUniform()
    {
        var text = Kjv.LoadRepoCopy().Text([7]);                        // Ruth, 12k characters
        var vocab = new CharVocabulary(text);
        var tokens = vocab.Encode(text);
        var model = new CharLm(new CharLmConfig(vocab.Size, 32, 2, 1), PositionKind.Rotary, new Rng(3));
        var losses = model.Fit(tokens, context: 32, steps: 60, batch: 8, learningRate: 1e-2f, new Rng(4));
        Assert.True(losses[..5].Average() > Math.Log(vocab.Size) - 0.5, $"first losses {losses[0]:0.00} should start near ln V = {Math.Log(vocab.Size):0.00}");
        Assert.True(losses[^10..].Average() < 2.6, $"after 60 steps the loss is still {losses[^10..].Average():0.00} nats");
        double ppl = model.Perplexity(tokens, context: 64, maxWindows: 8);
        Assert.Equal(Math.Exp(model.MeanNll(tokens, 64, 8)), ppl, 9);
        Assert.True(ppl < vocab.Size / 2.0, $"perplexity {ppl:0.0} should be far below the uniform {vocab.Size}");
    }

    [Fact]
    public void CharLm_Learned_RefusesContextsBeyondItsTable_OthersRunAtAnyLength()
    {
        var tokens = Enumerable.Range(0, 500).Select(i => i % 20).ToArray();
        var learned = new CharLm(Tiny, PositionKind.Learned, new Rng(5));
        var e = Assert.Throws<ArgumentException>(() => learned.Perplexity(tokens, context: 64, maxWindows: 1));
        Assert.Contains("0 … 39", e.Message);
        Assert.True(double.IsFinite(new CharLm(Tiny, PositionKind.T5, new Rng(5)).Perplexity(tokens, context: 200, maxWindows: 1)));
        Assert.Throws<ArgumentException>(() => new CharLm(Tiny with { Dim = 15 }, PositionKind.None, new Rng(5)));
        Assert.Throws<ArgumentException>(() => learned.Forward([1, 2, 3], 2, 2));
    }
}
