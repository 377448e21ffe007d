namespace Attention.Data;

/// <summary>Deterministic per-item hashes that decide dataset splits.</summary>
internal static class DataHash
{
    /// <summary>A uniform number in [0, 1) fixed by (index, seed) alone: SplitMix64 of the two mixed.</summary>
    public static double UnitHash(long index, ulong seed)
    {
        ulong z = seed ^ ((ulong)index * 0x9E3779B97F4A7C15UL);
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
