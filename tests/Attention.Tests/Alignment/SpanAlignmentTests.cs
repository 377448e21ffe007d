using Attention.Alignments;

namespace Attention.Tests.Alignment;

public class SpanAlignmentTests
{
    [Fact]
    public void Score_AttentionInsideEachSpan_GetsFullMassAndArgmax_UniformGetsTheChanceShare()
    {
        var spans = new[] { (0, 2), (3, 5), (5, 6) };
        var sharp = new float[3, 6];
        sharp[0, 1] = 0.7f; sharp[0, 0] = 0.3f; sharp[1, 3] = 1f; sharp[2, 5] = 1f;
        var c = SpanAlignment.Score(sharp, spans);
        Assert.Equal(3, c.Outputs);
        Assert.Equal(1.0, c.MeanMassInSpan, 6);
        Assert.Equal(1.0, c.ArgmaxAccuracy);
        Assert.Equal(1.0, c.Monotonicity);
        Assert.Equal((2 + 2 + 1) / 6.0 / 3, c.MeanChanceMass, 12);

        var uniform = new float[3, 6];
        for (int i = 0; i < 3; i++) for (int j = 0; j < 6; j++) uniform[i, j] = 1f / 6;
        Assert.Equal(c.MeanChanceMass, SpanAlignment.Score(uniform, spans).MeanMassInSpan, 6);
    }

    [Fact]
    public void Score_CountsABackwardJumpAndAMissedSpan_AndAddsUpOverUtterances()
    {
        var w = new float[3, 4];
        w[0, 2] = 0.6f; w[0, 0] = 0.4f;      // word 0 is [0, 1): argmax 2 misses, mass 0.4
        w[1, 1] = 1f;                        // moves back from 2 to 1
        w[2, 3] = 1f;
        var c = SpanAlignment.Score(w, [(0, 1), (1, 2), (3, 4)]);
        Assert.Equal(2.4, c.MassInSpan, 6);
        Assert.Equal(2, c.ArgmaxInSpan);
        Assert.Equal(2, c.Pairs);
        Assert.Equal(1, c.ForwardPairs);
        Assert.Equal(0.5, SpanAlignment.Monotonicity(w));
        var twice = c + c;
        Assert.Equal(6, twice.Outputs);
        Assert.Equal(c.MeanMassInSpan, twice.MeanMassInSpan, 12);
    }

    [Fact]
    public void Score_ScoresOnlyTheOutputsThatExist_WhenTheDecoderStoppedEarly()
    {
        var w = new float[1, 3];
        w[0, 0] = 1f;
        var c = SpanAlignment.Score(w, [(0, 1), (1, 2), (2, 3)]);
        Assert.Equal(1, c.Outputs);
        Assert.Equal(1.0, c.ArgmaxAccuracy);
        Assert.Equal(1.0, c.Monotonicity);
        Assert.Throws<ArgumentException>(() => SpanAlignment.Score(w, [(2, 1)]));
        Assert.Throws<ArgumentException>(() => SpanAlignment.Score(w, [(0, 4)]));
    }
}
