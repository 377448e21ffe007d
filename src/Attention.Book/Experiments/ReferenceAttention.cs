using Attention.Kernels;

namespace Attention.Book.Experiments;

/// <summary>
/// Scaled dot-product attention in float64, written to read like equation (13.1):
///     O = softmax(Q·Kᵀ·scale + M)·V
/// with the masks of <see cref="AttentionOptions"/> (causal bottom-right, window, key padding) and grouped
/// key heads. The experiments measure the fast float32 kernels against it; the tests keep their own copy.
/// Q (B, H, L, D) · K, V (B, Hkv, S, D) → O (B, H, L, D), lse (B, H, L).
/// </summary>
public static class ReferenceAttention
{
    /// <summary>True when query i may see key j in batch b (the mask M of 13.1 is 0 there, −∞ elsewhere).</summary>
    public static bool Visible(AttentionShape shape, AttentionOptions options, int b, int i, int j)
    {
        int p = i + shape.KeyLength - shape.QueryLength;          // the query's aligned position among the keys
        if (options.Causal && j > p) return false;
        if (options.WindowLeft is int wl && j < p - wl) return false;
        if (options.WindowRight is int wr && j > p + wr) return false;
        if (options.KeyLengths is { } lens && j >= lens[b]) return false;
        return true;
    }

    /// <summary>Computes O and the row log-sum-exp; fully masked rows give O = 0 and lse = −∞.</summary>
    public static (double[] Output, double[] LogSumExp) Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, AttentionShape shape, AttentionOptions options)
    {
        var (B, H, Hkv, L, S, D) = (shape.Batch, shape.Heads, shape.KvHeads, shape.QueryLength, shape.KeyLength, shape.HeadDim);
        double scale = options.Scale ?? 1.0 / Math.Sqrt(D);
        var output = new double[B * H * L * D];
        var lse = new double[B * H * L];
        var scores = new double[S];
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        {
            int hk = h / (H / Hkv);
            int qBase = (b * H + h) * L * D, kBase = (b * Hkv + hk) * S * D;
            for (int i = 0; i < L; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < S; j++)
                {
                    if (!Visible(shape, options, b, i, j)) { scores[j] = double.NegativeInfinity; continue; }
                    double s = 0;
                    for (int x = 0; x < D; x++) s += (double)q[qBase + i * D + x] * k[kBase + j * D + x];
                    scores[j] = s * scale;
                    max = Math.Max(max, scores[j]);
                }
                int row = (b * H + h) * L + i;
                if (double.IsNegativeInfinity(max)) { lse[row] = double.NegativeInfinity; continue; }
                double sum = 0;
                for (int j = 0; j < S; j++) sum += scores[j] == double.NegativeInfinity ? 0 : Math.Exp(scores[j] - max);
                lse[row] = max + Math.Log(sum);
                for (int j = 0; j < S; j++)
                {
                    if (double.IsNegativeInfinity(scores[j])) continue;
                    double p = Math.Exp(scores[j] - max) / sum;
                    for (int x = 0; x < D; x++) output[qBase + i * D + x] += p * v[kBase + j * D + x];
                }
            }
        }
        return (output, lse);
    }

    /// <summary>max |a − b| over two equally long arrays.</summary>
    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ: {a.Length} vs {b.Length}");
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
