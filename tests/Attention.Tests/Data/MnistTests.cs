using System.IO.Compression;
using Attention.Data;

namespace Attention.Tests.Data;

public class MnistTests
{
    [Fact]
    public void RepoCopy_HoldsTenThousandRealDigits_OfEveryClass()
    {
        var digits = Mnist.LoadRepoCopy();
        Assert.Equal((10_000, 28, 28), (digits.Count, digits.Rows, digits.Cols));
        var perClass = Enumerable.Range(0, digits.Count).GroupBy(digits.Label).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Enumerable.Range(0, 10), perClass.Keys.Order());
        Assert.All(perClass.Values, n => Assert.InRange(n, 800, 1200));
        // handwriting, not noise: ink in the middle of every image, a blank border around it
        for (int i = 0; i < digits.Count; i += 97)
        {
            var p = digits.Pixels(i);
            Assert.True(p.ToArray().Max() >= 200, $"digit {i}: expected some full-ink pixel");
            Assert.Equal(0, p[0] + p[27] + p[27 * 28] + p[28 * 28 - 1]);
            var image = digits.Image(i);
            Assert.All(image, v => Assert.InRange(v, 0f, 1f));
        }
    }

    [Fact]
    public void Split_IsDisjoint_Deterministic_AndNearItsFraction()
    {
        var digits = Mnist.LoadRepoCopy();
        var a = Mnist.Split(digits, 0.2);
        var b = Mnist.Split(digits, 0.2);
        Assert.Equal(digits.Count, a.Train.Count + a.Test.Count);
        Assert.InRange(a.Test.Count, 1800, 2200);
        Assert.Equal(a.Test.Count, b.Test.Count);
        Assert.True(a.Test.Pixels(0).SequenceEqual(b.Test.Pixels(0)));
        var other = Mnist.Split(digits, 0.2, seed: 7);
        Assert.False(a.Test.Pixels(0).SequenceEqual(other.Test.Pixels(0)) && a.Test.Pixels(1).SequenceEqual(other.Test.Pixels(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Mnist.Split(digits, 1.0));
    }

    private static byte[] Valid(int count = 3)
    {
        var bytes = new byte[20 + count * 785];
        "ATTNMNST"u8.CopyTo(bytes);
        BitConverter.GetBytes(count).CopyTo(bytes, 8);
        BitConverter.GetBytes(28).CopyTo(bytes, 12);
        BitConverter.GetBytes(28).CopyTo(bytes, 16);
        for (int i = 0; i < count; i++) bytes[20 + i * 785] = (byte)(i % 10);
        return bytes;
    }

    [Fact]
    public void Parse_DamagedFiles_ThrowNamingWhatWasExpected()
    {
        Assert.Equal(3, Mnist.Parse(Valid(), "ok").Count);
        var truncated = Valid()[..^1];
        Assert.Contains("expected 2375 bytes", Assert.Throws<InvalidDataException>(() => Mnist.Parse(truncated, "t.bin")).Message);
        var badLabel = Valid(); badLabel[20 + 785] = 10;
        var e = Assert.Throws<InvalidDataException>(() => Mnist.Parse(badLabel, "l.bin"));
        Assert.Contains("digit 1", e.Message); Assert.Contains("found 10", e.Message);
        var badMagic = Valid(); badMagic[0] = (byte)'X';
        Assert.Contains("ATTNMNST", Assert.Throws<InvalidDataException>(() => Mnist.Parse(badMagic, "m.bin")).Message);
        var huge = Valid(); BitConverter.GetBytes(int.MaxValue).CopyTo(huge, 8);
        Assert.Throws<InvalidDataException>(() => Mnist.Parse(huge, "h.bin"));
    }

    [Fact]
    public void Load_TruncatedGzip_IsAnError_NotFewerDigits()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mnist-{Guid.NewGuid():N}.bin.gz");
        try
        {
            using (var file = File.Create(path))
            using (var gz = new GZipStream(file, CompressionLevel.Optimal)) gz.Write(Valid(50));
            Assert.Equal(50, Mnist.Load(path).Count);
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
            var e = Assert.Throws<InvalidDataException>(() => Mnist.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }
}
