using System.Runtime.InteropServices;

namespace Attention.Kernels;

/// <summary>
/// FlashAttention backward (Dao, 2023, "FlashAttention-2: Faster Attention with Better Parallelism and Work
/// Partitioning", Algorithm 2): the gradients of O = softmax(Q·Kᵀ·scale + M)·V without the L×S matrices.
/// P is recomputed tile by tile from the logSumExp the forward saved, so memory stays O(L + S) per head.
/// Shapes: query, output, dOutput, dQuery (B, H, L, D); key, value, dKey, dValue (B, KvHeads, S, D);
/// logSumExp (B, H, L). Equivalent to, per (b, h), with P the forward's probabilities (0 where masked):
/// <code>
///   P[i, j]  = exp(scale · q[i]·k[j] − logSumExp[i])     (0 for masked j, and for a row whose logSumExp is −∞)
///   Δ[i]     = Σ_d dO[i, d] · O[i, d]                    (= Σⱼ P[i, j]·dP[i, j], the softmax backward's row term)
///   dV[j]   += Σᵢ P[i, j] · dO[i]                        forward was O[i] = Σⱼ P[i, j]·V[j]
///   dP[i, j] = dO[i] · V[j]
///   dS[i, j] = P[i, j] · (dP[i, j] − Δ[i])               softmax backward
///   dQ[i]   += scale · Σⱼ dS[i, j] · K[j]                forward was s[i, j] = scale · q[i]·k[j]
///   dK[j]   += scale · Σᵢ dS[i, j] · Q[i]
/// </code>
/// dKey and dValue are summed over the H / KvHeads query heads that share a key/value head; all three outputs
/// are overwritten. Rows that see no key (logSumExp = −∞) contribute nothing and get dQ = 0; keys no row sees
/// get dK = dV = 0. Options (causal bottom-right, scale, window, key padding) mean what they mean in
/// <see cref="FlashAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, AttentionOptions, Span{float})"/>
/// and must be the ones the forward ran with.
/// Implementation, threads and memory: <see cref="FlashAttentionBackwardKernel"/>.
/// </summary>
public static class FlashAttentionBackward
{
    /// <summary>Bytes the backward allocates beyond its arguments for this shape and options (row statistics,
    /// dQ partial sums when the key range is split across threads, per-worker tiles). Grows as O(B·H·L·D + threads·D),
    /// never with L·S.</summary>
    public static long WorkspaceBytes(AttentionShape shape, AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var plan = FlashAttentionBackwardKernel.Plan.For(shape, options);
        return plan.WorkspaceFloats * sizeof(float);
    }

    /// <summary>The public entry point behind <see cref="FlashAttention.Backward"/>; <paramref name="allowFast"/> = false
    /// replaces the AVX-512 exponential by MathF.Pow(2, x) (the branch CPUs without AVX-512 take; tests run both).</summary>
    internal static unsafe void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                    ReadOnlySpan<float> output, ReadOnlySpan<float> logSumExp, ReadOnlySpan<float> dOutput,
                                    Span<float> dQuery, Span<float> dKey, Span<float> dValue,
                                    AttentionShape shape, AttentionOptions options, bool allowFast)
    {
        long rows = (long)shape.Batch * shape.Heads * shape.QueryLength;
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options,
                                                  logSumExp.Length, nameof(logSumExp), rows);
        if (logSumExp.Length != rows)   // Validate accepts an empty logSumExp (the forward's optional output); here it is required
            throw new ArgumentException($"logSumExp: expected length B·H·L = {rows}, got {logSumExp.Length}", nameof(logSumExp));
        long qExpected = query.Length, kvExpected = key.Length;
        Expect(dOutput.Length, qExpected, nameof(dOutput), "B·H·L·D");
        Expect(dQuery.Length, qExpected, nameof(dQuery), "B·H·L·D");
        Expect(dKey.Length, kvExpected, nameof(dKey), "B·KvHeads·S·D");
        Expect(dValue.Length, kvExpected, nameof(dValue), "B·KvHeads·S·D");

        // The gradients are written while the inputs are still being read: they must not share memory.
        ReadOnlySpan<float> dq = dQuery, dk = dKey, dv = dValue;
        foreach (var (grad, gradName) in new[] { (0, nameof(dQuery)), (1, nameof(dKey)), (2, nameof(dValue)) })
        {
            ReadOnlySpan<float> g = grad == 0 ? dq : grad == 1 ? dk : dv;
            if (g.Overlaps(query) || g.Overlaps(key) || g.Overlaps(value) || g.Overlaps(output) || g.Overlaps(logSumExp) || g.Overlaps(dOutput))
                throw new ArgumentException($"{gradName}: expected memory separate from the inputs, got a span that overlaps one of them", gradName);
        }
        if (dq.Overlaps(dk) || dq.Overlaps(dv) || dk.Overlaps(dv))
            throw new ArgumentException("dQuery, dKey, dValue: expected three separate spans, got overlapping ones", nameof(dKey));

        var (_, _, _, L, S, _) = shape;
        if (L == 0 || S == 0 || shape.Batch == 0)
        {
            // No query or no key: every gradient is an empty sum.
            dQuery.Clear(); dKey.Clear(); dValue.Clear();
            return;
        }

        var plan = FlashAttentionBackwardKernel.Plan.For(shape, options);
        nuint bytes = (nuint)(Math.Max(1, plan.SharedFloats) * sizeof(float));
        float* shared = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        try
        {
            fixed (float* q = query, k = key, v = value, o = output, lse = logSumExp, dO = dOutput,
                          dQ = dQuery, dK = dKey, dV = dValue)
            {
                var job = new FlashAttentionBackwardKernel(q, k, v, o, lse, dO, dQ, dK, dV, shape, options, scale,
                                                           allowFast && FastExp.IsSupported, plan, shared);
                job.Prepare();
                job.Run(Math.Min(plan.Threads, job.Items));
                job.Finish();
            }
        }
        finally { NativeMemory.AlignedFree(shared); }
    }

    private static void Expect(int actual, long expected, string name, string formula)
    {
        if (actual != expected)
            throw new ArgumentException($"{name}: expected length {formula} = {expected}, got {actual}", name);
    }
}
