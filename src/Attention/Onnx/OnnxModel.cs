using System.Buffers.Binary;
using Attention.Tensors;

namespace Attention.Onnx;

/// <summary>
/// A read-only view of an ONNX model (onnx/onnx.proto, IR version ≤ 10): the graph's nodes, initializers, inputs
/// and outputs, parsed by the project's own protobuf reader. Enough to pull the weights out of an exported
/// transformer and to follow its data flow; it does not run the graph. Initializer data is read from
/// <c>raw_data</c> or the typed fields (float_data, int32_data, int64_data); external data is rejected.
/// Every malformed input throws <see cref="InvalidDataException"/> naming the message, field and byte offset.
/// </summary>
public sealed class OnnxModel
{
    // onnx.proto field numbers
    private const int ModelIrVersion = 1, ModelProducerName = 2, ModelGraph = 7, ModelOpsetImport = 8;
    private const int GraphNode = 1, GraphName = 2, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;

    public long IrVersion { get; }
    public string ProducerName { get; }
    /// <summary>(domain, version) of each opset import; the default domain is "".</summary>
    public IReadOnlyList<(string Domain, long Version)> Opsets { get; }
    public OnnxGraph Graph { get; }

    private OnnxModel(long ir, string producer, List<(string, long)> opsets, OnnxGraph graph)
    {
        IrVersion = ir; ProducerName = producer; Opsets = opsets; Graph = graph;
    }

    /// <summary>Reads a model file.</summary>
    /// <exception cref="InvalidDataException">The file is not a well-formed ONNX model.</exception>
    public static OnnxModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try { return Parse(File.ReadAllBytes(path)); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Parses a serialized ModelProto.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed ONNX model (truncated, corrupt, no graph).</exception>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) throw new InvalidDataException("ONNX model: expected a serialized ModelProto, got 0 bytes");
        var r = new ProtoReader(bytes, 0, "ModelProto");
        long ir = 0;
        string producer = "";
        var opsets = new List<(string, long)>();
        OnnxGraph? graph = null;
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case ModelIrVersion: r.Expect(wire, 0, "ir_version"); ir = r.ReadInt64(); break;
                case ModelProducerName: r.Expect(wire, 2, "producer_name"); producer = r.ReadString(); break;
                case ModelGraph: r.Expect(wire, 2, "graph"); graph = OnnxGraph.Read(r.ReadMessage("GraphProto"), 0); break;
                case ModelOpsetImport:
                {
                    r.Expect(wire, 2, "opset_import");
                    var o = r.ReadMessage("OperatorSetIdProto");
                    string domain = ""; long version = 0;
                    while (o.Next(out int f, out int w))
                    {
                        if (f == 1 && w == 2) domain = o.ReadString();
                        else if (f == 2 && w == 0) version = o.ReadInt64();
                        else o.Skip(w);
                    }
                    opsets.Add((domain, version));
                    break;
                }
                default: r.Skip(wire); break;
            }
        }
        if (ir <= 0) throw new InvalidDataException($"ONNX model: expected ir_version ≥ 1, got {ir} (not an ONNX file, or truncated)");
        if (graph is null) throw new InvalidDataException("ONNX model: expected a graph (field 7), found none (not an ONNX file, or truncated)");
        return new OnnxModel(ir, producer, opsets, graph);
    }

    /// <summary>
    /// The same model with extra graph outputs (float tensors of unspecified shape) naming existing values, e.g.
    /// the Softmax outputs of an attention layer so a runtime returns the probabilities. Works on the bytes: the
    /// graph message is copied and the new output fields appended (protobuf merges repeated fields in order).
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty.</exception>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed ONNX model.</exception>
    public static byte[] WithExtraOutputs(ReadOnlySpan<byte> model, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var list = names.ToList();
        foreach (var n in list)
            if (string.IsNullOrEmpty(n)) throw new ArgumentException("output names: expected non-empty names, got an empty one", nameof(names));
        Parse(model);   // validates
        var extra = new MemoryStream();
        foreach (var name in list)
        {
            // ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1 (FLOAT) } } }
            var tensorType = new MemoryStream(); ProtoWriter.Int(tensorType, 1, 1);
            var type = new MemoryStream(); ProtoWriter.Bytes(type, 1, tensorType.ToArray());
            var info = new MemoryStream(); ProtoWriter.String(info, 1, name); ProtoWriter.Bytes(info, 2, type.ToArray());
            ProtoWriter.Bytes(extra, GraphOutput, info.ToArray());
        }
        var output = new MemoryStream();
        var r = new ProtoReader(model, 0, "ModelProto");
        int last = 0;
        while (r.Next(out int field, out int wire))
        {
            if (field == ModelGraph && wire == 2)
            {
                int keyStart = last;
                var graph = r.ReadBytes();
                output.Write(model[..keyStart]);
                var merged = new byte[graph.Length + extra.Length];
                graph.CopyTo(merged);
                extra.ToArray().CopyTo(merged, graph.Length);
                ProtoWriter.Bytes(output, ModelGraph, merged);
                output.Write(model[r.Offset..]);
                return output.ToArray();
            }
            r.Skip(wire);
            last = r.Offset;
        }
        throw new InvalidDataException("ONNX model: expected a graph (field 7), found none");
    }

    internal static Exception Corrupt(string detail) => new InvalidDataException("ONNX " + detail);
}

/// <summary>A GraphProto: nodes in topological order, initializers by name, inputs and outputs. A control-flow node's
/// body (Loop, If, Scan) is a graph too, in <see cref="OnnxAttribute.Graph"/>; its nodes may read the outer graph's values.</summary>
public sealed class OnnxGraph
{
    /// <summary>How deep subgraphs may nest (a Loop inside an If inside a Loop is 3); deeper is rejected as corrupt,
    /// so a hostile file cannot exhaust the stack.</summary>
    public const int MaxNesting = 16;

    public string Name { get; private init; } = "";
    public IReadOnlyList<OnnxNode> Nodes { get; private init; } = [];
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; private init; } = new Dictionary<string, OnnxTensor>();
    public IReadOnlyList<OnnxValueInfo> Inputs { get; private init; } = [];
    public IReadOnlyList<OnnxValueInfo> Outputs { get; private init; } = [];

    internal static OnnxGraph Read(ProtoReader r, int depth)
    {
        if (depth > MaxNesting) throw r.Corrupt($"expected subgraphs nested at most {MaxNesting} deep, got deeper");
        var nodes = new List<OnnxNode>();
        var inits = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var inputs = new List<OnnxValueInfo>();
        var outputs = new List<OnnxValueInfo>();
        string name = "";
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: r.Expect(wire, 2, "node"); nodes.Add(OnnxNode.Read(r.ReadMessage("NodeProto"), depth)); break;
                case 2: r.Expect(wire, 2, "graph name"); name = r.ReadString(); break;
                case 5:
                {
                    r.Expect(wire, 2, "initializer");
                    var t = OnnxTensor.Read(r.ReadMessage("TensorProto"));
                    if (!inits.TryAdd(t.Name, t)) throw r.Corrupt($"expected each initializer name once, got \"{t.Name}\" twice");
                    break;
                }
                case 11: r.Expect(wire, 2, "input"); inputs.Add(OnnxValueInfo.Read(r.ReadMessage("ValueInfoProto"))); break;
                case 12: r.Expect(wire, 2, "output"); outputs.Add(OnnxValueInfo.Read(r.ReadMessage("ValueInfoProto"))); break;
                default: r.Skip(wire); break;
            }
        }
        return new OnnxGraph { Name = name, Nodes = nodes, Initializers = inits, Inputs = inputs, Outputs = outputs };
    }

    // value name → the nodes reading it (in graph order) and the first node writing it, built on first use so that
    // following n edges costs O(n), not a scan of every node per edge (a hostile graph can hold many nodes)
    private ILookup<string, OnnxNode>? _consumers;
    private Dictionary<string, OnnxNode>? _producers;

    /// <summary>Nodes that read <paramref name="value"/>, in graph order (a node reading it twice appears once).</summary>
    public IEnumerable<OnnxNode> Consumers(string value)
    {
        _consumers ??= Nodes.SelectMany(n => n.Inputs.Distinct().Select(i => (Input: i, Node: n))).ToLookup(p => p.Input, p => p.Node, StringComparer.Ordinal);
        return _consumers[value];
    }

    /// <summary>The node that writes <paramref name="value"/>, or null (graph input or initializer).</summary>
    public OnnxNode? Producer(string value)
    {
        if (_producers is null)
        {
            var producers = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
            foreach (var n in Nodes)
                foreach (var o in n.Outputs) producers.TryAdd(o, n);
            _producers = producers;
        }
        return _producers.GetValueOrDefault(value);
    }
}

/// <summary>A NodeProto: operator type, named inputs and outputs, attributes.</summary>
public sealed class OnnxNode
{
    public string Name { get; private init; } = "";
    public string OpType { get; private init; } = "";
    public string Domain { get; private init; } = "";
    public IReadOnlyList<string> Inputs { get; private init; } = [];
    public IReadOnlyList<string> Outputs { get; private init; } = [];
    public IReadOnlyDictionary<string, OnnxAttribute> Attributes { get; private init; } = new Dictionary<string, OnnxAttribute>();

    internal static OnnxNode Read(ProtoReader r, int depth)
    {
        var inputs = new List<string>(); var outputs = new List<string>();
        var attrs = new Dictionary<string, OnnxAttribute>(StringComparer.Ordinal);
        string name = "", op = "", domain = "";
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: r.Expect(wire, 2, "node input"); inputs.Add(r.ReadString()); break;
                case 2: r.Expect(wire, 2, "node output"); outputs.Add(r.ReadString()); break;
                case 3: r.Expect(wire, 2, "node name"); name = r.ReadString(); break;
                case 4: r.Expect(wire, 2, "op_type"); op = r.ReadString(); break;
                case 5:
                {
                    r.Expect(wire, 2, "attribute");
                    var a = OnnxAttribute.Read(r.ReadMessage("AttributeProto"), depth);
                    if (!attrs.TryAdd(a.Name, a)) throw r.Corrupt($"node \"{name}\": expected each attribute name once, got \"{a.Name}\" twice");
                    break;
                }
                case 7: r.Expect(wire, 2, "domain"); domain = r.ReadString(); break;
                default: r.Skip(wire); break;
            }
        }
        if (op.Length == 0) throw r.Corrupt($"node \"{name}\": expected an op_type, got none");
        return new OnnxNode { Name = name, OpType = op, Domain = domain, Inputs = inputs, Outputs = outputs, Attributes = attrs };
    }

    public override string ToString() => $"{OpType} {Name} ({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})";
}

/// <summary>An AttributeProto; the scalar, list, tensor and graph forms are kept.</summary>
public sealed class OnnxAttribute
{
    public string Name { get; private init; } = "";
    public float? Float { get; private init; }
    public long? Int { get; private init; }
    public byte[]? Bytes { get; private init; }
    public OnnxTensor? Tensor { get; private init; }
    /// <summary>A subgraph (field g): a Loop's body, an If's branch.</summary>
    public OnnxGraph? Graph { get; private init; }
    public IReadOnlyList<float> Floats { get; private init; } = [];
    public IReadOnlyList<long> Ints { get; private init; } = [];

    internal static OnnxAttribute Read(ProtoReader r, int depth)
    {
        string name = ""; float? f = null; long? i = null; byte[]? s = null; OnnxTensor? t = null; OnnxGraph? g = null;
        var floats = new List<float>(); var ints = new List<long>();
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: r.Expect(wire, 2, "attribute name"); name = r.ReadString(); break;
                case 2: r.Expect(wire, 5, "attribute f"); f = r.ReadFixed32Float(); break;
                case 3: r.Expect(wire, 0, "attribute i"); i = r.ReadInt64(); break;
                case 4: r.Expect(wire, 2, "attribute s"); s = r.ReadBytes().ToArray(); break;
                case 5: r.Expect(wire, 2, "attribute t"); t = OnnxTensor.Read(r.ReadMessage("TensorProto")); break;
                case 6: r.Expect(wire, 2, "attribute g"); g = OnnxGraph.Read(r.ReadMessage("GraphProto"), depth + 1); break;
                case 7: r.ReadFloats(wire, floats); break;
                case 8: r.ReadInt64s(wire, ints); break;
                default: r.Skip(wire); break;
            }
        }
        return new OnnxAttribute { Name = name, Float = f, Int = i, Bytes = s, Tensor = t, Graph = g, Floats = floats, Ints = ints };
    }
}

/// <summary>A ValueInfoProto: a graph input's or output's name, element type and shape (null for a symbolic or absent dimension).</summary>
public sealed class OnnxValueInfo
{
    public string Name { get; private init; } = "";
    public int ElementType { get; private init; }
    public IReadOnlyList<long?> Shape { get; private init; } = [];

    internal static OnnxValueInfo Read(ProtoReader r)
    {
        string name = ""; int elem = 0; var shape = new List<long?>();
        while (r.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2) name = r.ReadString();
            else if (field == 2 && wire == 2)
            {
                var type = r.ReadMessage("TypeProto");
                while (type.Next(out int tf, out int tw))
                {
                    if (tf != 1 || tw != 2) { type.Skip(tw); continue; }
                    var tensor = type.ReadMessage("TypeProto.Tensor");
                    while (tensor.Next(out int f, out int w))
                    {
                        if (f == 1 && w == 0) elem = tensor.ReadInt32("elem_type");
                        else if (f == 2 && w == 2)
                        {
                            var sh = tensor.ReadMessage("TensorShapeProto");
                            while (sh.Next(out int sf, out int sw))
                            {
                                if (sf != 1 || sw != 2) { sh.Skip(sw); continue; }
                                var dim = sh.ReadMessage("Dimension");
                                long? value = null;
                                while (dim.Next(out int df, out int dw))
                                {
                                    if (df == 1 && dw == 0) value = dim.ReadInt64();
                                    else dim.Skip(dw);
                                }
                                shape.Add(value);
                            }
                        }
                        else tensor.Skip(w);
                    }
                }
            }
            else r.Skip(wire);
        }
        return new OnnxValueInfo { Name = name, ElementType = elem, Shape = shape };
    }
}

/// <summary>A TensorProto initializer: name, dims, element type and its data (kept as bytes until asked for).</summary>
public sealed class OnnxTensor
{
    /// <summary>TensorProto.DataType values this reader converts.</summary>
    public const int Float = 1, Int32 = 6, Int64 = 7, Double = 11;

    // onnx.proto TensorProto.DataType: bytes per element of the fixed-size types (0 = not fixed: UNDEFINED, STRING,
    // the 4- and 2-bit types, and values newer than this table), and which typed field holds each one's values.
    private static readonly int[] ElementBytes = [0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8, 8, 16, 2, 1, 1, 1, 1, 0, 0, 0, 1];

    public string Name { get; private init; } = "";
    public int DataType { get; private init; }
    public IReadOnlyList<long> Dims { get; private init; } = [];
    private byte[] _raw = [];           // little-endian raw_data, or the typed field re-encoded as raw
    private long _count;

    /// <summary>Number of elements (the product of <see cref="Dims"/>; 1 for a scalar).</summary>
    public long ElementCount => _count;

    internal static OnnxTensor Read(ProtoReader r)
    {
        int at = r.Offset;
        var dims = new List<long>(); int type = 0; string name = "";
        byte[]? raw = null; var floats = new List<float>(); var longs = new List<long>(); var ints = new List<long>();
        var doubles = new List<double>(); var ulongs = new List<long>();
        int strings = 0;
        bool external = false;
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1: r.ReadInt64s(wire, dims); break;
                case 2: r.Expect(wire, 0, "data_type"); type = r.ReadInt32("data_type"); break;
                case 4: r.ReadFloats(wire, floats); break;
                case 5: r.ReadInt64s(wire, ints); break;
                case 6: r.Expect(wire, 2, "string_data"); r.ReadBytes(); strings++; break;
                case 7: r.ReadInt64s(wire, longs); break;
                case 8: r.Expect(wire, 2, "tensor name"); name = r.ReadString(); break;
                case 9: r.Expect(wire, 2, "raw_data"); raw = r.ReadBytes().ToArray(); break;
                case 10: r.ReadDoubles(wire, doubles); break;
                case 11: r.ReadInt64s(wire, ulongs); break;
                case 13: external = true; r.Skip(wire); break;
                default: r.Skip(wire); break;
            }
        }
        if (external) throw r.Corrupt($"tensor \"{name}\" at byte {at}: external data is not supported; expected the data inside the file");
        // checked arithmetic: dims of 2^40 × 2^40 must be an error, not a wrapped count that matches no data
        long count = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw r.Corrupt($"tensor \"{name}\": expected non-negative dims, got [{string.Join(", ", dims)}]");
            if (d != 0 && count > long.MaxValue / d)
                throw r.Corrupt($"tensor \"{name}\": expected dims whose product fits 64 bits, got [{string.Join(", ", dims)}]");
            count *= d;
        }
        int size = type >= 0 && type < ElementBytes.Length ? ElementBytes[type] : 0;
        if (raw is not null)
        {
            // compare by division, so no product can overflow: the data must hold exactly count elements
            if (size != 0 && (raw.LongLength % size != 0 || raw.LongLength / size != count))
                throw r.Corrupt($"tensor \"{name}\": dims [{string.Join(", ", dims)}] of data type {type}: expected {(count <= long.MaxValue / size ? $"{count * size} bytes" : "more than 2^63 bytes")} of raw_data, got {raw.LongLength}");
        }
        else
        {
            // the typed field that holds this type's values, and how many values one element takes
            (long got, int per, string field) = type switch
            {
                Float => (floats.Count, 1, "float_data"),
                14 => (floats.Count, 2, "float_data"),                       // COMPLEX64: (re, im) pairs
                Double => (doubles.Count, 1, "double_data"),
                15 => (doubles.Count, 2, "double_data"),                     // COMPLEX128
                Int64 => (longs.Count, 1, "int64_data"),
                12 or 13 => (ulongs.Count, 1, "uint64_data"),                // UINT32, UINT64
                8 => (strings, 1, "string_data"),
                2 or 3 or 4 or 5 or Int32 or 9 or 10 or 16 or 17 or 18 or 19 or 20 or 24 => (ints.Count, 1, "int32_data"),
                _ => (-1L, 0, ""),                                           // packed sub-byte or unknown: not checked here
            };
            if (per != 0 && (got % per != 0 || got / per != count))
                throw r.Corrupt($"tensor \"{name}\": dims [{string.Join(", ", dims)}] of data type {type}: expected {(count <= long.MaxValue / per ? $"{count * per}" : "more than 2^63")} values in {field} (or raw_data), got {got}");
            raw = type switch
            {
                Float => ToBytes(floats.ToArray()),
                Int32 => ToBytes(ints.Select(v => (int)v).ToArray()),
                Int64 => ToBytes(longs.ToArray()),
                Double => ToBytes(doubles.ToArray()),
                _ => [],
            };
        }
        return new OnnxTensor { Name = name, DataType = type, Dims = dims, _raw = raw, _count = count };
    }

    private static byte[] ToBytes<T>(T[] values) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>The data as float32 (FLOAT as is; DOUBLE, INT32, INT64 converted).</summary>
    /// <exception cref="InvalidDataException">The data type is not one of those.</exception>
    public float[] ToFloats()
    {
        // the type first: only these four had their data checked against the dims, so only they may allocate
        if (DataType is not (Float or Double or Int32 or Int64))
            throw new InvalidDataException($"ONNX tensor \"{Name}\": expected data type FLOAT, DOUBLE, INT32 or INT64, got {DataType}");
        var result = new float[_count];
        switch (DataType)
        {
            case Float: Buffer.BlockCopy(_raw, 0, result, 0, _raw.Length); break;
            case Double: for (int i = 0; i < result.Length; i++) result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(_raw.AsSpan(8 * i)); break;
            case Int32: for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt32LittleEndian(_raw.AsSpan(4 * i)); break;
            case Int64: for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(_raw.AsSpan(8 * i)); break;
            default: throw new InvalidDataException($"ONNX tensor \"{Name}\": expected data type FLOAT, DOUBLE, INT32 or INT64, got {DataType}");
        }
        return result;
    }

    /// <summary>The data as int64 (INT64 as is, INT32 widened).</summary>
    public long[] ToInt64s()
    {
        if (DataType is not (Int64 or Int32))
            throw new InvalidDataException($"ONNX tensor \"{Name}\": expected data type INT64 or INT32, got {DataType}");
        var result = new long[_count];
        switch (DataType)
        {
            case Int64: Buffer.BlockCopy(_raw, 0, result, 0, _raw.Length); break;
            case Int32: for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt32LittleEndian(_raw.AsSpan(4 * i)); break;
            default: throw new InvalidDataException($"ONNX tensor \"{Name}\": expected data type INT64 or INT32, got {DataType}");
        }
        return result;
    }

    /// <summary>The data as a float32 <see cref="Tensor"/> of shape <see cref="Dims"/>.</summary>
    /// <exception cref="InvalidDataException">A dim exceeds int.MaxValue, or the data type is not convertible.</exception>
    public Tensor ToTensor() => Tensor.FromArray(ToFloats(), IntDims());

    /// <summary><see cref="Dims"/> as ints (the library's tensors index with int).</summary>
    /// <exception cref="InvalidDataException">A dim exceeds int.MaxValue.</exception>
    public int[] IntDims()
    {
        var shape = new int[Dims.Count];
        for (int i = 0; i < shape.Length; i++)
            shape[i] = Dims[i] <= int.MaxValue ? (int)Dims[i]
                : throw new InvalidDataException($"ONNX tensor \"{Name}\": expected dims of at most {int.MaxValue}, got [{string.Join(", ", Dims)}]");
        return shape;
    }

    public override string ToString() => $"{Name} [{string.Join(", ", Dims)}] type {DataType}";
}
