using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Attention.Tensors;

/// <summary>
/// Reads and writes numpy's .npy format (format versions 1.0 and 2.0, as specified in
/// numpy/lib/format.py): the magic "\x93NUMPY", a version, a little-endian header length (2 bytes in
/// v1, 4 in v2), an ASCII Python dict literal with 'descr', 'fortran_order' and 'shape', padded with
/// spaces and a newline so the data starts at a multiple of 64 bytes, then the raw data in C order.
/// Writes '&lt;f4'; reads '&lt;f4' and '&lt;f8' (converted to float32). Anything else is rejected with an
/// <see cref="InvalidDataException"/> saying what was expected.
/// </summary>
public static class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes <paramref name="tensor"/> to a file as '&lt;f4' in C order.</summary>
    public static void Write(string path, Tensor tensor)
    {
        using var stream = File.Create(path);
        Write(stream, tensor);
    }

    /// <summary>Writes <paramref name="tensor"/> to <paramref name="stream"/> (version 1.0 unless the header needs 2.0).</summary>
    public static void Write(Stream stream, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        stream.Write(BuildHeader(tensor.Shape));
        var data = tensor.ToArray();
        var bytes = new byte[data.Length * sizeof(float)];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
        stream.Write(bytes);
    }

    /// <summary>The exact header bytes (magic through the newline) written for a '&lt;f4' array of this shape.</summary>
    public static byte[] BuildHeader(ReadOnlySpan<int> shape)
    {
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape.ToArray()) + ")";
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shapeText}, }}";
        // v1 uses a 2-byte length, so a header longer than 65535 bytes needs v2's 4-byte length.
        int prefix = Magic.Length + 2 + 2;
        int total = Align64(prefix + dict.Length + 1);
        int major = 1;
        if (total - prefix > ushort.MaxValue) { prefix = Magic.Length + 2 + 4; total = Align64(prefix + dict.Length + 1); major = 2; }
        int headerLength = total - prefix;
        var bytes = new byte[total];
        Magic.CopyTo(bytes);
        bytes[6] = (byte)major; bytes[7] = 0;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLength);
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)headerLength);
        var text = dict + new string(' ', headerLength - dict.Length - 1) + "\n";
        Encoding.ASCII.GetBytes(text, bytes.AsSpan(prefix));
        return bytes;
    }

    private static int Align64(int n) => (n + 63) / 64 * 64;

    /// <summary>Reads a .npy file into a new contiguous tensor.</summary>
    /// <exception cref="InvalidDataException">As for <see cref="Read(Stream)"/>, or bytes after the array's data;
    /// the message starts with the path.</exception>
    public static Tensor Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = File.OpenRead(path);
        try
        {
            var tensor = Read(stream);
            if (stream.Position != stream.Length)
                throw new InvalidDataException($"expected the file to end after the array's data (byte {stream.Position}), got {stream.Length - stream.Position} more bytes");
            return tensor;
        }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Reads one .npy array from <paramref name="stream"/> into a new contiguous tensor.</summary>
    /// <exception cref="InvalidDataException">Bad magic, unsupported version, dtype other than '&lt;f4'/'&lt;f8',
    /// Fortran order, a malformed header or fewer data bytes than the shape needs.</exception>
    public static Tensor Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(stream, prefix, "the 8-byte magic and version");
        if (!prefix[..6].SequenceEqual(Magic))
            throw new InvalidDataException($"expected the .npy magic \\x93NUMPY, got bytes {Convert.ToHexString(prefix[..6])}");
        int major = prefix[6];
        int headerLength;
        if (major == 1)
        {
            Span<byte> len = stackalloc byte[2];
            ReadExactly(stream, len, "the 2-byte header length");
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(len);
        }
        else if (major == 2)
        {
            Span<byte> len = stackalloc byte[4];
            ReadExactly(stream, len, "the 4-byte header length");
            uint l = BinaryPrimitives.ReadUInt32LittleEndian(len);
            if (l > 1 << 24) throw new InvalidDataException($"expected a header under 16 MiB, got a length of {l} bytes");
            headerLength = (int)l;
        }
        else throw new InvalidDataException($"expected .npy format version 1.x or 2.x, got {major}.{prefix[7]}");

        // the header length is checked against the bytes present too (a v2 length can claim 16 MiB)
        if (stream.CanSeek && stream.Length - stream.Position < headerLength)
            throw new InvalidDataException($"truncated .npy: expected the {headerLength}-byte header, got {Math.Max(0, stream.Length - stream.Position)} bytes");
        var header = ReadData(stream, headerLength, out long gotHeader);
        if (gotHeader < headerLength)
            throw new InvalidDataException($"truncated .npy: expected the {headerLength}-byte header, got {gotHeader} bytes");
        int nonAscii = header.AsSpan().IndexOfAnyExceptInRange((byte)0, (byte)127);
        if (nonAscii >= 0)
            throw new InvalidDataException($"expected an ASCII header, got byte 0x{header[nonAscii]:X2} at header offset {nonAscii}");
        var (descr, fortran, shape) = ParseHeader(Encoding.ASCII.GetString(header));

        if (fortran)
            throw new InvalidDataException("expected 'fortran_order': False (C order), got True");
        int itemSize = descr switch
        {
            "<f4" => 4,
            "<f8" => 8,
            ">f4" or ">f8" => throw new InvalidDataException($"expected little-endian '<f4' or '<f8', got big-endian '{descr}'"),
            _ => throw new InvalidDataException($"expected dtype '<f4' or '<f8', got '{descr}'"),
        };
        // Sizes are checked before anything is allocated: the element count must fit a float array, and the bytes
        // it needs must be present (a seekable stream says how many remain; another is read in bounded chunks).
        long count = 1;
        foreach (var s in shape)
        {
            count *= s;   // each extent is < 2^31 and count stays ≤ Array.MaxLength, so this cannot overflow
            if (count > Array.MaxLength) throw new InvalidDataException($"'shape': expected at most {Array.MaxLength} elements, got {Tensor.FormatShape(shape)}");
        }
        long needed = count * itemSize;
        if (stream.CanSeek && stream.Length - stream.Position < needed)
            throw new InvalidDataException($"truncated data: shape {Tensor.FormatShape(shape)} of '{descr}' needs {needed} bytes, got {Math.Max(0, stream.Length - stream.Position)} (expected the data to follow the header)");
        var data = ReadData(stream, needed, out long got);
        if (got < needed)
            throw new InvalidDataException($"truncated data: shape {Tensor.FormatShape(shape)} of '{descr}' needs {needed} bytes, got {got} (expected the data to follow the header)");
        var values = new float[count];
        if (itemSize == 4)
            for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(i * 4));
        else
            for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(data.AsSpan(i * 8));
        return Tensor.FromArray(values, shape);
    }

    /// <summary>Reads up to <paramref name="needed"/> bytes, growing the buffer only as bytes arrive (so a stream that
    /// claims gigabytes and holds a few costs a few).</summary>
    private static byte[] ReadData(Stream stream, long needed, out long got)
    {
        const int chunk = 1 << 20;
        var data = new byte[Math.Min(needed, chunk)];
        got = 0;
        while (got < needed)
        {
            if (got == data.Length)
                Array.Resize(ref data, (int)Math.Min(needed, Math.Max((long)data.Length * 2, chunk)));
            int n = stream.Read(data, (int)got, data.Length - (int)got);
            if (n == 0) break;
            got += n;
        }
        return data;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string what)
    {
        int got = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (got < buffer.Length)
            throw new InvalidDataException($"truncated .npy: expected {what} ({buffer.Length} bytes), got {got}");
    }

    /// <summary>Parses the dict literal numpy writes, e.g. {'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }.</summary>
    internal static (string Descr, bool FortranOrder, int[] Shape) ParseHeader(string text)
    {
        string t = text.Trim();
        if (!t.StartsWith('{') || !t.EndsWith('}'))
            throw new InvalidDataException($"expected the header to be a dict literal {{...}}, got \"{Shorten(t)}\"");
        string? descr = null; bool? fortran = null; int[]? shape = null;
        int i = 1;
        while (true)
        {
            SkipSpaceAndCommas(t, ref i);
            if (i >= t.Length - 1) break;
            string key = ReadQuoted(t, ref i);
            SkipSpace(t, ref i);
            if (i >= t.Length || t[i] != ':') throw new InvalidDataException($"expected ':' after key '{key}' in header \"{Shorten(t)}\"");
            i++;
            SkipSpace(t, ref i);
            switch (key)
            {
                case "descr":
                    if (descr is not null) throw new InvalidDataException($"expected the key 'descr' once in header \"{Shorten(t)}\", got it twice");
                    descr = ReadQuoted(t, ref i);
                    break;
                case "fortran_order":
                    if (fortran is not null) throw new InvalidDataException($"expected the key 'fortran_order' once in header \"{Shorten(t)}\", got it twice");
                    if (string.CompareOrdinal(t, i, "True", 0, 4) == 0) { fortran = true; i += 4; }
                    else if (string.CompareOrdinal(t, i, "False", 0, 5) == 0) { fortran = false; i += 5; }
                    else throw new InvalidDataException($"expected True or False for 'fortran_order' in header \"{Shorten(t)}\"");
                    break;
                case "shape":
                    if (shape is not null) throw new InvalidDataException($"expected the key 'shape' once in header \"{Shorten(t)}\", got it twice");
                    shape = ReadShape(t, ref i);
                    break;
                default: throw new InvalidDataException($"expected only keys 'descr', 'fortran_order', 'shape' in the header, got '{key}'");
            }
        }
        if (descr is null || fortran is null || shape is null)
            throw new InvalidDataException($"expected 'descr', 'fortran_order' and 'shape' in header \"{Shorten(t)}\"");
        return (descr, fortran.Value, shape);
    }

    /// <summary>A Python tuple of non-negative ints: "()", "(3,)", "(2, 3)" or "(2, 3,)"; not "(,)", "(3)" or "(3,, 4)".</summary>
    private static int[] ReadShape(string t, ref int i)
    {
        if (i >= t.Length || t[i] != '(') throw new InvalidDataException($"expected a tuple for 'shape' in header \"{Shorten(t)}\"");
        int close = t.IndexOf(')', i);
        if (close < 0) throw new InvalidDataException($"expected ')' closing 'shape' in header \"{Shorten(t)}\"");
        string inner = t[(i + 1)..close];
        i = close + 1;
        if (inner.Trim().Length == 0) return [];
        var parts = inner.Split(',');
        // "(3,)" and "(2, 3,)" end in an empty part after the last comma; "(3)" is an int in parentheses, not a tuple
        int n = parts.Length;
        if (n == 1) throw new InvalidDataException($"expected a tuple for 'shape' (a 1-D shape is written \"(n,)\"), got \"({inner})\"");
        if (parts[n - 1].Trim().Length == 0) n--;
        var shape = new int[n];
        for (int k = 0; k < n; k++)
        {
            var part = parts[k].Trim();
            if (part.EndsWith('L')) part = part[..^1];   // Python 2 long literals, as old numpy wrote them
            if (part.Length == 0 || !int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out shape[k]))
                throw new InvalidDataException($"expected non-negative integers below 2^31 separated by single commas in 'shape', got '{parts[k].Trim()}' in \"({inner})\"");
        }
        return shape;
    }

    private static void SkipSpace(string t, ref int i) { while (i < t.Length && char.IsWhiteSpace(t[i])) i++; }
    private static void SkipSpaceAndCommas(string t, ref int i) { while (i < t.Length && (char.IsWhiteSpace(t[i]) || t[i] == ',')) i++; }

    private static string ReadQuoted(string t, ref int i)
    {
        if (i >= t.Length || (t[i] != '\'' && t[i] != '"'))
            throw new InvalidDataException($"expected a quoted string at position {i} of header \"{Shorten(t)}\"");
        char q = t[i];
        int end = t.IndexOf(q, i + 1);
        if (end < 0) throw new InvalidDataException($"expected a closing quote in header \"{Shorten(t)}\"");
        var s = t[(i + 1)..end];
        i = end + 1;
        return s;
    }

    private static string Shorten(string s) => s.Length <= 120 ? s : s[..117] + "...";
}
