using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

namespace Attention.Kernels;

/// <summary>
/// Row-wise softmax and log-softmax over a rows × cols row-major matrix, SIMD through
/// <see cref="TensorPrimitives"/>:
///     softmax(x)ᵢ = exp(xᵢ − m) / Σⱼ exp(xⱼ − m),   log softmax(x)ᵢ = xᵢ − m − log Σⱼ exp(xⱼ − m),   m = maxⱼ xⱼ.
/// Subtracting the row max m changes nothing mathematically but keeps every exponent ≤ 0, so no
/// term overflows, and the largest term is exactly 1, so the sum never underflows to 0.
/// A row whose every entry is −∞ (fully masked) gives zeros for softmax and −∞ for log-softmax,
/// never NaN. x and y may be the same span (in place); other overlaps are not supported.
/// The exponential is <see cref="TensorPrimitives.Exp(ReadOnlySpan{float}, Span{float})"/>; its error
/// against float64 is checked by <c>SoftmaxTests.VectorExp_RelativeErrorBelow2Ulp</c> (under 2.4e-7).
/// The streaming form used by FlashAttention is <see cref="OnlineSoftmax"/>.
/// </summary>
public static class Softmax
{
    /// <summary>y[r, :] = softmax(x[r, :]) for a rows × cols row-major matrix. A row of all −∞ gives zeros.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int cols) => Rows(x, y, rows, cols, 1f);

    /// <summary>
    /// y[r, :] = softmax(scale · x[r, :]); scale = 1/temperature, or 1/√D for attention logits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int cols, float scale)
    {
        Validate(x, y, rows, cols);
        if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "expected a finite scale");
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            if (cols == 0) continue;
            if (scale != 1f) { TensorPrimitives.Multiply(xr, scale, yr); xr = yr; }
            float max = TensorPrimitives.Max(xr);
            if (float.IsNegativeInfinity(max)) { yr.Clear(); continue; }
            TensorPrimitives.Subtract(xr, max, yr);
            TensorPrimitives.Exp(yr, yr);
            // The max entry contributes exactly 1, so sum ≥ 1 and the reciprocal is safe.
            float sum = TensorPrimitives.Sum(yr);
            TensorPrimitives.Multiply(yr, 1f / sum, yr);
        }
    }

    /// <summary>y[r, :] = softmax(x[r, :] / temperature).</summary>
    public static void RowsWithTemperature(ReadOnlySpan<float> x, Span<float> y, int rows, int cols, float temperature)
    {
        if (!(temperature > 0) || !float.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "expected a positive finite temperature");
        Rows(x, y, rows, cols, 1f / temperature);
    }

    /// <summary>y[r, :] = log softmax(x[r, :]) = x − logsumexp(x). A row of all −∞ gives −∞ everywhere.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LogRows(ReadOnlySpan<float> x, Span<float> y, int rows, int cols)
    {
        Validate(x, y, rows, cols);
        Span<float> scratch = stackalloc float[256];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            if (cols == 0) continue;
            float lse = LogSumExp(xr, scratch);
            if (float.IsNegativeInfinity(lse)) { yr.Fill(float.NegativeInfinity); continue; }
            TensorPrimitives.Subtract(xr, lse, yr);
        }
    }

    /// <summary>
    /// log Σⱼ exp(xⱼ), computed as m + log Σⱼ exp(xⱼ − m). Returns −∞ for an empty span or all −∞.
    /// </summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return float.NegativeInfinity;
        Span<float> scratch = stackalloc float[256];
        return LogSumExp(x, scratch);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float LogSumExp(ReadOnlySpan<float> x, Span<float> scratch)
    {
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max)) return float.NegativeInfinity;
        // Exponentials go through a small stack buffer so x stays intact (y may alias it).
        float sum = 0;
        for (int j = 0; j < x.Length; j += scratch.Length)
        {
            var chunk = x.Slice(j, Math.Min(scratch.Length, x.Length - j));
            var e = scratch[..chunk.Length];
            TensorPrimitives.Subtract(chunk, max, e);
            TensorPrimitives.Exp(e, e);
            sum += TensorPrimitives.Sum(e);
        }
        return max + MathF.Log(sum);
    }

    private static void Validate(ReadOnlySpan<float> x, Span<float> y, int rows, int cols)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "expected rows ≥ 0");
        if (cols < 0) throw new ArgumentOutOfRangeException(nameof(cols), cols, "expected cols ≥ 0");
        long need = (long)rows * cols;
        if (x.Length < need) throw new ArgumentException($"expected x of at least rows·cols = {rows}·{cols} = {need} elements, got {x.Length}", nameof(x));
        if (y.Length < need) throw new ArgumentException($"expected y of at least rows·cols = {rows}·{cols} = {need} elements, got {y.Length}", nameof(y));
        if (need > 0 && x.Overlaps(y, out int offset) && offset != 0)
            throw new ArgumentException($"x and y overlap at an offset of {offset} elements; expected the same span (in place) or disjoint spans", nameof(y));
    }
}

/// <summary>
/// Streaming softmax state (Milakov and Gimelshein, 2018, "Online normalizer calculation for
/// softmax", Algorithm 3): after seeing logits x₁..xₙ in any number of chunks it holds
///     m = maxᵢ xᵢ   and   l = Σᵢ exp(xᵢ − m),
/// so softmax(x)ᵢ = exp(xᵢ − m) / l and logsumexp(x) = m + log l, without a second pass over x.
/// A new chunk c updates the state as
///     m' = max(m, maxⱼ cⱼ),   l' = l·exp(m − m') + Σⱼ exp(cⱼ − m'),
/// and any accumulator built from the old weights exp(xᵢ − m) (FlashAttention's output row
/// O = Σᵢ exp(xᵢ − m)·Vᵢ) is brought up to date by the same factor: O' = O·exp(m − m') + Σⱼ exp(cⱼ − m')·Vⱼ.
/// Two states over disjoint parts merge associatively and commutatively:
///     (m₁, l₁) ⊕ (m₂, l₂) = (m, l₁·exp(m₁ − m) + l₂·exp(m₂ − m)),   m = max(m₁, m₂).
/// The empty state is (−∞, 0), the identity of ⊕; the factor exp(m − m') is taken as 1 when
/// m = m' (including −∞ = −∞), so fully masked chunks never produce NaN.
/// </summary>
public struct OnlineSoftmax
{
    /// <summary>Running maximum m (−∞ before any finite logit).</summary>
    public float Max { get; private set; }

    /// <summary>Running sum l = Σ exp(xᵢ − m).</summary>
    public float Sum { get; private set; }

    /// <summary>A state with the given m and l (e.g. restored from a logsumexp buffer as (lse, 1)).</summary>
    public OnlineSoftmax(float max, float sum)
    {
        if (float.IsNaN(max) || float.IsPositiveInfinity(max)) throw new ArgumentOutOfRangeException(nameof(max), max, "expected a finite max or −∞");
        if (!(sum >= 0) || !float.IsFinite(sum)) throw new ArgumentOutOfRangeException(nameof(sum), sum, "expected a finite sum ≥ 0");
        Max = max; Sum = sum;
    }

    /// <summary>The identity of <see cref="Merge"/>: nothing seen yet, (m, l) = (−∞, 0).</summary>
    public static OnlineSoftmax Empty => new() { Max = float.NegativeInfinity, Sum = 0f };

    /// <summary>log Σ exp(xᵢ) over everything seen: m + log l, or −∞ when nothing finite was seen.</summary>
    public readonly float LogSumExp => Sum > 0 ? Max + MathF.Log(Sum) : float.NegativeInfinity;

    /// <summary>exp(mOld − mNew), with 1 when the two are equal so −∞ − (−∞) never makes NaN.</summary>
    public static float RescaleFactor(float oldMax, float newMax) => oldMax == newMax ? 1f : MathF.Exp(oldMax - newMax);

    /// <summary>
    /// Consumes one chunk of logits. Returns the factor exp(m − m') by which accumulators built with
    /// the previous max must be multiplied (1 when the max did not grow).
    /// </summary>
    public float Update(ReadOnlySpan<float> logits)
    {
        Span<float> scratch = stackalloc float[256];
        float factor = 1f;
        for (int j = 0; j < logits.Length; j += scratch.Length)
        {
            var chunk = logits.Slice(j, Math.Min(scratch.Length, logits.Length - j));
            factor *= Update(chunk, scratch[..chunk.Length]);
        }
        return factor;
    }

    /// <summary>
    /// Consumes one chunk and writes its unnormalised weights pⱼ = exp(cⱼ − m') to
    /// <paramref name="weights"/> (same length as the chunk), ready to accumulate pⱼ·Vⱼ.
    /// Returns exp(m − m'), the factor for accumulators built before this chunk.
    /// </summary>
    public float Update(ReadOnlySpan<float> logits, Span<float> weights)
    {
        if (weights.Length != logits.Length)
            throw new ArgumentException($"expected weights of the chunk's length {logits.Length}, got {weights.Length}", nameof(weights));
        if (logits.IsEmpty) return 1f;
        float chunkMax = TensorPrimitives.Max(logits);
        if (float.IsNaN(chunkMax) || float.IsPositiveInfinity(chunkMax))
            throw new ArgumentException($"expected finite logits or −∞, got a chunk whose max is {chunkMax}", nameof(logits));
        float newMax = Math.Max(Max, chunkMax);
        if (float.IsNegativeInfinity(newMax)) { weights.Clear(); return 1f; }
        float factor = RescaleFactor(Max, newMax);
        TensorPrimitives.Subtract(logits, newMax, weights);
        TensorPrimitives.Exp(weights, weights);
        Sum = Sum * factor + TensorPrimitives.Sum(weights);
        Max = newMax;
        return factor;
    }

    /// <summary>(m₁, l₁) ⊕ (m₂, l₂): the state of the concatenated inputs.</summary>
    public static OnlineSoftmax Merge(OnlineSoftmax a, OnlineSoftmax b)
    {
        float m = Math.Max(a.Max, b.Max);
        if (float.IsNegativeInfinity(m)) return Empty;
        return new OnlineSoftmax { Max = m, Sum = a.Sum * RescaleFactor(a.Max, m) + b.Sum * RescaleFactor(b.Max, m) };
    }

    /// <summary>Multiplies an accumulator by <paramref name="factor"/> (the value <see cref="Update(ReadOnlySpan{float}, Span{float})"/> returned).</summary>
    public static void Rescale(Span<float> accumulator, float factor)
    {
        if (factor != 1f) TensorPrimitives.Multiply(accumulator, factor, accumulator);
    }

    /// <summary>Final probabilities for logits seen earlier: pᵢ = exp(xᵢ − m) / l (zeros when nothing finite was seen).</summary>
    public readonly void Probabilities(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        if (probabilities.Length != logits.Length)
            throw new ArgumentException($"expected probabilities of length {logits.Length}, got {probabilities.Length}", nameof(probabilities));
        if (Sum == 0) { probabilities.Clear(); return; }
        TensorPrimitives.Subtract(logits, Max, probabilities);
        TensorPrimitives.Exp(probabilities, probabilities);
        TensorPrimitives.Multiply(probabilities, 1f / Sum, probabilities);
    }
}
