using Attention.Tensors;

namespace Attention.Data;

/// <summary>
/// One spoken digit string ready for a speech model: the utterance (audio, digits, gold word spans in samples) and its
/// log-mel features (frames × bands, row-major).
/// </summary>
public sealed record SpeechExample(DigitUtterance Utterance, float[] Features, int Frames, int Bands)
{
    /// <summary>The spoken digits, in order.</summary>
    public int[] Digits => Utterance.Digits;
}

/// <summary>
/// Datasets of spoken digit strings for listen-attend-spell (answer 29): utterances of any length built by
/// concatenating the vendored single-digit clips of <see cref="SpokenDigits"/> with random pauses, so the gold word
/// boundaries stay exact whatever the length — strings far longer than any in training cost nothing to make.
/// Also: a clip split (test audio never heard in training), per-band standardisation, and the gold word spans in
/// the encoder steps of a model that reduces time by a factor.
/// </summary>
public static class SpokenDigitStrings
{
    /// <summary>
    /// Splits the clips so that test utterances are built from recordings never used in training: among the clips of
    /// each digit, in file order, every <paramref name="testEvery"/>-th one (positions testEvery − 1, 2·testEvery − 1, …)
    /// goes to the test side, so every digit is on both sides and the held-out clips spread over voices, speeds and pitches.
    /// </summary>
    public static (IReadOnlyList<SpokenDigit> Train, IReadOnlyList<SpokenDigit> Test) SplitClips(SpokenDigits speech, int testEvery = 5)
    {
        ArgumentNullException.ThrowIfNull(speech);
        if (testEvery < 2) throw new ArgumentOutOfRangeException(nameof(testEvery), testEvery, "expected testEvery ≥ 2 (one clip in testEvery goes to the test side)");
        var train = new List<SpokenDigit>(); var test = new List<SpokenDigit>();
        var seen = new int[10];
        foreach (var clip in speech.Clips) (++seen[clip.Digit] % testEvery == 0 ? test : train).Add(clip);
        return (train, test);
    }

    /// <summary>
    /// <paramref name="count"/> seeded utterances of <paramref name="minLength"/>..<paramref name="maxLength"/> digits
    /// (uniform), drawn from <paramref name="clips"/>, with their log-mel features.
    /// </summary>
    public static IReadOnlyList<SpeechExample> Build(SpokenDigits speech, LogMel mel, IReadOnlyList<SpokenDigit> clips, int count,
                                                     int minLength, int maxLength, Rng rng, double minPause = 0.05, double maxPause = 0.3)
    {
        ArgumentNullException.ThrowIfNull(speech);
        ArgumentNullException.ThrowIfNull(mel);
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (minLength < 1 || maxLength < minLength)
            throw new ArgumentException($"expected 1 ≤ minLength ≤ maxLength, got {minLength} and {maxLength}");
        if (mel.SampleRate != speech.SampleRate)
            throw new ArgumentException($"expected a LogMel at the clips' rate {speech.SampleRate} Hz, got {mel.SampleRate} Hz", nameof(mel));
        var examples = new SpeechExample[count];
        for (int i = 0; i < count; i++)
        {
            int length = minLength + (int)(rng.NextUInt64() % (ulong)(maxLength - minLength + 1));
            var u = speech.Utterance(length, rng, clips, minPause, maxPause);
            examples[i] = new SpeechExample(u, mel.Compute(u.Samples), mel.Frames(u.Samples.Length), mel.Bands);
        }
        return examples;
    }

    /// <summary>
    /// <paramref name="count"/> seeded utterances of one digit said <paramref name="length"/> times (a random digit per
    /// utterance, each word a clip of that digit drawn independently): every word sounds alike, so only its place in
    /// time tells the words apart — the case content-only attention cannot resolve from content.
    /// </summary>
    public static IReadOnlyList<SpeechExample> BuildRepeated(SpokenDigits speech, LogMel mel, IReadOnlyList<SpokenDigit> clips, int count, int length,
                                                             Rng rng, double minPause = 0.05, double maxPause = 0.3)
    {
        ArgumentNullException.ThrowIfNull(speech);
        ArgumentNullException.ThrowIfNull(mel);
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (mel.SampleRate != speech.SampleRate)
            throw new ArgumentException($"expected a LogMel at the clips' rate {speech.SampleRate} Hz, got {mel.SampleRate} Hz", nameof(mel));
        var byDigit = clips.GroupBy(c => c.Digit).OrderBy(g => g.Key).Select(g => g.ToList()).ToList();
        if (byDigit.Count == 0) throw new ArgumentException("expected at least one clip to draw from", nameof(clips));
        var examples = new SpeechExample[count];
        for (int i = 0; i < count; i++)
        {
            var same = byDigit[(int)(rng.NextUInt64() % (ulong)byDigit.Count)];
            var u = speech.Utterance(length, rng, same, minPause, maxPause);
            examples[i] = new SpeechExample(u, mel.Compute(u.Samples), mel.Frames(u.Samples.Length), mel.Bands);
        }
        return examples;
    }

    /// <summary>Per-band mean and standard deviation over every frame of <paramref name="examples"/> (the training set).</summary>
    public static (float[] Mean, float[] Std) BandStatistics(IReadOnlyList<SpeechExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("expected at least one example", nameof(examples));
        int bands = examples[0].Bands;
        var sum = new double[bands]; var sq = new double[bands]; long n = 0;
        foreach (var e in examples)
        {
            if (e.Bands != bands) throw new ArgumentException($"expected every example to have {bands} bands, got {e.Bands}", nameof(examples));
            for (int t = 0; t < e.Frames; t++)
                for (int b = 0; b < bands; b++) { double x = e.Features[t * bands + b]; sum[b] += x; sq[b] += x * x; }
            n += e.Frames;
        }
        var mean = new float[bands]; var std = new float[bands];
        for (int b = 0; b < bands; b++)
        {
            double m = sum[b] / n;
            mean[b] = (float)m;
            std[b] = (float)Math.Sqrt(Math.Max(sq[b] / n - m * m, 1e-8));
        }
        return (mean, std);
    }

    /// <summary>The examples with every band standardised: (x − mean) / std (new feature arrays; the utterances are shared).</summary>
    public static IReadOnlyList<SpeechExample> Standardise(IReadOnlyList<SpeechExample> examples, float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length != std.Length) throw new ArgumentException($"expected mean and std of one length, got {mean.Length} and {std.Length}");
        return examples.Select(e =>
        {
            if (e.Bands != mean.Length) throw new ArgumentException($"expected examples with {mean.Length} bands, got {e.Bands}", nameof(examples));
            var f = new float[e.Features.Length];
            for (int i = 0; i < f.Length; i++) f[i] = (e.Features[i] - mean[i % e.Bands]) / std[i % e.Bands];
            return e with { Features = f };
        }).ToList();
    }

    /// <summary>
    /// Gold word spans in the steps of an encoder that merges <paramref name="reduction"/> frames into one step (a
    /// pyramidal listener: 2^layers). Frame t is centred at sample t·hop + window/2; step k owns the centre times
    /// [k·r·hop + window/2, (k+1)·r·hop + window/2), so the steps partition time. Word w spans the steps whose interval
    /// overlaps its samples [start, end), clipped to the <paramref name="steps"/> the encoder has. Each span is [Start, End).
    /// </summary>
    public static (int Start, int End)[] WordSteps(DigitUtterance utterance, LogMel mel, int reduction, int steps)
    {
        ArgumentNullException.ThrowIfNull(utterance);
        ArgumentNullException.ThrowIfNull(mel);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(reduction);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        double width = (double)reduction * mel.Hop, offset = mel.Window / 2.0;
        return utterance.Words.Select(w =>
        {
            int first = (int)Math.Floor((w.Start - offset) / width);
            int last = (int)Math.Floor((w.End - 1 - offset) / width);            // step holding the word's last sample
            first = Math.Clamp(first, 0, steps - 1); last = Math.Clamp(last, first, steps - 1);
            return (first, last + 1);
        }).ToArray();
    }
}
