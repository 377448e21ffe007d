using System.Buffers;
using Attention.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Attention.Models;

/// <summary>
/// The encoder's inference path without a tape: the same computation as <see cref="BertModel"/>'s Var path, on
/// flat row-major buffers, with the work in three kernels: <see cref="Gemm"/> for the projections (Q, K and V as
/// one product with the three weights stacked), <see cref="FlashAttention"/> for softmax(Q·Kᵀ/√d + M)·V with key-padding lengths
/// (the T×T matrix is never built), and row passes that fold each bias into the next step (the Q/K/V head split,
/// GELU, the residual + LayerNorm). Workspace comes from the shared array pool.
/// Shapes: rows N = B·T, hidden Hd, intermediate I.
/// </summary>
internal sealed class BertInference
{
    private readonly BertConfig _c;
    private readonly float[] _word, _pos, _type, _embG, _embB;
    private readonly Layer[] _layers;

    private sealed record Layer(float[] Wqkv, float[] Bqkv, float[] Wo, float[] Bo, float[] Ln1G, float[] Ln1B,
                                float[] W1, float[] B1, float[] W2, float[] B2, float[] Ln2G, float[] Ln2B);

    public BertInference(BertWeights w)
    {
        _c = w.Config;
        float[] F(string name) => w[name].Contiguous().AsSpan().ToArray();
        _word = F("embeddings.word_embeddings.weight");
        _pos = F("embeddings.position_embeddings.weight");
        _type = F("embeddings.token_type_embeddings.weight");
        _embG = F("embeddings.LayerNorm.weight");
        _embB = F("embeddings.LayerNorm.bias");
        _layers = new Layer[_c.Layers];
        for (int l = 0; l < _c.Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            string[] qkv = ["attention.self.query", "attention.self.key", "attention.self.value"];
            // (out, in) weights stacked along out: one (3·Hd, Hd) matrix, so x·Wᵀ gives [q | k | v] per row
            var wqkv = qkv.SelectMany(n => F(p + n + ".weight")).ToArray();
            var bqkv = qkv.SelectMany(n => F(p + n + ".bias")).ToArray();
            _layers[l] = new Layer(wqkv, bqkv, F(p + "attention.output.dense.weight"), F(p + "attention.output.dense.bias"),
                F(p + "attention.output.LayerNorm.weight"), F(p + "attention.output.LayerNorm.bias"),
                F(p + "intermediate.dense.weight"), F(p + "intermediate.dense.bias"),
                F(p + "output.dense.weight"), F(p + "output.dense.bias"),
                F(p + "output.LayerNorm.weight"), F(p + "output.LayerNorm.bias"));
        }
    }

    /// <summary>Hidden states (B·T·Hd, row-major) for a checked batch.</summary>
    public float[] Run(BertBatch batch, float[,]? headMask, int threads)
    {
        int b = batch.Batch, t = batch.Length, n = b * t;
        int hd = _c.Hidden, h = _c.Heads, d = _c.HeadDim, inter = _c.Intermediate;
        float eps = _c.LayerNormEps;
        var x = new float[n * hd];
        for (int r = 0; r < n; r++)
        {
            var row = x.AsSpan(r * hd, hd);
            TensorPrimitives.Add(_word.AsSpan(batch.Ids[r] * hd, hd), _pos.AsSpan((r % t) * hd, hd), row);
            TensorPrimitives.Add(row, _type.AsSpan(batch.TypeIds[r] * hd, hd), row);
            LayerNorm(row, row, _embG, _embB, eps);
        }

        // workspace from the shared pool: a fresh 25 MB per call would be zeroed and page-faulted every time
        var pool = ArrayPool<float>.Shared;
        float[] qkvA = pool.Rent(n * 3 * hd), qA = pool.Rent(n * hd), kA = pool.Rent(n * hd), vA = pool.Rent(n * hd),
                ctxA = pool.Rent(n * hd), mergedA = pool.Rent(n * hd), yA = pool.Rent(n * hd), midA = pool.Rent(n * inter);
        try
        {
            Span<float> qkv = qkvA.AsSpan(0, n * 3 * hd), q = qA.AsSpan(0, n * hd), k = kA.AsSpan(0, n * hd), v = vA.AsSpan(0, n * hd),
                        ctx = ctxA.AsSpan(0, n * hd), merged = mergedA.AsSpan(0, n * hd), y = yA.AsSpan(0, n * hd), mid = midA.AsSpan(0, n * inter);
            var options = new AttentionOptions { KeyLengths = batch.Lengths, MaxThreads = threads };
            var shape = new AttentionShape(b, h, h, t, t, d);
            for (int l = 0; l < _layers.Length; l++)
            {
                var w = _layers[l];
                Gemm.Multiply(false, true, n, 3 * hd, hd, 1f, x, hd, w.Wqkv, hd, 0f, qkv, 3 * hd, threads);
                // [q | k | v] rows (B, T, 3, H, D) + bias → three (B, H, T, D) blocks (bias added per row: one
                // 3·Hd-wide pass is cheaper than 3·H head-wide ones)
                for (int bi = 0; bi < b; bi++)
                    for (int ti = 0; ti < t; ti++)
                    {
                        int src = (bi * t + ti) * 3 * hd;
                        var row = qkv.Slice(src, 3 * hd);
                        TensorPrimitives.Add(row, w.Bqkv, row);
                        for (int hi = 0; hi < h; hi++)
                        {
                            int dst = ((bi * h + hi) * t + ti) * d;
                            row.Slice(hi * d, d).CopyTo(q.Slice(dst, d));
                            row.Slice(hd + hi * d, d).CopyTo(k.Slice(dst, d));
                            row.Slice(2 * hd + hi * d, d).CopyTo(v.Slice(dst, d));
                        }
                    }
                FlashAttention.Forward(q, k, v, ctx, shape, options);
                for (int bi = 0; bi < b; bi++)
                    for (int hi = 0; hi < h; hi++)
                    {
                        float factor = headMask is null ? 1f : headMask[l, hi];
                        for (int ti = 0; ti < t; ti++)
                        {
                            var from = ctx.Slice(((bi * h + hi) * t + ti) * d, d);
                            var to = merged.Slice((bi * t + ti) * hd + hi * d, d);
                            if (factor == 1f) from.CopyTo(to); else TensorPrimitives.Multiply(from, factor, to);
                        }
                    }
                // x = LayerNorm(x + merged·W_Oᵀ + b_O)
                Gemm.Multiply(false, true, n, hd, hd, 1f, merged, hd, w.Wo, hd, 0f, y, hd, threads);
                ResidualLayerNorm(y, x, n, hd, w.Bo, w.Ln1G, w.Ln1B, eps);
                // x = LayerNorm(x + GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂)
                Gemm.Multiply(false, true, n, inter, hd, 1f, x, hd, w.W1, hd, 0f, mid, inter, threads);
                for (int r = 0; r < n; r++)
                {
                    var row = mid.Slice(r * inter, inter);
                    TensorPrimitives.Add(row, w.B1, row);
                    GeluKernel.Apply(row, row);
                }
                Gemm.Multiply(false, true, n, hd, inter, 1f, mid, inter, w.W2, inter, 0f, y, hd, threads);
                ResidualLayerNorm(y, x, n, hd, w.B2, w.Ln2G, w.Ln2B, eps);
            }
        }
        finally
        {
            foreach (var a in new[] { qkvA, qA, kA, vA, ctxA, mergedA, yA, midA }) pool.Return(a);
        }
        return x;
    }

    /// <summary>x_r ← LayerNorm(x_r + y_r + bias) for every row (the post-LN residual), y used as scratch.</summary>
    private static void ResidualLayerNorm(Span<float> y, float[] x, int rows, int width, float[] bias, float[] gamma, float[] beta, float eps)
    {
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * width, width);
            var xr = x.AsSpan(r * width, width);
            TensorPrimitives.Add(yr, xr, yr);
            TensorPrimitives.Add(yr, bias, yr);
            LayerNorm(yr, xr, gamma, beta, eps);
        }
    }

    /// <summary>(x − mean)/√(var + ε)·γ + β over one row, the biased variance (Ba et al., 2016); output may alias input.</summary>
    private static void LayerNorm(ReadOnlySpan<float> x, Span<float> y, float[] gamma, float[] beta, float eps)
    {
        int width = x.Length;
        float mu = TensorPrimitives.Sum(x) / width;
        TensorPrimitives.Subtract(x, mu, y);
        float var = TensorPrimitives.Dot(y, y) / width;
        TensorPrimitives.Multiply(y, 1f / MathF.Sqrt(var + eps), y);
        TensorPrimitives.FusedMultiplyAdd(y, gamma, beta, y);
    }
}
