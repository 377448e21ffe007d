using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using Attention.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Attention.Models;

/// <summary>
/// The encoder's inference path without a tape: the same computation as <see cref="BertModel"/>'s Var path, on
/// flat row-major buffers, with the work in three kernels: <see cref="Gemm"/> for the projections (Q, K and V as
/// three products written where attention reads them), `FlashAttention.ForwardVarlen` for softmax(Q·Kᵀ/√d)·V on the
/// token-major rows, each sequence's keys packed without its padding (the T×T matrix is never built, the heads never
/// split into a copy), and the row work done by the GEMM's epilogue (<see cref="GemmEpilogue"/>) on each block of C it
/// has just finished, while it is in cache: the Q/K/V biases and bias + GELU on each 64-column tile, the residual +
/// LayerNorm on each block of rows. Workspace comes from the shared array pool.
/// Shapes: rows N = B·T, hidden Hd, intermediate I.
/// </summary>
internal sealed class BertInference
{
    private readonly BertConfig _c;
    private readonly float[] _word, _pos, _type, _embG, _embB;
    private readonly Layer[] _layers;

    // the six weight matrices packed once, here, in the layout the GEMM micro-kernel reads (x·Wᵀ: W is (out, in))
    private sealed record Layer(GemmPackedB Wq, float[] Bq, GemmPackedB Wk, float[] Bk, GemmPackedB Wv, float[] Bv, GemmPackedB Wo, float[] Bo, float[] Ln1G, float[] Ln1B,
                                GemmPackedB W1, float[] B1, GemmPackedB W2, float[] B2, float[] Ln2G, float[] Ln2B);

    public BertInference(BertWeights w)
    {
        _c = w.Config;
        float[] F(string name) => w[name].Contiguous().AsSpan().ToArray();
        _word = F(BertNames.WordEmbeddings);
        _pos = F(BertNames.PositionEmbeddings);
        _type = F(BertNames.TypeEmbeddings);
        _embG = F(BertNames.EmbeddingNormGamma);
        _embB = F(BertNames.EmbeddingNormBeta);
        _layers = new Layer[_c.Layers];
        int hd = _c.Hidden, inter = _c.Intermediate;
        GemmPackedB Pack(float[] w, int outDim, int inDim) => Gemm.Prepack(true, w, inDim, inDim, outDim);
        for (int l = 0; l < _c.Layers; l++)
        {
            var f = BertNames.Layer(l, F);
            // Q, K and V as three products, each written where attention reads it (no [q | k | v] row to split)
            _layers[l] = new Layer(Pack(f.Wq, hd, hd), f.Bq, Pack(f.Wk, hd, hd), f.Bk, Pack(f.Wv, hd, hd), f.Bv, Pack(f.Wo, hd, hd), f.Bo,
                f.Ln1G, f.Ln1B, Pack(f.W1, inter, hd), f.B1, Pack(f.W2, hd, inter), f.B2, f.Ln2G, f.Ln2B);
        }
    }

    /// <summary>Hidden states (B·T·Hd, row-major) for a checked batch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public float[] Run(BertBatch batch, float[,]? headMask, int threads)
    {
        int b = batch.Batch, t = batch.Length, n = b * t;
        int hd = _c.Hidden, h = _c.Heads, d = _c.HeadDim, inter = _c.Intermediate;
        float eps = _c.LayerNormEps;
        var x = GC.AllocateUninitializedArray<float>(n * hd);   // every element is written below
        ForRows(n, hd, threads, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = x.AsSpan(r * hd, hd);
                _word.AsSpan(batch.Ids[r] * hd, hd).CopyTo(row);
                RowOps.AddLayerNorm(row, _pos.AsSpan((r % t) * hd, hd), _type.AsSpan(batch.TypeIds[r] * hd, hd), _embG, _embB, eps);
            }
        });

        // workspace from the shared pool: a fresh 25 MB per call would be zeroed and page-faulted every time
        var pool = ArrayPool<float>.Shared;
        // with padding, K and V come out for all B·T rows (kAll, vAll) and their real rows are then packed into k, v
        bool padded = batch.Lengths.Any(length => length < t);
        float[] q = pool.Rent(n * hd), k = pool.Rent(n * hd), v = pool.Rent(n * hd),
                ctx = pool.Rent(n * hd), merged = pool.Rent(n * hd), y = pool.Rent(n * hd), mid = pool.Rent(n * inter);
        float[] kAll = padded ? pool.Rent(n * hd) : k, vAll = padded ? pool.Rent(n * hd) : v;
        try
        {
            // attention on the token-major layout, packed: queries are all B·T rows (a padded row still gets an output,
            // as with a key mask), keys and values only each sequence's real tokens (cuK), so no head split or merge copy
            var options = new AttentionOptions { MaxThreads = threads };
            var cuQ = new int[b + 1];
            var cuK = new int[b + 1];
            for (int i = 0; i < b; i++) { cuQ[i + 1] = cuQ[i] + t; cuK[i + 1] = cuK[i] + batch.Lengths[i]; }
            int keys = cuK[b];
            for (int l = 0; l < _layers.Length; l++)
            {
                var w = _layers[l];
                // q, k, v = x·Wᵀ + b, the bias added on each finished tile. Without padding the keys are all B·T rows and the
                // products write k and v where attention reads them; with padding each sequence's real rows are then
                // packed together (cuK), one copy per row.
                Gemm.Multiply(false, n, 1f, x, hd, w.Wq, 0f, q, hd, BiasEpilogue(q, hd, w.Bq), threads);
                Gemm.Multiply(false, n, 1f, x, hd, w.Wk, 0f, kAll, hd, BiasEpilogue(kAll, hd, w.Bk), threads);
                Gemm.Multiply(false, n, 1f, x, hd, w.Wv, 0f, vAll, hd, BiasEpilogue(vAll, hd, w.Bv), threads);
                if (padded)
                    ForRows(n, hd, threads, (r0, r1) =>
                    {
                        for (int r = r0; r < r1; r++)
                        {
                            int bi = r / t, ti = r % t;
                            if (ti >= batch.Lengths[bi]) continue;
                            int kr = cuK[bi] + ti;
                            kAll.AsSpan(r * hd, hd).CopyTo(k.AsSpan(kr * hd, hd));
                            vAll.AsSpan(r * hd, hd).CopyTo(v.AsSpan(kr * hd, hd));
                        }
                    });
                var attended = headMask is null ? merged : ctx;
                FlashAttention.ForwardVarlen(q.AsSpan(0, n * hd), k.AsSpan(0, keys * hd), v.AsSpan(0, keys * hd), attended.AsSpan(0, n * hd),
                                             cuQ, cuK, h, h, d, options);
                if (headMask is not null)
                    ForRows(n, hd, threads, (r0, r1) =>
                    {
                        for (int r = r0; r < r1; r++)
                            for (int hi = 0; hi < h; hi++)
                                TensorPrimitives.Multiply(ctx.AsSpan(r * hd + hi * d, d), headMask[l, hi], merged.AsSpan(r * hd + hi * d, d));
                    });
                // x = LayerNorm(x + merged·W_Oᵀ + b_O), each finished block of rows at once
                Gemm.Multiply(false, n, 1f, merged, hd, w.Wo, 0f, y, hd,
                              new GemmEpilogue { Rows = (r0, r1) => ResidualLayerNorm(y, x, r0, r1, hd, w.Bo, w.Ln1G, w.Ln1B, eps) }, threads);
                // x = LayerNorm(x + GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂): the bias and GELU on each finished 64-column tile
                Gemm.Multiply(false, n, 1f, x, hd, w.W1, 0f, mid, inter, new GemmEpilogue
                {
                    Tile = (r0, r1, c0, c1) => GeluKernel.AddBiasApply(mid.AsSpan(r0 * inter + c0), inter, r1 - r0, w.B1.AsSpan(c0, c1 - c0)),
                }, threads);
                Gemm.Multiply(false, n, 1f, mid, inter, w.W2, 0f, y, hd,
                              new GemmEpilogue { Rows = (r0, r1) => ResidualLayerNorm(y, x, r0, r1, hd, w.B2, w.Ln2G, w.Ln2B, eps) }, threads);
            }
        }
        finally
        {
            foreach (var a in new[] { q, k, v, ctx, merged, y, mid }) pool.Return(a);
            if (padded) { pool.Return(kAll); pool.Return(vAll); }
        }
        return x;
    }

    /// <summary>Adds <paramref name="bias"/> to each tile of C (row stride <paramref name="ld"/>) as the GEMM finishes it.</summary>
    private static GemmEpilogue BiasEpilogue(float[] c, int ld, float[] bias) =>
        new() { Tile = (r0, r1, c0, c1) => RowOps.AddRows(c.AsSpan(r0 * ld + c0), ld, r1 - r0, bias.AsSpan(c0, c1 - c0)) };

    /// <summary>
    /// Runs body(r0, r1) over row ranges covering [0, rows): split across up to <paramref name="threads"/> threads
    /// (0 = all cores) when there is enough work (a pass over fewer than 64k floats costs less than waking a thread).
    /// </summary>
    private static void ForRows(int rows, int width, int threads, Action<int, int> body)
    {
        int workers = threads == 0 ? Environment.ProcessorCount : Math.Min(threads, Environment.ProcessorCount);
        if (workers <= 1 || (long)rows * width < 1 << 16) { body(0, rows); return; }
        workers = Math.Min(workers, rows);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers },
                     i => body((int)((long)rows * i / workers), (int)((long)rows * (i + 1) / workers)));
    }

    /// <summary>x_r ← LayerNorm(x_r + y_r + bias) for rows [r0, r1) (the post-LN residual).</summary>
    private static void ResidualLayerNorm(float[] y, float[] x, int r0, int r1, int width, float[] bias, float[] gamma, float[] beta, float eps)
    {
        for (int r = r0; r < r1; r++)
        {
            RowOps.AddLayerNorm(x.AsSpan(r * width, width), y.AsSpan(r * width, width), bias, gamma, beta, eps);
        }
    }
}

/// <summary>
/// The row passes of the inference path, in <see cref="Vector{T}"/> loops compiled optimised at their first call:
/// System.Numerics.Tensors ships without precompiled code, so its TensorPrimitives ran as unoptimised tier-0 code for
/// the first calls of every process (bench/results/warmup.md).
/// </summary>
internal static class RowOps
{
    /// <summary>y += a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(Span<float> y, ReadOnlySpan<float> a)
    {
        int i = 0, w = Vector<float>.Count;
        for (; i + w <= y.Length; i += w) (new Vector<float>(y[i..]) + new Vector<float>(a[i..])).CopyTo(y[i..]);
        for (; i < y.Length; i++) y[i] += a[i];
    }

    /// <summary>Adds <paramref name="a"/> to each of <paramref name="rows"/> rows of a.Length floats, row stride <paramref name="ld"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddRows(Span<float> y, int ld, int rows, ReadOnlySpan<float> a)
    {
        for (int r = 0; r < rows; r++) Add(y.Slice(r * ld, a.Length), a);
    }

    /// <summary>y += a + b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int i = 0, w = Vector<float>.Count;
        for (; i + w <= y.Length; i += w) (new Vector<float>(y[i..]) + new Vector<float>(a[i..]) + new Vector<float>(b[i..])).CopyTo(y[i..]);
        for (; i < y.Length; i++) y[i] += a[i] + b[i];
    }

    /// <summary>x ← LayerNorm(x + a + b) over one row (<see cref="Add(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float})"/>
    /// then <see cref="LayerNorm"/>, the sum taken in the first pass): three passes over the row instead of four, in
    /// 16-lane vectors where the CPU has them (a residual + LayerNorm of MiniLM's 384-wide rows ran in 8 lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddLayerNorm(Span<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps)
    {
        int n = x.Length;
        if (!Vector512.IsHardwareAccelerated || n % Vector512<float>.Count != 0)
        {
            Add(x, a, b);
            LayerNorm(x, gamma, beta, eps);
            return;
        }
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float ar = ref MemoryMarshal.GetReference(a[..n]);
        ref float br = ref MemoryMarshal.GetReference(b[..n]);
        ref float gr = ref MemoryMarshal.GetReference(gamma[..n]);
        ref float er = ref MemoryMarshal.GetReference(beta[..n]);
        const int w = 16;
        var acc = Vector512<float>.Zero;
        for (nuint i = 0; i < (nuint)n; i += w)
        {
            var v = Vector512.LoadUnsafe(ref xr, i) + Vector512.LoadUnsafe(ref ar, i) + Vector512.LoadUnsafe(ref br, i);
            v.StoreUnsafe(ref xr, i);
            acc += v;
        }
        float mu = Vector512.Sum(acc) / n;
        var muV = Vector512.Create(mu);
        acc = Vector512<float>.Zero;
        for (nuint i = 0; i < (nuint)n; i += w) { var d = Vector512.LoadUnsafe(ref xr, i) - muV; acc += d * d; }
        var invV = Vector512.Create(1f / MathF.Sqrt(Vector512.Sum(acc) / n + eps));
        for (nuint i = 0; i < (nuint)n; i += w)
            ((Vector512.LoadUnsafe(ref xr, i) - muV) * invV * Vector512.LoadUnsafe(ref gr, i) + Vector512.LoadUnsafe(ref er, i)).StoreUnsafe(ref xr, i);
    }

    /// <summary>x ← (x − mean)/√(var + ε)·γ + β over one row, the biased variance (Ba et al., 2016); two passes, the
    /// second on centred values, so a large mean costs no precision.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LayerNorm(Span<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps)
    {
        int n = x.Length, w = Vector<float>.Count, i;
        var acc = Vector<float>.Zero;
        for (i = 0; i + w <= n; i += w) acc += new Vector<float>(x[i..]);
        float sum = Vector.Sum(acc);
        for (; i < n; i++) sum += x[i];
        float mu = sum / n;
        var muV = new Vector<float>(mu);
        acc = Vector<float>.Zero;
        for (i = 0; i + w <= n; i += w) { var d = new Vector<float>(x[i..]) - muV; acc += d * d; }
        float sq = Vector.Sum(acc);
        for (; i < n; i++) { float d = x[i] - mu; sq += d * d; }
        float inv = 1f / MathF.Sqrt(sq / n + eps);
        var invV = new Vector<float>(inv);
        for (i = 0; i + w <= n; i += w)
            ((new Vector<float>(x[i..]) - muV) * invV * new Vector<float>(gamma[i..]) + new Vector<float>(beta[i..])).CopyTo(x[i..]);
        for (; i < n; i++) x[i] = (x[i] - mu) * inv * gamma[i] + beta[i];
    }
}
