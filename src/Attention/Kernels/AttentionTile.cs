using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Attention.Kernels;

/// <summary>
/// The pieces the AVX-512 FlashAttention forward (<see cref="FlashAttentionAvx512"/>) and backward
/// (<see cref="FlashAttentionBackwardKernel"/>) tile loops share, one body each:
/// <list type="bullet">
/// <item>the register-blocked products every pass of both is made of, C[x, 0..63] (+)= Σ_n A[n, x]·B[n, 0..63], with
/// x = 0..3 (<see cref="Block4x4"/>), 0..5 (<see cref="Block6x4"/>) or 0 (<see cref="Block1x4"/>): A broadcast from
/// strided memory, B four Vector512 (64 floats) per step, and optionally the column max of C folded in while it is in
/// registers (the forward's score tiles);</item>
/// <item>the score changes in the order both kernels apply them (<see cref="ScoreModifier"/>: soft-cap, then ALiBi),
/// then the mask of the visible keys [lo, hi) ∪ [0, sinkEnd) (<see cref="Visible(Vector512{int}, Vector512{int}, Vector512{int}, Vector512{int})"/>).</item>
/// </list>
/// The forward holds its tiles transposed (64 query rows in the lanes, keys down the tile), the backward row-major
/// (keys in the lanes), so the same product serves as S = Q·Kᵀ, P·V, Pᵀ·dO, dSᵀ·Q or dS·K by its strides alone.
/// AVX-512 only (the callers check).
/// </summary>
internal static unsafe class AttentionTile
{
    /// <summary>Floats per B or C row: four Vector512.</summary>
    public const int Width = 64;

    /// <summary>
    /// C[x, 0..63] (+)= Σ_{n &lt; count} A[n, x] · B[n, 0..63] for x = 0..3, where A[n, x] = a[n·aStep + x·aStride]
    /// (broadcast), B[n, ·] = b + n·bStep (four vectors), C[x, ·] = c + x·cStride. 16 accumulators, per n 4 loads +
    /// 4 broadcasts + 16 FMAs. With <paramref name="colMax"/>, colMax[0..63] = max(colMax, C[0..3, ·]) as well.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block4x4(float* a, nint aStep, nint aStride, float* b, nint bStep, int count,
                                float* c, nint cStride, bool accumulate, float* colMax = null)
    {
        Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        float* cr0 = c, cr1 = c + cStride, cr2 = cr1 + cStride, cr3 = cr2 + cStride;
        if (accumulate)
        {
            c00 = Vector512.Load(cr0); c01 = Vector512.Load(cr0 + 16); c02 = Vector512.Load(cr0 + 32); c03 = Vector512.Load(cr0 + 48);
            c10 = Vector512.Load(cr1); c11 = Vector512.Load(cr1 + 16); c12 = Vector512.Load(cr1 + 32); c13 = Vector512.Load(cr1 + 48);
            c20 = Vector512.Load(cr2); c21 = Vector512.Load(cr2 + 16); c22 = Vector512.Load(cr2 + 32); c23 = Vector512.Load(cr2 + 48);
            c30 = Vector512.Load(cr3); c31 = Vector512.Load(cr3 + 16); c32 = Vector512.Load(cr3 + 32); c33 = Vector512.Load(cr3 + 48);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = default;
            c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = default;
        }
        float* a0 = a, a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        nint n4 = 0;
        for (int n = 0; n < count; n++, n4 += aStep, b += bStep)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32); var b3 = Vector512.Load(b + 48);
            var s = Vector512.Create(a0[n4]);
            c00 = Vector512.FusedMultiplyAdd(b0, s, c00); c01 = Vector512.FusedMultiplyAdd(b1, s, c01);
            c02 = Vector512.FusedMultiplyAdd(b2, s, c02); c03 = Vector512.FusedMultiplyAdd(b3, s, c03);
            s = Vector512.Create(a1[n4]);
            c10 = Vector512.FusedMultiplyAdd(b0, s, c10); c11 = Vector512.FusedMultiplyAdd(b1, s, c11);
            c12 = Vector512.FusedMultiplyAdd(b2, s, c12); c13 = Vector512.FusedMultiplyAdd(b3, s, c13);
            s = Vector512.Create(a2[n4]);
            c20 = Vector512.FusedMultiplyAdd(b0, s, c20); c21 = Vector512.FusedMultiplyAdd(b1, s, c21);
            c22 = Vector512.FusedMultiplyAdd(b2, s, c22); c23 = Vector512.FusedMultiplyAdd(b3, s, c23);
            s = Vector512.Create(a3[n4]);
            c30 = Vector512.FusedMultiplyAdd(b0, s, c30); c31 = Vector512.FusedMultiplyAdd(b1, s, c31);
            c32 = Vector512.FusedMultiplyAdd(b2, s, c32); c33 = Vector512.FusedMultiplyAdd(b3, s, c33);
        }
        c00.Store(cr0); c01.Store(cr0 + 16); c02.Store(cr0 + 32); c03.Store(cr0 + 48);
        c10.Store(cr1); c11.Store(cr1 + 16); c12.Store(cr1 + 32); c13.Store(cr1 + 48);
        c20.Store(cr2); c21.Store(cr2 + 16); c22.Store(cr2 + 32); c23.Store(cr2 + 48);
        c30.Store(cr3); c31.Store(cr3 + 16); c32.Store(cr3 + 32); c33.Store(cr3 + 48);
        if (colMax != null)
        {
            // the forward's running column max of a score tile, taken here so that clean tiles need no separate max pass
            Avx512F.Max(Vector512.Load(colMax), Avx512F.Max(Avx512F.Max(c00, c10), Avx512F.Max(c20, c30))).Store(colMax);
            Avx512F.Max(Vector512.Load(colMax + 16), Avx512F.Max(Avx512F.Max(c01, c11), Avx512F.Max(c21, c31))).Store(colMax + 16);
            Avx512F.Max(Vector512.Load(colMax + 32), Avx512F.Max(Avx512F.Max(c02, c12), Avx512F.Max(c22, c32))).Store(colMax + 32);
            Avx512F.Max(Vector512.Load(colMax + 48), Avx512F.Max(Avx512F.Max(c03, c13), Avx512F.Max(c23, c33))).Store(colMax + 48);
        }
    }

    /// <summary><see cref="Block4x4"/> for x = 0..5: 24 accumulators, per n 4 loads and 6 broadcasts feed 24 FMAs (the
    /// 4-row block's 8 loads per 16 FMAs left the FMA pipes idle about a tenth of the time in the forward's P·V).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block6x4(float* a, nint aStep, nint aStride, float* b, nint bStep, int count,
                                float* c, nint cStride, bool accumulate, float* colMax = null)
    {
        Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
        Vector512<float> c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        float* cr0 = c, cr1 = c + cStride, cr2 = cr1 + cStride, cr3 = cr2 + cStride, cr4 = cr3 + cStride, cr5 = cr4 + cStride;
        if (accumulate)
        {
            c00 = Vector512.Load(cr0); c01 = Vector512.Load(cr0 + 16); c02 = Vector512.Load(cr0 + 32); c03 = Vector512.Load(cr0 + 48);
            c10 = Vector512.Load(cr1); c11 = Vector512.Load(cr1 + 16); c12 = Vector512.Load(cr1 + 32); c13 = Vector512.Load(cr1 + 48);
            c20 = Vector512.Load(cr2); c21 = Vector512.Load(cr2 + 16); c22 = Vector512.Load(cr2 + 32); c23 = Vector512.Load(cr2 + 48);
            c30 = Vector512.Load(cr3); c31 = Vector512.Load(cr3 + 16); c32 = Vector512.Load(cr3 + 32); c33 = Vector512.Load(cr3 + 48);
            c40 = Vector512.Load(cr4); c41 = Vector512.Load(cr4 + 16); c42 = Vector512.Load(cr4 + 32); c43 = Vector512.Load(cr4 + 48);
            c50 = Vector512.Load(cr5); c51 = Vector512.Load(cr5 + 16); c52 = Vector512.Load(cr5 + 32); c53 = Vector512.Load(cr5 + 48);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = default;
            c30 = c31 = c32 = c33 = c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = default;
        }
        float* a0 = a, a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride, a4 = a3 + aStride, a5 = a4 + aStride;
        nint n4 = 0;
        for (int n = 0; n < count; n++, n4 += aStep, b += bStep)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var b2 = Vector512.Load(b + 32); var b3 = Vector512.Load(b + 48);
            var s = Vector512.Create(a0[n4]);
            c00 = Vector512.FusedMultiplyAdd(b0, s, c00); c01 = Vector512.FusedMultiplyAdd(b1, s, c01);
            c02 = Vector512.FusedMultiplyAdd(b2, s, c02); c03 = Vector512.FusedMultiplyAdd(b3, s, c03);
            s = Vector512.Create(a1[n4]);
            c10 = Vector512.FusedMultiplyAdd(b0, s, c10); c11 = Vector512.FusedMultiplyAdd(b1, s, c11);
            c12 = Vector512.FusedMultiplyAdd(b2, s, c12); c13 = Vector512.FusedMultiplyAdd(b3, s, c13);
            s = Vector512.Create(a2[n4]);
            c20 = Vector512.FusedMultiplyAdd(b0, s, c20); c21 = Vector512.FusedMultiplyAdd(b1, s, c21);
            c22 = Vector512.FusedMultiplyAdd(b2, s, c22); c23 = Vector512.FusedMultiplyAdd(b3, s, c23);
            s = Vector512.Create(a3[n4]);
            c30 = Vector512.FusedMultiplyAdd(b0, s, c30); c31 = Vector512.FusedMultiplyAdd(b1, s, c31);
            c32 = Vector512.FusedMultiplyAdd(b2, s, c32); c33 = Vector512.FusedMultiplyAdd(b3, s, c33);
            s = Vector512.Create(a4[n4]);
            c40 = Vector512.FusedMultiplyAdd(b0, s, c40); c41 = Vector512.FusedMultiplyAdd(b1, s, c41);
            c42 = Vector512.FusedMultiplyAdd(b2, s, c42); c43 = Vector512.FusedMultiplyAdd(b3, s, c43);
            s = Vector512.Create(a5[n4]);
            c50 = Vector512.FusedMultiplyAdd(b0, s, c50); c51 = Vector512.FusedMultiplyAdd(b1, s, c51);
            c52 = Vector512.FusedMultiplyAdd(b2, s, c52); c53 = Vector512.FusedMultiplyAdd(b3, s, c53);
        }
        c00.Store(cr0); c01.Store(cr0 + 16); c02.Store(cr0 + 32); c03.Store(cr0 + 48);
        c10.Store(cr1); c11.Store(cr1 + 16); c12.Store(cr1 + 32); c13.Store(cr1 + 48);
        c20.Store(cr2); c21.Store(cr2 + 16); c22.Store(cr2 + 32); c23.Store(cr2 + 48);
        c30.Store(cr3); c31.Store(cr3 + 16); c32.Store(cr3 + 32); c33.Store(cr3 + 48);
        c40.Store(cr4); c41.Store(cr4 + 16); c42.Store(cr4 + 32); c43.Store(cr4 + 48);
        c50.Store(cr5); c51.Store(cr5 + 16); c52.Store(cr5 + 32); c53.Store(cr5 + 48);
        if (colMax != null)
        {
            ColumnMax(c00, c10, c20, c30, c40, c50, colMax); ColumnMax(c01, c11, c21, c31, c41, c51, colMax + 16);
            ColumnMax(c02, c12, c22, c32, c42, c52, colMax + 32); ColumnMax(c03, c13, c23, c33, c43, c53, colMax + 48);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void ColumnMax(Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3,
                              Vector512<float> s4, Vector512<float> s5, float* max) =>
            Avx512F.Max(Vector512.Load(max), Avx512F.Max(Avx512F.Max(Avx512F.Max(s0, s1), Avx512F.Max(s2, s3)), Avx512F.Max(s4, s5))).Store(max);
    }

    /// <summary><see cref="Block4x4"/> for x = 0 alone (the forward's odd key and odd dimension tails): C[0..63] (+)=
    /// Σ_n a[n·aStep]·B[n, ·], 4 accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block1x4(float* a, nint aStep, float* b, nint bStep, int count, float* c, bool accumulate,
                                float* colMax = null)
    {
        Vector512<float> c0, c1, c2, c3;
        if (accumulate) { c0 = Vector512.Load(c); c1 = Vector512.Load(c + 16); c2 = Vector512.Load(c + 32); c3 = Vector512.Load(c + 48); }
        else c0 = c1 = c2 = c3 = default;
        nint n4 = 0;
        for (int n = 0; n < count; n++, n4 += aStep, b += bStep)
        {
            var s = Vector512.Create(a[n4]);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Load(b), s, c0); c1 = Vector512.FusedMultiplyAdd(Vector512.Load(b + 16), s, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Load(b + 32), s, c2); c3 = Vector512.FusedMultiplyAdd(Vector512.Load(b + 48), s, c3);
        }
        c0.Store(c); c1.Store(c + 16); c2.Store(c + 32); c3.Store(c + 48);
        if (colMax != null)
        {
            Avx512F.Max(Vector512.Load(colMax), c0).Store(colMax); Avx512F.Max(Vector512.Load(colMax + 16), c1).Store(colMax + 16);
            Avx512F.Max(Vector512.Load(colMax + 32), c2).Store(colMax + 32); Avx512F.Max(Vector512.Load(colMax + 48), c3).Store(colMax + 48);
        }
    }

    /// <summary><see cref="Block4x4"/> one vector (16 floats) wide, always accumulating: the backward's D tails (D mod 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block4x1(float* a, nint aStep, nint aStride, float* b, nint bStep, int count, float* c, nint cStride)
    {
        float* cr1 = c + cStride, cr2 = cr1 + cStride, cr3 = cr2 + cStride;
        Vector512<float> c0 = Vector512.Load(c), c1 = Vector512.Load(cr1), c2 = Vector512.Load(cr2), c3 = Vector512.Load(cr3);
        float* a0 = a, a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        nint n4 = 0;
        for (int n = 0; n < count; n++, n4 += aStep, b += bStep)
        {
            var bv = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(bv, Vector512.Create(a0[n4]), c0);
            c1 = Vector512.FusedMultiplyAdd(bv, Vector512.Create(a1[n4]), c1);
            c2 = Vector512.FusedMultiplyAdd(bv, Vector512.Create(a2[n4]), c2);
            c3 = Vector512.FusedMultiplyAdd(bv, Vector512.Create(a3[n4]), c3);
        }
        c0.Store(c); c1.Store(cr1); c2.Store(cr2); c3.Store(cr3);
    }

    /// <summary>All-ones lanes where lo ≤ key &lt; hi (the causal, window and key-length bounds of a row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Visible(Vector512<int> key, Vector512<int> lo, Vector512<int> hi) =>
        Vector512.GreaterThanOrEqual(key, lo) & Vector512.LessThan(key, hi);

    /// <summary>All-ones lanes where lo ≤ key &lt; hi or key &lt; sinkEnd (the sink tokens, visible beside a window).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Visible(Vector512<int> key, Vector512<int> lo, Vector512<int> hi, Vector512<int> sinkEnd) =>
        Visible(key, lo, hi) | Vector512.LessThan(key, sinkEnd);
}

/// <summary>
/// The options that change a score before the softmax, in the order both FlashAttention kernels apply them, on scores
/// in log₂ units: soft-cap s ← c·tanh(s/c) with c = SoftCap·log₂e, then ALiBi s ← s − slope·log₂e·|p − j|. The backward keeps t = tanh(s/c) for the soft-cap's derivative 1 − t².
/// </summary>
internal readonly struct ScoreModifier
{
    private readonly Vector512<float> _cap2, _invCap2, _negSlope2;
    private readonly bool _cap, _alibi;

    /// <param name="cap2">SoftCap·log₂e, or 0 for none.</param>
    /// <param name="slope2">The head's ALiBi slope·log₂e, or 0 for none.</param>
    public ScoreModifier(float cap2, float slope2)
    {
        _cap = cap2 > 0;
        _alibi = slope2 != 0;
        _cap2 = Vector512.Create(cap2);
        _invCap2 = Vector512.Create(1 / cap2);
        _negSlope2 = Vector512.Create(-slope2);
    }

    /// <summary>The changed scores of 16 lanes; <paramref name="offset"/> is p − j (query position minus key index) per
    /// lane, <paramref name="tanh"/> the soft-cap's tanh(s/c) (0 without a soft-cap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Apply(Vector512<float> s, Vector512<int> offset, out Vector512<float> tanh)
    {
        tanh = Vector512<float>.Zero;
        if (_cap) { tanh = SoftCapMath.Tanh(s * _invCap2); s = _cap2 * tanh; }
        if (_alibi) s = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Vector512.Abs(offset)), _negSlope2, s);
        return s;
    }
}
