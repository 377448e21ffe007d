using System.Numerics.Tensors;

namespace Attention.Kernels;

/// <summary>
/// Forward-only linear attention on spans (Katharopoulos et al., 2020), the counterpart of
/// <c>FlashAttention.Forward</c> for timing and memory comparisons:
/// <code>
///   oᵢ = φ(qᵢ)ᵀ·Σⱼ φ(kⱼ)vⱼᵀ / (φ(qᵢ)ᵀ·Σⱼ φ(kⱼ) + ε),   φ(x) = elu(x) + 1,   j ≤ i when causal
/// </code>
/// query, key (B, H, N, D), value (B, H, N, Dv), output (B, H, N, Dv), row-major. Non-causal: two GEMMs per head
/// (S = φ(K)ᵀ·[V, 1], then φ(Q)·S). Causal: chunks of C rows — inside a chunk (φQc·φKcᵀ ⊙ M)·[Vc, 1], plus φQc·S
/// for everything before it, then S += φKcᵀ·[Vc, 1] — so the work is O(N·(C + Dv)·D) and the state (D, Dv + 1)
/// per head never grows with N. Heads run on up to maxThreads threads (0 = all cores), each
/// GEMM on one. Working memory per thread: φ of one head's Q and K (2·N·D), [V, 1] (N·(Dv + 1)), the state, a C×C
/// block and an output buffer — O(N·D), no N×N matrix.
/// The autograd version with the same math is <see cref="Attention.Mechanisms.LinearAttention"/>.
/// </summary>
public static class LinearAttentionKernel
{
    /// <summary>See the class summary. <paramref name="chunkSize"/> C (causal only), ε = 1e-6.</summary>
    /// <exception cref="ArgumentException">Non-positive sizes or spans of the wrong length.</exception>
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
                               int batchHeads, int length, int headDim, int valueDim, bool causal, int chunkSize = 64, int maxThreads = 1)
    {
        if (batchHeads < 1 || length < 1 || headDim < 1 || valueDim < 1 || chunkSize < 1)
            throw new ArgumentException($"LinearAttentionKernel: expected positive B·H, N, D, Dv and chunk size, got {batchHeads}, {length}, {headDim}, {valueDim}, {chunkSize}");
        long qk = (long)batchHeads * length * headDim, vo = (long)batchHeads * length * valueDim;
        if (query.Length != qk) throw new ArgumentException($"query: expected B·H·N·D = {qk} floats, got {query.Length}", nameof(query));
        if (key.Length != qk) throw new ArgumentException($"key: expected B·H·N·D = {qk} floats, got {key.Length}", nameof(key));
        if (value.Length != vo) throw new ArgumentException($"value: expected B·H·N·Dv = {vo} floats, got {value.Length}", nameof(value));
        if (output.Length != vo) throw new ArgumentException($"output: expected B·H·N·Dv = {vo} floats, got {output.Length}", nameof(output));
        int threads = maxThreads <= 0 ? Environment.ProcessorCount : Math.Min(maxThreads, batchHeads);
        if (threads <= 1)
        {
            var ws = new Workspace(length, headDim, valueDim, chunkSize);
            for (int bh = 0; bh < batchHeads; bh++) Head(query, key, value, output, bh, length, headDim, valueDim, causal, chunkSize, ws);
            return;
        }
        unsafe
        {
            fixed (float* qp = query, kp = key, vp = value, op = output)
            {
                nint q = (nint)qp, k = (nint)kp, v = (nint)vp, o = (nint)op;
                int qLen = query.Length, vLen = value.Length;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    var ws = new Workspace(length, headDim, valueDim, chunkSize);
                    var qs = new ReadOnlySpan<float>((float*)q, qLen);
                    var ks = new ReadOnlySpan<float>((float*)k, qLen);
                    var vs = new ReadOnlySpan<float>((float*)v, vLen);
                    var os = new Span<float>((float*)o, vLen);
                    for (int bh = t; bh < batchHeads; bh += threads) Head(qs, ks, vs, os, bh, length, headDim, valueDim, causal, chunkSize, ws);
                });
            }
        }
    }

    /// <summary>Floats of working memory one thread allocates for a head of N tokens (see the class summary).</summary>
    public static long WorkspaceFloats(int length, int headDim, int valueDim, int chunkSize)
        => 2L * length * headDim + (long)length * (valueDim + 1) * 2 + (long)headDim * (valueDim + 1) + (long)chunkSize * chunkSize;

    private sealed class Workspace(int n, int d, int dv, int c)
    {
        public readonly float[] PhiQ = new float[n * d], PhiK = new float[n * d];
        public readonly float[] V1 = new float[n * (dv + 1)], Raw = new float[n * (dv + 1)];
        public readonly float[] State = new float[d * (dv + 1)], Block = new float[c * c];
    }

    private static void Head(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
                             int bh, int n, int d, int dv, bool causal, int chunk, Workspace ws)
    {
        int w = dv + 1;
        var q = query.Slice(bh * n * d, n * d);
        var k = key.Slice(bh * n * d, n * d);
        var v = value.Slice(bh * n * dv, n * dv);
        var o = output.Slice(bh * n * dv, n * dv);
        FeatureMap(q, ws.PhiQ);
        FeatureMap(k, ws.PhiK);
        for (int j = 0; j < n; j++)
        {
            v.Slice(j * dv, dv).CopyTo(ws.V1.AsSpan(j * w, dv));
            ws.V1[j * w + dv] = 1f;                                       // [v, 1]: the last column is the normaliser
        }
        if (!causal)
        {
            // pass 1: S = φKᵀ·[V, 1] (D, Dv+1); pass 2: raw = φQ·S (N, Dv+1)
            Gemm.Multiply(true, false, d, w, n, 1f, ws.PhiK, d, ws.V1, w, 0f, ws.State, w, 1);
            Gemm.Multiply(false, false, n, w, d, 1f, ws.PhiQ, d, ws.State, w, 0f, ws.Raw, w, 1);
        }
        else
        {
            Array.Clear(ws.State);
            for (int start = 0; start < n; start += chunk)
            {
                int c = Math.Min(chunk, n - start);
                var qc = ws.PhiQ.AsSpan(start * d, c * d);
                var kc = ws.PhiK.AsSpan(start * d, c * d);
                var vc = ws.V1.AsSpan(start * w, c * w);
                var rc = ws.Raw.AsSpan(start * w, c * w);
                // inter-chunk: raw = φQc·S (what the earlier chunks left)
                Gemm.Multiply(false, false, c, w, d, 1f, qc, d, ws.State, w, 0f, rc, w, 1);
                // intra-chunk: A = φQc·φKcᵀ, masked above the diagonal, raw += A·[Vc, 1]
                var a = ws.Block.AsSpan(0, c * c);
                Gemm.Multiply(false, true, c, c, d, 1f, qc, d, kc, d, 0f, a, c, 1);
                for (int i = 0; i < c; i++) a.Slice(i * c + i + 1, c - i - 1).Clear();
                Gemm.Multiply(false, false, c, w, c, 1f, a, c, vc, w, 1f, rc, w, 1);
                // S += φKcᵀ·[Vc, 1]
                Gemm.Multiply(true, false, d, w, c, 1f, kc, d, vc, w, 1f, ws.State, w, 1);
            }
        }
        for (int i = 0; i < n; i++)
        {
            float inv = 1f / (ws.Raw[i * w + dv] + 1e-6f);
            TensorPrimitives.Multiply(ws.Raw.AsSpan(i * w, dv), inv, o.Slice(i * dv, dv));
        }
    }

    // φ(x) = elu(x) + 1 = x + 1 for x > 0, eˣ otherwise
    private static void FeatureMap(ReadOnlySpan<float> x, Span<float> phi)
    {
        for (int i = 0; i < x.Length; i++) phi[i] = x[i] > 0f ? x[i] + 1f : MathF.Exp(x[i]);
    }
}
