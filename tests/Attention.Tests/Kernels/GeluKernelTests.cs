using System.Runtime.Intrinsics;
using Attention.Kernels;
using Attention.Tensors;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary>
/// The vectorised exact GELU of the BERT inference path against float64 x·Φ(x). Its erfc is Abramowitz and Stegun
/// 7.1.26, |error| ≤ 1.5e-7 on erf, so GELU's absolute error is at most ½|x|·1.5e-7 from the formula; float
/// rounding of the dozen operations adds a few ulp of |x| (2.6e-7·|x| at most, measured over 200,000 normal inputs).
/// The bound checked, 4e-7·|x| + 1e-37, holds both; a wrong coefficient, sign branch or lane offset misses it by
/// orders of magnitude.
/// </summary>
public class GeluKernelTests
{
    private static void AssertMatchesReference(float[] x, float[] y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double expected = NaiveGelu.Gelu(x[i]);
            Assert.True(Math.Abs(y[i] - expected) <= 4e-7 * Math.Abs(x[i]) + 1e-37,
                $"GELU({x[i]:R}) at {i} of {x.Length}: expected {expected:R}, got {y[i]:R}");
        }
    }

    // every length 1..80 crosses one to five 16-lane vectors and every tail length of both widths
    private static IEnumerable<float[]> Inputs()
    {
        var rng = new Rng(515);
        for (int n = 1; n <= 80; n++) yield return rng.NormalArray(n, 0f, 3f);
        yield return [-12f, -9f, -5.5f, -3f, -1f, -1e-3f, -1e-30f, -0f, 0f, 1e-30f, 1e-3f, 0.5f, 1f, 3f, 5.5f, 9f, 12f, 1e4f];
    }

    private static void CheckWidth<TVector>() where TVector : struct, ISimdFloat<TVector>
    {
        foreach (var x in Inputs())
        {
            var y = new float[x.Length];
            GeluKernel.Apply<TVector>(x, y);
            AssertMatchesReference(x, y);
        }
    }

    [SkippableFact]
    public void Gelu_Width512_MatchesFloat64_EveryLength1To80()
    {
        Skip.IfNot(Vector512.IsHardwareAccelerated, "this CPU has no 512-bit vectors: the 16-wide loop is not run here");
        CheckWidth<Simd512>();
    }

    [SkippableFact]
    public void Gelu_Width256_MatchesFloat64_EveryLength1To80()
    {
        Skip.IfNot(Vector256.IsHardwareAccelerated, "this CPU has no 256-bit vectors: the 8-wide loop is not run here");
        CheckWidth<Simd256>();
    }

    [Fact]
    public void Gelu_Dispatch_MatchesFloat64_EveryLength1To80()
    {
        foreach (var x in Inputs())
        {
            var y = new float[x.Length];
            GeluKernel.Apply(x, y);
            AssertMatchesReference(x, y);
        }
    }

    [Fact]
    public void Gelu_InPlace_EqualsOutOfPlace()
    {
        var x = new Rng(516).NormalArray(1536 + 7, 0f, 2f);
        var y = new float[x.Length];
        GeluKernel.Apply(x, y);
        GeluKernel.Apply(x, x);
        Assert.Equal(y, x);
    }

    [Fact]
    public void Gelu_NaNStaysNaN_AndLargePositiveIsIdentity()
    {
        var x = new float[35];
        x[3] = float.NaN; x[20] = float.NaN; x[34] = float.NaN;
        x[5] = 50f; x[21] = 1e30f;
        GeluKernel.Apply(x, x);
        Assert.True(float.IsNaN(x[3]) && float.IsNaN(x[20]) && float.IsNaN(x[34]));
        Assert.Equal(50f, x[5]);
        Assert.Equal(1e30f, x[21]);
    }

    private static void CheckBiasBlock(Action<float[], int, int, float[]> apply)
    {
        var rng = new Rng(517);
        foreach (var (rows, cols, ld) in new[] { (1, 1, 1), (3, 64, 70), (5, 17, 17), (2, 40, 1536) })
        {
            var x = rng.NormalArray((rows - 1) * ld + cols, 0f, 3f);
            var bias = rng.NormalArray(cols, 0f, 1f);
            var before = (float[])x.Clone();
            apply(x, ld, rows, bias);
            for (int i = 0; i < x.Length; i++)
            {
                int r = i / ld, c = i % ld;
                if (c >= cols) { Assert.Equal(before[i], x[i]); continue; }   // between rows: untouched
                float input = before[i] + bias[c];
                double expected = NaiveGelu.Gelu(input);
                Assert.True(Math.Abs(x[i] - expected) <= 4e-7 * Math.Abs(input) + 1e-37,
                    $"GELU(x + b) at row {r}, column {c} ({rows}×{cols}, stride {ld}): expected {expected:R}, got {x[i]:R}");
            }
        }
    }

    [Fact]
    public void AddBiasApply_IsGeluOfXPlusBias_OnEveryRowOfTheBlock_AndLeavesTheStrideGapAlone()
    {
        CheckBiasBlock((x, ld, rows, bias) => GeluKernel.AddBiasApply(x, ld, rows, bias));
        if (Vector256.IsHardwareAccelerated) CheckBiasBlock((x, ld, rows, bias) => GeluKernel.AddBiasApply<Simd256>(x, ld, rows, bias));
    }

    [Fact]
    public void AddBiasApply_BadBlock_ThrowsNamingExpectedAndActual()
    {
        var e = Assert.Throws<ArgumentException>(() => GeluKernel.AddBiasApply(new float[10], 8, 2, new float[4]));
        Assert.Contains("12", e.Message); Assert.Contains("10", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => GeluKernel.AddBiasApply(new float[10], 3, 2, new float[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GeluKernel.AddBiasApply(new float[10], 4, -1, new float[4]));
    }

    [Fact]
    public void Gelu_OutputOfOtherLength_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => GeluKernel.Apply(new float[5], new float[4]));
        Assert.Equal("y", e.ParamName);
    }
}
