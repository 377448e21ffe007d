using System.Runtime.InteropServices;

namespace Attention.Onnx;

/// <summary>A graph input's or output's dimension: a fixed size, or a symbolic name ("batch") a runtime binds per call.</summary>
public readonly record struct OnnxDim
{
    /// <summary>The size, or null for a symbolic dimension.</summary>
    public long? Value { get; }
    /// <summary>The name of a symbolic dimension, or null for a fixed one.</summary>
    public string? Name { get; }

    private OnnxDim(long? value, string? name) { Value = value; Name = name; }

    /// <summary>A fixed size ≥ 0.</summary>
    public static implicit operator OnnxDim(long value) =>
        value >= 0 ? new(value, null) : throw new ArgumentOutOfRangeException(nameof(value), value, "expected a dimension ≥ 0");

    /// <summary>A symbolic dimension named <paramref name="name"/>.</summary>
    public static implicit operator OnnxDim(string name) =>
        !string.IsNullOrEmpty(name) ? new(null, name) : throw new ArgumentException("expected a non-empty dimension name", nameof(name));

    public override string ToString() => Name ?? Value!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A node attribute: an int, a float, a string, a list of ints or a subgraph (the kinds the exported graphs use).</summary>
public sealed class OnnxAttributeValue
{
    // onnx.proto AttributeProto.AttributeType
    internal const int FloatType = 1, IntType = 2, StringType = 3, GraphType = 5, IntsType = 7;

    public string Name { get; }
    internal int Type { get; }
    internal long IntValue { get; }
    internal float FloatValue { get; }
    internal string? Text { get; }
    internal long[]? IntsValue { get; }
    internal OnnxGraphBuilder? GraphValue { get; }

    private OnnxAttributeValue(string name, int type, long i = 0, float f = 0, string? s = null, long[]? ints = null, OnnxGraphBuilder? graph = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name; Type = type; IntValue = i; FloatValue = f; Text = s; IntsValue = ints; GraphValue = graph;
    }

    public static OnnxAttributeValue Int(string name, long value) => new(name, IntType, i: value);
    public static OnnxAttributeValue Float(string name, float value) => new(name, FloatType, f: value);
    public static OnnxAttributeValue String(string name, string value) =>
        new(name, StringType, s: value ?? throw new ArgumentNullException(nameof(value)));
    public static OnnxAttributeValue Ints(string name, params long[] values) =>
        new(name, IntsType, ints: (long[])(values ?? throw new ArgumentNullException(nameof(values))).Clone());

    /// <summary>
    /// A subgraph attribute (a Loop's or an If's <c>body</c>, <c>then_branch</c>, <c>else_branch</c>): a graph made by
    /// <see cref="OnnxGraphBuilder.Subgraph"/> of the graph the node is added to. It is serialized when the model is
    /// written, so nodes may still be added to it afterwards.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="graph"/> is a top-level graph, not a subgraph.</exception>
    public static OnnxAttributeValue Graph(string name, OnnxGraphBuilder graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (graph.Parent is null)
            throw new ArgumentException($"attribute \"{name}\": expected a subgraph (OnnxGraphBuilder.Subgraph), got the top-level graph \"{graph.Name}\"", nameof(graph));
        return new(name, GraphType, graph: graph);
    }
}

/// <summary>
/// Builds an ONNX model (onnx/onnx.proto: ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto) and writes
/// it with the project's own protobuf encoder, no package. Values are named strings: graph inputs, initializers
/// (weights, stored little-endian in <c>raw_data</c>) and node outputs; a node may only read values that exist
/// already, so the node list is in topological order as ONNX requires. Default opset 17 (IR version 8), which has
/// LayerNormalization, Erf and the Trilu-free ops the exporters use; ONNX Runtime 1.14 and later run it.
/// <code>
///   var g = new OnnxGraphBuilder("tiny");
///   var x = g.AddInput("x", OnnxTensor.Float, "batch", 4);
///   var w = g.AddInitializer("w", weights, 4, 3);           // (in, out)
///   g.AddOutput(g.AddNode("MatMul", [x, w], name: "y"), OnnxTensor.Float, "batch", 3);
///   g.Save("tiny.onnx");
/// </code>
/// <para>
/// Control flow: <see cref="Subgraph"/> makes a graph for a Loop's or an If's body (<see cref="OnnxAttributeValue.Graph"/>).
/// A subgraph's nodes may read every value visible in the graphs around it (ONNX's outer scope), and its initializers
/// and constants are stored in the top-level graph, so a weight read both outside and inside a loop is stored once.
/// Value names are unique across the whole model (ONNX forbids a subgraph to shadow an outer name).
/// </para>
/// </summary>
public sealed class OnnxGraphBuilder
{
    // onnx.proto field numbers
    private const int ModelIrVersion = 1, ModelProducerName = 2, ModelProducerVersion = 3, ModelDocString = 6, ModelGraph = 7,
                      ModelOpsetImport = 8, ModelMetadata = 14;
    private const int GraphNode = 1, GraphName = 2, GraphInitializer = 5, GraphDocString = 10, GraphInput = 11, GraphOutput = 12;
    private const int NodeInput = 1, NodeOutput = 2, NodeName = 3, NodeOpType = 4, NodeAttribute = 5, NodeDomain = 7;
    private const int AttrName = 1, AttrF = 2, AttrI = 3, AttrS = 4, AttrG = 6, AttrInts = 8, AttrType = 20;
    private const int TensorDims = 1, TensorDataType = 2, TensorName = 8, TensorRawData = 9;

    private sealed record Initializer(string Name, int DataType, long[] Dims, byte[] Raw);
    private sealed record ValueInfo(string Name, int ElementType, OnnxDim[] Dims);
    private sealed record Node(string OpType, string Name, string[] Inputs, string[] Outputs, OnnxAttributeValue[] Attributes, string Domain);

    private readonly List<ValueInfo> _inputs = [], _outputs = [];
    private readonly List<Initializer> _initializers = [];
    private readonly List<Node> _nodes = [];
    private readonly HashSet<string> _values = new(StringComparer.Ordinal);       // visible here: this graph's inputs, initializers, node outputs
    private readonly HashSet<string> _allNames = new(StringComparer.Ordinal);     // top-level graph only: every name in the model
    private readonly Dictionary<string, int> _opCounts = new(StringComparer.Ordinal);
    private readonly List<(string Key, string Value)> _metadata = [];
    private readonly Dictionary<string, string> _constantNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _subgraphNames = new(StringComparer.Ordinal);
    private int _constants;

    /// <summary>The graph's name.</summary>
    public string Name { get; }
    /// <summary>A description stored as the graph's doc_string (how to call the model), or null.</summary>
    public string? DocString { get; set; }
    /// <summary>Nodes added so far (to this graph, not counting its subgraphs').</summary>
    public int NodeCount => _nodes.Count;
    /// <summary>The graph this one is a subgraph of, or null for the top-level graph.</summary>
    public OnnxGraphBuilder? Parent { get; }
    private OnnxGraphBuilder Root => Parent?.Root ?? this;

    public OnnxGraphBuilder(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    private OnnxGraphBuilder(string name, OnnxGraphBuilder parent)
    {
        Name = name;
        Parent = parent;
    }

    /// <summary>
    /// A new, empty subgraph of this graph, for a control-flow node's graph attribute (<see cref="OnnxAttributeValue.Graph"/>).
    /// Declare its inputs and outputs as the operator asks (a Loop body: iteration number, condition, loop-carried values;
    /// outputs: condition, loop-carried values, scan outputs).
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or another subgraph has it.</exception>
    public OnnxGraphBuilder Subgraph(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!Root._subgraphNames.Add(name)) throw new ArgumentException($"subgraph: expected a new name, got \"{name}\", which another subgraph has", nameof(name));
        return new OnnxGraphBuilder(name, this);
    }

    /// <summary>True when <paramref name="name"/> is a value this graph's nodes may read: an input, an initializer or a node
    /// output of this graph or of a graph around it.</summary>
    public bool HasValue(string name) => _values.Contains(name) || (Parent?.HasValue(name) ?? false);

    /// <summary>Declares a graph input of <paramref name="elementType"/> (an <see cref="OnnxTensor"/> data type) and shape.</summary>
    /// <exception cref="ArgumentException">The name is empty or already used.</exception>
    public string AddInput(string name, int elementType, params OnnxDim[] dims)
    {
        Claim(name, "graph input");
        _inputs.Add(new ValueInfo(name, CheckType(elementType), (OnnxDim[])dims.Clone()));
        return name;
    }

    /// <summary>Declares an existing value (an input or a node output) a graph output.</summary>
    /// <exception cref="ArgumentException">No value has that name, or it is an output already.</exception>
    public void AddOutput(string name, int elementType, params OnnxDim[] dims)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!HasValue(name)) throw new ArgumentException($"graph output: expected the name of an existing value, got \"{name}\"", nameof(name));
        if (_outputs.Any(o => o.Name == name)) throw new ArgumentException($"graph output: \"{name}\" is an output already", nameof(name));
        _outputs.Add(new ValueInfo(name, CheckType(elementType), (OnnxDim[])dims.Clone()));
    }

    /// <summary>A float32 initializer (a weight) of shape <paramref name="dims"/>; the data is copied.</summary>
    /// <exception cref="ArgumentException">The name is used, a dim is negative, or the data does not hold the product of the dims.</exception>
    public string AddInitializer(string name, ReadOnlySpan<float> data, params long[] dims) =>
        AddRaw(name, OnnxTensor.Float, MemoryMarshal.AsBytes(data), data.Length, dims);

    /// <summary>An int64 initializer (shapes, axes, indices) of shape <paramref name="dims"/>.</summary>
    public string AddInitializer(string name, ReadOnlySpan<long> data, params long[] dims) =>
        AddRaw(name, OnnxTensor.Int64, MemoryMarshal.AsBytes(data), data.Length, dims);

    /// <summary>A float32 scalar constant (an initializer of shape []), named automatically; equal values share one.</summary>
    public string Scalar(float value) => Root.Constant("f:" + BitConverter.SingleToInt32Bits(value), () => AddInitializer(NextConstant(), [value]));

    /// <summary>A 1-D int64 constant (shapes, axes), named automatically; equal values share one.</summary>
    public string Ints(params long[] values) => Root.Constant("i:" + string.Join(",", values), () => AddInitializer(NextConstant(), values, values.Length));

    /// <summary>A 1-D float32 constant, named automatically; equal values share one.</summary>
    public string Floats(params float[] values) =>
        Root.Constant("F:" + string.Join(",", values.Select(BitConverter.SingleToInt32Bits)), () => AddInitializer(NextConstant(), values, values.Length));

    /// <summary>An int64 scalar constant (an initializer of shape [], e.g. a Loop's trip count), named automatically; equal values share one.</summary>
    public string Int64Scalar(long value) => Root.Constant("l:" + value, () => AddInitializer(NextConstant(), new long[] { value }));

    private string Constant(string key, Func<string> add)
    {
        if (!_constantNames.TryGetValue(key, out var name)) _constantNames[key] = name = add();
        return name;
    }

    private string NextConstant()
    {
        string name;
        var root = Root;
        do name = $"const_{root._constants++}"; while (root._allNames.Contains(name));
        return name;
    }

    private string AddRaw(string name, int type, ReadOnlySpan<byte> bytes, int count, long[] dims)
    {
        if (Parent is not null) return Root.AddRaw(name, type, bytes, count, dims);      // weights live in the top-level graph
        ArgumentNullException.ThrowIfNull(dims);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian; this writer runs on little-endian machines only");
        long expected = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw new ArgumentException($"initializer \"{name}\": expected dims ≥ 0, got [{string.Join(", ", dims)}]", nameof(dims));
            expected = checked(expected * d);
        }
        if (expected != count)
            throw new ArgumentException($"initializer \"{name}\": dims [{string.Join(", ", dims)}] expect {expected} values, got {count}", nameof(dims));
        Claim(name, "initializer");
        _initializers.Add(new Initializer(name, type, (long[])dims.Clone(), bytes.ToArray()));
        return name;
    }

    /// <summary>
    /// Adds a node of <paramref name="opType"/> reading <paramref name="inputs"/> ("" for an omitted optional input)
    /// with one output, named <paramref name="name"/> or, when null, after the operator ("MatMul_12"). Returns the output's name.
    /// </summary>
    /// <exception cref="ArgumentException">An input names no existing value, or the output name is used.</exception>
    public string AddNode(string opType, IReadOnlyList<string> inputs, string? name = null, params OnnxAttributeValue[] attributes) =>
        AddNode(opType, inputs, [name ?? AutoName(opType)], attributes)[0];

    /// <summary>Adds a node with several named outputs (in the operator's order); returns them.</summary>
    public IReadOnlyList<string> AddNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs,
                                         IReadOnlyList<OnnxAttributeValue> attributes, string domain = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(attributes);
        ArgumentNullException.ThrowIfNull(domain);
        if (outputs.Count == 0) throw new ArgumentException($"node {opType}: expected at least one output, got none", nameof(outputs));
        foreach (var input in inputs)
        {
            ArgumentNullException.ThrowIfNull(input, nameof(inputs));
            if (input.Length > 0 && !HasValue(input))
                throw new ArgumentException($"node {opType}: expected inputs that exist already (graph inputs, initializers, earlier outputs), got \"{input}\"", nameof(inputs));
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in attributes)
        {
            ArgumentNullException.ThrowIfNull(a, nameof(attributes));
            if (!names.Add(a.Name)) throw new ArgumentException($"node {opType}: expected each attribute once, got \"{a.Name}\" twice", nameof(attributes));
            if (a.GraphValue is { } sub && !ReferenceEquals(sub.Parent, this))
                throw new ArgumentException($"node {opType}: attribute \"{a.Name}\" expected a subgraph of \"{Name}\", got one of \"{sub.Parent!.Name}\"", nameof(attributes));
        }
        foreach (var o in outputs) Claim(o, $"output of {opType}");
        string prefix = Parent is null ? "" : Name + "/";
        _nodes.Add(new Node(opType, $"{prefix}{opType}_{_nodes.Count}", [.. inputs], [.. outputs], [.. attributes], domain));
        return [.. outputs];
    }

    /// <summary>A key/value pair stored in the model's metadata_props (e.g. a vocabulary a server needs to decode).</summary>
    public void AddMetadata(string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (Parent is not null) throw new InvalidOperationException($"metadata belongs to the model: add it to the top-level graph, not to the subgraph \"{Name}\"");
        if (_metadata.Any(m => m.Key == key)) throw new ArgumentException($"metadata: expected each key once, got \"{key}\" twice", nameof(key));
        _metadata.Add((key, value));
    }

    private string AutoName(string opType)
    {
        var root = Root;
        int n = root._opCounts.GetValueOrDefault(opType);
        string name;
        do name = $"{opType}_{n++}"; while (root._allNames.Contains(name));
        root._opCounts[opType] = n;
        return name;
    }

    private void Claim(string name, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!Root._allNames.Add(name)) throw new ArgumentException($"{what}: expected a new value name, got \"{name}\", which is used already", nameof(name));
        _values.Add(name);
    }

    private static int CheckType(int elementType) =>
        elementType is >= 1 and <= 16 ? elementType
            : throw new ArgumentOutOfRangeException(nameof(elementType), elementType, "expected an ONNX TensorProto.DataType in 1..16 (1 = FLOAT, 7 = INT64, 9 = BOOL)");

    /// <summary>The serialized ModelProto.</summary>
    /// <exception cref="InvalidOperationException">The graph has no output.</exception>
    public byte[] ToBytes(int opset = 17, string producer = "Attention")
    {
        var stream = new MemoryStream();
        Write(stream, opset, producer);
        return stream.ToArray();
    }

    /// <summary>Writes the model to <paramref name="path"/> (created or overwritten).</summary>
    public void Save(string path, int opset = 17, string producer = "Attention")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Write(file, opset, producer);
    }

    /// <summary>Writes the serialized ModelProto to <paramref name="output"/>.</summary>
    /// <exception cref="InvalidOperationException">The graph has no output.</exception>
    public void Write(Stream output, int opset = 17, string producer = "Attention")
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentException.ThrowIfNullOrEmpty(producer);
        if (Parent is not null) throw new InvalidOperationException($"graph \"{Name}\" is a subgraph: write the top-level graph, which holds it in a node's attribute");
        if (opset is < 13 or > 23) throw new ArgumentOutOfRangeException(nameof(opset), opset, "expected an opset in 13..23");

        // the graph first, into memory (its length prefixes it), then the model fields around it
        var graph = GraphBytes();

        ProtoWriter.Int(output, ModelIrVersion, IrVersionFor(opset));
        ProtoWriter.String(output, ModelProducerName, producer);
        ProtoWriter.String(output, ModelProducerVersion, typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0");
        if (DocString is not null) ProtoWriter.String(output, ModelDocString, DocString);
        ProtoWriter.Key(output, ModelGraph, 2);
        ProtoWriter.Varint(output, (ulong)graph.Length);
        graph.Position = 0;
        graph.CopyTo(output);
        var opsetId = new MemoryStream();
        ProtoWriter.String(opsetId, 1, "");
        ProtoWriter.Int(opsetId, 2, opset);
        Message(output, ModelOpsetImport, opsetId);
        foreach (var (key, value) in _metadata)
        {
            var entry = new MemoryStream();
            ProtoWriter.String(entry, 1, key);
            ProtoWriter.String(entry, 2, value);
            Message(output, ModelMetadata, entry);
        }
    }

    /// <summary>The GraphProto of this graph, its subgraphs inside its nodes' attributes.</summary>
    private MemoryStream GraphBytes()
    {
        if (_outputs.Count == 0) throw new InvalidOperationException($"graph \"{Name}\": expected at least one output, got none");
        var graph = new MemoryStream();
        foreach (var node in _nodes) Message(graph, GraphNode, NodeBytes(node));
        ProtoWriter.String(graph, GraphName, Name);
        foreach (var init in _initializers) WriteInitializer(graph, init);
        if (DocString is not null) ProtoWriter.String(graph, GraphDocString, DocString);
        foreach (var i in _inputs) Message(graph, GraphInput, ValueInfoBytes(i));
        foreach (var o in _outputs) Message(graph, GraphOutput, ValueInfoBytes(o));
        return graph;
    }

    /// <summary>The IR version released with an opset (onnx/docs/Versioning.md): opset 17 → IR 8, 19–20 → 9, 21 → 10, 22 → 10, 23 → 11.</summary>
    private static long IrVersionFor(int opset) => opset switch
    {
        <= 14 => 7, <= 18 => 8, <= 20 => 9, <= 22 => 10, _ => 11,
    };

    private static void Message(Stream s, int field, MemoryStream message)
    {
        ProtoWriter.Key(s, field, 2);
        ProtoWriter.Varint(s, (ulong)message.Length);
        message.Position = 0;
        message.CopyTo(s);
    }

    private static MemoryStream NodeBytes(Node node)
    {
        var m = new MemoryStream();
        foreach (var i in node.Inputs) ProtoWriter.String(m, NodeInput, i);
        foreach (var o in node.Outputs) ProtoWriter.String(m, NodeOutput, o);
        ProtoWriter.String(m, NodeName, node.Name);
        ProtoWriter.String(m, NodeOpType, node.OpType);
        foreach (var a in node.Attributes)
        {
            var attr = new MemoryStream();
            ProtoWriter.String(attr, AttrName, a.Name);
            switch (a.Type)
            {
                case OnnxAttributeValue.FloatType:
                    ProtoWriter.Key(attr, AttrF, 5);
                    attr.Write(BitConverter.GetBytes(a.FloatValue));
                    break;
                case OnnxAttributeValue.IntType: ProtoWriter.Int(attr, AttrI, a.IntValue); break;
                case OnnxAttributeValue.StringType: ProtoWriter.String(attr, AttrS, a.Text!); break;
                case OnnxAttributeValue.IntsType: foreach (var v in a.IntsValue!) ProtoWriter.Int(attr, AttrInts, v); break;
                case OnnxAttributeValue.GraphType: Message(attr, AttrG, a.GraphValue!.GraphBytes()); break;
            }
            ProtoWriter.Int(attr, AttrType, a.Type);
            Message(m, NodeAttribute, attr);
        }
        if (node.Domain.Length > 0) ProtoWriter.String(m, NodeDomain, node.Domain);
        return m;
    }

    private static MemoryStream ValueInfoBytes(ValueInfo info)
    {
        // ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } } } }
        var shape = new MemoryStream();
        foreach (var d in info.Dims)
        {
            var dim = new MemoryStream();
            if (d.Name is { } symbol) ProtoWriter.String(dim, 2, symbol);
            else ProtoWriter.Int(dim, 1, d.Value ?? 0);
            Message(shape, 1, dim);
        }
        var tensor = new MemoryStream();
        ProtoWriter.Int(tensor, 1, info.ElementType);
        Message(tensor, 2, shape);
        var type = new MemoryStream();
        Message(type, 1, tensor);
        var m = new MemoryStream();
        ProtoWriter.String(m, 1, info.Name);
        Message(m, 2, type);
        return m;
    }

    private static void WriteInitializer(Stream s, Initializer init)
    {
        // the small fields first, so the tensor's length is known without copying its data
        var head = new MemoryStream();
        foreach (var d in init.Dims) ProtoWriter.Int(head, TensorDims, d);     // repeated int64, one field per dim
        ProtoWriter.Int(head, TensorDataType, init.DataType);
        ProtoWriter.String(head, TensorName, init.Name);
        long length = head.Length + 1 + VarintSize((ulong)init.Raw.Length) + init.Raw.Length;
        ProtoWriter.Key(s, GraphInitializer, 2);
        ProtoWriter.Varint(s, (ulong)length);
        head.Position = 0;
        head.CopyTo(s);
        ProtoWriter.Bytes(s, TensorRawData, init.Raw);
    }

    private static int VarintSize(ulong v)
    {
        int n = 1;
        while (v >= 0x80) { v >>= 7; n++; }
        return n;
    }
}
