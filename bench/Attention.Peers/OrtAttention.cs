using Attention.Kernels;
using Microsoft.ML.OnnxRuntime;

namespace Attention.Peers;

/// <summary>
/// An attention call run by ONNX Runtime (CPU execution provider) on a one-node graph built in memory.
/// Input and output tensors are created once over pinned managed arrays, so <see cref="RunPrepared"/>
/// (the call the benchmark times) allocates nothing of its own and copies nothing: it is the peer's
/// kernel alone, on data already in the peer's preferred layout. <see cref="Run"/> adds the layout
/// conversion from and to ours, (B, H, L, D) / (B, KvHeads, S, D), for the differential tests.
/// </summary>
public abstract class OrtAttentionPeer : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly OrtValue[] _inputValues;
    private readonly string[] _outputNames = ["output"];
    private readonly OrtValue[] _outputValues;
    private bool _disposed;

    /// <summary>The call's sizes.</summary>
    public AttentionShape Shape { get; }

    /// <summary>Bottom-right aligned causal mask (our convention), whichever way the graph expresses it.</summary>
    public bool Causal { get; }

    /// <summary>intra_op_num_threads of the session.</summary>
    public int Threads { get; }

    /// <summary>Peer's query buffer, in the peer's layout (see the subclass).</summary>
    protected float[] QueryBuffer { get; }
    protected float[] KeyBuffer { get; }
    protected float[] ValueBuffer { get; }
    protected float[] OutputBuffer { get; }

    private protected OrtAttentionPeer(AttentionShape shape, bool causal, int threads,
                                       long[] queryShape, long[] kvShape, long[] outputShape,
                                       Func<bool, (byte[] model, float[]? mask, long[]? maskShape, string? maskName)> build)
    {
        Validate(shape);
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "expected at least 1 thread");
        Shape = shape; Causal = causal; Threads = threads;

        var (model, mask, maskShape, maskName) = build(causal);
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        _session = new InferenceSession(model, options);

        QueryBuffer = new float[Product(queryShape)];
        KeyBuffer = new float[Product(kvShape)];
        ValueBuffer = new float[Product(kvShape)];
        OutputBuffer = new float[Product(outputShape)];
        var names = new List<string> { "query", "key", "value" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(QueryBuffer, queryShape),
            OrtValue.CreateTensorValueFromMemory(KeyBuffer, kvShape),
            OrtValue.CreateTensorValueFromMemory(ValueBuffer, kvShape),
        };
        if (mask is not null)
        {
            names.Add(maskName!);
            values.Add(OrtValue.CreateTensorValueFromMemory(mask, maskShape!));
        }
        _inputNames = [.. names];
        _inputValues = [.. values];
        _outputValues = [OrtValue.CreateTensorValueFromMemory(OutputBuffer, outputShape)];
    }

    /// <summary>Runs the graph on the buffers as they are (the timed call).</summary>
    public void RunPrepared()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _session.Run(_runOptions, _inputNames, _inputValues, _outputNames, _outputValues);
    }

    /// <summary>Fills query, key and value with uniform values in [-1, 1) from a fixed seed (benchmark data).</summary>
    public void FillRandom(int seed)
    {
        var rng = new Random(seed);
        foreach (var buffer in new[] { QueryBuffer, KeyBuffer, ValueBuffer })
            for (int i = 0; i < buffer.Length; i++) buffer[i] = (float)(rng.NextDouble() * 2 - 1);
    }

    /// <summary>query (B, H, L, D), key and value (B, KvHeads, S, D) → output (B, H, L, D), our layout.</summary>
    public void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output)
    {
        var s = Shape;
        CheckLength(nameof(query), query.Length, (long)s.Batch * s.Heads * s.QueryLength * s.HeadDim);
        CheckLength(nameof(key), key.Length, (long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim);
        CheckLength(nameof(value), value.Length, (long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim);
        CheckLength(nameof(output), output.Length, (long)s.Batch * s.Heads * s.QueryLength * s.HeadDim);
        ImportQuery(query); key.CopyTo(KeyBuffer); value.CopyTo(ValueBuffer);
        RunPrepared();
        ExportOutput(output);
    }

    private protected abstract void ImportQuery(ReadOnlySpan<float> query);
    private protected abstract void ExportOutput(Span<float> output);

    /// <summary>Copies (B, X, Y, D) into (B, Y, X, D): swaps the two middle axes.</summary>
    private protected static void SwapMiddleAxes(ReadOnlySpan<float> source, Span<float> destination, int b, int x, int y, int d)
    {
        for (int bi = 0; bi < b; bi++)
            for (int xi = 0; xi < x; xi++)
                for (int yi = 0; yi < y; yi++)
                    source.Slice(((bi * x + xi) * y + yi) * d, d).CopyTo(destination.Slice(((bi * y + yi) * x + xi) * d, d));
    }

    /// <summary>Additive bottom-right causal mask (L, S): 0 where key j ≤ i + S − L, −∞ elsewhere.</summary>
    private protected static float[] BottomRightCausalMask(int l, int s)
    {
        var mask = new float[(long)l * s];
        for (int i = 0; i < l; i++)
            for (int j = i + s - l + 1; j < s; j++)
                if (j >= 0) mask[(long)i * s + j] = float.NegativeInfinity;
        return mask;
    }

    private static void Validate(AttentionShape s)
    {
        if (s.Batch < 1 || s.Heads < 1 || s.KvHeads < 1 || s.QueryLength < 1 || s.KeyLength < 1 || s.HeadDim < 1)
            throw new ArgumentException($"expected every size positive, got {s}", nameof(s));
        if (s.Heads % s.KvHeads != 0)
            throw new ArgumentException($"expected Heads a multiple of KvHeads, got Heads={s.Heads}, KvHeads={s.KvHeads}", nameof(s));
    }

    private static void CheckLength(string name, int actual, long expected)
    {
        if (actual != expected) throw new ArgumentException($"{name}: expected {expected} floats, got {actual}", name);
    }

    private static int Product(long[] dims)
    {
        long p = 1;
        foreach (var d in dims) p *= d;
        if (p > Array.MaxLength) throw new ArgumentException($"tensor of {p} floats is larger than one array can hold");
        return (int)p;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var v in _inputValues) v.Dispose();
        foreach (var v in _outputValues) v.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// ONNX Runtime's contrib operator com.microsoft.MultiHeadAttention (CPU kernel), no projections:
/// query (B, L, H·D) — the "BSNH" layout —, key and value (B, H, S, D) — "BNSH", the form the op
/// also accepts for a KV cache, so our key/value memory is used as is —, output (B, L, H·D).
/// Causal with L = S uses the op's <c>unidirectional</c> attribute; with L ≠ S an additive
/// attention_bias (1, 1, L, S) holds our bottom-right mask, because the attribute's alignment for
/// L ≠ S is not documented. The op has no grouped-query form: KvHeads must equal Heads.
/// </summary>
public sealed class OrtMultiHeadAttention : OrtAttentionPeer
{
    public OrtMultiHeadAttention(AttentionShape shape, bool causal, int threads)
        : base(shape, causal, threads,
               [shape.Batch, shape.QueryLength, (long)shape.Heads * shape.HeadDim],
               [shape.Batch, shape.KvHeads, shape.KeyLength, shape.HeadDim],
               [shape.Batch, shape.QueryLength, (long)shape.Heads * shape.HeadDim],
               c => Build(shape, c))
    { }

    private static (byte[], float[]?, long[]?, string?) Build(AttentionShape s, bool causal)
    {
        if (s.KvHeads != s.Heads)
            throw new ArgumentException($"MultiHeadAttention needs KvHeads == Heads, got Heads={s.Heads}, KvHeads={s.KvHeads}", nameof(s));
        long[] q = [s.Batch, s.QueryLength, (long)s.Heads * s.HeadDim];
        long[] kv = [s.Batch, s.Heads, s.KeyLength, s.HeadDim];
        var inputs = new List<OnnxTensorInfo> { new("query", q), new("key", kv), new("value", kv) };
        var attributes = new List<OnnxAttribute>
        {
            OnnxAttribute.Of("num_heads", (long)s.Heads),
            OnnxAttribute.Of("scale", 1f / MathF.Sqrt(s.HeadDim)),
        };
        string[]? nodeInputs = null;
        float[]? mask = null; long[]? maskShape = null;
        if (causal && s.QueryLength == s.KeyLength) attributes.Add(OnnxAttribute.Of("unidirectional", 1L));
        else if (causal)
        {
            maskShape = [1, 1, s.QueryLength, s.KeyLength];
            mask = BottomRightCausalMask(s.QueryLength, s.KeyLength);
            inputs.Add(new("attention_bias", maskShape));
            // inputs 3 (bias) and 4 (key_padding_mask) are omitted by empty names
            nodeInputs = ["query", "key", "value", "", "", "attention_bias"];
        }
        var model = OnnxModelWriter.SingleNodeModel("MultiHeadAttention", "com.microsoft", inputs,
            [new("output", [s.Batch, s.QueryLength, (long)s.Heads * s.HeadDim])], attributes, nodeInputs);
        return (model, mask, maskShape, mask is null ? null : "attention_bias");
    }

    private protected override void ImportQuery(ReadOnlySpan<float> query)
        => SwapMiddleAxes(query, QueryBuffer, Shape.Batch, Shape.Heads, Shape.QueryLength, Shape.HeadDim);

    private protected override void ExportOutput(Span<float> output)
        => SwapMiddleAxes(OutputBuffer, output, Shape.Batch, Shape.QueryLength, Shape.Heads, Shape.HeadDim);
}

/// <summary>
/// The standard ONNX Attention operator of opset 23, run by ONNX Runtime's CPU kernel:
/// Q (B, H, L, D), K and V (B, KvHeads, S, D), Y (B, H, L, D) — our layout exactly, grouped-query included.
/// ONNX's <c>is_causal</c> is top-left aligned (query i sees keys j ≤ i) whatever S is; that equals our
/// bottom-right mask only when L = S, so for L ≠ S the graph gets an explicit additive attn_mask (L, S).
/// </summary>
public sealed class OrtAttention23 : OrtAttentionPeer
{
    /// <param name="shape">Sizes; grouped-query attention allowed.</param>
    /// <param name="causal">Our bottom-right causal mask.</param>
    /// <param name="threads">intra_op_num_threads.</param>
    /// <param name="useIsCausalAttribute">Express causal by ONNX's is_causal attribute even when L ≠ S, i.e. with
    /// ONNX's own (top-left) alignment instead of ours: there to show the difference, not for use.</param>
    public OrtAttention23(AttentionShape shape, bool causal, int threads, bool useIsCausalAttribute = false)
        : base(shape, causal, threads,
               [shape.Batch, shape.Heads, shape.QueryLength, shape.HeadDim],
               [shape.Batch, shape.KvHeads, shape.KeyLength, shape.HeadDim],
               [shape.Batch, shape.Heads, shape.QueryLength, shape.HeadDim],
               c => Build(shape, c, useIsCausalAttribute))
    { }

    private static (byte[], float[]?, long[]?, string?) Build(AttentionShape s, bool causal, bool useIsCausalAttribute)
    {
        long[] q = [s.Batch, s.Heads, s.QueryLength, s.HeadDim];
        long[] kv = [s.Batch, s.KvHeads, s.KeyLength, s.HeadDim];
        var inputs = new List<OnnxTensorInfo> { new("query", q), new("key", kv), new("value", kv) };
        var attributes = new List<OnnxAttribute> { OnnxAttribute.Of("scale", 1f / MathF.Sqrt(s.HeadDim)) };
        float[]? mask = null; long[]? maskShape = null;
        if (causal && (s.QueryLength == s.KeyLength || useIsCausalAttribute)) attributes.Add(OnnxAttribute.Of("is_causal", 1L));
        else if (causal)
        {
            maskShape = [s.QueryLength, s.KeyLength];
            mask = BottomRightCausalMask(s.QueryLength, s.KeyLength);
            inputs.Add(new("attn_mask", maskShape));
        }
        var model = OnnxModelWriter.SingleNodeModel("Attention", "", inputs, [new("output", q)], attributes);
        return (model, mask, maskShape, mask is null ? null : "attn_mask");
    }

    private protected override void ImportQuery(ReadOnlySpan<float> query) => query.CopyTo(QueryBuffer);

    private protected override void ExportOutput(Span<float> output) => OutputBuffer.AsSpan().CopyTo(output);
}
