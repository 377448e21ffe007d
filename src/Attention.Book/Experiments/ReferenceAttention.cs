using System.Numerics;
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

    /// <summary>Computes O and the row log-sum-exp in float64; fully masked rows give O = 0 and lse = −∞.</summary>
    public static (double[] Output, double[] LogSumExp) Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, AttentionShape shape, AttentionOptions options) => Forward<double>(q, k, v, shape, options);

    /// <summary>The same loops in precision <typeparamref name="T"/>: with float it is the "plain float32
    /// implementation" whose error the fast kernels are held to (at most twice of it).</summary>
    public static (T[] Output, T[] LogSumExp) Forward<T>(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, AttentionShape shape, AttentionOptions options) where T : IFloatingPointIeee754<T>
    {
        var (B, H, Hkv, L, S, D) = (shape.Batch, shape.Heads, shape.KvHeads, shape.QueryLength, shape.KeyLength, shape.HeadDim);
        T scale = options.Scale is float sc ? T.CreateChecked(sc) : T.One / T.Sqrt(T.CreateChecked(D));
        var output = new T[B * H * L * D];
        var lse = new T[B * H * L];
        var scores = new T[S];
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        {
            int hk = h / (H / Hkv);
            int qBase = (b * H + h) * L * D, kBase = (b * Hkv + hk) * S * D;
            for (int i = 0; i < L; i++)
            {
                T max = T.NegativeInfinity;
                for (int j = 0; j < S; j++)
                {
                    if (!Visible(shape, options, b, i, j)) { scores[j] = T.NegativeInfinity; continue; }
                    T s = T.Zero;
                    for (int x = 0; x < D; x++) s += T.CreateChecked(q[qBase + i * D + x]) * T.CreateChecked(k[kBase + j * D + x]);
                    scores[j] = s * scale;
                    max = T.Max(max, scores[j]);
                }
                int row = (b * H + h) * L + i;
                if (T.IsNegativeInfinity(max)) { lse[row] = T.NegativeInfinity; continue; }
                T sum = T.Zero;
                for (int j = 0; j < S; j++) if (!T.IsNegativeInfinity(scores[j])) sum += T.Exp(scores[j] - max);
                lse[row] = max + T.Log(sum);
                for (int j = 0; j < S; j++)
                {
                    if (T.IsNegativeInfinity(scores[j])) continue;
                    T p = T.Exp(scores[j] - max) / sum;
                    for (int x = 0; x < D; x++) output[qBase + i * D + x] += p * T.CreateChecked(v[kBase + j * D + x]);
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

    /// <summary>max |a − b| where a is in float32 precision stored as float.</summary>
    public static double MaxAbsDiff(float[] a, double[] b) => MaxAbsDiff(a.AsSpan(), b);
}
