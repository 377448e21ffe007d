using Attention.Data;
using Attention.Tensors;

namespace Attention.Tests.Data;

public class SpokenDigitStringsTests
{
    [Fact]
    public void SplitClips_PutsEveryDigitOnBothSides_AndNoClipOnBoth()
    {
        var speech = SpokenDigits.LoadRepoCopy();
        var (train, test) = SpokenDigitStrings.SplitClips(speech, testEvery: 5);
        Assert.Equal(speech.Clips.Count, train.Count + test.Count);
        Assert.Empty(train.Intersect(test));
        for (int d = 0; d < 10; d++)
        {
            int all = speech.Clips.Count(c => c.Digit == d), held = test.Count(c => c.Digit == d);
            Assert.Equal(all / 5, held);
            Assert.True(train.Count(c => c.Digit == d) > held);
        }
        Assert.True(test.Select(c => c.Voice).Distinct().Count() > 1, "expected the held-out clips to spread over voices");
        Assert.Throws<ArgumentOutOfRangeException>(() => SpokenDigitStrings.SplitClips(speech, 1));
    }

    [Fact]
    public void Build_StringsLongerThanAnyTrainingString_KeepExactGoldBoundariesAndFeatures()
    {
        var speech = SpokenDigits.LoadRepoCopy();
        var mel = new LogMel(speech.SampleRate, bands: 20, windowMs: 25, hopMs: 20);
        var (_, test) = SpokenDigitStrings.SplitClips(speech);
        var examples = SpokenDigitStrings.Build(speech, mel, test, 3, 12, 12, new Rng(5));
        foreach (var e in examples)
        {
            Assert.Equal(12, e.Digits.Length);
            Assert.Equal(mel.Frames(e.Utterance.Samples.Length), e.Frames);
            Assert.Equal(e.Frames * 20, e.Features.Length);
            for (int w = 0; w < 12; w++)
            {
                var (start, end) = e.Utterance.Words[w];
                var segment = e.Utterance.Samples[start..end];
                Assert.Contains(test, c => c.Digit == e.Digits[w] && c.Samples.AsSpan().SequenceEqual(segment));
            }
        }
        var again = SpokenDigitStrings.Build(speech, mel, test, 3, 12, 12, new Rng(5));
        Assert.Equal(examples[2].Features, again[2].Features);
        Assert.Throws<ArgumentException>(() => SpokenDigitStrings.Build(speech, mel, test, 3, 4, 2, new Rng(5)));
        Assert.Throws<ArgumentException>(() => SpokenDigitStrings.Build(speech, new LogMel(16000), test, 3, 1, 2, new Rng(5)));
    }

    [Fact]
    public void BuildRepeated_SaysOneDigitOverAndOver_WithDifferentRecordings()
    {
        var speech = SpokenDigits.LoadRepoCopy();
        var mel = new LogMel(speech.SampleRate, bands: 20, windowMs: 25, hopMs: 20);
        var (train, _) = SpokenDigitStrings.SplitClips(speech);
        var examples = SpokenDigitStrings.BuildRepeated(speech, mel, train, 6, 4, new Rng(8));
        Assert.All(examples, e => { Assert.Equal(4, e.Digits.Length); Assert.Single(e.Digits.Distinct()); });
        Assert.True(examples.Select(e => e.Digits[0]).Distinct().Count() > 1, "expected different digits across utterances");
    }

    [Fact]
    public void WordSteps_MatchABruteForceOverlapOfEachStepsTimeSlot()
    {
        var mel = new LogMel(1000, bands: 4, windowMs: 20, hopMs: 10);   // window 20 samples, hop 10
        var rng = new Rng(3);
        for (int trial = 0; trial < 50; trial++)
        {
            int reduction = 1 << rng.NextInt(4);
            var words = new List<(int, int)>();
            int at = rng.NextInt(60);
            for (int w = 0; w < 4; w++) { int len = 5 + rng.NextInt(120); words.Add((at, at + len)); at += len + 1 + rng.NextInt(80); }
            var u = new DigitUtterance(new float[at + 30], [1, 2, 3, 4], words.ToArray());
            int steps = (mel.Frames(u.Samples.Length) + reduction - 1) / reduction;
            var spans = SpokenDigitStrings.WordSteps(u, mel, reduction, steps);
            for (int w = 0; w < 4; w++)
            {
                var (start, end) = words[w];
                // step k owns the frame-centre times [k·r·hop + window/2, (k+1)·r·hop + window/2)
                var overlapping = Enumerable.Range(0, steps)
                    .Where(k => k * reduction * 10 + 10 < end && (k + 1) * reduction * 10 + 10 > start).ToList();
                Assert.Equal((overlapping.Min(), overlapping.Max() + 1), spans[w]);
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => SpokenDigitStrings.WordSteps(new DigitUtterance([0f], [1], [(0, 1)]), mel, 0, 3));
    }

    [Fact]
    public void Standardise_GivesEveryBandZeroMeanAndUnitVariance_OverTheTrainingFrames()
    {
        var speech = SpokenDigits.LoadRepoCopy();
        var mel = new LogMel(speech.SampleRate, bands: 8, windowMs: 25, hopMs: 20);
        var raw = SpokenDigitStrings.Build(speech, mel, speech.Clips, 5, 1, 3, new Rng(2));
        var (mean, std) = SpokenDigitStrings.BandStatistics(raw);
        var z = SpokenDigitStrings.Standardise(raw, mean, std);
        var (zMean, zStd) = SpokenDigitStrings.BandStatistics(z);
        for (int b = 0; b < 8; b++) { Assert.Equal(0, zMean[b], 3); Assert.Equal(1, zStd[b], 3); }
        Assert.Same(raw[0].Utterance, z[0].Utterance);
        Assert.Throws<ArgumentException>(() => SpokenDigitStrings.Standardise(raw, new float[3], new float[3]));
    }
}
