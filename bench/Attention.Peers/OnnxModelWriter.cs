using System.Text;

namespace Attention.Peers;

/// <summary>
/// A minimal protobuf writer for ONNX models, enough to build one-node attention graphs in memory
/// (ONNX Runtime's C# API can load a model from bytes but has no graph builder).
/// Wire format: each field is a varint key (field number · 8 + wire type), then a varint
/// (wire type 0), a length-delimited byte string (2) or four little-endian bytes (5).
/// Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
/// ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto).
/// </summary>
public sealed class ProtoWriter
{
    private readonly MemoryStream _stream = new();

    public byte[] ToArray() => _stream.ToArray();

    public ProtoWriter Varint(int field, long value)
    {
        Key(field, 0);
        WriteVarint((ulong)value);
        return this;
    }

    public ProtoWriter Float(int field, float value)
    {
        Key(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, value);
        if (!BitConverter.IsLittleEndian) bytes.Reverse();
        _stream.Write(bytes);
        return this;
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Key(field, 2);
        WriteVarint((ulong)value.Length);
        _stream.Write(value);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

    private void Key(int field, int wireType) => WriteVarint((ulong)((field << 3) | wireType));

    private void WriteVarint(ulong value)
    {
        // 7 bits per byte, least significant group first, high bit set on all but the last byte
        while (value >= 0x80)
        {
            _stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _stream.WriteByte((byte)value);
    }
}

/// <summary>One node attribute: an int, a float or a string.</summary>
public readonly record struct OnnxAttribute(string Name, long? Int = null, float? Float = null, string? Text = null)
{
    public static OnnxAttribute Of(string name, long value) => new(name, Int: value);
    public static OnnxAttribute Of(string name, float value) => new(name, Float: value);
    public static OnnxAttribute Of(string name, string value) => new(name, Text: value);
}

/// <summary>A graph input or output: a float32 tensor with a fixed shape.</summary>
public readonly record struct OnnxTensorInfo(string Name, long[] Shape);

/// <summary>Builds a single-node ONNX model (float32 tensors only) as protobuf bytes.</summary>
public static class OnnxModelWriter
{
    // onnx.proto: TensorProto.DataType.FLOAT = 1; AttributeProto.AttributeType FLOAT = 1, INT = 2, STRING = 3
    private const int ElemFloat = 1;
    private const int AttrFloat = 1, AttrInt = 2, AttrString = 3;

    /// <summary>IR version 11 is the one that introduced opset 23 (ONNX 1.18).</summary>
    public const long IrVersion = 11;

    /// <summary>One node named <paramref name="opType"/> in <paramref name="domain"/> ("" = the default ONNX domain),
    /// wired from the inputs to the outputs; imports default opset 23 and com.microsoft 1.</summary>
    public static byte[] SingleNodeModel(string opType, string domain, IReadOnlyList<OnnxTensorInfo> inputs,
                                         IReadOnlyList<OnnxTensorInfo> outputs, IReadOnlyList<OnnxAttribute> attributes,
                                         IReadOnlyList<string>? nodeInputNames = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        ArgumentNullException.ThrowIfNull(domain);
        if (inputs.Count == 0) throw new ArgumentException($"expected at least one input, got {inputs.Count}", nameof(inputs));
        if (outputs.Count == 0) throw new ArgumentException($"expected at least one output, got {outputs.Count}", nameof(outputs));

        var node = new ProtoWriter();
        // an empty input name means "optional input omitted", which lets a later optional input be given
        foreach (var name in nodeInputNames ?? inputs.Select(i => i.Name).ToArray()) node.String(1, name);
        foreach (var o in outputs) node.String(2, o.Name);
        node.String(3, opType + "_0").String(4, opType);
        foreach (var a in attributes) node.Message(5, Attribute(a));
        if (domain.Length > 0) node.String(7, domain);

        var graph = new ProtoWriter();
        graph.Message(1, node).String(2, opType + "_graph");
        foreach (var i in inputs) graph.Message(11, ValueInfo(i));
        foreach (var o in outputs) graph.Message(12, ValueInfo(o));

        var model = new ProtoWriter();
        model.Varint(1, IrVersion).String(2, "Attention.Peers");
        model.Message(7, graph);
        model.Message(8, new ProtoWriter().String(1, "").Varint(2, 23));
        model.Message(8, new ProtoWriter().String(1, "com.microsoft").Varint(2, 1));
        return model.ToArray();
    }

    private static ProtoWriter Attribute(OnnxAttribute a)
    {
        var w = new ProtoWriter().String(1, a.Name);
        if (a.Float is { } f) w.Float(2, f).Varint(20, AttrFloat);
        else if (a.Int is { } i) w.Varint(3, i).Varint(20, AttrInt);
        else if (a.Text is { } s) w.String(4, s).Varint(20, AttrString);
        else throw new ArgumentException($"attribute '{a.Name}' has no value: expected an int, a float or a string");
        return w;
    }

    private static ProtoWriter ValueInfo(OnnxTensorInfo info)
    {
        var shape = new ProtoWriter();
        foreach (var d in info.Shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{info.Name}': expected non-negative dimensions, got {d}");
            shape.Message(1, new ProtoWriter().Varint(1, d));
        }
        var tensorType = new ProtoWriter().Varint(1, ElemFloat).Message(2, shape);
        var type = new ProtoWriter().Message(1, tensorType);
        return new ProtoWriter().String(1, info.Name).Message(2, type);
    }
}
