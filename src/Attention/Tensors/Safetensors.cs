using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Attention.Tensors;

/// <summary>
/// Reads and writes the safetensors format (Hugging Face, github.com/huggingface/safetensors, "format" in its
/// README): an unsigned 64-bit little-endian header length N, then N bytes of UTF-8 JSON
/// <c>{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}</c>
/// (padded with spaces so the data starts 8-byte aligned), then the raw little-endian data; offsets count from the
/// start of the data. Writes F32 (tensors in ordinal name order, so equal dictionaries give equal files); reads
/// F32, and F64, F16, BF16 converted to float32. A reader has to trust nothing in the file: every check the format
/// implies is made (header length inside the file, JSON object, known dtype, shape × dtype size = byte range, the
/// ranges covering the data exactly once with no gap or overlap), and a failure throws
/// <see cref="InvalidDataException"/> naming what was expected and what came.
/// </summary>
public static class Safetensors
{
    private const string MetadataKey = "__metadata__";
    private const long MaxHeaderBytes = 100L << 20;   // the reference implementation's limit

    /// <summary>Writes <paramref name="tensors"/> (and optional string metadata) to a file as F32.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors,
                             IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var bytes = Serialize(tensors, metadata);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Writes <paramref name="tensors"/> (and optional string metadata) to a stream as F32.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors,
                             IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Serialize(tensors, metadata));
    }

    /// <summary>The whole file's bytes for <paramref name="tensors"/>.</summary>
    /// <exception cref="ArgumentException">A tensor name is empty or "__metadata__", or a tensor is null.</exception>
    public static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var names = tensors.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var header = new MemoryStream();
        long offset = 0;
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    ArgumentNullException.ThrowIfNull(value, $"metadata[{key}]");
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            foreach (var name in names)
            {
                if (name.Length == 0 || name == MetadataKey)
                    throw new ArgumentException($"tensor names: expected a non-empty name other than \"{MetadataKey}\", got \"{name}\"", nameof(tensors));
                var tensor = tensors[name] ?? throw new ArgumentException($"tensors[\"{name}\"]: expected a tensor, got null", nameof(tensors));
                long bytes = (long)tensor.Length * sizeof(float);
                json.WriteStartObject(name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (int d in tensor.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        long headerLength = (header.Length + 7) / 8 * 8;   // 8 + N is then a multiple of 8: the data starts aligned
        var file = new byte[checked(8 + headerLength + offset)];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)headerLength);
        header.GetBuffer().AsSpan(0, (int)header.Length).CopyTo(file.AsSpan(8));
        file.AsSpan(8 + (int)header.Length, (int)(headerLength - header.Length)).Fill((byte)' ');
        long at = 8 + headerLength;
        foreach (var name in names)
        {
            var data = tensors[name].ToArray();
            for (int i = 0; i < data.Length; i++, at += 4)
                BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan((int)at, 4), data[i]);
        }
        return file;
    }

    /// <summary>Reads every tensor of a safetensors file (converted to float32).</summary>
    /// <exception cref="InvalidDataException">The file is truncated, corrupt or uses an unsupported dtype.</exception>
    public static Dictionary<string, Tensor> Read(string path) => Read(path, out _);

    /// <summary>Reads every tensor and the "__metadata__" strings (empty when absent).</summary>
    public static Dictionary<string, Tensor> Read(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try { return Read(File.ReadAllBytes(path), out metadata); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Parses a whole safetensors file held in memory.</summary>
    /// <exception cref="InvalidDataException">The bytes are truncated, corrupt or use an unsupported dtype.</exception>
    public static Dictionary<string, Tensor> Read(ReadOnlySpan<byte> file, out IReadOnlyDictionary<string, string> metadata)
    {
        if (file.Length < 8)
            throw new InvalidDataException($"expected at least 8 bytes (the header length), got a file of {file.Length} bytes");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (n > (ulong)(file.Length - 8))
            throw new InvalidDataException($"expected a header length of at most {file.Length - 8} (the bytes after the length prefix), got {n}: the header runs past the end of the file");
        if (n > MaxHeaderBytes)
            throw new InvalidDataException($"expected a header of at most {MaxHeaderBytes} bytes, got {n}");
        var headerBytes = file.Slice(8, (int)n);
        var data = file[(8 + (int)n)..];

        // JsonDocument checks UTF-8 only where it decodes a string, so check the whole header first
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes))
            throw new InvalidDataException($"expected the {n}-byte header to be UTF-8 JSON, got invalid UTF-8 at header byte {FirstInvalidUtf8(headerBytes)}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes.ToArray()); }
        catch (JsonException e)
        {
            throw new InvalidDataException($"expected the {n}-byte header to be a JSON object, got invalid JSON: {e.Message}", e);
        }
        using (doc)
        {
            try { return ReadEntries(doc.RootElement, data, out metadata); }
            catch (InvalidOperationException e)
            {
                // JsonElement unescapes names and strings on demand (TryGetProperty compares unescaped names), and an
                // escape spelling a lone surrogate ("\ud800") has no .NET string: wherever it sits, the header is bad
                throw new InvalidDataException($"expected the header's JSON strings to be valid Unicode, got an escape spelling a lone surrogate ({e.Message})", e);
            }
        }
    }

    private static Dictionary<string, Tensor> ReadEntries(JsonElement root, ReadOnlySpan<byte> data, out IReadOnlyDictionary<string, string> metadata)
    {
        {
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"expected the header to be a JSON object, got a JSON {root.ValueKind}");

            var meta = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<(string Name, string Dtype, int[] Shape, long Begin, long End)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                string name = Text(property, "a tensor name");
                if (!seen.Add(name))
                    throw new InvalidDataException($"expected each tensor name once, got \"{name}\" twice");
                if (name == MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"expected \"{MetadataKey}\" to be an object of strings, got a JSON {property.Value.ValueKind}");
                    foreach (var m in property.Value.EnumerateObject())
                    {
                        string key = Text(m, $"a \"{MetadataKey}\" key");
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new InvalidDataException($"expected \"{MetadataKey}\".\"{key}\" to be a string, got a JSON {m.Value.ValueKind}");
                        if (!meta.TryAdd(key, Text(m.Value, $"\"{MetadataKey}\".\"{key}\"")))
                            throw new InvalidDataException($"expected each \"{MetadataKey}\" key once, got \"{key}\" twice");
                    }
                    continue;
                }
                entries.Add(ParseEntry(name, property.Value));
            }

            // The byte ranges, in order, must tile the data exactly: start at 0, no gap, no overlap, end at its end.
            long expectedBegin = 0;
            string previous = "the start of the data";
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != expectedBegin)
                    throw new InvalidDataException($"tensor \"{e.Name}\": expected data_offsets to begin at {expectedBegin} (right after {previous}), got {e.Begin}" +
                                                   (e.Begin < expectedBegin ? " (overlapping ranges)" : " (a gap)"));
                if (e.End > data.Length)
                    throw new InvalidDataException($"tensor \"{e.Name}\": expected data_offsets to end within the {data.Length} data bytes, got [{e.Begin}, {e.End}]: the file is truncated or the offsets are wrong");
                expectedBegin = e.End;
                previous = $"\"{e.Name}\"";
            }
            if (expectedBegin != data.Length)
                throw new InvalidDataException($"expected {expectedBegin} data bytes (the end of the last tensor), got {data.Length}");

            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var e in entries)
                tensors[e.Name] = Tensor.FromArray(Decode(data[(int)e.Begin..(int)e.End], e.Dtype), e.Shape);
            metadata = meta;
            return tensors;
        }
    }

    private static int DtypeSize(string dtype, string name) => dtype switch
    {
        "F32" => 4,
        "F64" => 8,
        "F16" or "BF16" => 2,
        _ => throw new InvalidDataException($"tensor \"{name}\": expected dtype F32, F64, F16 or BF16, got \"{dtype}\""),
    };

    /// <summary>
    /// The text of a JSON string or property name. UTF-8 was checked, but an escape can still spell a lone surrogate
    /// ("\ud800"), which .NET refuses to turn into a string (InvalidOperationException).
    /// </summary>
    private static string Text(Func<string?> get, string what)
    {
        try { return get() ?? ""; }
        catch (InvalidOperationException)
        {
            throw new InvalidDataException($"expected {what} to be valid Unicode, got an escape spelling a lone surrogate");
        }
    }

    private static string Text(JsonProperty property, string what) => Text(() => property.Name, what);
    private static string Text(JsonElement element, string what) => Text(element.GetString, what);

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        System.Text.Unicode.Utf8.ToUtf16(bytes, new char[bytes.Length], out int read, out _, replaceInvalidSequences: false);
        return read;
    }

    private static (string, string, int[], long, long) ParseEntry(string name, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"tensor \"{name}\": expected an object with dtype, shape and data_offsets, got a JSON {v.ValueKind}");
        if (!v.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"tensor \"{name}\": expected a string \"dtype\", got {Describe(v, "dtype")}");
        string dtype = Text(dtypeElement, $"tensor \"{name}\"'s dtype");
        int size = DtypeSize(dtype, name);

        if (!v.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"tensor \"{name}\": expected an array \"shape\", got {Describe(v, "shape")}");
        var shape = new int[shapeElement.GetArrayLength()];
        long count = 1;
        int k = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int extent) || extent < 0)
                throw new InvalidDataException($"tensor \"{name}\": expected shape entries to be integers in [0, {int.MaxValue}], got {d.GetRawText()}");
            shape[k++] = extent;
            count = checked(count * extent);
            if (count > int.MaxValue)
                throw new InvalidDataException($"tensor \"{name}\": expected at most {int.MaxValue} elements, got a shape [{string.Join(", ", shape[..k])}, ...] with more");
        }

        if (!v.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new InvalidDataException($"tensor \"{name}\": expected \"data_offsets\" to be an array [begin, end], got {Describe(v, "data_offsets")}");
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number ||
            !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new InvalidDataException($"tensor \"{name}\": expected data_offsets [begin, end] with 0 ≤ begin ≤ end, got {offsets.GetRawText()}");
        if (count * size != end - begin)
            throw new InvalidDataException($"tensor \"{name}\": shape [{string.Join(", ", shape)}] × {dtype} ({size} bytes) needs {count * size} bytes (expected data_offsets spanning that), " +
                                           $"got data_offsets [{begin}, {end}] spanning {end - begin}");
        return (name, dtype, shape, begin, end);
    }

    private static string Describe(JsonElement entry, string field)
        => entry.TryGetProperty(field, out var value) ? value.GetRawText() : "no such field";

    private static float[] Decode(ReadOnlySpan<byte> bytes, string dtype)
    {
        switch (dtype)
        {
            case "F32":
            {
                var x = new float[bytes.Length / 4];
                for (int i = 0; i < x.Length; i++) x[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                return x;
            }
            case "F64":
            {
                var x = new float[bytes.Length / 8];
                for (int i = 0; i < x.Length; i++) x[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]);
                return x;
            }
            case "F16":
            {
                var x = new float[bytes.Length / 2];
                for (int i = 0; i < x.Length; i++) x[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                return x;
            }
            default:   // BF16: the top 16 bits of a float32
            {
                var x = new float[bytes.Length / 2];
                for (int i = 0; i < x.Length; i++)
                    x[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) << 16);
                return x;
            }
        }
    }
}
