using System.Runtime.InteropServices;
using Attention.Kernels;

namespace Attention.Peers;

/// <summary>
/// llama.cpp's CPU flash attention, <c>ggml_flash_attn_ext</c>, in float32 (K and V F32, precision
/// set to GGML_PREC_F32), called through P/Invoke on the ggml libraries of LLamaSharp.Backend.Cpu.
///
/// ggml lists dimensions fastest first: Q is (D, L, H, B), K and V are (D, S, KvHeads, B) — the same
/// memory as our (B, H, L, D) and (B, KvHeads, S, D). The result comes out permuted, (D, H, L, B),
/// i.e. (B, L, H, D) row-major; <see cref="Run"/> turns it back. Grouped-query attention is native
/// (ggml broadcasts K/V heads over H). Causal needs an explicit F16 mask (S, L padded): it is built
/// once here with our bottom-right alignment. The graph and tensors live in one ggml context created
/// once; each compute gets a work buffer from a small second context over memory allocated once,
/// because ggml_graph_compute_with_ctx takes its work buffer out of the context it is given.
/// </summary>
public sealed unsafe class GgmlFlashAttention : IDisposable
{
    // GGML_KQ_MASK_PAD differs between ggml releases (64, 32, 1); the kernel asserts mask rows ≥ the
    // padded query count, so padding to 64 satisfies every release.
    private const int MaskPad = 64;
    private const nuint WorkBytes = 64 << 20;

    private nint _ctx, _graph, _q, _k, _v, _out;
    private void* _workMemory;
    private bool _disposed;

    public AttentionShape Shape { get; }
    public bool Causal { get; }
    public int Threads { get; }

    public GgmlFlashAttention(AttentionShape shape, bool causal, int threads)
    {
        var s = shape;
        if (s.Batch < 1 || s.Heads < 1 || s.KvHeads < 1 || s.QueryLength < 1 || s.KeyLength < 1 || s.HeadDim < 1)
            throw new ArgumentException($"expected every size positive, got {s}", nameof(shape));
        if (s.Heads % s.KvHeads != 0)
            throw new ArgumentException($"expected Heads a multiple of KvHeads, got Heads={s.Heads}, KvHeads={s.KvHeads}", nameof(shape));
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "expected at least 1 thread");
        Shape = s; Causal = causal; Threads = threads;
        GgmlNative.EnsureLoaded();

        long qFloats = (long)s.Batch * s.Heads * s.QueryLength * s.HeadDim;
        long kvFloats = (long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim;
        long maskRows = (s.QueryLength + MaskPad - 1) / MaskPad * MaskPad;
        long bytes = 4 * (2 * qFloats + 2 * kvFloats) + (causal ? 2 * maskRows * s.KeyLength : 0);
        nuint memSize = (nuint)bytes + 8 * GgmlNative.TensorOverhead() + GgmlNative.GraphOverhead() + (1 << 20);
        _ctx = GgmlNative.Init(new GgmlNative.InitParams { MemSize = memSize, MemBuffer = null, NoAlloc = 0 });
        if (_ctx == 0) throw new InvalidOperationException($"ggml_init failed for {memSize} bytes");

        _q = GgmlNative.NewTensor4d(_ctx, GgmlNative.TypeF32, s.HeadDim, s.QueryLength, s.Heads, s.Batch);
        _k = GgmlNative.NewTensor4d(_ctx, GgmlNative.TypeF32, s.HeadDim, s.KeyLength, s.KvHeads, s.Batch);
        _v = GgmlNative.NewTensor4d(_ctx, GgmlNative.TypeF32, s.HeadDim, s.KeyLength, s.KvHeads, s.Batch);
        nint mask = 0;
        if (causal)
        {
            mask = GgmlNative.NewTensor4d(_ctx, GgmlNative.TypeF16, s.KeyLength, maskRows, 1, 1);
            var m = new Span<Half>(GgmlNative.GetData(mask), checked((int)(maskRows * s.KeyLength)));
            m.Clear();
            // bottom-right: query i sees keys j ≤ i + S − L
            for (int i = 0; i < s.QueryLength; i++)
                for (long j = Math.Max(0, i + s.KeyLength - s.QueryLength + 1); j < s.KeyLength; j++)
                    m[(int)(i * (long)s.KeyLength + j)] = Half.NegativeInfinity;
        }
        _out = GgmlNative.FlashAttnExt(_ctx, _q, _k, _v, mask, 1f / MathF.Sqrt(s.HeadDim), 0f, 0f);
        if (_out == 0) throw new InvalidOperationException("ggml_flash_attn_ext returned null");
        GgmlNative.FlashAttnExtSetPrec(_out, GgmlNative.PrecF32);
        _graph = GgmlNative.NewGraph(_ctx);
        GgmlNative.BuildForwardExpand(_graph, _out);
        _workMemory = NativeMemory.AlignedAlloc(WorkBytes, 64);
    }

    /// <summary>Q in ggml's (D, L, H, B) order = our (B, H, L, D).</summary>
    public Span<float> Query => Tensor(_q);
    /// <summary>K in ggml's (D, S, KvHeads, B) order = our (B, KvHeads, S, D).</summary>
    public Span<float> Key => Tensor(_k);
    public Span<float> Value => Tensor(_v);
    /// <summary>Output in ggml's (D, H, L, B) order = row-major (B, L, H, D).</summary>
    public Span<float> RawOutput => Tensor(_out);

    /// <summary>Computes the graph on the tensors as they are (the timed call).</summary>
    public void RunPrepared()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var work = GgmlNative.Init(new GgmlNative.InitParams { MemSize = WorkBytes, MemBuffer = _workMemory, NoAlloc = 0 });
        if (work == 0) throw new InvalidOperationException("ggml_init failed for the work context");
        try
        {
            int status = GgmlNative.GraphComputeWithCtx(work, _graph, Threads);
            if (status != 0) throw new InvalidOperationException($"ggml_graph_compute_with_ctx returned status {status}, expected 0 (success)");
        }
        finally { GgmlNative.Free(work); }
    }

    /// <summary>Fills Q, K, V with uniform values in [-1, 1) from a fixed seed (benchmark data).</summary>
    public void FillRandom(int seed)
    {
        var rng = new Random(seed);
        foreach (var t in new[] { _q, _k, _v })
        {
            var span = Tensor(t);
            for (int i = 0; i < span.Length; i++) span[i] = (float)(rng.NextDouble() * 2 - 1);
        }
    }

    /// <summary>query (B, H, L, D), key and value (B, KvHeads, S, D) → output (B, H, L, D), our layout.</summary>
    public void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output)
    {
        var q = Query; var k = Key; var v = Value;
        if (query.Length != q.Length) throw new ArgumentException($"query: expected {q.Length} floats, got {query.Length}", nameof(query));
        if (key.Length != k.Length) throw new ArgumentException($"key: expected {k.Length} floats, got {key.Length}", nameof(key));
        if (value.Length != v.Length) throw new ArgumentException($"value: expected {v.Length} floats, got {value.Length}", nameof(value));
        if (output.Length != q.Length) throw new ArgumentException($"output: expected {q.Length} floats, got {output.Length}", nameof(output));
        query.CopyTo(q); key.CopyTo(k); value.CopyTo(v);
        RunPrepared();
        var raw = RawOutput;
        var s = Shape;
        // (B, L, H, D) → (B, H, L, D)
        for (int b = 0; b < s.Batch; b++)
            for (int l = 0; l < s.QueryLength; l++)
                for (int h = 0; h < s.Heads; h++)
                    raw.Slice(((b * s.QueryLength + l) * s.Heads + h) * s.HeadDim, s.HeadDim)
                       .CopyTo(output.Slice(((b * s.Heads + h) * s.QueryLength + l) * s.HeadDim, s.HeadDim));
    }

    private Span<float> Tensor(nint t)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new Span<float>(GgmlNative.GetData(t), checked((int)(GgmlNative.NBytes(t) / 4)));
    }

    /// <summary>The folder the ggml libraries were loaded from (loads them if needed).</summary>
    public static string LibraryFolder
    {
        get { GgmlNative.EnsureLoaded(); return GgmlNative.LoadedFrom!; }
    }

    /// <summary>ggml's version string and the folder its libraries were loaded from.</summary>
    public static string Describe()
    {
        var version = GgmlNative.VersionString();
        var folder = GgmlNative.LoadedFrom ?? "?";
        return $"ggml {version} (LLamaSharp.Backend.Cpu {GgmlNative.PackageVersion}, {Path.GetFileName(folder)} build)";
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ctx != 0) GgmlNative.Free(_ctx);
        _ctx = 0;
        if (_workMemory != null) NativeMemory.AlignedFree(_workMemory);
        _workMemory = null;
        GC.SuppressFinalize(this);
    }

    ~GgmlFlashAttention() => Dispose();
}
