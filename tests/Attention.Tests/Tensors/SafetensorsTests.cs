using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Attention.Tensors;

namespace Attention.Tests.Tensors;

public class SafetensorsTests
{
    private static Dictionary<string, Tensor> Sample()
    {
        var rng = new Random(3);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        return new Dictionary<string, Tensor>
        {
            ["encoder.weight"] = Tensor.FromArray(Random(3 * 5 * 7), 3, 5, 7),
            ["encoder.bias"] = Tensor.FromArray(Random(7), 7),
            ["scalar"] = Tensor.FromArray([42.5f]),
            ["empty"] = Tensor.Zeros(0, 3),
            ["special"] = Tensor.FromArray([float.NaN, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, float.MaxValue], 2, 3),
        };
    }

    /// <summary>A file built by hand from the format description: length prefix, JSON header, raw data.</summary>
    private static byte[] HandBuilt(string json, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    private static string HeaderOf(byte[] file) =>
        Encoding.UTF8.GetString(file, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(file));

    private static byte[] DataOf(byte[] file) => file[(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file))..];

    /// <summary>A real written file with its header text edited (and the length prefix recomputed).</summary>
    private static byte[] EditHeader(byte[] file, string from, string to)
    {
        string header = HeaderOf(file);
        Assert.Contains(from, header);
        return HandBuilt(header.Replace(from, to), DataOf(file));
    }

    private static InvalidDataException Corrupt(byte[] file, params string[] messageFragments)
    {
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(file, out _));
        foreach (var f in messageFragments) Assert.Contains(f, e.Message);
        return e;
    }

    // Two F32 tensors a (2×3, bytes [0, 24)) and b (4, bytes [24, 40)).
    private static byte[] TwoTensors() => Safetensors.Serialize(new Dictionary<string, Tensor>
    {
        ["a"] = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3),
        ["b"] = Tensor.FromArray([7, 8, 9, 10], 4),
    });

    [Fact]
    public void RoundTrip_IsBitExact_WithMetadata_ThroughAFile()
    {
        var tensors = Sample();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"" };
        string path = Path.Combine(Path.GetTempPath(), $"safetensors-{Guid.NewGuid():N}.safetensors");
        try
        {
            Safetensors.Write(path, tensors, metadata);
            var back = Safetensors.Read(path, out var meta);
            Assert.Equal(tensors.Keys.Order(), back.Keys.Order());
            foreach (var (name, t) in tensors)
            {
                Assert.Equal(t.Shape.ToArray(), back[name].Shape.ToArray());
                Assert.Equal(t.ToArray().Select(BitConverter.SingleToInt32Bits), back[name].ToArray().Select(BitConverter.SingleToInt32Bits));
            }
            Assert.Equal(metadata.OrderBy(p => p.Key), meta.OrderBy(p => p.Key));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Write_HeaderIsSpacePaddedTo8Bytes_AndDescribesContiguousF32Ranges()
    {
        var file = Safetensors.Serialize(Sample());
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0, (8 + n) % 8);
        string header = HeaderOf(file);
        Assert.Equal(header.TrimEnd(' ').Length, header.TrimEnd().Length);   // padding is spaces only
        using var doc = JsonDocument.Parse(header);
        var ranges = new List<(long, long)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            Assert.Equal("F32", p.Value.GetProperty("dtype").GetString());
            long elements = p.Value.GetProperty("shape").EnumerateArray().Aggregate(1L, (a, d) => a * d.GetInt64());
            var o = p.Value.GetProperty("data_offsets");
            Assert.Equal(4 * elements, o[1].GetInt64() - o[0].GetInt64());
            ranges.Add((o[0].GetInt64(), o[1].GetInt64()));
        }
        long at = 0;
        foreach (var (begin, end) in ranges.OrderBy(r => r.Item1).ThenBy(r => r.Item2)) { Assert.Equal(at, begin); at = end; }
        Assert.Equal(file.Length - 8 - n, at);
    }

    [Fact]
    public void Write_StridedView_StoresLogicalRowMajorOrder()
    {
        var t = Tensor.FromArray([1, 2, 3, 4, 5, 6], 2, 3).Transpose();   // 3×2 view: 1 4 / 2 5 / 3 6
        var back = Safetensors.Read(Safetensors.Serialize(new Dictionary<string, Tensor> { ["t"] = t }), out _)["t"];
        Assert.Equal([3, 2], back.Shape.ToArray());
        Assert.Equal([1f, 4, 2, 5, 3, 6], back.ToArray());
    }

    [Fact]
    public void Read_ConvertsF64F16AndBF16ToFloat32()
    {
        var data = new byte[8 * 2 + 2 * 3 + 2 * 2];
        BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(0), 1.0 / 3);
        BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8), -1e300);         // beyond float range: −∞
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(16), 0x3E00);        // F16 1.5
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(18), 0xC000);        // F16 −2
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(20), 0x0001);        // F16 smallest subnormal 2⁻²⁴
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(22), 0x4049);        // BF16 3.140625
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(24), 0xFF80);        // BF16 −∞
        string json = """{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[3,1],"data_offsets":[16,22]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[22,26]}}""";
        var t = Safetensors.Read(HandBuilt(json, data), out var meta);
        Assert.Empty(meta);
        Assert.Equal([(float)(1.0 / 3), float.NegativeInfinity], t["d"].ToArray());
        Assert.Equal([1.5f, -2f, MathF.Pow(2, -24)], t["h"].ToArray());
        Assert.Equal([3, 1], t["h"].Shape.ToArray());
        Assert.Equal([3.140625f, float.NegativeInfinity], t["b"].ToArray());
    }

    [Fact]
    public void Read_TruncatedFile_Throws_AtEveryCut()
    {
        var file = TwoTensors();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Corrupt(file[..0], "expected at least 8 bytes", "got a file of 0 bytes");
        Corrupt(file[..5], "expected at least 8 bytes", "got a file of 5 bytes");
        Corrupt(file[..(headerEnd - 3)], "header runs past the end", $"got {headerEnd - 8}");
        Corrupt(file[..(headerEnd + 10)], "tensor \"a\"", "within the 10 data bytes", "truncated");
        Corrupt(file[..^1], "tensor \"b\"", "within the 39 data bytes", "[24, 40]");
        for (int cut = 0; cut < file.Length; cut++)   // no cut anywhere reads as a valid file
            Assert.Throws<InvalidDataException>(() => Safetensors.Read(file[..cut], out _));
    }

    [Fact]
    public void Read_HeaderLengthPastTheEnd_Throws()
    {
        var file = TwoTensors();
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)file.Length);
        Corrupt(file, $"expected a header length of at most {file.Length - 8}", $"got {file.Length}");
        BinaryPrimitives.WriteUInt64LittleEndian(file, ulong.MaxValue);
        Corrupt(file, "header runs past the end");
    }

    [Fact]
    public void Read_BadJson_Throws()
    {
        var file = TwoTensors();
        Corrupt(EditHeader(file, "\"a\":", "\"a\" "), "invalid JSON");
        Corrupt(EditHeader(file, "[0,24]", "[0,24"), "invalid JSON");
        var header = Encoding.UTF8.GetBytes(HeaderOf(file));
        header[0] = (byte)'[';
        Corrupt(HandBuilt(Encoding.UTF8.GetString(header), DataOf(file)), "invalid JSON");
        Corrupt(HandBuilt("[1, 2]", DataOf(file)), "expected the header to be a JSON object", "Array");
        Corrupt(EditHeader(file, "\"shape\":[2,3]", "\"shape\":[2,-3]"), "expected shape entries to be integers", "-3");
        Corrupt(EditHeader(file, "\"shape\":[2,3]", "\"shape\":\"2x3\""), "expected an array \"shape\"", "\"2x3\"");
        Corrupt(EditHeader(file, "\"data_offsets\":[0,24]", "\"data_offsets\":[24,0]"), "0 ≤ begin ≤ end", "[24,0]");
        Corrupt(HandBuilt("""{"__metadata__":{"k":1}}""", []), "\"__metadata__\".\"k\" to be a string", "Number");
        Corrupt(HandBuilt("""{"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""", []),
                "each tensor name once", "\"x\" twice");
    }

    [Fact]
    public void Read_OffsetsPastTheEnd_Throws()
    {
        var file = TwoTensors();
        var bad = EditHeader(EditHeader(file, "\"shape\":[4]", "\"shape\":[5]"), "[24,40]", "[24,44]");
        Corrupt(bad, "tensor \"b\"", "within the 40 data bytes", "[24, 44]");
    }

    [Fact]
    public void Read_OverlappingOrNonContiguousOffsets_Throw()
    {
        var file = TwoTensors();
        Corrupt(EditHeader(file, "[24,40]", "[20,36]"), "tensor \"b\"", "begin at 24", "got 20", "overlapping");
        Corrupt(EditHeader(file, "[24,40]", "[0,16]"), "begin at", "overlapping");
        // a 4-byte hole between a and b (the data grows by 4 bytes so b still fits)
        var gap = HandBuilt(HeaderOf(file).Replace("[24,40]", "[28,44]"), [.. DataOf(file), 0, 0, 0, 0]);
        Corrupt(gap, "tensor \"b\"", "begin at 24", "got 28", "a gap");
        // bytes after the last tensor
        Corrupt(HandBuilt(HeaderOf(file), [.. DataOf(file), 1, 2, 3, 4]), "expected 40 data bytes", "got 44");
    }

    [Fact]
    public void Read_WrongDtype_Throws()
    {
        var file = TwoTensors();
        Corrupt(EditHeader(file, "\"dtype\":\"F32\",\"shape\":[2,3]", "\"dtype\":\"I32\",\"shape\":[2,3]"),
                "tensor \"a\"", "expected dtype F32, F64, F16 or BF16", "got \"I32\"");
        Corrupt(EditHeader(file, "\"dtype\":\"F32\",\"shape\":[2,3]", "\"dtype\":\"F64\",\"shape\":[2,3]"),
                "needs 48 bytes", "spanning 24");
        Corrupt(EditHeader(file, "\"dtype\":\"F32\",\"shape\":[2,3]", "\"dtype\":7,\"shape\":[2,3]"), "expected a string \"dtype\"", "got 7");
    }

    [Fact]
    public void Read_ShapeTimesDtypeSizeNotTheByteRange_Throws()
    {
        var file = TwoTensors();
        Corrupt(EditHeader(file, "\"shape\":[2,3]", "\"shape\":[2,4]"), "tensor \"a\"", "[2, 4] × F32 (4 bytes) needs 32 bytes", "spanning 24");
        Corrupt(EditHeader(file, "\"shape\":[2,3]", "\"shape\":[]"), "needs 4 bytes", "spanning 24");
    }

    [Fact]
    public void Write_RejectsReservedName()
    {
        var e = Assert.Throws<ArgumentException>(() => Safetensors.Serialize(new Dictionary<string, Tensor> { ["__metadata__"] = Tensor.Zeros(1) }));
        Assert.Contains("got \"__metadata__\"", e.Message);
    }
}
