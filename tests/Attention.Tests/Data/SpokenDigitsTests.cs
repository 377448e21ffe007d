using Attention.Data;
using Attention.Tensors;

namespace Attention.Tests.Data;

public class SpokenDigitsTests
{
    [Fact]
    public void RepoCopy_HasEveryDigitInEveryVoiceSpeedAndPitch_AsShortAudibleClips()
    {
        var speech = SpokenDigits.LoadRepoCopy();
        Assert.Equal(22050, speech.SampleRate);
        Assert.Equal(540, speech.Clips.Count);
        Assert.All(speech.Clips.GroupBy(c => c.Digit), g => Assert.Equal(54, g.Count()));
        Assert.Equal(SpokenDigits.VoiceNames.Count, speech.Clips.Select(c => c.Voice).Distinct().Count());
        foreach (var c in speech.Clips)
        {
            double seconds = (double)c.Samples.Length / speech.SampleRate;
            Assert.InRange(seconds, 0.1, 1.5);
            Assert.True(c.Samples.Max(Math.Abs) > 0.05, $"clip of digit {c.Digit}: expected audible speech");
        }
        // a slower speaker takes longer over the same word
        double Mean(int speed) => speech.Clips.Where(c => c.Speed == speed).Average(c => c.Samples.Length);
        Assert.True(Mean(130) > Mean(200));
    }

    [Fact]
    public void MuLaw_DecodesTheG711Table()
    {
        Assert.Equal(0f, SpokenDigits.MuLaw(0xFF));
        Assert.Equal(-32124 / 32768f, SpokenDigits.MuLaw(0x00));
        Assert.Equal(32124 / 32768f, SpokenDigits.MuLaw(0x80));
        // codes 0x80 … 0xFF are the positive half, loudest first
        for (int c = 0x81; c <= 0xFF; c++) Assert.True(SpokenDigits.MuLaw((byte)c) <= SpokenDigits.MuLaw((byte)(c - 1)));
    }

    [Fact]
    public void Utterance_PlacesEachClipExactlyAtItsGoldBoundary_WithSilenceBetween()
    {
        var speech = SpokenDigits.LoadRepoCopy();
        var clips = speech.Clips.Where(c => c.Voice == 0).ToList();
        var u = speech.Utterance(5, new Rng(11), clips);
        Assert.Equal(5, u.Digits.Length);
        int previousEnd = 0;
        for (int w = 0; w < 5; w++)
        {
            var (start, end) = u.Words[w];
            Assert.True(start > previousEnd, "expected a pause before every word");
            Assert.All(u.Samples[previousEnd..start], s => Assert.Equal(0f, s));
            var segment = u.Samples[start..end];
            Assert.Contains(clips, c => c.Digit == u.Digits[w] && c.Samples.AsSpan().SequenceEqual(segment));
            previousEnd = end;
        }
        Assert.True(u.Samples.Length > previousEnd);
        var again = speech.Utterance(5, new Rng(11), clips);
        Assert.Equal(u.Digits, again.Digits);
    }

    [Fact]
    public void Parse_DamagedFile_ThrowsNamingTheClip()
    {
        var bytes = new List<byte>("ATTNSPCH"u8.ToArray());
        bytes.AddRange(BitConverter.GetBytes(22050)); bytes.AddRange(BitConverter.GetBytes(2));
        bytes.AddRange([3, 0, 170, 0, 50, 0]); bytes.AddRange(BitConverter.GetBytes(4)); bytes.AddRange([1, 2, 3, 4]);
        bytes.AddRange([12, 0, 170, 0, 50, 0]); bytes.AddRange(BitConverter.GetBytes(1)); bytes.Add(9);
        var e = Assert.Throws<InvalidDataException>(() => SpokenDigits.Parse(bytes.ToArray(), "s.bin"));
        Assert.Contains("clip 1", e.Message); Assert.Contains("found 12", e.Message);
        var truncated = bytes.ToArray()[..^3];
        Assert.Throws<InvalidDataException>(() => SpokenDigits.Parse(truncated, "s.bin"));
    }

    [Fact]
    public void LogMel_PutsAPureTonesEnergyInTheBandAroundItsFrequency()
    {
        const int rate = 16000;
        var mel = new LogMel(rate, bands: 40);
        foreach (double f in new[] { 300.0, 1000.0, 4000.0 })
        {
            var tone = Enumerable.Range(0, rate / 2).Select(i => (float)Math.Sin(2 * Math.PI * f * i / rate)).ToArray();
            var features = mel.Compute(tone);
            Assert.Equal(mel.Frames(tone.Length) * 40, features.Length);
            int frame = mel.Frames(tone.Length) / 2;
            int best = Enumerable.Range(0, 40).MaxBy(b => features[frame * 40 + b]);
            // the band centres, evenly spaced in mel between 0 and 8 kHz
            double Mel(double hz) => 2595 * Math.Log10(1 + hz / 700);
            double centre = 700 * (Math.Pow(10, Mel(rate / 2.0) * (best + 1) / 41 / 2595) - 1);
            Assert.InRange(Mel(centre), Mel(f) - Mel(rate / 2.0) / 41, Mel(f) + Mel(rate / 2.0) / 41);
        }
        Assert.Equal(1, mel.Frames(10));
    }
}
