using System.Buffers.Binary;
using System.IO.Compression;

namespace Attention.Data;

/// <summary>
/// Reads a whole gzip file (RFC 1952) and checks it to its end. .NET's <see cref="GZipStream"/> inflates the data
/// but never looks at a member's trailer, so a file cut anywhere inside the compressed data decompresses "fine" to a
/// prefix of its content. Here each member's header is parsed (magic, method 8, reserved flags zero, optional fields
/// inside the file, header CRC-16 when present), its deflate data inflated, and the 8-byte trailer that follows
/// must hold the CRC-32 and the length mod 2³² of exactly the bytes produced; after it comes the end of the file or
/// another member. The deflate data's own end is not reported by <see cref="DeflateStream"/>, so the trailer is found
/// as the first place after the member's data where those 8 bytes occur (a chance match would need 64 bits to agree).
/// Any failure throws <see cref="InvalidDataException"/> naming the source, the member and the byte offset.
/// </summary>
public static class Gzip
{
    private const byte FlagHeaderCrc = 2, FlagExtra = 4, FlagName = 8, FlagComment = 16;

    /// <summary>True when <paramref name="bytes"/> begin with the gzip magic 1F 8B.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> bytes) => bytes.Length >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B;

    /// <summary>The decompressed content of every member of <paramref name="file"/>, in order.</summary>
    /// <param name="file">The whole gzip file.</param>
    /// <param name="source">Names the file in error messages.</param>
    /// <param name="maxOutput">The most bytes the content may have (deflate can expand about 1032-fold; this caps it).</param>
    /// <exception cref="InvalidDataException">A header, the compressed data or a trailer is damaged, the file is
    /// truncated, bytes follow the last member, or the content exceeds <paramref name="maxOutput"/>.</exception>
    public static byte[] Decompress(byte[] file, string source, long maxOutput = 1L << 30)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(source);
        if (maxOutput < 0 || maxOutput > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(maxOutput), maxOutput, $"expected 0..{Array.MaxLength}");
        var output = new MemoryStream();
        int at = 0, member = 0;
        Span<byte> trailer = stackalloc byte[8];
        do
        {
            member++;
            int data = ParseHeader(file, at, source, member);
            long before = output.Length;
            Inflate(file, data, output, maxOutput, source, member);
            var content = output.GetBuffer().AsSpan((int)before, (int)(output.Length - before));
            BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32.Compute(content));
            BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], (uint)content.Length);
            int found = file.AsSpan(data).IndexOf(trailer);
            if (found < 0)
                throw new InvalidDataException($"{source}: gzip member {member} (at byte {at}): expected a trailer with CRC-32 " +
                    $"{Convert.ToHexString(trailer[..4])} and length {(uint)content.Length} after its {content.Length} decompressed bytes, found none: " +
                    "the file is truncated or its compressed data is damaged");
            at = data + found + 8;
        }
        while (at < file.Length && RequireNextMember(file, at, source));
        return output.ToArray();
    }

    private static bool RequireNextMember(byte[] file, int at, string source)
    {
        if (!HasMagic(file.AsSpan(at)))
            throw new InvalidDataException($"{source}: expected the end of the file or another gzip member (1F 8B) at byte {at}, got {file.Length - at} other bytes");
        return true;
    }

    /// <summary>Checks one member header (RFC 1952 §2.3) and returns the offset of its deflate data.</summary>
    private static int ParseHeader(byte[] file, int at, string source, int member)
    {
        string where = $"{source}: gzip member {member} (at byte {at})";
        if (file.Length - at < 10)
            throw new InvalidDataException($"{where}: expected a 10-byte header, got {file.Length - at} bytes");
        if (!HasMagic(file.AsSpan(at)))
            throw new InvalidDataException($"{where}: expected the gzip magic 1F 8B, got {file[at]:X2} {file[at + 1]:X2}");
        if (file[at + 2] != 8)
            throw new InvalidDataException($"{where}: expected compression method 8 (deflate), got {file[at + 2]}");
        byte flags = file[at + 3];
        if ((flags & 0xE0) != 0)
            throw new InvalidDataException($"{where}: expected the reserved flag bits 5–7 to be zero, got flags 0x{flags:X2}");
        int p = at + 10;
        if ((flags & FlagExtra) != 0)
        {
            if (file.Length - p < 2) throw new InvalidDataException($"{where}: expected the 2-byte FEXTRA length, got {file.Length - p} bytes");
            int xlen = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(p));
            if (file.Length - p - 2 < xlen) throw new InvalidDataException($"{where}: expected {xlen} FEXTRA bytes, got {file.Length - p - 2}");
            p += 2 + xlen;
        }
        foreach (var (flag, field) in new[] { (FlagName, "FNAME"), (FlagComment, "FCOMMENT") })
        {
            if ((flags & flag) == 0) continue;
            int zero = file.AsSpan(p).IndexOf((byte)0);
            if (zero < 0) throw new InvalidDataException($"{where}: expected the zero-terminated {field} field to end, the file ended first");
            p += zero + 1;
        }
        if ((flags & FlagHeaderCrc) != 0)
        {
            if (file.Length - p < 2) throw new InvalidDataException($"{where}: expected the 2-byte header CRC, got {file.Length - p} bytes");
            uint expected = Crc32.Compute(file.AsSpan(at, p - at)) & 0xFFFF;
            uint got = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(p));
            if (got != expected) throw new InvalidDataException($"{where}: expected header CRC-16 {expected:X4}, got {got:X4}");
            p += 2;
        }
        return p;
    }

    private static void Inflate(byte[] file, int data, MemoryStream output, long maxOutput, string source, int member)
    {
        try
        {
            using var inflater = new DeflateStream(new MemoryStream(file, data, file.Length - data, writable: false), CompressionMode.Decompress);
            var buffer = new byte[81920];
            int n;
            while ((n = inflater.Read(buffer)) > 0)
            {
                if (output.Length + n > maxOutput)
                    throw new InvalidDataException($"{source}: gzip member {member}: expected at most {maxOutput} decompressed bytes in all, got more");
                output.Write(buffer, 0, n);
            }
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(source, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{source}: gzip member {member}: expected valid deflate data from byte {data}, got damaged data ({e.Message})", e);
        }
    }
}

/// <summary>CRC-32 as gzip, zip and PNG use it (ISO 3309, reflected polynomial 0xEDB88320), table-driven.</summary>
public static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="bytes"/> (of "123456789" it is 0xCBF43926).</summary>
    public static uint Compute(ReadOnlySpan<byte> bytes) => Append(0, bytes);

    /// <summary>Continues <paramref name="crc"/> (a previous result, 0 to start) over more bytes.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> bytes)
    {
        uint c = ~crc;
        foreach (byte b in bytes) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
