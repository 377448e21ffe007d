using Tensor = Attention.Tensors.Tensor;

namespace Attention.Kernels;

/// <summary>
/// Int8 KV-cache quantisation, symmetric absmax: x ≈ scale·q with q = round(x / scale) ∈ [−127, 127] and
/// scale = max|x| / 127 over a group. Keys are grouped per channel (one scale per head coordinate, shared by the
/// tokens), values per token (one scale per cached vector) — the grouping KIVI (Liu et al., 2024) argues for, because
/// keys carry a few large-magnitude channels while value errors average out over the tokens a query mixes.
/// Layout: a cache (B, G, S, D); per-channel scales are (B, G, D), per-token scales (B, G, S).
/// Storage: S·D bytes plus 4 bytes per scale, against 4·S·D in float32.
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public static class KvQuantization
{
    /// <summary>Which elements share a scale.</summary>
    public enum Axis
    {
        /// <summary>One scale per (b, g, d) over the S tokens — for keys.</summary>
        PerChannel,
        /// <summary>One scale per (b, g, s) over the D channels — for values.</summary>
        PerToken,
    }

    /// <summary>A quantised cache: codes (B·G·S·D) and scales ((B, G, D) per channel or (B, G, S) per token).</summary>
    public sealed record Quantized(sbyte[] Codes, float[] Scales, int[] Shape, Axis Grouping)
    {
        /// <summary>Bytes stored: one per code and four per scale.</summary>
        public long Bytes => Codes.LongLength + 4L * Scales.LongLength;
    }

    /// <summary>Quantises <paramref name="cache"/> (B, G, S, D).</summary>
    /// <exception cref="ArgumentException">The cache is not rank 4, or holds a non-finite value.</exception>
    public static Quantized Quantize(Tensor cache, Axis grouping)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Rank != 4)
            throw new ArgumentException($"expected a cache of shape (B, G, S, D), got {Tensor.FormatShape(cache.Shape)}", nameof(cache));
        if (!Enum.IsDefined(grouping)) throw new ArgumentOutOfRangeException(nameof(grouping), grouping, "expected PerChannel or PerToken");
        int b = cache.Shape[0], g = cache.Shape[1], s = cache.Shape[2], d = cache.Shape[3];
        var x = cache.Contiguous().AsSpan();
        var codes = new sbyte[x.Length];
        var scales = new float[grouping == Axis.PerChannel ? b * g * d : b * g * s];
        for (int bg = 0; bg < b * g; bg++)
        {
            int baseIndex = bg * s * d;
            // pass 1: absmax per group
            for (int t = 0; t < s; t++)
                for (int c = 0; c < d; c++)
                {
                    float v = x[baseIndex + t * d + c];
                    if (!float.IsFinite(v))
                        throw new ArgumentException($"expected finite cache entries, got {v} at (bg {bg}, s {t}, d {c})", nameof(cache));
                    int group = grouping == Axis.PerChannel ? bg * d + c : bg * s + t;
                    scales[group] = Math.Max(scales[group], Math.Abs(v));
                }
            // pass 2: codes
            for (int t = 0; t < s; t++)
                for (int c = 0; c < d; c++)
                {
                    int group = grouping == Axis.PerChannel ? bg * d + c : bg * s + t;
                    float scale = scales[group] / 127f;
                    float v = x[baseIndex + t * d + c];
                    codes[baseIndex + t * d + c] = scale == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(v / scale), -127f, 127f);
                }
        }
        for (int i = 0; i < scales.Length; i++) scales[i] /= 127f;
        return new Quantized(codes, scales, [b, g, s, d], grouping);
    }

    /// <summary>The float cache the codes stand for: scale·q.</summary>
    public static Tensor Dequantize(Quantized quantized)
    {
        ArgumentNullException.ThrowIfNull(quantized);
        var shape = quantized.Shape;
        int bg = shape[0] * shape[1], s = shape[2], d = shape[3];
        if (quantized.Codes.Length != bg * s * d)
            throw new ArgumentException($"expected {bg * s * d} codes for shape {Tensor.FormatShape(shape)}, got {quantized.Codes.Length}", nameof(quantized));
        var y = Tensor.Zeros(shape);
        var ys = y.AsSpan();
        for (int i = 0; i < bg; i++)
            for (int t = 0; t < s; t++)
                for (int c = 0; c < d; c++)
                {
                    int idx = (i * s + t) * d + c;
                    float scale = quantized.Grouping == Axis.PerChannel ? quantized.Scales[i * d + c] : quantized.Scales[i * s + t];
                    ys[idx] = scale * quantized.Codes[idx];
                }
        return y;
    }

    /// <summary>Quantise then dequantise: the cache a model would read back.</summary>
    public static Tensor RoundTrip(Tensor cache, Axis grouping) => Dequantize(Quantize(cache, grouping));
}
