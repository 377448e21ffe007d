namespace Attention.Tensors;

/// <summary>
/// Seeded pseudo-random numbers that give the same sequence for the same seed on every machine and
/// .NET version (System.Random makes no such promise). The generator is xoshiro256** (Blackman and
/// Vigna, 2018), its 256-bit state expanded from the 64-bit seed by SplitMix64 as the authors advise.
/// Normal deviates come from the Box–Muller transform, computed in double and rounded once.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    /// <summary>A generator whose whole sequence is fixed by <paramref name="seed"/>.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x); _s1 = SplitMix64(ref x); _s2 = SplitMix64(ref x); _s3 = SplitMix64(ref x);
    }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, 1) with 24 random bits (every float32 step of the unit interval's top binade).</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>), unbiased (Lemire's multiply-and-reject).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, "expected a positive bound");
        ulong bound = (ulong)maxExclusive;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextUInt64() >> 32;
            ulong product = r * bound;
            if ((uint)product >= threshold) return (int)(product >> 32);
        }
    }

    /// <summary>Uniform in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public float Uniform(float low = 0f, float high = 1f)
    {
        float v = (float)(low + (high - (double)low) * NextDouble());
        // Rounding to float can land on high itself; keep the interval half-open.
        return v < high || !(high > low) ? v : MathF.BitDecrement(high);
    }

    /// <summary>Gaussian with the given mean and standard deviation (Box–Muller, pairs cached).</summary>
    public float Normal(float mean = 0f, float std = 1f) => (float)(mean + std * NextStandardNormal());

    /// <summary>A standard normal deviate in double precision.</summary>
    public double NextStandardNormal()
    {
        if (_hasSpare) { _hasSpare = false; return _spareNormal; }
        // 1 − U lies in (0, 1], so the logarithm is finite.
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1)), theta = 2.0 * Math.PI * u2;
        _spareNormal = r * Math.Sin(theta); _hasSpare = true;
        return r * Math.Cos(theta);
    }

    /// <summary>Fills <paramref name="destination"/> with uniform values in [low, high).</summary>
    public void FillUniform(Span<float> destination, float low = 0f, float high = 1f)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = Uniform(low, high);
    }

    /// <summary>Fills <paramref name="destination"/> with Gaussian values.</summary>
    public void FillNormal(Span<float> destination, float mean = 0f, float std = 1f)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = Normal(mean, std);
    }

    /// <summary>Fills every element of <paramref name="tensor"/> (views included), in logical order.</summary>
    public void FillUniform(Tensor tensor, float low = 0f, float high = 1f)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        tensor.ForEachIndex(i => tensor.Storage[i] = Uniform(low, high));
    }

    /// <summary>Fills every element of <paramref name="tensor"/> with Gaussian values, in logical order.</summary>
    public void FillNormal(Tensor tensor, float mean = 0f, float std = 1f)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        tensor.ForEachIndex(i => tensor.Storage[i] = Normal(mean, std));
    }

    /// <summary>A new tensor of uniform values in [low, high).</summary>
    public Tensor UniformTensor(int[] shape, float low = 0f, float high = 1f)
    {
        var t = Tensor.Zeros(shape);
        FillUniform(t.AsSpan(), low, high);
        return t;
    }

    /// <summary>A new tensor of Gaussian values.</summary>
    public Tensor NormalTensor(int[] shape, float mean = 0f, float std = 1f)
    {
        var t = Tensor.Zeros(shape);
        FillNormal(t.AsSpan(), mean, std);
        return t;
    }

    /// <summary>A new float array of Gaussian values (the common case for kernel tests).</summary>
    public float[] NormalArray(int length, float mean = 0f, float std = 1f)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "expected a non-negative length");
        var a = new float[length];
        FillNormal(a, mean, std);
        return a;
    }
}
