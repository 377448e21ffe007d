namespace Attention.Kernels;

/// <summary>
/// The materialising attention path behind <see cref="MathAttention.Forward"/>, one (b, h) at a time:
/// <code>
///   pass 1: S = scale · Q·Kᵀ            (L×S, Gemm.Multiply with B transposed)
///   pass 2: S[i, j] = −∞ outside row i's visible interval; P = softmax rows (Softmax.Rows)
///   pass 3: P[i, j] = 0 outside the interval again (exact zeros whatever exp the softmax uses); O = P·V
/// </code>
/// P is written straight into the caller's probabilities span when one is given, otherwise into one L×S
/// buffer allocated per call and reused across heads. It is deliberately not pooled: this path exists to
/// show what materialising costs, and a pool would hide the n² bytes from the allocation counter that
/// answer 37 reads, while keeping them alive between calls.
/// </summary>
internal static class AttentionMathPath
{
    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                               Span<float> output, AttentionShape shape, AttentionOptions options, Span<float> probabilities)
    {
        float scale = AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options,
                                                  probabilities.Length, nameof(probabilities),
                                                  (long)shape.Batch * shape.Heads * shape.QueryLength * shape.KeyLength);
        if (query.Length == 0) return;
        var (batch, heads, kvHeads, L, S, D) = shape;
        if (S == 0) { output.Clear(); return; }
        int group = heads / kvHeads, threads = options.MaxThreads;
        int headFloats = checked(L * S);
        float[]? scratch = probabilities.IsEmpty ? GC.AllocateUninitializedArray<float>(headFloats) : null;
        for (int b = 0; b < batch; b++)
        {
            var range = new KeyRange(shape, options, b);
            for (int h = 0; h < heads; h++)
            {
                int bh = b * heads + h, kvh = h / group;
                var q = query.Slice(bh * L * D, L * D);
                var k = key.Slice((b * kvHeads + kvh) * S * D, S * D);
                var v = value.Slice((b * kvHeads + kvh) * S * D, S * D);
                var o = output.Slice(bh * L * D, L * D);
                var p = scratch != null ? scratch.AsSpan(0, headFloats) : probabilities.Slice(bh * headFloats, headFloats);

                Gemm.Multiply(false, true, L, S, D, scale, q, D, k, D, 0, p, S, threads);
                for (int i = 0; i < L; i++)
                {
                    range.Of(i, out int lo, out int hi);
                    var row = p.Slice(i * S, S);
                    row[..lo].Fill(float.NegativeInfinity);
                    row[hi..].Fill(float.NegativeInfinity);
                }
                Softmax.Rows(p, p, L, S);
                for (int i = 0; i < L; i++)
                {
                    range.Of(i, out int lo, out int hi);
                    var row = p.Slice(i * S, S);
                    if (lo >= hi) { row.Clear(); continue; }
                    row[..lo].Clear();
                    row[hi..].Clear();
                }
                Gemm.Multiply(false, false, L, D, S, 1, p, S, v, D, 0, o, D, threads);
            }
        }
    }
}
