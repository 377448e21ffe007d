using Attention.Kernels;

namespace Attention.Book;

/// <summary>One peer attention kernel (ONNX Runtime or ggml) as the experiments drive it.</summary>
public interface IPeerAttention : IDisposable
{
    /// <summary>query (B, H, L, D), key and value (B, KvHeads, S, D) → output (B, H, L, D), our layout.</summary>
    void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output);

    /// <summary>Copies query, key and value into the peer's own buffers (outside a timed call).</summary>
    void SetInputs(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value);

    /// <summary>Fills the peer's buffers with uniform values in [-1, 1) from <paramref name="seed"/> (benchmark data).</summary>
    void FillRandom(int seed);

    /// <summary>Runs on the buffers as they are (the timed call).</summary>
    void RunPrepared();
}

/// <summary>The native peers the book compares with: ONNX Runtime's attention operators and ggml's flash attention.</summary>
public interface IPeerKernels
{
    /// <summary>ONNX Runtime's MultiHeadAttention contrib operator (H = KvHeads only).</summary>
    IPeerAttention OrtMultiHeadAttention(AttentionShape shape, bool causal, int threads);

    /// <summary>ONNX Runtime's opset-23 Attention operator.</summary>
    IPeerAttention OrtAttention23(AttentionShape shape, bool causal, int threads);

    /// <summary>ggml's <c>ggml_flash_attn_ext</c> in F32.</summary>
    IPeerAttention GgmlFlashAttention(AttentionShape shape, bool causal, int threads);

    /// <summary>The side-by-side benchmark (<c>attn bench</c>): writes results into <paramref name="resultsDirectory"/>, returns the Markdown path.</summary>
    string Bench(bool full, string resultsDirectory, TextWriter log);
}

/// <summary>
/// Finds the peers when the running program carries them. They live in <c>bench/Attention.Peers</c> (ONNX Runtime and
/// ggml natives, about 400 MB): the tests, the benchmarks and <c>attn</c> built in the repository include them; the
/// packaged <c>attn</c> tool does not, and the experiments that compare with them say so instead of failing.
/// </summary>
public static class PeerKernels
{
    /// <summary>The implementation's type, looked up by name so that this assembly never references the peers.</summary>
    public const string ProviderTypeName = "Attention.Peers.BookPeers, Attention.Peers";

    /// <summary>What an experiment or verb says when the peers are missing.</summary>
    public const string NotAvailable = "ONNX Runtime and ggml are not available in this build (the packaged attn tool ships without them; run from the repository to compare)";

    private static readonly Lazy<IPeerKernels?> Discovered = new(Load);
    // per async flow, so a test that hides the peers does not hide them from tests running beside it
    private static readonly AsyncLocal<Holder?> Scoped = new();

    /// <summary>The peers, or null when this program was built without them.</summary>
    public static IPeerKernels? Current => Scoped.Value is { } o ? o.Peers : Discovered.Value;

    /// <summary>Replaces <see cref="Current"/> in this async flow until the returned scope is disposed (tests: a build without peers).</summary>
    internal static IDisposable Override(IPeerKernels? peers)
    {
        var before = Scoped.Value;
        Scoped.Value = new Holder(peers);
        return new Restore(() => Scoped.Value = before);
    }

    private sealed record Holder(IPeerKernels? Peers);

    private static IPeerKernels? Load()
    {
        Type? type;
        try { type = Type.GetType(ProviderTypeName, throwOnError: false); }
        catch (Exception e) when (e is FileLoadException or BadImageFormatException or FileNotFoundException) { return null; }
        return type is null ? null : (IPeerKernels?)Activator.CreateInstance(type);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
