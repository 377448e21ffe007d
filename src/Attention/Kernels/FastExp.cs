using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Attention.Kernels;

/// <summary>
/// Vectorised 2^x and e^x for the attention kernels (AVX-512 only; check <see cref="IsSupported"/>).
/// Method: n = round(x), r = x − n ∈ [−½, ½], 2^r by a degree-6 polynomial (Chebyshev interpolation at
/// 7 nodes, 1.9e-8 relative error in exact arithmetic), then vscalefps multiplies by 2^n, which also
/// gives exact overflow to +∞ and gradual underflow to 0 without integer exponent tricks.
/// Measured maximum relative error over the normal range (tests, against Math.Exp in double):
/// Exp2 ≤ 2.5e-7 (about 2 ulp), Exp ≤ 3e-7. Inputs: −∞ → 0 exactly, +∞ → +∞, NaN → NaN,
/// x &lt; −160 (−111 for Exp) → 0 exactly, so a masked logit of −∞ gives a probability of exactly 0.
/// </summary>
internal static class FastExp
{
    public static bool IsSupported => Avx512F.IsSupported;

    private const float C1 = 0.6931471824645996f, C2 = 0.24022650718688965f, C3 = 0.05550327152013779f,
                        C4 = 0.009618056938052177f, C5 = 0.0013400427997112274f, C6 = 0.00015461444854736328f;

    /// <summary>2^x lane-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2(Vector512<float> x)
    {
        // vmaxps/vminps return the second operand when either is NaN: keep x second so NaN survives.
        x = Avx512F.Max(Vector512.Create(-160f), x);
        return Exp2BoundedFinite(Avx512F.Min(Vector512.Create(128f), x));
    }

    /// <summary>2^x for x ≤ 127, −∞ or NaN (softmax arguments s − max, at most 8 with lazy rescaling):
    /// <see cref="Exp2"/> without the overflow clamp, same accuracy.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2Bounded(Vector512<float> x) => Exp2BoundedFinite(Avx512F.Max(Vector512.Create(-160f), x));

    /// <summary><see cref="Exp2Bounded"/> without its clamp below, for finite x ≤ 127: the same bits there (below −160
    /// both give exactly 0, since scalef underflows p·2^n to 0 past −149), one operation less; −∞ would give NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2BoundedFinite(Vector512<float> x)
    {
        var n = Avx512F.RoundScale(x, 0);          // round to nearest even
        return Avx512F.Scale(Exp2Reduced(x - n), n);
    }

    /// <summary>e^x lane-wise: n = round(x·log₂e), r = x − n·ln2 in two steps (Cody–Waite) so large |x| keeps
    /// full relative accuracy, then 2^(r·log₂e)·2^n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Avx512F.Max(Vector512.Create(-111f), x);
        x = Avx512F.Min(Vector512.Create(89f), x);
        var n = Avx512F.RoundScale(x * Vector512.Create(1.44269504088896341f), 0);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693145751953125f), x);   // ln2 high bits, exact product
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.428606765330187e-06f), r);    // ln2 low bits
        return Avx512F.Scale(Exp2Reduced(r * Vector512.Create(1.44269504088896341f)), n);
    }

    /// <summary>2^r for r ∈ [−½, ½] (about): the degree-6 polynomial, in Horner form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp2Reduced(Vector512<float> r)
    {
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(C6), r, Vector512.Create(C5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C1));
        return Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
    }
}
