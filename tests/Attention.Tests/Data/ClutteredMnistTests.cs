using Attention.Data;

namespace Attention.Tests.Data;

public class ClutteredMnistTests
{
    private static MnistDigits Few() => Mnist.LoadRepoCopy().Subset(Enumerable.Range(0, 50).ToArray());

    [Fact]
    public void Build_PlacesTheWholeDigitInsideItsBox_PixelForPixel()
    {
        var digits = Few();
        var set = ClutteredMnist.Build(digits, canvas: 40, fragments: 0, seed: 3);
        Assert.Equal((50, 40), (set.Count, set.Size));
        for (int i = 0; i < set.Count; i++)
        {
            var box = set.Box(i);
            var (top, left, bottom, right) = ClutteredMnist.InkBox(digits.Image(i), 28, 28);
            Assert.Equal((bottom - top, right - left), (box.Bottom - box.Top, box.Right - box.Left));
            var img = set.Image(i);
            var src = digits.Image(i);
            double inside = 0, total = 0;
            for (int r = 0; r < 40; r++)
                for (int c = 0; c < 40; c++)
                {
                    total += img[r * 40 + c];
                    if (box.Contains(r, c))
                    {
                        inside += img[r * 40 + c];
                        Assert.Equal(src[(top + r - box.Top) * 28 + left + c - box.Left], img[r * 40 + c]);
                    }
                }
            Assert.Equal(total, inside, 6);   // no clutter: every bit of ink is the digit's
            Assert.Equal(digits.Label(i), set.Label(i));
        }
    }

    [Fact]
    public void Build_AddsClutterOutsideTheBox_AndIsSeeded()
    {
        var digits = Few();
        var a = ClutteredMnist.Build(digits, canvas: 48, fragments: 4, fragmentSize: 8, seed: 9);
        var b = ClutteredMnist.Build(digits, canvas: 48, fragments: 4, fragmentSize: 8, seed: 9);
        var c = ClutteredMnist.Build(digits, canvas: 48, fragments: 4, fragmentSize: 8, seed: 10);
        Assert.True(a.Pixels.SequenceEqual(b.Pixels));
        Assert.False(a.Pixels.SequenceEqual(c.Pixels));
        int withClutter = 0;
        for (int i = 0; i < a.Count; i++)
        {
            var img = a.Image(i); var box = a.Box(i);
            double outside = 0;
            for (int r = 0; r < 48; r++)
                for (int col = 0; col < 48; col++)
                    if (!box.Contains(r, col)) outside += img[r * 48 + col];
            if (outside > 1) withClutter++;
            Assert.All(img.ToArray(), v => Assert.InRange(v, 0f, 1f));
        }
        Assert.True(withClutter >= 45, $"expected clutter outside the box on almost every canvas, got {withClutter} of 50");
    }

    [Fact]
    public void Build_RejectsBadSizes()
    {
        var digits = Few();
        Assert.Throws<ArgumentOutOfRangeException>(() => ClutteredMnist.Build(digits, canvas: 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClutteredMnist.Build(digits, fragmentSize: 1));
        Assert.Throws<ArgumentException>(() => ClutteredMnist.Build(digits.Subset([0])));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClutteredMnist.Build(digits).Box(50));
    }
}
