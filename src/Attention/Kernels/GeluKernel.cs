using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Attention.Kernels;

/// <summary>
/// Exact GELU x·Φ(x) = ½x·(1 + erf(x/√2)) over spans, with erfc from Abramowitz and Stegun (1964), Handbook of
/// Mathematical Functions, eq. 7.1.26 (|error| ≤ 1.5e-7): erfc(z) ≈ t·(a₁ + t·(a₂ + t·(a₃ + t·(a₄ + t·a₅))))·e^(−z²),
/// t = 1/(1 + p·z), z = |x|/√2; then GELU = x·(1 − erfc/2) for x ≥ 0 and x·erfc/2 below. One pass in 16- or 8-wide
/// vectors, one generic body for both widths (<see cref="ISimdFloat{TSelf}"/>); a first version made a dozen
/// TensorPrimitives passes per chunk and cost 29 ms per 1024 × 1536 call. The 16-lane exponential is
/// <see cref="FastExp.Exp2"/> of −z²·log₂e: with the runtime's Vector512.Exp the same body took 1.1–3.3 ms per
/// 1024 × 1536 call, with FastExp.Exp 0.43 ms, with FastExp.Exp2 0.37 ms (one process, side by side, the same
/// maximum error, 2.9e-7·|x| against a float64 erfc on normal inputs of standard deviation 2). The scalar formula
/// takes the tail. Output may alias input. Used by the BERT encoder's inference path (<c>Models/BertInference.cs</c>,
/// <c>Models/BertModel.cs</c>); the autograd op <c>Var.Gelu</c> keeps its float64 erf.
/// </summary>
internal static class GeluKernel
{
    private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const float InvSqrt2 = 0.70710678118654752f, Log2E = 1.44269504088896341f;

    /// <summary>y = GELU(x) element-wise, in the widest vectors the CPU runs.</summary>
    /// <exception cref="ArgumentException"><paramref name="y"/> is not as long as <paramref name="x"/>.</exception>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (Simd512.IsHardwareAccelerated) Apply<Simd512>(x, y);
        else Apply<Simd256>(x, y);   // without 256-bit vectors either, its scalar loop does all of x
    }

    /// <summary>
    /// x ← GELU(x + bias) over a block of <paramref name="rows"/> rows of <paramref name="bias"/>.Length columns, row
    /// stride <paramref name="ld"/>: a GEMM epilogue's tile (<see cref="GemmEpilogue.Tile"/>) in one call, without a
    /// call per row.
    /// </summary>
    /// <exception cref="ArgumentException">The block does not fit in <paramref name="x"/>, or ld is narrower than the bias.</exception>
    public static void AddBiasApply(Span<float> x, int ld, int rows, ReadOnlySpan<float> bias)
    {
        int cols = bias.Length;
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "GELU: expected rows ≥ 0");
        if (ld < cols) throw new ArgumentOutOfRangeException(nameof(ld), ld, $"GELU: expected a row stride ≥ the {cols} bias columns, got {ld}");
        if (rows > 0 && x.Length < (long)(rows - 1) * ld + cols)
            throw new ArgumentException($"GELU: expected a block of at least {(long)(rows - 1) * ld + cols} elements ({rows} rows of {cols}, stride {ld}), got {x.Length}", nameof(x));
        if (Simd512.IsHardwareAccelerated) AddBiasApply<Simd512>(x, ld, rows, bias);
        else AddBiasApply<Simd256>(x, ld, rows, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AddBiasApply<TVector>(Span<float> x, int ld, int rows, ReadOnlySpan<float> bias) where TVector : struct, ISimdFloat<TVector>
    {
        int cols = bias.Length;
        ref float br = ref MemoryMarshal.GetReference(bias);
        for (int r = 0; r < rows; r++)
        {
            ref float xr = ref MemoryMarshal.GetReference(x.Slice(r * ld, cols));
            int i = 0;
            if (TVector.IsHardwareAccelerated)
                for (; i + TVector.Count <= cols; i += TVector.Count)
                    TVector.StoreUnsafe(Gelu(TVector.LoadUnsafe(ref xr, (nuint)i) + TVector.LoadUnsafe(ref br, (nuint)i)), ref xr, (nuint)i);
            for (; i < cols; i++) Unsafe.Add(ref xr, i) = Gelu(Unsafe.Add(ref xr, i) + Unsafe.Add(ref br, i));
        }
    }

    /// <summary>GELU of one vector (the body of every loop here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Gelu<TVector>(TVector v) where TVector : struct, ISimdFloat<TVector>
    {
        var one = TVector.Create(1f);
        var z = TVector.Abs(v) * TVector.Create(InvSqrt2);
        var t = one / TVector.FusedMultiplyAdd(z, TVector.Create(P), one);
        var poly = TVector.FusedMultiplyAdd(t, TVector.Create(A5), TVector.Create(A4));
        poly = TVector.FusedMultiplyAdd(poly, t, TVector.Create(A3));
        poly = TVector.FusedMultiplyAdd(poly, t, TVector.Create(A2));
        poly = TVector.FusedMultiplyAdd(poly, t, TVector.Create(A1));
        // e^(−z²) as 2^(−z²·log₂e): no range reduction in base e. The exponent's rounding (|−z²·log₂e|·2⁻²⁴) moves
        // the result by that much relatively, which matters only where e^(−z²) is tiny and q with it.
        var q = poly * t * TVector.Exp2(z * z * TVector.Create(-Log2E)) * TVector.Create(0.5f);
        return v * TVector.SelectNonNegative(v, one - q, q);
    }

    /// <summary>GELU of one float (the tails).</summary>
    private static float Gelu(float v)
    {
        float z = MathF.Abs(v) * InvSqrt2;
        float t = 1f / (1f + P * z);
        float q = 0.5f * t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * MathF.Exp(-z * z);
        return v * (v >= 0f ? 1f - q : q);
    }

    /// <summary>y = GELU(x) in vectors of <typeparamref name="TVector"/> (tests run each width the CPU has).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Apply<TVector>(ReadOnlySpan<float> x, Span<float> y) where TVector : struct, ISimdFloat<TVector>
    {
        if (y.Length != x.Length) throw new ArgumentException($"GELU: expected output of {x.Length} elements, got {y.Length}", nameof(y));
        int i = 0;
        if (TVector.IsHardwareAccelerated)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            for (; i + TVector.Count <= x.Length; i += TVector.Count)
                TVector.StoreUnsafe(Gelu(TVector.LoadUnsafe(ref xr, (nuint)i)), ref yr, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = Gelu(x[i]);
    }
}
