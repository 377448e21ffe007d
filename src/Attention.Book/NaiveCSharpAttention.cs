using System.Numerics.Tensors;
using Attention.Kernels;

namespace Attention.Book;

/// <summary>
/// The plain C# baseline of the benchmark and of answer 38 (a pure-C# loop, so it lives beside the experiments, not among the native peers): scaled dot-product attention (Vaswani et al., 2017, §3.2.1)
/// one query row at a time, built from System.Numerics.Tensors primitives only:
///     s_j = scale · q·k_j (TensorPrimitives.Dot),  p = exp(s − max s) / Σ (TensorPrimitives.Exp),
///     o = Σ_j p_j · v_j (TensorPrimitives.MultiplyAdd).
/// query (B, H, L, D), key and value (B, KvHeads, S, D), output (B, H, L, D); causal is bottom-right
/// aligned (query i sees keys j ≤ i + S − L). What a careful engineer writes before tiling anything;
/// rows are spread over threads by (b, h, i).
/// </summary>
public static class NaiveCSharpAttention
{
    public static void Forward(float[] query, float[] key, float[] value, float[] output,
                               AttentionShape shape, bool causal, int threads)
    {
        var s = shape;
        if (s.Batch < 1 || s.Heads < 1 || s.KvHeads < 1 || s.QueryLength < 1 || s.KeyLength < 1 || s.HeadDim < 1)
            throw new ArgumentException($"expected every size positive, got {s}", nameof(shape));
        if (s.Heads % s.KvHeads != 0)
            throw new ArgumentException($"expected Heads a multiple of KvHeads, got Heads={s.Heads}, KvHeads={s.KvHeads}", nameof(shape));
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "expected at least 1 thread");
        long qLen = (long)s.Batch * s.Heads * s.QueryLength * s.HeadDim;
        long kvLen = (long)s.Batch * s.KvHeads * s.KeyLength * s.HeadDim;
        if (query.Length != qLen) throw new ArgumentException($"query: expected {qLen} floats, got {query.Length}", nameof(query));
        if (key.Length != kvLen) throw new ArgumentException($"key: expected {kvLen} floats, got {key.Length}", nameof(key));
        if (value.Length != kvLen) throw new ArgumentException($"value: expected {kvLen} floats, got {value.Length}", nameof(value));
        if (output.Length != qLen) throw new ArgumentException($"output: expected {qLen} floats, got {output.Length}", nameof(output));

        int rows = s.Batch * s.Heads * s.QueryLength;
        int group = s.Heads / s.KvHeads;
        float scale = 1f / MathF.Sqrt(s.HeadDim);
        int d = s.HeadDim, S = s.KeyLength, L = s.QueryLength;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var scores = new float[S];
            for (int row = (int)((long)rows * t / threads); row < (int)((long)rows * (t + 1) / threads); row++)
            {
                int i = row % L, bh = row / L, h = bh % s.Heads, b = bh / s.Heads;
                int kvBase = (b * s.KvHeads + h / group) * S * d;
                int visible = causal ? Math.Clamp(i + S - L + 1, 0, S) : S;
                var q = query.AsSpan(row * d, d);
                var o = output.AsSpan(row * d, d);
                o.Clear();
                if (visible == 0) continue;
                var sc = scores.AsSpan(0, visible);
                for (int j = 0; j < visible; j++) sc[j] = TensorPrimitives.Dot(q, key.AsSpan(kvBase + j * d, d)) * scale;
                float max = TensorPrimitives.Max(sc);
                TensorPrimitives.Subtract(sc, max, sc);
                TensorPrimitives.Exp(sc, sc);
                float inv = 1f / TensorPrimitives.Sum(sc);
                for (int j = 0; j < visible; j++) TensorPrimitives.MultiplyAdd(value.AsSpan(kvBase + j * d, d), sc[j], o, o);
                TensorPrimitives.Multiply(o, inv, o);
            }
        });
    }
}
