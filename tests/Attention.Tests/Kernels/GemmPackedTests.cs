using Attention.Kernels;
using Attention.Tensors;

namespace Attention.Tests.Kernels;

/// <summary>Gemm.Prepack + Gemm.Multiply(packed) against the unpacked product: same operations in the same order,
/// so bitwise equal, for every kernel, transpose, thread split and block boundary (k &gt; KC, n &gt; NC).</summary>
public class GemmPackedTests
{
    private static (float[] A, float[] B, float[] C) Make(bool ta, bool tb, int m, int n, int k, int pad, ulong seed)
    {
        var rng = new Rng(seed);
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        return (rng.NormalArray((ta ? k : m) * lda), rng.NormalArray((tb ? n : k) * ldb), rng.NormalArray(m * ldc));
    }

    public static TheoryData<bool, bool, int, int, int, int> Cases()
    {
        var data = new TheoryData<bool, bool, int, int, int, int>();
        foreach (var (ta, tb) in new[] { (false, true), (false, false), (true, true), (true, false) })
            foreach (var (m, n, k) in new[] { (1, 1, 1), (12, 1152, 384), (7, 129, 63), (150, 70, Gemm.KC * 2 + 3), (5, Gemm.NC + 129, 40) })
                foreach (int threads in new[] { 1, 2 })
                    data.Add(ta, tb, m, n, k, threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PackedMultiply_IsBitwiseEqualToUnpacked(bool ta, bool tb, int m, int n, int k, int threads)
    {
        const int pad = 3;
        var (a, b, c0) = Make(ta, tb, m, n, k, pad, (ulong)(m * 31 + n * 7 + k));
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var expected = (float[])c0.Clone();
        Gemm.Multiply(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, expected, ldc, threads);
        var packed = Gemm.Prepack(tb, b, ldb, k, n);
        var got = (float[])c0.Clone();
        Gemm.Multiply(ta, m, 0.75f, a, lda, packed, 0.5f, got, ldc, threads);
        Assert.Equal(expected, got);
    }

    public static TheoryData<bool, int, int, int, int> EpilogueCases()
    {
        var data = new TheoryData<bool, int, int, int, int>();
        foreach (bool ta in new[] { false, true })
            foreach (var (m, n, k) in new[] { (1, 1, 1), (12, 1152, 384), (150, 70, Gemm.KC * 2 + 3), (5, Gemm.NC + 129, 40), (301, 384, 96) })
                foreach (int threads in new[] { 1, 2 })
                    data.Add(ta, m, n, k, threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(EpilogueCases))]
    public void Epilogue_HandsOverEveryElementOnce_HoldingItsFinalValue_AndRowsWhole(bool ta, int m, int n, int k, int threads)
    {
        const int pad = 2;
        var (a, b, c0) = Make(ta, false, m, n, k, pad, (ulong)(m + n + k));
        int lda = (ta ? m : k) + pad, ldb = n + pad, ldc = n + pad;
        var expected = (float[])c0.Clone();
        Gemm.Multiply(ta, false, m, n, k, 1f, a, lda, b, ldb, 0.5f, expected, ldc, threads);
        var got = (float[])c0.Clone();
        var tileVisits = new int[m * n];
        var rowVisits = new int[m];
        int wrongInTile = 0, wrongInRows = 0, rowsBeforeTiles = 0;
        var epilogue = new GemmEpilogue
        {
            Tile = (r0, r1, c0_, c1) =>
            {
                for (int r = r0; r < r1; r++)
                    for (int c = c0_; c < c1; c++)
                    {
                        Interlocked.Increment(ref tileVisits[r * n + c]);
                        if (got[r * ldc + c] != expected[r * ldc + c]) Interlocked.Increment(ref wrongInTile);
                    }
            },
            Rows = (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    Interlocked.Increment(ref rowVisits[r]);
                    for (int c = 0; c < n; c++)
                    {
                        if (got[r * ldc + c] != expected[r * ldc + c]) Interlocked.Increment(ref wrongInRows);
                        if (Volatile.Read(ref tileVisits[r * n + c]) != 1) Interlocked.Increment(ref rowsBeforeTiles);
                    }
                }
            },
        };
        Gemm.Multiply(ta, m, 1f, a, lda, Gemm.Prepack(false, b, ldb, k, n), 0.5f, got, ldc, epilogue, threads);
        Assert.Equal(expected, got);
        Assert.All(tileVisits, v => Assert.Equal(1, v));
        Assert.All(rowVisits, v => Assert.Equal(1, v));
        Assert.Equal((0, 0, 0), (wrongInTile, wrongInRows, rowsBeforeTiles));
    }

    [Fact]
    public void Epilogue_RunsOnTheScaledC_WhenKIsZero()
    {
        var c = Enumerable.Repeat(2f, 3 * 4).ToArray();
        int tiles = 0, rows = 0;
        Gemm.Multiply(false, 3, 1f, new float[3], 1, Gemm.Prepack(false, [], 4, 0, 4), 3f, c, 4,
                      new GemmEpilogue { Tile = (r0, r1, c0, c1) => tiles += (r1 - r0) * (c1 - c0), Rows = (r0, r1) => rows += r1 - r0 });
        Assert.All(c, x => Assert.Equal(6f, x));
        Assert.Equal((12, 3), (tiles, rows));
    }

    [Theory]
    [InlineData("Vector256")] [InlineData("Scalar")]
    public void PackedMultiply_FallbackKernels_AreBitwiseEqualToUnpacked(string name)
    {
        var kernel = Enum.Parse<Gemm.Kernel>(name);
        var (a, b, c0) = Make(false, true, 13, 130, 70, 0, 5);
        var expected = (float[])c0.Clone();
        Gemm.Multiply(false, true, 13, 130, 70, 1f, a, 70, b, 70, 0f, expected, 130, 1, kernel);
        var packed = Gemm.Prepack(true, b, 70, 70, 130, kernel);
        var got = (float[])c0.Clone();
        Gemm.Multiply(false, 13, 1f, a, 70, packed, 0f, got, 130, 1);
        Assert.Equal(expected, got);
    }

    [Fact]
    public void PackedMultiply_BetaZero_IgnoresNaNInC_AndKZeroScalesC()
    {
        var rng = new Rng(9);
        var a = rng.NormalArray(4 * 8); var b = rng.NormalArray(8 * 5);
        var c = Enumerable.Repeat(float.NaN, 4 * 5).ToArray();
        Gemm.Multiply(false, 4, 1f, a, 8, Gemm.Prepack(false, b, 5, 8, 5), 0f, c, 5);
        Assert.All(c, x => Assert.True(float.IsFinite(x)));
        var c2 = Enumerable.Repeat(2f, 4 * 5).ToArray();
        Gemm.Multiply(false, 4, 1f, a, 1, Gemm.Prepack(false, [], 5, 0, 5), 3f, c2, 5);
        Assert.All(c2, x => Assert.Equal(6f, x));
    }

    [Fact]
    public void Prepack_And_PackedMultiply_BadArguments_ThrowNamingExpectedAndActual()
    {
        var b = new float[6 * 4];
        var e = Assert.Throws<ArgumentException>(() => Gemm.Prepack(false, b, 4, 7, 4));
        Assert.Contains("28", e.Message); Assert.Contains("24", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Prepack(false, b, 4, -1, 4));
        var packed = Gemm.Prepack(false, b, 4, 6, 4);
        Assert.Equal((6, 4), (packed.K, packed.N));
        e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 3, 1f, new float[17], 6, packed, 0f, new float[12], 4));
        Assert.Contains("18", e.Message); Assert.Contains("17", e.Message);
        e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 3, 1f, new float[18], 6, packed, 0f, new float[11], 4));
        Assert.Contains("12", e.Message); Assert.Contains("11", e.Message);
        var shared = new float[18 + 12];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 3, 1f, shared.AsSpan(0, 18), 6, packed, 0f, shared.AsSpan(6, 12), 4));
        Assert.Throws<ArgumentNullException>(() => Gemm.Multiply(false, 3, 1f, new float[18], 6, null!, 0f, new float[12], 4));
    }
}
