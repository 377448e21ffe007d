using System.Text;

namespace Attention.Onnx;

/// <summary>
/// Protocol-buffers wire format, the part ONNX needs (protobuf.dev/programming-guides/encoding): every field is
/// a varint key (field number &lt;&lt; 3 | wire type) followed by a varint (type 0), 8 bytes (1), a varint length
/// and that many bytes (2), or 4 bytes (5). Groups (3, 4) are not used by ONNX and are rejected. Every read is
/// bounds-checked against the enclosing message and fails with <see cref="InvalidDataException"/> naming the
/// message, the field and the byte offset, so a truncated or corrupt file never reads past its end.
/// </summary>
internal ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _base;       // offset of _data inside the whole file, for messages
    private readonly string _message;
    private int _pos;

    public ProtoReader(ReadOnlySpan<byte> data, int baseOffset, string message)
    {
        _data = data; _base = baseOffset; _message = message; _pos = 0;
    }

    public readonly bool End => _pos >= _data.Length;
    public readonly int Offset => _base + _pos;

    /// <summary>Reads the next key; false at the end of the message.</summary>
    public bool Next(out int field, out int wireType)
    {
        field = 0; wireType = 0;
        if (End) return false;
        int at = Offset;
        ulong key = ReadVarint();
        wireType = (int)(key & 7);
        ulong number = key >> 3;
        if (number == 0 || number > int.MaxValue)
            throw Corrupt($"expected a field number in 1..{int.MaxValue} at byte {at}, got {number}");
        if (wireType is 3 or 4 or 6 or 7)
            throw Corrupt($"field {number} at byte {at}: expected wire type 0, 1, 2 or 5, got {wireType}");
        field = (int)number;
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        int at = Offset;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (_pos >= _data.Length)
                throw Corrupt($"truncated varint at byte {at}: expected more bytes, the message ends at byte {_base + _data.Length}");
            byte b = _data[_pos++];
            if (shift == 63 && b > 1) throw Corrupt($"varint at byte {at}: expected a value that fits 64 bits, got more");
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Corrupt($"varint at byte {at}: expected at most 10 bytes, got more");
    }

    public long ReadInt64() => (long)ReadVarint();

    public int ReadInt32(string what)
    {
        long v = ReadInt64();
        if (v < int.MinValue || v > int.MaxValue) throw Corrupt($"{what}: expected a 32-bit value, got {v}");
        return (int)v;
    }

    /// <summary>A length-delimited field's bytes, and the file offset where they start.</summary>
    public ReadOnlySpan<byte> ReadBytes(out int start)
    {
        int at = Offset;
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _pos))
            throw Corrupt($"truncated field at byte {at}: expected {length} bytes, only {_data.Length - _pos} remain in the message");
        start = Offset;
        var span = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return span;
    }

    public ReadOnlySpan<byte> ReadBytes() => ReadBytes(out _);

    public string ReadString()
    {
        var bytes = ReadBytes(out int start);
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Corrupt($"string at byte {start}: expected valid UTF-8, got invalid bytes"); }
    }

    public float ReadFixed32Float()
    {
        if (_data.Length - _pos < 4) throw Corrupt($"truncated field at byte {Offset}: expected 4 bytes, got {_data.Length - _pos}");
        float v = BitConverter.ToSingle(_data.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    /// <summary>A nested message: a reader over its bytes.</summary>
    public ProtoReader ReadMessage(string message)
    {
        var bytes = ReadBytes(out int start);
        return new ProtoReader(bytes, start, message);
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: Advance(8); break;
            case 2: ReadBytes(); break;
            case 5: Advance(4); break;
            default: throw Corrupt($"field at byte {Offset}: expected wire type 0, 1, 2 or 5, got {wireType}");
        }
    }

    /// <summary>Repeated int64: packed (wire type 2) or one varint (wire type 0).</summary>
    public void ReadInt64s(int wireType, List<long> into)
    {
        if (wireType == 0) { into.Add(ReadInt64()); return; }
        Expect(wireType, 2, "repeated int64");
        var inner = ReadMessage(_message);
        while (!inner.End) into.Add(inner.ReadInt64());
    }

    /// <summary>Repeated float: packed (wire type 2) or one fixed32 (wire type 5).</summary>
    public void ReadFloats(int wireType, List<float> into)
    {
        if (wireType == 5) { into.Add(ReadFixed32Float()); return; }
        Expect(wireType, 2, "repeated float");
        var bytes = ReadBytes(out int start);
        if (bytes.Length % 4 != 0) throw Corrupt($"packed floats at byte {start}: expected a multiple of 4 bytes, got {bytes.Length}");
        for (int i = 0; i < bytes.Length; i += 4) into.Add(BitConverter.ToSingle(bytes.Slice(i, 4)));
    }

    /// <summary>Repeated double: packed (wire type 2) or one fixed64 (wire type 1).</summary>
    public void ReadDoubles(int wireType, List<double> into)
    {
        if (wireType == 1)
        {
            if (_data.Length - _pos < 8) throw Corrupt($"truncated field at byte {Offset}: expected 8 bytes, got {_data.Length - _pos}");
            into.Add(BitConverter.ToDouble(_data.Slice(_pos, 8)));
            _pos += 8;
            return;
        }
        Expect(wireType, 2, "repeated double");
        var bytes = ReadBytes(out int start);
        if (bytes.Length % 8 != 0) throw Corrupt($"packed doubles at byte {start}: expected a multiple of 8 bytes, got {bytes.Length}");
        for (int i = 0; i < bytes.Length; i += 8) into.Add(BitConverter.ToDouble(bytes.Slice(i, 8)));
    }

    public readonly void Expect(int wireType, int expected, string what)
    {
        if (wireType != expected)
            throw Corrupt($"{what} at byte {Offset}: expected wire type {expected}, got {wireType}");
    }

    private void Advance(int n)
    {
        if (_data.Length - _pos < n) throw Corrupt($"truncated field at byte {Offset}: expected {n} bytes, got {_data.Length - _pos}");
        _pos += n;
    }

    public readonly InvalidDataException Corrupt(string detail) => new($"ONNX {_message}: {detail}");
}

/// <summary>The few protobuf writes needed to append fields to an existing message.</summary>
internal static class ProtoWriter
{
    public static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    public static void Key(Stream s, int field, int wireType) => Varint(s, (ulong)field << 3 | (uint)wireType);

    public static void Bytes(Stream s, int field, ReadOnlySpan<byte> bytes)
    {
        Key(s, field, 2);
        Varint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    public static void String(Stream s, int field, string value) => Bytes(s, field, Encoding.UTF8.GetBytes(value));

    public static void Int(Stream s, int field, long value)
    {
        Key(s, field, 0);
        Varint(s, (ulong)value);
    }
}
