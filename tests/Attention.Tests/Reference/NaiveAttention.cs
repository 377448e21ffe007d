using Attention.Kernels;

namespace Attention.Tests.Reference;

/// <summary>A kernel under test: the FlashAttention.Forward signature.</summary>
public delegate void AttentionKernel(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                     Span<float> output, AttentionShape shape, AttentionOptions options, Span<float> logSumExp);

/// <summary>
/// Scaled dot-product attention written the plain way, in float64, one query row at a time:
/// O[b,h,i] = Σⱼ softmax(scale·q·kⱼ over visible j)·vⱼ. The mask predicate is spelled out from the option
/// definitions (not taken from the kernels' interval helper) so that the kernels' masking is checked.
/// Shapes: query (B, H, L, D), key/value (B, KvHeads, S, D), output (B, H, L, D), logSumExp (B, H, L),
/// probabilities (B, H, L, S).
/// </summary>
public static class NaiveAttention
{
    public static bool Visible(AttentionShape shape, AttentionOptions options, int b, int i, int j)
    {
        long p = (long)i + shape.KeyLength - shape.QueryLength;   // bottom-right aligned position of query i
        if (options.KeyLengths is int[] lengths && j >= lengths[b]) return false;
        if (options.Causal && j > p) return false;
        if (j < options.SinkTokens) return true;                  // a sink key ignores the window
        if (options.WindowLeft is int wl && j < p - wl) return false;
        if (options.WindowRight is int wr && j > p + wr) return false;
        return true;
    }

    /// <summary>The logit of query i (head h) and key j from the dot product q·k, in the contract's order:
    /// s = scale·q·k → soft-cap c·tanh(s/c) → + ALiBi −slope[h]·|i + S − L − j| (the mask comes after).</summary>
    public static double Logit(double dot, AttentionShape shape, AttentionOptions options, int h, int i, int j)
    {
        double s = (options.Scale ?? 1.0 / Math.Sqrt(shape.HeadDim)) * dot;
        if (options.SoftCap > 0) s = options.SoftCap * Math.Tanh(s / options.SoftCap);
        if (options.AlibiSlopes is float[] slopes) s -= slopes[h] * Math.Abs((double)i + shape.KeyLength - shape.QueryLength - j);
        return s;
    }

    /// <summary>d logit / d(scale·q·k): the soft-cap's 1 − tanh²(s/c), or 1.</summary>
    public static double LogitDerivative(double dot, AttentionShape shape, AttentionOptions options)
    {
        if (!(options.SoftCap > 0)) return 1;
        double t = Math.Tanh((options.Scale ?? 1.0 / Math.Sqrt(shape.HeadDim)) * dot / options.SoftCap);
        return 1 - t * t;
    }

    /// <summary>The sink logit of head h (−∞ when none).</summary>
    public static double Sink(AttentionOptions options, int h) =>
        options.SinkLogits is float[] sinks ? sinks[h] : double.NegativeInfinity;

    public sealed record Result(double[] Output, double[] LogSumExp, double[] Probabilities);

    /// <summary>The reference forward; <c>allowed</c> is an optional extra mask (head, query i, key j), e.g. a block-sparse layout.</summary>
    public static Result Forward(float[] query, float[] key, float[] value, AttentionShape shape, AttentionOptions options,
                                 Func<int, int, int, bool>? allowed = null)
    {
        var (batch, heads, kvHeads, L, S, D) = shape;
        var output = new double[batch * heads * L * D];
        var lse = new double[batch * heads * L];
        var probs = new double[batch * heads * L * S];
        var s = new double[S];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / (heads / kvHeads);
                for (int i = 0; i < L; i++)
                {
                    int row = (b * heads + h) * L + i;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < S; j++)
                    {
                        if (!Visible(shape, options, b, i, j) || allowed?.Invoke(h, i, j) == false) { s[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int d = 0; d < D; d++)
                            dot += (double)query[row * D + d] * key[((b * kvHeads + kvh) * S + j) * D + d];
                        s[j] = Logit(dot, shape, options, h, i, j);
                        max = Math.Max(max, s[j]);
                    }
                    double sink = Sink(options, h);
                    if (double.IsNegativeInfinity(max)) { lse[row] = sink; continue; }
                    max = Math.Max(max, sink);
                    double sum = Math.Exp(sink - max);
                    for (int j = 0; j < S; j++) sum += Math.Exp(s[j] - max);
                    lse[row] = max + Math.Log(sum);
                    for (int j = 0; j < S; j++)
                    {
                        double p = Math.Exp(s[j] - max) / sum;
                        probs[(long)row * S + j] = p;
                        for (int d = 0; d < D; d++) output[row * D + d] += p * value[((b * kvHeads + kvh) * S + j) * D + d];
                    }
                }
            }
        return new Result(output, lse, probs);
    }

    /// <summary>The same plain algorithm in float32 (MathF.Exp, float sums): the yardstick of the "at most 2× the
    /// error of a naive float32 implementation" rule.</summary>
    public static float[] ForwardFloat32(float[] query, float[] key, float[] value, AttentionShape shape, AttentionOptions options)
    {
        var (batch, heads, kvHeads, L, S, D) = shape;
        float scale = options.Scale ?? 1f / MathF.Sqrt(D);
        var output = new float[batch * heads * L * D];
        var s = new float[S];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / (heads / kvHeads);
                for (int i = 0; i < L; i++)
                {
                    int row = (b * heads + h) * L + i;
                    float max = float.NegativeInfinity;
                    for (int j = 0; j < S; j++)
                    {
                        if (!Visible(shape, options, b, i, j)) { s[j] = float.NegativeInfinity; continue; }
                        float dot = 0;
                        for (int d = 0; d < D; d++) dot += query[row * D + d] * key[((b * kvHeads + kvh) * S + j) * D + d];
                        s[j] = LogitFloat32(scale * dot, shape, options, h, i, j);
                        max = MathF.Max(max, s[j]);
                    }
                    if (float.IsNegativeInfinity(max)) continue;
                    float sink = (float)Sink(options, h);
                    max = MathF.Max(max, sink);
                    float sum = MathF.Exp(sink - max);
                    for (int j = 0; j < S; j++) { s[j] = MathF.Exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j < S; j++)
                        for (int d = 0; d < D; d++) output[row * D + d] += s[j] / sum * value[((b * kvHeads + kvh) * S + j) * D + d];
                }
            }
        return output;
    }

    /// <summary><see cref="Logit"/> in float32 from s = scale·q·k.</summary>
    public static float LogitFloat32(float s, AttentionShape shape, AttentionOptions options, int h, int i, int j)
    {
        if (options.SoftCap > 0) s = options.SoftCap * MathF.Tanh(s / options.SoftCap);
        if (options.AlibiSlopes is float[] slopes) s -= slopes[h] * Math.Abs(i + shape.KeyLength - shape.QueryLength - j);
        return s;
    }

    /// <summary>Seeded uniform values in [−amplitude, amplitude].</summary>
    public static float[] Random(int length, int seed, float amplitude = 1f)
    {
        var rng = new Random(seed);
        var x = new float[length];
        for (int i = 0; i < x.Length; i++) x[i] = amplitude * (2 * rng.NextSingle() - 1);
        return x;
    }

    /// <summary>Random query, key and value for a shape.</summary>
    public static (float[] Q, float[] K, float[] V) Inputs(AttentionShape shape, int seed)
    {
        var (batch, heads, kvHeads, L, S, D) = shape;
        return (Random(batch * heads * L * D, seed), Random(batch * kvHeads * S * D, seed + 1), Random(batch * kvHeads * S * D, seed + 2));
    }

    public static double MaxError(ReadOnlySpan<float> got, double[] want)
    {
        double worst = 0;
        for (int i = 0; i < want.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - want[i]));
        return worst;
    }

    /// <summary>Asserts |got − want| ≤ abs + rel·|want| element-wise (−∞ must match −∞ exactly).</summary>
    public static void AssertClose(ReadOnlySpan<float> got, double[] want, string what, double abs = 1e-6, double rel = 1e-5)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
        {
            if (double.IsNegativeInfinity(want[i]))
            {
                if (!float.IsNegativeInfinity(got[i])) Assert.Fail($"{what}[{i}]: expected −∞, got {got[i]}");
                continue;
            }
            double err = Math.Abs(got[i] - want[i]);
            if (!(err <= abs + rel * Math.Abs(want[i])))
                Assert.Fail($"{what}[{i}]: expected {want[i]:R}, got {got[i]:R} (error {err:E2})");
        }
    }
}
