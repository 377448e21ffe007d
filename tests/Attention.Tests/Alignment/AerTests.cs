using Attention.Data;
using Attention.Alignments;

namespace Attention.Tests.Alignment;

public class AerTests
{
    // 3 source × 3 target; S = the diagonal, P adds (2, 1)
    private static GoldAlignment Gold() => new(3, 3, [new(0, 0), new(1, 1), new(2, 2)], [new(2, 1)]);

    [Fact]
    public void Aer_PerfectAlignment_IsZero() => Assert.Equal(0, Aer.Compute([new(0, 0), new(1, 1), new(2, 2)], Gold()));

    [Fact]
    public void Aer_DisjointAlignment_IsOne() => Assert.Equal(1, Aer.Compute([new(1, 0), new(0, 1), new(0, 2)], Gold()));

    [Fact]
    public void Aer_PossibleLinksAreNotPenalised_ButDoNotCountAsRecall()
    {
        // A = S ∪ {P-only link}: 1 − (3 + 4)/(4 + 3) = 0
        Assert.Equal(0, Aer.Compute([new(0, 0), new(1, 1), new(2, 2), new(2, 1)], Gold()), 12);
        // A = {P-only link}: |A∩S| = 0, |A∩P| = 1 → 1 − 1/(1 + 3) = 0.75
        Assert.Equal(0.75, Aer.Compute([new(2, 1)], Gold()), 12);
        // A = {one sure link, one wrong}: 1 − (1 + 1)/(2 + 3) = 0.6
        Assert.Equal(0.6, Aer.Compute([new(0, 0), new(1, 2)], Gold()), 12);
    }

    [Fact]
    public void AerCounts_SumOverSentences_GivesCorpusAer()
    {
        var a = Aer.Count([new(0, 0)], Gold());
        var b = Aer.Count([new(0, 0), new(1, 1), new(2, 2)], Gold());
        var total = a + b;
        Assert.Equal(4, total.Predicted);
        Assert.Equal(6, total.Sure);
        Assert.Equal(1 - (4.0 + 4.0) / (4 + 6), total.Aer, 12);
    }

    [Fact]
    public void Argmax_TakesTheLargestWeightPerTargetRow_IgnoringPadding()
    {
        // T = 2, stride 4, source length 3: the padded column 3 holds the largest value and must be ignored
        float[] w = [0.1f, 0.7f, 0.2f, 9f,
                     0.5f, 0.2f, 0.3f, 9f];
        Assert.Equal([new Link(1, 0), new Link(0, 1)], Aer.Argmax(w, 2, 4, 3));
        Assert.Equal([new Link(1, 0), new Link(0, 1), new Link(2, 1)], Aer.Threshold(w, 2, 4, 3, 0.3f));
    }

    [Fact]
    public void Gold_RejectsLinksOutsideTheMatrix() =>
        Assert.Throws<ArgumentException>(() => new GoldAlignment(2, 2, [new(2, 0)], []));
}
