using Attention.Kernels;

namespace Attention.Tests.Peers;

/// <summary>
/// Float64 naive scaled dot-product attention for the peer tests (kept here, apart from
/// Reference/NaiveAttention.cs, so the peers' oracle does not move with the kernels' one):
///     O = softmax(Q·Kᵀ·scale + M)·V, per (b, h), M = −∞ above the bottom-right diagonal when causal.
/// query (B, H, L, D), key and value (B, KvHeads, S, D) → output (B, H, L, D).
/// </summary>
internal static class PeerReference
{
    public static double[] Attention(float[] query, float[] key, float[] value, AttentionShape s, bool causal)
        => Attention(query, key, value, s, causal, s.KeyLength - s.QueryLength);

    /// <summary>Causal with an explicit diagonal: query i sees keys j ≤ i + <paramref name="diagonalOffset"/>
    /// (S − L is bottom-right, ours; 0 is top-left).</summary>
    public static double[] Attention(float[] query, float[] key, float[] value, AttentionShape s, bool causal, int diagonalOffset)
    {
        var output = new double[(long)s.Batch * s.Heads * s.QueryLength * s.HeadDim];
        double scale = 1.0 / Math.Sqrt(s.HeadDim);
        int group = s.Heads / s.KvHeads, d = s.HeadDim, S = s.KeyLength, L = s.QueryLength;
        var p = new double[S];
        for (int b = 0; b < s.Batch; b++)
            for (int h = 0; h < s.Heads; h++)
            {
                int qBase = (b * s.Heads + h) * L * d, kvBase = (b * s.KvHeads + h / group) * S * d;
                for (int i = 0; i < L; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < S; j++)
                    {
                        if (causal && j > i + diagonalOffset) { p[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += (double)query[qBase + i * d + c] * key[kvBase + j * d + c];
                        p[j] = dot * scale;
                        max = Math.Max(max, p[j]);
                    }
                    if (double.IsNegativeInfinity(max)) continue; // every key masked: output row stays 0
                    double sum = 0;
                    for (int j = 0; j < S; j++) { p[j] = Math.Exp(p[j] - max); sum += p[j]; }
                    for (int j = 0; j < S; j++)
                        for (int c = 0; c < d; c++) output[qBase + i * d + c] += p[j] / sum * value[kvBase + j * d + c];
                }
            }
        return output;
    }

    public static float[] Random(long length, int seed)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (long i = 0; i < length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>Largest |actual − expected| / (atol + rtol·|expected|); ≤ 1 means within tolerance.</summary>
    public static double WorstRatio(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double e = Math.Abs(actual[i] - expected[i]) / (atol + rtol * Math.Abs(expected[i]));
            if (double.IsNaN(e)) return double.PositiveInfinity;
            worst = Math.Max(worst, e);
        }
        return worst;
    }
}
