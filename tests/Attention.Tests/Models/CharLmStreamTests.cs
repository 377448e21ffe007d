using Attention.Autograd;
using Attention.Models;
using Attention.Tensors;

namespace Attention.Tests.Models;

public class CharLmStreamTests
{
    private static int[] Ids(int n, int vocab, ulong seed)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextInt(vocab)).ToArray();
    }

    [Theory]
    [InlineData(PositionKind.Alibi)]
    [InlineData(PositionKind.None)]
    public void CharLmStream_WithACacheHoldingEveryToken_MatchesTheFullForwardAtEveryPosition(PositionKind kind)
    {
        var model = new CharLm(new CharLmConfig(Vocab: 20, Dim: 16, Heads: 2, Layers: 2), kind, new Rng(1));
        model.Eval();
        var ids = Ids(37, 20, 2);
        float[] full;
        using (Var.NoGrad()) full = model.Forward(ids, 1, ids.Length).Value.ToArray();
        var stream = new CharLmStream(model, sinkTokens: 0, window: 64);
        for (int p = 0; p < ids.Length; p++)
        {
            var logits = stream.Step(ids[p]);
            for (int v = 0; v < 20; v++)
                Assert.True(Math.Abs(logits[v] - full[p * 20 + v]) <= 1e-4, $"position {p}, logit {v}: {logits[v]} vs {full[p * 20 + v]}");
        }
        Assert.Equal(ids.Length, stream.Count);
    }

    [Theory]
    [InlineData(PositionKind.Alibi, 0)]
    [InlineData(PositionKind.None, 0)]
    [InlineData(PositionKind.Alibi, 3)]
    public void CharLmStream_OneLayer_RollingCacheEqualsAForwardOverTheTokensItHolds(PositionKind kind, int sinks)
    {
        // with one layer a cached key depends on its token only, so the rolling cache is exactly attention over the held tokens
        const int window = 9, vocab = 20;
        var model = new CharLm(new CharLmConfig(Vocab: vocab, Dim: 16, Heads: 2, Layers: 1), kind, new Rng(3));
        model.Eval();
        var ids = Ids(40, vocab, 4);
        var stream = new CharLmStream(model, sinks, window);
        for (int p = 0; p < ids.Length; p++)
        {
            var logits = stream.Step(ids[p]);
            var held = p < sinks + window ? ids[..(p + 1)] : [.. ids[..sinks], .. ids[(p - window + 1)..(p + 1)]];
            Assert.Equal(held.Length, stream.Count);
            float[] want;
            using (Var.NoGrad()) want = model.Forward(held, 1, held.Length).Value.ToArray();
            for (int v = 0; v < vocab; v++)
                Assert.True(Math.Abs(logits[v] - want[(held.Length - 1) * vocab + v]) <= 1e-4, $"position {p}, logit {v}");
        }
        Assert.Equal(2L * (sinks + window) * 16, stream.HeldFloats);
    }

    [Theory]
    [InlineData(PositionKind.Rotary)]
    [InlineData(PositionKind.Learned)]
    [InlineData(PositionKind.Sinusoidal)]
    public void CharLmStream_RejectsSchemesThatNeedAbsolutePositions(PositionKind kind)
    {
        var model = new CharLm(new CharLmConfig(Vocab: 10, Dim: 8, Heads: 2, Layers: 1, MaxPositions: 16), kind, new Rng(1));
        var e = Assert.Throws<ArgumentException>(() => new CharLmStream(model, 0, 4));
        Assert.Contains(kind.ToString(), e.Message);
    }

    [Fact]
    public void CharLmStream_RejectsATokenOutsideTheVocabulary()
    {
        var model = new CharLm(new CharLmConfig(Vocab: 10, Dim: 8, Heads: 2, Layers: 1), PositionKind.Alibi, new Rng(1));
        var stream = new CharLmStream(model, 0, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Step(10));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.Step(-1));
    }
}
