using Attention.Kernels;
using Attention.Tensors;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

public class GemmTests
{
    private sealed record Problem(bool TA, bool TB, int M, int N, int K, int Lda, int Ldb, int Ldc, float[] A, float[] B, float[] C);

    private static Problem Make(bool ta, bool tb, int m, int n, int k, int pad = 0, ulong seed = 1)
    {
        var rng = new Rng(seed + (ulong)(m * 7919 + n * 131 + k));
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
        var a = rng.NormalArray(Math.Max(0, aRows * lda));
        var b = rng.NormalArray(Math.Max(0, bRows * ldb));
        var c = rng.NormalArray(Math.Max(0, m * ldc));
        return new Problem(ta, tb, m, n, k, Math.Max(1, lda), Math.Max(1, ldb), Math.Max(1, ldc), a, b, c);
    }

    // A float32 dot product of length k carries a rounding error up to about k·ε·Σ|aᵢbᵢ| in the worst
    // case and √k·ε·Σ|aᵢbᵢ| typically; blocking changes the order, not the bound. So the tolerance is
    // the standard 1e-6 + 1e-5·|ref| plus 4·√k·ε of the absolute-product sum (plus |β·C| for β ≠ 0).
    private static void AssertMatches(Problem p, float alpha, float beta, float[] got)
    {
        var expected = NaiveGemm.Multiply(p.TA, p.TB, p.M, p.N, p.K, alpha, p.A, p.Lda, p.B, p.Ldb, beta, p.C, p.Ldc);
        var scale = NaiveGemm.AbsProducts(p.TA, p.TB, p.M, p.N, p.K, p.A, p.Lda, p.B, p.Ldb);
        double eps = Math.Pow(2, -24);
        for (int i = 0; i < p.M; i++)
            for (int j = 0; j < p.N; j++)
            {
                double e = expected[i * p.N + j];
                double tol = 1e-6 + 1e-5 * Math.Abs(e) + 4 * Math.Sqrt(p.K) * eps * (Math.Abs(alpha) * scale[i * p.N + j] + Math.Abs(beta * p.C[i * p.Ldc + j]));
                float g = got[i * p.Ldc + j];
                Assert.True(Math.Abs(g - e) <= tol, $"C[{i},{j}]: expected {e:R}, got {g:R} (tolerance {tol:E2})");
            }
    }

    private static float[] Run(Problem p, float alpha, float beta, int threads = 1, Gemm.Kernel kernel = Gemm.Kernel.Auto)
    {
        var c = (float[])p.C.Clone();
        Gemm.Multiply(p.TA, p.TB, p.M, p.N, p.K, alpha, p.A, p.Lda, p.B, p.Ldb, beta, c, p.Ldc, threads, kernel);
        return c;
    }

    public static TheoryData<bool, bool, int, int, int> Shapes()
    {
        var data = new TheoryData<bool, bool, int, int, int>();
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 7, 7), (63, 65, 63), (127, 129, 131), (129, 127, 300), (13, 200, 5) })
                data.Add(ta, tb, m, n, k);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Gemm_MatchesReference_AllTransposes_OddSizes(bool ta, bool tb, int m, int n, int k)
    {
        var p = Make(ta, tb, m, n, k);
        AssertMatches(p, 1f, 0f, Run(p, 1f, 0f));
    }

    // Every edge kernel: m % 6 = 0..5 (the 2- and 4-row kernels, the packed last sliver beside in-place A), and column
    // tails of 1, 16, 17, 24, 25, 32, 33 and 40 beside full slivers (the 16- and 32-wide kernels, and with A stored
    // transposed the row-vector edge kernel, including its masked last rows at m = 65, 66 and several row blocks at 150).
    [Theory]
    [InlineData(false, false)] [InlineData(true, false)] [InlineData(false, true)] [InlineData(true, true)]
    public void Gemm_MatchesReference_EveryRowAndColumnRemainder(bool ta, bool tb)
    {
        foreach (int m in new[] { 1, 2, 4, 5, 61, 62, 63, 64, 65, 66, 150 })
            foreach (int n in new[] { 1, 16, 17, 24, 25, 33, 64 + 1, 64 + 24, 64 + 40, 4 * 64 + 1, 5 * 64 + 7 })
            {
                var p = Make(ta, tb, m, n, 37, pad: 1, seed: (ulong)(m * 1000 + n));
                bool plain = (m + n) % 2 == 0;
                float alpha = plain ? 1f : 0.75f, beta = plain ? 0f : -0.5f;
                AssertMatches(p, alpha, beta, Run(p, alpha, beta));
            }
    }

    [Theory]
    [InlineData(false, false)] [InlineData(true, true)]
    public void Gemm_MatchesReference_WhenKSpansSeveralCacheBlocks_AndMSeveralRowBlocks(bool ta, bool tb)
    {
        // k > KC and m > MC so the β = 1 accumulation across k blocks and A re-packing both run.
        var p = Make(ta, tb, Gemm.MC + 7, 70, Gemm.KC * 2 + 3);
        AssertMatches(p, 1f, 0f, Run(p, 1f, 0f));
    }

    [Theory]
    [InlineData(1f, 0f)] [InlineData(-0.5f, 1f)] [InlineData(2f, -3f)] [InlineData(0f, 0.25f)]
    public void Gemm_AlphaBeta_MatchReference_WithPaddedLeadingDimensions(float alpha, float beta)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            var p = Make(ta, tb, 67, 129, 33, pad: 5);
            var got = Run(p, alpha, beta);
            AssertMatches(p, alpha, beta, got);
            // The padding columns of C (between n and ldc) must be left untouched.
            for (int i = 0; i < p.M; i++)
                for (int j = p.N; j < p.Ldc; j++) Assert.Equal(p.C[i * p.Ldc + j], got[i * p.Ldc + j]);
        }
    }

    [Fact]
    public void Gemm_BetaZero_IgnoresNaNInC()
    {
        var p = Make(false, false, 13, 70, 9);
        Array.Fill(p.C, float.NaN);
        var got = Run(p, 1f, 0f);
        AssertMatches(p with { C = new float[p.C.Length] }, 1f, 0f, got);
    }

    [Fact]
    public void Gemm_KZero_ScalesCByBeta()
    {
        var p = Make(false, false, 5, 6, 0);
        var got = Run(p, 1f, 0.5f);
        for (int i = 0; i < got.Length; i++) Assert.Equal(0.5f * p.C[i], got[i]);
    }

    [Theory]
    [InlineData("Vector256")] [InlineData("Scalar")]
    public void Gemm_FallbackKernels_MatchReference(string name)
    {
        // Vector256 APIs run (in software if need be) on any CPU, so both paths are checked everywhere.
        var kernel = Enum.Parse<Gemm.Kernel>(name);
        foreach (var (ta, tb) in new[] { (false, false), (true, true) })
        {
            var p = Make(ta, tb, 31, 37, 41, pad: 2);
            AssertMatches(p, 1.5f, -1f, Run(p, 1.5f, -1f, 1, kernel));
        }
    }

    [Theory]
    [InlineData(300, 90, 70)]   // m ≥ n: split over row bands
    [InlineData(50, 400, 70)]   // n > m: split over column bands
    public void Gemm_MultiThreaded_IsBitwiseEqualToSingleThreaded(int m, int n, int k)
    {
        var p = Make(false, true, m, n, k, pad: 3);
        var one = Run(p, 1f, 0.5f, threads: 1);
        var many = Run(p, 1f, 0.5f, threads: 4);
        Assert.Equal(one, many);
    }

    [Theory]
    [InlineData(300, 17, 70)]    // row bands: the narrow-edge kernel starts its 64-row chunks at each band's first row
    [InlineData(50, 401, 70)]    // column bands: the last band ends in a 17-wide edge
    public void Gemm_MultiThreaded_IsBitwiseEqualToSingleThreaded_ATransposed_NarrowEdge(int m, int n, int k)
    {
        var p = Make(true, false, m, n, k, pad: 3);
        Assert.Equal(Run(p, 1f, 0.5f, threads: 1), Run(p, 1f, 0.5f, threads: 4));
    }

    [Fact]
    public void MultiplyBatched_EqualsPerItemMultiply()
    {
        const int batch = 3, m = 9, n = 20, k = 11;
        var rng = new Rng(99);
        var a = rng.NormalArray(batch * m * k); var b = rng.NormalArray(k * n); // B shared: stride 0
        var c = new float[batch * m * n];
        Gemm.MultiplyBatched(false, false, m, n, k, 1f, a, k, m * k, b, n, 0, 0f, c, n, m * n, batch, maxThreads: 2);
        for (int i = 0; i < batch; i++)
        {
            var expected = new float[m * n];
            Gemm.Multiply(false, false, m, n, k, 1f, a.AsSpan(i * m * k), k, b, n, 0f, expected, n, 1);
            Assert.Equal(expected, c.AsSpan(i * m * n, m * n).ToArray());
        }
    }

    [Fact]
    public void Gemm_BadArguments_ThrowNamingExpectedAndActual()
    {
        var a = new float[6]; var b = new float[6]; var c = new float[4];
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, -1, 2, 3, 1f, a, 3, b, 2, 0f, c, 2));
        var lda = Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2));
        Assert.Contains("lda ≥ 3", lda.Message);
        var shortB = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b.AsSpan(0, 5), 2, 0f, c, 2));
        Assert.Contains("at least 6 elements, got 5", shortB.Message);
        var shortC = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c.AsSpan(0, 3), 2));
        Assert.Contains("got 3", shortC.Message);
        // Transposed A is stored k×m = 3×2, so lda must be at least 2 and a must hold 6.
        Gemm.Multiply(true, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2);
        var shared = new float[16];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 2, 1f, shared.AsSpan(0, 4), 2, shared.AsSpan(4, 4), 2, 0f, shared.AsSpan(2, 4), 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2, maxThreads: -1));
    }
}
