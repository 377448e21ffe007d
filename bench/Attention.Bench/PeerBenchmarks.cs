using Attention.Book;
using Attention.Kernels;
using Attention.Peers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;

namespace Attention.Bench;

/// <summary>
/// BenchmarkDotNet view of the peer comparison at N = 2048 (B=1, H=8, D=64, fp32): our FlashAttention
/// (baseline) and MathAttention against the naive C# loop, ONNX Runtime's MultiHeadAttention and
/// opset-23 Attention, and ggml's flash_attn_ext. `attn bench` (PeerBench) is the quick side-by-side
/// runner; this suite gives BenchmarkDotNet's statistics for the same calls.
/// Entry: <c>PeerBenchmarks.Run(args)</c>, e.g. <c>--filter *PeerBenchmarks* --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class PeerBenchmarks
{
    private const int B = 1, H = 8, D = 64;

    [Params(2048)] public int N { get; set; }
    [Params(false, true)] public bool Causal { get; set; }
    [Params(1, 2)] public int Threads { get; set; }

    private float[] _q = [], _k = [], _v = [], _o = [];
    private AttentionShape _shape;
    private AttentionOptions _options = AttentionOptions.Default;
    private OrtMultiHeadAttention? _mha;
    private OrtAttention23? _attention23;
    private GgmlFlashAttention? _ggml;

    [GlobalSetup]
    public void Setup()
    {
        _shape = new AttentionShape(B, H, H, N, N, D);
        _options = new AttentionOptions { Causal = Causal, MaxThreads = Threads };
        var rng = new Random(42);
        float Next() => (float)(rng.NextDouble() * 2 - 1);
        _q = new float[B * H * N * D]; _k = new float[_q.Length]; _v = new float[_q.Length]; _o = new float[_q.Length];
        for (int i = 0; i < _q.Length; i++) { _q[i] = Next(); _k[i] = Next(); _v[i] = Next(); }
        _mha = new OrtMultiHeadAttention(_shape, Causal, Threads); _mha.FillRandom(42);
        _attention23 = new OrtAttention23(_shape, Causal, Threads); _attention23.FillRandom(42);
        _ggml = new GgmlFlashAttention(_shape, Causal, Threads); _ggml.FillRandom(42);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mha?.Dispose(); _attention23?.Dispose(); _ggml?.Dispose();
    }

    [Benchmark(Baseline = true)] public void Flash() => FlashAttention.Forward(_q, _k, _v, _o, _shape, _options);
    [Benchmark] public void Math() => MathAttention.Forward(_q, _k, _v, _o, _shape, _options);
    [Benchmark] public void NaiveCSharp() => NaiveCSharpAttention.Forward(_q, _k, _v, _o, _shape, Causal, Threads);
    [Benchmark] public void OrtMultiHead() => _mha!.RunPrepared();
    [Benchmark] public void OrtOpset23() => _attention23!.RunPrepared();
    [Benchmark] public void GgmlFlashAttnExt() => _ggml!.RunPrepared();

    /// <summary>Runs the peer suites with BenchmarkDotNet's command-line switches.</summary>
    public static void Run(string[] args) =>
        BenchmarkSwitcher.FromTypes([typeof(PeerBenchmarks), typeof(DecodePeerBenchmarks)]).Run(args);
}

/// <summary>Decode: one query against S keys (B=1, H=8, D=64); DecodeAttention is ours.</summary>
[MemoryDiagnoser]
public class DecodePeerBenchmarks
{
    private const int B = 1, H = 8, D = 64;

    [Params(1024, 4096)] public int S { get; set; }
    [Params(1, 2)] public int Threads { get; set; }

    private float[] _q = [], _k = [], _v = [], _o = [];
    private AttentionShape _shape;
    private AttentionOptions _options = AttentionOptions.Default;
    private OrtMultiHeadAttention? _mha;
    private OrtAttention23? _attention23;
    private GgmlFlashAttention? _ggml;

    [GlobalSetup]
    public void Setup()
    {
        _shape = new AttentionShape(B, H, H, 1, S, D);
        _options = new AttentionOptions { MaxThreads = Threads };
        var rng = new Random(42);
        float Next() => (float)(rng.NextDouble() * 2 - 1);
        _q = new float[B * H * D]; _o = new float[_q.Length];
        _k = new float[B * H * S * D]; _v = new float[_k.Length];
        for (int i = 0; i < _q.Length; i++) _q[i] = Next();
        for (int i = 0; i < _k.Length; i++) { _k[i] = Next(); _v[i] = Next(); }
        _mha = new OrtMultiHeadAttention(_shape, false, Threads); _mha.FillRandom(42);
        _attention23 = new OrtAttention23(_shape, false, Threads); _attention23.FillRandom(42);
        _ggml = new GgmlFlashAttention(_shape, false, Threads); _ggml.FillRandom(42);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _mha?.Dispose(); _attention23?.Dispose(); _ggml?.Dispose();
    }

    [Benchmark(Baseline = true)] public void Decode() => DecodeAttention.Forward(_q, _k, _v, _o, _shape, _options);
    [Benchmark] public void Flash() => FlashAttention.Forward(_q, _k, _v, _o, _shape, _options);
    [Benchmark] public void NaiveCSharp() => NaiveCSharpAttention.Forward(_q, _k, _v, _o, _shape, false, Threads);
    [Benchmark] public void OrtMultiHead() => _mha!.RunPrepared();
    [Benchmark] public void OrtOpset23() => _attention23!.RunPrepared();
    [Benchmark] public void GgmlFlashAttnExt() => _ggml!.RunPrepared();
}
