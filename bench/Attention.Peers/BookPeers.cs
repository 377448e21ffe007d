using Attention.Book;
using Attention.Kernels;

namespace Attention.Peers;

/// <summary>
/// The peers as the book sees them (<see cref="IPeerKernels"/>). <see cref="PeerKernels"/> finds this type by name,
/// so a program that carries this assembly (the tests, the benchmarks, attn built in the repository) compares with
/// ONNX Runtime and ggml, and the packaged tool, which does not, reports them missing.
/// </summary>
public sealed class BookPeers : IPeerKernels
{
    public IPeerAttention OrtMultiHeadAttention(AttentionShape shape, bool causal, int threads)
        => new Ort(new Peers.OrtMultiHeadAttention(shape, causal, threads));

    public IPeerAttention OrtAttention23(AttentionShape shape, bool causal, int threads)
        => new Ort(new Peers.OrtAttention23(shape, causal, threads));

    public IPeerAttention GgmlFlashAttention(AttentionShape shape, bool causal, int threads)
        => new Ggml(new Peers.GgmlFlashAttention(shape, causal, threads));

    public string Bench(bool full, string resultsDirectory, TextWriter log) => PeerBench.Run(full, resultsDirectory, log);

    private sealed class Ort(OrtAttentionPeer peer) : IPeerAttention
    {
        public void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output) => peer.Run(query, key, value, output);

        public void SetInputs(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
        {
            // ORT's buffers may be in another layout: Run imports them (the one untimed extra run is harmless)
            var s = peer.Shape;
            peer.Run(query, key, value, new float[s.Batch * s.Heads * s.QueryLength * s.HeadDim]);
        }

        public void FillRandom(int seed) => peer.FillRandom(seed);
        public void RunPrepared() => peer.RunPrepared();
        public void Dispose() => peer.Dispose();
    }

    private sealed class Ggml(Peers.GgmlFlashAttention peer) : IPeerAttention
    {
        public void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output) => peer.Run(query, key, value, output);

        public void SetInputs(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
        {
            query.CopyTo(peer.Query); key.CopyTo(peer.Key); value.CopyTo(peer.Value);
        }

        public void FillRandom(int seed) => peer.FillRandom(seed);
        public void RunPrepared() => peer.RunPrepared();
        public void Dispose() => peer.Dispose();
    }
}
