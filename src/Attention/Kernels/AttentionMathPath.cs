using System.Numerics.Tensors;

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
                float slope = options.AlibiSlopes is float[] slopes ? slopes[h] : 0;
                float sink = options.SinkLogits is float[] sinks ? sinks[h] : float.NegativeInfinity;
                for (int i = 0; i < L; i++)
                {
                    range.Visible(i, out int lo, out int hi, out int sinkEnd);
                    var row = p.Slice(i * S, S);
                    // order inside a score: scale·q·k → soft-cap → + ALiBi → mask
                    if (options.SoftCap > 0)
                    {
                        TensorPrimitives.Multiply(row, 1 / options.SoftCap, row);
                        SoftCapMath.Tanh(row);
                        TensorPrimitives.Multiply(row, options.SoftCap, row);
                    }
                    if (slope != 0)
                    {
                        long pos = (long)i + S - L;
                        for (int j = 0; j < S; j++) row[j] -= slope * Math.Abs(pos - j);
                    }
                    row[sinkEnd..lo].Fill(float.NegativeInfinity);
                    row[hi..].Fill(float.NegativeInfinity);
                }
                if (sink == float.NegativeInfinity) Softmax.Rows(p, p, L, S);
                else
                    for (int i = 0; i < L; i++) SoftmaxWithSink(p.Slice(i * S, S), sink);
                for (int i = 0; i < L; i++)
                {
                    range.Visible(i, out int lo, out int hi, out int sinkEnd);
                    var row = p.Slice(i * S, S);
                    if (lo >= hi) { row.Clear(); continue; }
                    row[sinkEnd..lo].Clear();
                    row[hi..].Clear();
                }
                Gemm.Multiply(false, false, L, D, S, 1, p, S, v, D, 0, o, D, threads);
            }
        }
    }

    /// <summary>Softmax of one row with one extra logit in the denominator (its value vector is zero): the row sums to
    /// 1 − e^(sink − logSumExp). A row of −∞ gives zeros.</summary>
    private static void SoftmaxWithSink(Span<float> row, float sink)
    {
        float max = MathF.Max(TensorPrimitives.Max(row), sink);
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        float total = TensorPrimitives.Sum(row) + MathF.Exp(sink - max);
        TensorPrimitives.Multiply(row, 1 / total, row);
    }
}
