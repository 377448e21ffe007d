using Attention.Data;
using Attention.Tensors;

namespace Attention.Tests.Data;

public class MnistStripsTests
{
    private static MnistDigits Digits() => Mnist.Split(Mnist.LoadRepoCopy()).Test;

    [Fact]
    public void Strips_HoldRealDigitsInTheirGoldCells_BlankElsewhere_AndAreSeeded()
    {
        var digits = Digits();
        var strips = MnistStrips.Generate(digits, 200, new Rng(5));
        var again = MnistStrips.Generate(digits, 200, new Rng(5));
        var lengths = new HashSet<int>();
        bool sawGap = false;
        for (int s = 0; s < strips.Count; s++)
        {
            var strip = strips[s];
            Assert.Equal(strip.Pixels, again[s].Pixels);
            Assert.Equal((28, 140, 5), (MnistStrip.Height, strip.Width, strip.Cells));
            Assert.InRange(strip.Digits.Length, 3, 5);
            lengths.Add(strip.Digits.Length);
            for (int k = 1; k < strip.CellOf.Length; k++) Assert.True(strip.CellOf[k] > strip.CellOf[k - 1]);
            sawGap |= strip.CellOf[^1] - strip.CellOf[0] + 1 > strip.Digits.Length;
            for (int cell = 0; cell < strip.Cells; cell++)
            {
                int k = Array.IndexOf(strip.CellOf, cell);
                var image = k < 0 ? null : digits.Pixels(strip.Sources[k]).ToArray();
                if (k >= 0) Assert.Equal(digits.Label(strip.Sources[k]), strip.Digits[k]);
                Assert.Equal(k < 0 ? -1 : strip.Digits[k], strip.DigitInCell(cell));
                for (int r = 0; r < 28; r++)
                    for (int c = 0; c < 28; c++)
                        Assert.Equal(image is null ? 0f : image[r * 28 + c] / 255f, strip.Pixels[r * 140 + cell * 28 + c]);
            }
        }
        Assert.Equal([3, 4, 5], lengths.Order());
        Assert.True(sawGap, "expected some strip with a blank cell between two digits");
        Assert.NotEqual(strips[0].Pixels, MnistStrips.Generate(digits, 1, new Rng(6))[0].Pixels);
    }

    [Fact]
    public void Strips_WithoutGaps_FillTheFirstCells_AndDistinctLabelsNeverRepeat()
    {
        var strips = MnistStrips.Generate(Digits(), 300, new Rng(7), new MnistStripOptions { Gaps = false, DistinctLabels = true });
        foreach (var s in strips)
        {
            Assert.Equal(Enumerable.Range(0, s.Digits.Length), s.CellOf);
            Assert.Equal(s.Digits.Length, s.Digits.Distinct().Count());
        }
    }

    [Fact]
    public void Batch_StacksPixels_AndBadOptionsThrowNamingTheRange()
    {
        var strips = MnistStrips.Generate(Digits(), 3, new Rng(8));
        var batch = MnistStrips.Batch(strips);
        Assert.Equal([3, 1, 28, 140], batch.Shape.ToArray());
        Assert.Equal(strips[2].Pixels, batch.ToArray().AsSpan(2 * 28 * 140, 28 * 140).ToArray());
        var e = Assert.Throws<ArgumentException>(() => MnistStrips.Generate(Digits(), 1, new Rng(1), new MnistStripOptions { MaxDigits = 6 }));
        Assert.Contains("MaxDigits ≤ Cells", e.Message);
        Assert.Throws<ArgumentException>(() => MnistStrips.Generate(Digits(), 1, new Rng(1), new MnistStripOptions { MinDigits = 4, MaxDigits = 3 }));
        Assert.Throws<ArgumentException>(() => MnistStrips.Compose(Digits(), [0, 1], [2, 2], 5));
        Assert.Throws<ArgumentException>(() => MnistStrips.Batch([]));
    }

    [Theory]
    [InlineData(1)] [InlineData(7)] [InlineData(14)]
    public void WindowShares_OfAWindowInsideTheStrip_SumToOne_AndAnAlignedWindowIsAllInItsCell(int stride)
    {
        for (int start = 0; start + 28 <= 140; start += stride)
        {
            double sum = Enumerable.Range(0, 5).Sum(c => MnistStrips.WindowShareInCell(start, 28, c));
            Assert.Equal(1.0, sum, 12);
            if (start % 28 == 0) Assert.Equal(1.0, MnistStrips.WindowShareInCell(start, 28, start / 28));
        }
        Assert.Equal(0.25, MnistStrips.WindowShareInCell(21, 28, 0), 12);
    }
}

public class StripQuestionsTests
{
    [Fact]
    public void EveryAnswer_FollowsFromTheStrip_AndGoldCellsHoldTheNamedDigits()
    {
        var questions = StripQuestions.Generate(Mnist.Split(Mnist.LoadRepoCopy()).Test, 1500, new Rng(11));
        var kinds = new int[3];
        int yes = 0, reversed = 0, absent = 0;
        foreach (var q in questions)
        {
            kinds[(int)q.Kind]++;
            var d = q.Strip.Digits;
            Assert.Equal(StripQuestions.Tokenise(string.Join(' ', q.Tokens)), q.TokenIds);
            Assert.All(q.GoldTokens, t => Assert.Matches("^[0-9]$", q.Tokens[t]));
            int Named(int token) => int.Parse(q.Tokens[token], System.Globalization.CultureInfo.InvariantCulture);
            switch (q.Kind)
            {
                case StripQuestionKind.RightOf:
                case StripQuestionKind.LeftOf:
                {
                    int at = Array.IndexOf(d, Named(6));
                    int other = q.Kind == StripQuestionKind.RightOf ? at + 1 : at - 1;
                    Assert.InRange(other, 0, d.Length - 1);
                    Assert.Equal(d[other], q.Answer);
                    Assert.Equal(new[] { at, other }.Order(), q.GoldCells.Order());
                    break;
                }
                default:
                {
                    int i = Array.IndexOf(d, Named(3)), j = Array.IndexOf(d, Named(7));
                    Assert.Equal(i >= 0 && j >= 0 && i < j ? StripQuestions.Yes : StripQuestions.No, q.Answer);
                    Assert.Equal(new[] { i, j }.Where(x => x >= 0).Order(), q.GoldCells.Order());
                    if (q.Answer == StripQuestions.Yes) yes++;
                    else if (i >= 0 && j >= 0) reversed++;
                    else absent++;
                    break;
                }
            }
        }
        Assert.All(kinds, k => Assert.InRange(k, 400, 600));
        Assert.InRange(yes / (double)kinds[2], 0.4, 0.6);
        Assert.True(reversed > 50 && absent > 50, $"expected both kinds of 'no', got {reversed} reversed and {absent} absent");
    }

    [Fact]
    public void Tokenise_RejectsWordsOutsideTheLanguage_AndAskRejectsStripsWithRepeats()
    {
        Assert.Equal([0, 1, 2, 3, 5, 6, 15, 9], StripQuestions.Tokenise("which digit is right of the 5 ?"));
        var e = Assert.Throws<ArgumentException>(() => StripQuestions.Tokenise("which digit is above the 5 ?"));
        Assert.Contains("'above'", e.Message);
        var digits = Mnist.LoadRepoCopy();
        int a = Enumerable.Range(0, digits.Count).First(i => digits.Label(i) == 3);
        var repeated = MnistStrips.Compose(digits, [a, a, a], [0, 1, 2], 5);
        Assert.Throws<ArgumentException>(() => StripQuestions.Ask(repeated, StripQuestionKind.RightOf, new Rng(1)));
    }
}
