using System.Runtime.Intrinsics;
using Attention.Kernels;

namespace Attention.Tests.Kernels;

/// <summary>The vectorised exp used by the attention kernels (AVX-512 machines only; reported skipped elsewhere).</summary>
public class AttentionFastExpTests
{
    private static double MaxRelativeError(Func<Vector512<float>, Vector512<float>> f, Func<double, double> exact, float from, float to)
    {
        double worst = 0;
        var x = new float[16];
        const int steps = 200_000;
        for (int i = 0; i < steps; i += 16)
        {
            for (int t = 0; t < 16; t++) x[t] = from + (to - from) * (i + t) / steps;
            var y = f(Vector512.Create(x));
            for (int t = 0; t < 16; t++) worst = Math.Max(worst, Math.Abs(y[t] / exact(x[t]) - 1));
        }
        return worst;
    }

    [SkippableFact]
    public void Exp2_RelativeErrorBelow2p5e7_OverNormalRange()
    {
        Skip.If(!FastExp.IsSupported, "this CPU has no AVX-512: FastExp is not used here");
        Assert.True(MaxRelativeError(FastExp.Exp2, x => Math.Pow(2, x), -125, 127) < 2.5e-7);
    }

    [SkippableFact]
    public void Exp_RelativeErrorBelow3e7_OverNormalRange()
    {
        Skip.If(!FastExp.IsSupported, "this CPU has no AVX-512: FastExp is not used here");
        Assert.True(MaxRelativeError(FastExp.Exp, Math.Exp, -87, 88) < 3e-7);
    }

    [SkippableFact]
    public void Exp2BoundedFinite_GivesTheBitsOfExp2Bounded_ForEveryFiniteArgument_DownPastUnderflow()
    {
        Skip.If(!FastExp.IsSupported, "this CPU has no AVX-512: FastExp is not used here");
        var x = new float[16];
        for (int i = 0; i < 40_000; i += 16)
        {
            for (int t = 0; t < 16; t++) x[t] = -400f + 527f * (i + t) / 40_000;
            var v = Vector512.Create(x);
            Assert.Equal(FastExp.Exp2Bounded(v), FastExp.Exp2BoundedFinite(v));
        }
    }

    [SkippableFact]
    public void Exp_SpecialValues_NegInfIsZero_PosInfIsInf_NaNPropagates_UnderflowIsZero()
    {
        Skip.If(!FastExp.IsSupported, "this CPU has no AVX-512: FastExp is not used here");
        foreach (var f in new Func<Vector512<float>, Vector512<float>>[] { FastExp.Exp, FastExp.Exp2 })
        {
            Assert.Equal(0f, f(Vector512.Create(float.NegativeInfinity))[0]);
            Assert.Equal(float.PositiveInfinity, f(Vector512.Create(float.PositiveInfinity))[0]);
            Assert.True(float.IsNaN(f(Vector512.Create(float.NaN))[0]));
            Assert.Equal(0f, f(Vector512.Create(-200f))[0]);
            Assert.Equal(1f, f(Vector512.Create(0f))[0]);
        }
        Assert.Equal(float.PositiveInfinity, FastExp.Exp(Vector512.Create(89f))[0]);
        Assert.Equal(0.5f, FastExp.Exp2(Vector512.Create(-1f))[0]);
    }
}
