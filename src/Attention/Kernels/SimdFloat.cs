using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Attention.Kernels;

/// <summary>
/// A SIMD vector of floats as a type parameter, so that a row kernel's loop is written once and compiled for each
/// width: the JIT specialises a generic method for every struct type argument, so <c>Body&lt;Simd512&gt;</c> and
/// <c>Body&lt;Simd256&gt;</c> are two separate loops over Vector512 and Vector256, with no interface call left in them.
/// .NET's own <c>ISimdVector&lt;TSelf, T&gt;</c> would serve, but .NET 10 keeps it internal to System.Private.CoreLib;
/// this is the slice of it our row kernels use (operators, FMA, exp, a sign select).
/// </summary>
internal interface ISimdFloat<TSelf> :
    IAdditionOperators<TSelf, TSelf, TSelf>, ISubtractionOperators<TSelf, TSelf, TSelf>,
    IMultiplyOperators<TSelf, TSelf, TSelf>, IDivisionOperators<TSelf, TSelf, TSelf>, IUnaryNegationOperators<TSelf, TSelf>
    where TSelf : struct, ISimdFloat<TSelf>
{
    /// <summary>True when this width runs in hardware (a kernel takes the widest such width).</summary>
    static abstract bool IsHardwareAccelerated { get; }

    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TSelf Create(float value);

    /// <summary>Count floats from <paramref name="source"/> + <paramref name="offset"/> (unchecked).</summary>
    static abstract TSelf LoadUnsafe(ref float source, nuint offset);

    /// <summary>Writes the lanes to <paramref name="destination"/> + <paramref name="offset"/> (unchecked).</summary>
    static abstract void StoreUnsafe(TSelf value, ref float destination, nuint offset);

    /// <summary>|x| lane-wise.</summary>
    static abstract TSelf Abs(TSelf x);

    /// <summary>x·y + z lane-wise, rounded once.</summary>
    static abstract TSelf FusedMultiplyAdd(TSelf x, TSelf y, TSelf z);

    /// <summary>2ˣ lane-wise: <see cref="FastExp.Exp2"/> for 16 lanes (relative error ≤ 2.5e-7), the runtime's vector
    /// exp of x·ln 2 for 8.</summary>
    static abstract TSelf Exp2(TSelf x);

    /// <summary>Lane-wise <paramref name="ifNonNegative"/> where <paramref name="sign"/> ≥ 0, else <paramref name="otherwise"/>.</summary>
    static abstract TSelf SelectNonNegative(TSelf sign, TSelf ifNonNegative, TSelf otherwise);
}

/// <summary>16 floats (AVX-512).</summary>
internal readonly struct Simd512(Vector512<float> value) : ISimdFloat<Simd512>
{
    private readonly Vector512<float> _value = value;

    public static bool IsHardwareAccelerated => Vector512.IsHardwareAccelerated;
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Create(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 LoadUnsafe(ref float source, nuint offset) => new(Vector512.LoadUnsafe(ref source, offset));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreUnsafe(Simd512 value, ref float destination, nuint offset) => value._value.StoreUnsafe(ref destination, offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Abs(Simd512 x) => new(Vector512.Abs(x._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 FusedMultiplyAdd(Simd512 x, Simd512 y, Simd512 z) => new(Vector512.FusedMultiplyAdd(x._value, y._value, z._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 Exp2(Simd512 x) => new(FastExp.Exp2(x._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 SelectNonNegative(Simd512 sign, Simd512 ifNonNegative, Simd512 otherwise) =>
        new(Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(sign._value, Vector512<float>.Zero), ifNonNegative._value, otherwise._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 operator +(Simd512 x, Simd512 y) => new(x._value + y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 operator -(Simd512 x, Simd512 y) => new(x._value - y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 operator *(Simd512 x, Simd512 y) => new(x._value * y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 operator /(Simd512 x, Simd512 y) => new(x._value / y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd512 operator -(Simd512 x) => new(-x._value);
}

/// <summary>8 floats (AVX2).</summary>
internal readonly struct Simd256(Vector256<float> value) : ISimdFloat<Simd256>
{
    private readonly Vector256<float> _value = value;

    public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Create(float value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 LoadUnsafe(ref float source, nuint offset) => new(Vector256.LoadUnsafe(ref source, offset));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void StoreUnsafe(Simd256 value, ref float destination, nuint offset) => value._value.StoreUnsafe(ref destination, offset);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Abs(Simd256 x) => new(Vector256.Abs(x._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 FusedMultiplyAdd(Simd256 x, Simd256 y, Simd256 z) => new(Vector256.FusedMultiplyAdd(x._value, y._value, z._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 Exp2(Simd256 x) => new(Vector256.Exp(x._value * Vector256.Create(0.693147180559945309f)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 SelectNonNegative(Simd256 sign, Simd256 ifNonNegative, Simd256 otherwise) =>
        new(Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(sign._value, Vector256<float>.Zero), ifNonNegative._value, otherwise._value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 operator +(Simd256 x, Simd256 y) => new(x._value + y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 operator -(Simd256 x, Simd256 y) => new(x._value - y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 operator *(Simd256 x, Simd256 y) => new(x._value * y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 operator /(Simd256 x, Simd256 y) => new(x._value / y._value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Simd256 operator -(Simd256 x) => new(-x._value);
}
