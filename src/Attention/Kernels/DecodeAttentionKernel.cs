using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Attention.Kernels;

/// <summary>
/// Split-K decode attention (FlashDecoding). Work item = (batch, key/value head, chunk of keys); an item
/// handles every query row of the heads that share that key/value head (G = H / KvHeads heads × L queries),
/// so each key and value row is fetched from memory once per call. Per item and row:
/// <code>
///   pass 1: s[j] = scale · q·k[j] for the visible j of the chunk
///   pass 2: m = max s; p[j] = e^(s[j] − m); ℓ = Σ p
///   pass 3: o = Σ p[j]·v[j]                      (unnormalised; written with m and ℓ as a partial)
/// merge:   M = maxₖ mₖ; ℓ = Σₖ ℓₖ e^(mₖ−M); O = Σₖ oₖ e^(mₖ−M) / ℓ; logSumExp = M + ln ℓ
/// </code>
/// Chunks hold at most 512 keys (128 KiB of K and V at D = 64, L2-resident between passes) and are made
/// small enough that every thread gets several items.
/// Measured (1 query, H = KvHeads = 8, S = 4096, D = 64; 16.8 MB of K and V; shared 2-core AVX-512 EPYC, best of
/// 200 in thread CPU time): 0.39–0.49 ms on one thread (34–43 GB/s, memory bound), against ORT opset-23 Attention
/// 0.53 ms, ggml 0.71 ms and ORT MultiHeadAttention 2.4 ms (DESIGN.md). Two threads split the same traffic.
/// </summary>
internal sealed unsafe class DecodeAttentionKernel : AttentionJob
{
    private const int MaxChunk = 512, MinChunk = 64;
    private readonly float* _q, _k, _v, _partials;
    private readonly AttentionShape _shape;
    private readonly AttentionOptions _options;
    private readonly float _scale;
    private readonly int _group, _groupRows, _chunk, _chunks;

    private DecodeAttentionKernel(float* q, float* k, float* v, float* partials, AttentionShape shape,
                                  AttentionOptions options, float scale, int chunk, int chunks)
    {
        _q = q; _k = k; _v = v; _partials = partials;
        (_shape, _options, _scale, _chunk, _chunks) = (shape, options, scale, chunk, chunks);
        _group = shape.Heads / shape.KvHeads;
        _groupRows = _group * shape.QueryLength;
    }

    public override int Items => checked(_shape.Batch * _shape.KvHeads * _chunks);
    public override long ScratchFloats => (long)_chunk;

    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                               Span<float> output, AttentionShape shape, AttentionOptions options, Span<float> logSumExp)
    {
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options,
                                                  logSumExp.Length, nameof(logSumExp), (long)shape.Batch * shape.Heads * shape.QueryLength);
        if (query.Length == 0) return;
        var (batch, heads, kvHeads, L, S, D) = shape;
        int threads = options.MaxThreads == 0 ? Environment.ProcessorCount : options.MaxThreads;
        long pairs = (long)batch * kvHeads;
        int wantChunks = (int)Math.Max(1, (4L * threads + pairs - 1) / pairs);
        int chunk = Math.Clamp((S + wantChunks - 1) / wantChunks, Math.Min(MinChunk, Math.Max(S, 1)), MaxChunk);
        int chunks = Math.Max(1, (S + chunk - 1) / chunk);
        long partialFloats = pairs * chunks * (heads / kvHeads) * L * (D + 2L);
        var partials = GC.AllocateUninitializedArray<float>(checked((int)partialFloats));
        unsafe
        {
            fixed (float* q = query, k = key, v = value, o = output, lse = logSumExp, part = partials)
            {
                var job = new DecodeAttentionKernel(q, k, v, part, shape, options, scale, chunk, chunks);
                job.Run(AttentionArguments.Threads(options, job.Items));
                job.Merge(o, logSumExp.IsEmpty ? null : lse);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Execute(int item, float* scores)
    {
        var (_, heads, kvHeads, L, S, D) = _shape;
        int chunk = item % _chunks, pair = item / _chunks, b = pair / kvHeads, kvh = pair % kvHeads;
        int j0 = chunk * _chunk, j1 = Math.Min(S, j0 + _chunk);
        var range = new KeyRange(_shape, _options, b);
        float* kHead = _k + (nint)pair * S * D, vHead = _v + (nint)pair * S * D;
        for (int r = 0; r < _groupRows; r++)
        {
            int g = r / L, i = r % L, h = kvh * _group + g;
            float* q = _q + ((nint)(b * heads + h) * L + i) * D;
            float* part = _partials + ((nint)item * _groupRows + r) * (D + 2);
            range.Of(i, out int lo, out int hi);
            int a = Math.Max(lo, j0), e = Math.Min(hi, j1);
            if (a >= e)
            {
                part[0] = float.NegativeInfinity; part[1] = 0;
                new Span<float>(part + 2, D).Clear();
                continue;
            }
            // pass 1
            float m = float.NegativeInfinity;
            for (int j = a; j < e; j++)
            {
                float s = _scale * Dot(q, kHead + (nint)j * D, D);
                scores[j - a] = s;
                m = MathF.Max(m, s);
            }
            // pass 2
            float l = ExpInPlace(scores, e - a, m);
            // pass 3
            WeightedSum(scores, vHead + (nint)a * D, e - a, D, part + 2);
            part[0] = m; part[1] = l;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Merge(float* output, float* lse)
    {
        var (batch, heads, kvHeads, L, _, D) = _shape;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < L; i++)
                {
                    int kvh = h / _group, r = (h % _group) * L + i;
                    nint row = ((nint)b * heads + h) * L + i;
                    float* o = output + row * D;
                    float* first = _partials + ((nint)((b * kvHeads + kvh) * _chunks) * _groupRows + r) * (D + 2);
                    nint stride = (nint)_groupRows * (D + 2);
                    float mMax = float.NegativeInfinity;
                    for (int c = 0; c < _chunks; c++) mMax = MathF.Max(mMax, first[c * stride]);
                    new Span<float>(o, D).Clear();
                    if (float.IsNegativeInfinity(mMax))
                    {
                        if (lse != null) lse[row] = float.NegativeInfinity;
                        continue;
                    }
                    float l = 0;
                    for (int c = 0; c < _chunks; c++)
                    {
                        float* part = first + c * stride;
                        if (part[1] == 0) continue;         // chunk saw no key of this row
                        float w = MathF.Exp(part[0] - mMax);
                        l += w * part[1];
                        for (int d = 0; d < D; d++) o[d] += w * part[2 + d];
                    }
                    float inv = 1 / l;
                    for (int d = 0; d < D; d++) o[d] *= inv;
                    if (lse != null) lse[row] = mMax + MathF.Log(l);
                }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n)
    {
        int d = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; d + 16 <= n; d += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + d), Vector512.Load(b + d), acc);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; d + 8 <= n; d += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + d), Vector256.Load(b + d), acc);
            sum = Vector256.Sum(acc);
        }
        for (; d < n; d++) sum += a[d] * b[d];
        return sum;
    }

    /// <summary>p = e^(s − m) in place; returns Σ p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpInPlace(float* s, int n, float m)
    {
        int j = 0;
        float sum = 0;
        if (FastExp.IsSupported)
        {
            var mv = Vector512.Create(m);
            var acc = Vector512<float>.Zero;
            for (; j + 16 <= n; j += 16)
            {
                var p = FastExp.Exp(Vector512.Load(s + j) - mv);
                p.Store(s + j);
                acc += p;
            }
            sum = Vector512.Sum(acc);
        }
        for (; j < n; j++) { float p = MathF.Exp(s[j] - m); s[j] = p; sum += p; }
        return sum;
    }

    /// <summary>o (D) = Σ_j p[j]·v[j, :], v rows of stride D.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum(float* p, float* v, int n, int D, float* o)
    {
        int d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; d + 64 <= D; d += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int j = 0; j < n; j++)
                {
                    float* vj = v + (nint)j * D + d;
                    var w = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(vj), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(vj + 16), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(vj + 32), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(vj + 48), w, a3);
                }
                a0.Store(o + d); a1.Store(o + d + 16); a2.Store(o + d + 32); a3.Store(o + d + 48);
            }
            for (; d + 16 <= D; d += 16)
            {
                var a0 = Vector512<float>.Zero;
                for (int j = 0; j < n; j++)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v + (nint)j * D + d), Vector512.Create(p[j]), a0);
                a0.Store(o + d);
            }
        }
        for (; d < D; d++)
        {
            float a = 0;
            for (int j = 0; j < n; j++) a += p[j] * v[(nint)j * D + d];
            o[d] = a;
        }
    }
}
