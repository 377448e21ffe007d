using Attention.Kernels;

namespace Attention.Tests.Reference;

/// <summary>
/// The attention gradient written the plain way, in float64, from the materialised probabilities:
/// <code>
///   P = softmax(scale·Q·Kᵀ over visible keys)      O = P·V
///   dV = Pᵀ·dO      dP = dO·Vᵀ      dS[i, j] = P[i, j]·(dP[i, j] − Σₖ P[i, k]·dP[i, k])
///   dQ = scale·dS·K      dK = scale·dSᵀ·Q
/// </code>
/// summed over the query heads that share a key/value head. Uses Σₖ P·dP directly (not the kernel's rowsum(dO∘O)
/// shortcut), and the mask predicate of <see cref="NaiveAttention.Visible"/>, so neither is taken from the kernel.
/// Shapes: query, dOutput, dQuery (B, H, L, D); key, value, dKey, dValue (B, KvHeads, S, D).
/// </summary>
public static class NaiveAttentionBackward
{
    /// <summary>DSinks (length H): the gradient of each head's sink logit, −Σ_rows P_sink·Σⱼ P[i, j]·dP[i, j]
    /// (zeros without <see cref="AttentionOptions.SinkLogits"/>).</summary>
    public sealed record Gradients(double[] DQuery, double[] DKey, double[] DValue, double[] DSinks);

    /// <summary>O = softmax(scale·Q·Kᵀ + M)·V in float64 (the function whose gradient <see cref="Backward(double[], double[], double[], double[], AttentionShape, AttentionOptions)"/> is).</summary>
    public static double[] Forward(double[] query, double[] key, double[] value, AttentionShape shape, AttentionOptions options)
    {
        var (batch, heads, _, L, S, D) = shape;
        var output = new double[batch * heads * L * D];
        var p = new double[S];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < L; i++)
                {
                    Probabilities(query, key, shape, options, b, h, i, p);
                    int row = (b * heads + h) * L + i, kv = KvIndex(shape, b, h);
                    for (int j = 0; j < S; j++)
                        for (int d = 0; d < D; d++) output[row * D + d] += p[j] * value[(kv * S + j) * D + d];
                }
        return output;
    }

    public static Gradients Backward(double[] query, double[] key, double[] value, double[] dOutput,
                                     AttentionShape shape, AttentionOptions options)
    {
        var (batch, heads, _, L, S, D) = shape;
        double scale = options.Scale ?? 1.0 / Math.Sqrt(D);
        var dq = new double[query.Length];
        var dk = new double[key.Length];
        var dv = new double[value.Length];
        var dSinks = new double[heads];
        var p = new double[S];
        var dp = new double[S];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int kv = KvIndex(shape, b, h);
                for (int i = 0; i < L; i++)
                {
                    int row = (b * heads + h) * L + i;
                    double pSink = Probabilities(query, key, shape, options, b, h, i, p);
                    double rowTerm = 0;   // Σₖ P[i, k]·dP[i, k]
                    for (int j = 0; j < S; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < D; d++) dot += dOutput[row * D + d] * value[(kv * S + j) * D + d];
                        dp[j] = dot;
                        rowTerm += p[j] * dot;
                    }
                    dSinks[h] -= pSink * rowTerm;   // the sink's value vector is zero: dP_sink = 0
                    for (int j = 0; j < S; j++)
                    {
                        if (p[j] == 0) continue;
                        double qk = 0;
                        for (int d = 0; d < D; d++) qk += query[row * D + d] * key[(kv * S + j) * D + d];
                        double ds = p[j] * (dp[j] - rowTerm) * NaiveAttention.LogitDerivative(qk, shape, options);
                        for (int d = 0; d < D; d++)
                        {
                            int kvAt = (kv * S + j) * D + d;
                            dv[kvAt] += p[j] * dOutput[row * D + d];
                            dq[row * D + d] += scale * ds * key[kvAt];
                            dk[kvAt] += scale * ds * query[row * D + d];
                        }
                    }
                }
            }
        return new Gradients(dq, dk, dv, dSinks);
    }

    public static Gradients Backward(float[] query, float[] key, float[] value, float[] dOutput,
                                     AttentionShape shape, AttentionOptions options)
        => Backward(ToDouble(query), ToDouble(key), ToDouble(value), ToDouble(dOutput), shape, options);

    /// <summary>The same plain algorithm in float32 (float sums, MathF.Exp): the yardstick of the "at most twice the
    /// error of a naive float32 implementation" rule.</summary>
    public static (float[] DQuery, float[] DKey, float[] DValue) BackwardFloat32(float[] query, float[] key, float[] value,
                                                                                 float[] dOutput, AttentionShape shape, AttentionOptions options)
    {
        var (batch, heads, _, L, S, D) = shape;
        float scale = options.Scale ?? 1f / MathF.Sqrt(D);
        var dq = new float[query.Length];
        var dk = new float[key.Length];
        var dv = new float[value.Length];
        var p = new float[S];
        var dp = new float[S];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int kv = KvIndex(shape, b, h);
                for (int i = 0; i < L; i++)
                {
                    int row = (b * heads + h) * L + i;
                    float max = float.NegativeInfinity;
                    for (int j = 0; j < S; j++)
                    {
                        if (!NaiveAttention.Visible(shape, options, b, i, j)) { p[j] = float.NegativeInfinity; continue; }
                        float dot = 0;
                        for (int d = 0; d < D; d++) dot += query[row * D + d] * key[(kv * S + j) * D + d];
                        p[j] = NaiveAttention.LogitFloat32(scale * dot, shape, options, h, i, j);
                        max = MathF.Max(max, p[j]);
                    }
                    if (float.IsNegativeInfinity(max)) continue;
                    float sink = (float)NaiveAttention.Sink(options, h);
                    max = MathF.Max(max, sink);
                    float sum = MathF.Exp(sink - max);
                    for (int j = 0; j < S; j++) { p[j] = MathF.Exp(p[j] - max); sum += p[j]; }
                    float rowTerm = 0;
                    for (int j = 0; j < S; j++)
                    {
                        p[j] /= sum;
                        float dot = 0;
                        for (int d = 0; d < D; d++) dot += dOutput[row * D + d] * value[(kv * S + j) * D + d];
                        dp[j] = dot;
                        rowTerm += p[j] * dot;
                    }
                    for (int j = 0; j < S; j++)
                    {
                        float ds = p[j] * (dp[j] - rowTerm);
                        if (options.SoftCap > 0 && ds != 0)
                        {
                            float qk = 0;
                            for (int d = 0; d < D; d++) qk += query[row * D + d] * key[(kv * S + j) * D + d];
                            float t = MathF.Tanh(scale * qk / options.SoftCap);
                            ds *= 1 - t * t;
                        }
                        for (int d = 0; d < D; d++)
                        {
                            int kvAt = (kv * S + j) * D + d;
                            dv[kvAt] += p[j] * dOutput[row * D + d];
                            dq[row * D + d] += scale * ds * key[kvAt];
                            dk[kvAt] += scale * ds * query[row * D + d];
                        }
                    }
                }
            }
        return (dq, dk, dv);
    }

    public static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);

    private static int KvIndex(AttentionShape shape, int b, int h) => b * shape.KvHeads + h / (shape.Heads / shape.KvHeads);

    /// <summary>Row i of P for (b, h): softmax over the visible keys and the sink logit, exact zeros elsewhere (all zeros when
    /// none is visible); returns the sink's probability.</summary>
    private static double Probabilities(double[] query, double[] key, AttentionShape shape, AttentionOptions options,
                                        int b, int h, int i, double[] p)
    {
        var (_, heads, _, L, S, D) = shape;
        int row = (b * heads + h) * L + i, kv = KvIndex(shape, b, h);
        double max = double.NegativeInfinity;
        for (int j = 0; j < S; j++)
        {
            if (!NaiveAttention.Visible(shape, options, b, i, j)) { p[j] = double.NegativeInfinity; continue; }
            double dot = 0;
            for (int d = 0; d < D; d++) dot += query[row * D + d] * key[(kv * S + j) * D + d];
            p[j] = NaiveAttention.Logit(dot, shape, options, h, i, j);
            max = Math.Max(max, p[j]);
        }
        double sink = NaiveAttention.Sink(options, h);
        if (double.IsNegativeInfinity(max)) { Array.Clear(p); return double.IsNegativeInfinity(sink) ? 0 : 1; }
        max = Math.Max(max, sink);
        double sum = Math.Exp(sink - max);
        for (int j = 0; j < S; j++) { p[j] = Math.Exp(p[j] - max); sum += p[j]; }
        for (int j = 0; j < S; j++) p[j] /= sum;
        return Math.Exp(sink - max) / sum;
    }
}
