using System.Buffers.Binary;
using Attention.Tensors;

namespace Attention.Data;

/// <summary>One digit word spoken alone: which digit, by which espeak-ng voice, speed and pitch, and its samples in [−1, 1].</summary>
public sealed record SpokenDigit(int Digit, int Voice, int Speed, int Pitch, float[] Samples);

/// <summary>An utterance of several digit words with pauses between them, and where each word lies (the gold alignment).</summary>
/// <param name="Samples">The audio, samples in [−1, 1].</param>
/// <param name="Digits">The spoken digits, in order.</param>
/// <param name="Words">Per word: its first sample and one past its last.</param>
public sealed record DigitUtterance(float[] Samples, int[] Digits, (int Start, int End)[] Words);

/// <summary>
/// The ten digit words spoken alone by espeak-ng (6 voices × 3 speeds × 3 pitches = 540 clips at 22,050 Hz), as
/// vendored in <c>data/speech/digits.bin.gz</c> (see PROVENANCE.md there), and utterances built from them: digit
/// strings with random pauses between the words, so every word boundary is known exactly. For listen-attend-spell
/// and location-aware attention (answer 29).
/// </summary>
public sealed class SpokenDigits
{
    /// <summary>The vendored copy, relative to the data folder (<see cref="DataDirectory"/>).</summary>
    public const string DataRelativePath = "speech/digits.bin.gz";

    /// <summary>The espeak-ng voices, by the index a clip stores.</summary>
    public static IReadOnlyList<string> VoiceNames { get; } = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb-x-rp+m3"];

    private static readonly Lazy<SpokenDigits> RepoCopy = new(() => Load(DataDirectory.Find(DataRelativePath)));

    /// <summary>Samples per second.</summary>
    public int SampleRate { get; }
    /// <summary>Every clip, in file order.</summary>
    public IReadOnlyList<SpokenDigit> Clips { get; }

    private SpokenDigits(int sampleRate, IReadOnlyList<SpokenDigit> clips) { SampleRate = sampleRate; Clips = clips; }

    /// <summary>The vendored clips (read once per process).</summary>
    public static SpokenDigits LoadRepoCopy() => RepoCopy.Value;

    /// <summary>Reads a clips file (gzip or not), checking every field.</summary>
    /// <exception cref="InvalidDataException">The file is damaged: naming the file, the clip and byte offset, what was expected and found.</exception>
    public static SpokenDigits Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = File.ReadAllBytes(path);
        if (Gzip.HasMagic(bytes)) bytes = Gzip.Decompress(bytes, path, 256L << 20);
        return Parse(bytes, path);
    }

    /// <summary>Parses the unpacked bytes of a clips file; <paramref name="source"/> names it in errors.</summary>
    public static SpokenDigits Parse(ReadOnlySpan<byte> bytes, string source = "input")
    {
        if (bytes.Length < 16 || !bytes[..8].SequenceEqual("ATTNSPCH"u8))
            throw new InvalidDataException($"{source}: expected the 8-byte magic ATTNSPCH and a 16-byte header, found {Math.Min(bytes.Length, 8)} bytes that are not it");
        int rate = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]), count = BinaryPrimitives.ReadInt32LittleEndian(bytes[12..]);
        if (rate is < 1000 or > 192_000) throw new InvalidDataException($"{source}: sample rate (byte 8): expected 1000..192000 Hz, found {rate}");
        if (count < 0) throw new InvalidDataException($"{source}: clip count (byte 12): expected ≥ 0, found {count}");
        var clips = new List<SpokenDigit>();
        int at = 16;
        for (int c = 0; c < count; c++)
        {
            if (bytes.Length - at < 10) throw new InvalidDataException($"{source}: clip {c} (byte {at}): expected a 10-byte clip header, found {bytes.Length - at} bytes left");
            int digit = bytes[at], voice = bytes[at + 1];
            int speed = BinaryPrimitives.ReadInt16LittleEndian(bytes[(at + 2)..]), pitch = BinaryPrimitives.ReadInt16LittleEndian(bytes[(at + 4)..]);
            int n = BinaryPrimitives.ReadInt32LittleEndian(bytes[(at + 6)..]);
            if (digit > 9) throw new InvalidDataException($"{source}: clip {c} (byte {at}): expected a digit 0–9, found {digit}");
            if (voice >= VoiceNames.Count) throw new InvalidDataException($"{source}: clip {c} (byte {at + 1}): expected a voice index below {VoiceNames.Count}, found {voice}");
            if (n < 1 || n > bytes.Length - at - 10)
                throw new InvalidDataException($"{source}: clip {c} (byte {at + 6}): expected 1..{bytes.Length - at - 10} samples (the bytes left), found {n}");
            var samples = new float[n];
            for (int i = 0; i < n; i++) samples[i] = MuLaw(bytes[at + 10 + i]);
            clips.Add(new SpokenDigit(digit, voice, speed, pitch, samples));
            at += 10 + n;
        }
        if (at != bytes.Length) throw new InvalidDataException($"{source}: expected the file to end after {count} clips at byte {at}, found {bytes.Length - at} more bytes");
        return new SpokenDigits(rate, clips);
    }

    /// <summary>G.711 μ-law byte → sample in [−1, 1] (the 16-bit value / 32768).</summary>
    public static float MuLaw(byte code)
    {
        int u = ~code & 0xFF;
        int magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07);
        int value = (u & 0x80) != 0 ? 0x84 - magnitude : magnitude - 0x84;
        return value / 32768f;
    }

    /// <summary>
    /// A seeded utterance of <paramref name="length"/> digit words, each a clip drawn from <paramref name="clips"/> (e.g.
    /// one voice's clips for a train/test split by voice), with silence of <paramref name="minPause"/>..<paramref name="maxPause"/>
    /// seconds before, between and after the words.
    /// </summary>
    public DigitUtterance Utterance(int length, Rng rng, IReadOnlyList<SpokenDigit>? clips = null, double minPause = 0.05, double maxPause = 0.3)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(minPause >= 0 && maxPause >= minPause)) throw new ArgumentException($"expected 0 ≤ minPause ≤ maxPause, got {minPause}, {maxPause}");
        clips ??= Clips;
        if (clips.Count == 0) throw new ArgumentException("expected at least one clip to draw from", nameof(clips));
        int Pause() => (int)((minPause + (maxPause - minPause) * rng.NextDouble()) * SampleRate);
        var chosen = Enumerable.Range(0, length).Select(_ => clips[(int)(rng.NextUInt64() % (ulong)clips.Count)]).ToArray();
        var pauses = Enumerable.Range(0, length + 1).Select(_ => Pause()).ToArray();
        var audio = new float[pauses.Sum() + chosen.Sum(c => c.Samples.Length)];
        var words = new (int, int)[length];
        int at = 0;
        for (int w = 0; w < length; w++)
        {
            at += pauses[w];
            chosen[w].Samples.CopyTo(audio, at);
            words[w] = (at, at + chosen[w].Samples.Length);
            at += chosen[w].Samples.Length;
        }
        return new DigitUtterance(audio, chosen.Select(c => c.Digit).ToArray(), words);
    }
}
