using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>Optimizer steps against updates derived by hand in float64; clipping and schedule formulas.</summary>
public class OptimizerTests
{
    private static readonly float[] Theta0 = [0.5f, -1.25f, 2f, 0.1f, -0.3f];
    private static readonly float[] G1 = [0.2f, -0.7f, 1.5f, -0.05f, 0.4f];
    private static readonly float[] G2 = [-0.1f, 0.3f, 0.9f, 0.6f, -0.2f];

    private static Var Param() => Var.Parameter(Tensor.FromArray((float[])Theta0.Clone(), Theta0.Length));

    private static void SetGrad(Var p, float[] g)
    {
        p.ZeroGrad();
        p.AccumulateGrad(Tensor.FromArray((float[])g.Clone(), g.Length));
    }

    private static void Close(double[] expected, Var p, double tol = 1e-6)
    {
        var got = p.Value.ToArray();
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])), $"θ[{i}] = {got[i]:G9}, expected {expected[i]:G9}");
    }

    [Fact]
    public void Sgd_Plain_OneStepIsThetaMinusLrTimesGrad()
    {
        var p = Param();
        var opt = new Sgd([p], 0.1f);
        SetGrad(p, G1);
        opt.Step();
        Close(Theta0.Select((t, i) => t - 0.1 * G1[i]).ToArray(), p);
    }

    [Fact]
    public void Sgd_Momentum_TwoStepsMatchHandDerivedUpdates()
    {
        double lr = 0.05, mu = 0.9;
        var p = Param();
        var opt = new Sgd([p], (float)lr, (float)mu);
        SetGrad(p, G1); opt.Step();
        SetGrad(p, G2); opt.Step();
        // b₁ = g₁, θ₁ = θ₀ − η·g₁; b₂ = μ·g₁ + g₂, θ₂ = θ₁ − η·b₂
        Close(Theta0.Select((t, i) => t - lr * G1[i] - lr * (mu * G1[i] + G2[i])).ToArray(), p);
    }

    [Fact]
    public void Sgd_Nesterov_TwoStepsMatchHandDerivedUpdates()
    {
        double lr = 0.05, mu = 0.9;
        var p = Param();
        var opt = new Sgd([p], (float)lr, (float)mu, nesterov: true);
        SetGrad(p, G1); opt.Step();
        SetGrad(p, G2); opt.Step();
        // step 1: b = g₁, θ −= η(g₁ + μg₁); step 2: b = μg₁ + g₂, θ −= η(g₂ + μb)
        Close(Theta0.Select((t, i) => t - lr * (G1[i] + mu * G1[i]) - lr * (G2[i] + mu * (mu * G1[i] + G2[i]))).ToArray(), p);
    }

    [Fact]
    public void Sgd_WeightDecay_AddsLambdaThetaToGradient()
    {
        var p = Param();
        new Sgd([p], 0.1f, weightDecay: 0.01f).Apply(p, G1);
        Close(Theta0.Select((t, i) => t - 0.1 * (G1[i] + 0.01 * t)).ToArray(), p);
    }

    private static double[] AdamReference(double lr, double b1, double b2, double eps, double wd, bool decoupled, params float[][] grads)
    {
        var th = Theta0.Select(v => (double)v).ToArray();
        var m = new double[th.Length]; var v = new double[th.Length];
        for (int t = 1; t <= grads.Length; t++)
            for (int i = 0; i < th.Length; i++)
            {
                double g = grads[t - 1][i];
                if (decoupled) th[i] *= 1 - lr * wd; else g += wd * th[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                double mh = m[i] / (1 - Math.Pow(b1, t)), vh = v[i] / (1 - Math.Pow(b2, t));
                th[i] -= lr * mh / (Math.Sqrt(vh) + eps);
            }
        return th;
    }

    [Fact]
    public void Adam_TwoStepsMatchFloat64Reference()
    {
        var p = Param();
        var opt = new Adam([p], 0.01f);
        SetGrad(p, G1); opt.Step();
        SetGrad(p, G2); opt.Step();
        Close(AdamReference(0.01, 0.9, 0.999, 1e-8, 0, false, G1, G2), p);
    }

    [Fact]
    public void Adam_BiasCorrection_FirstStepMovesEachWeightByTheLearningRate()
    {
        // m̂ = g and v̂ = g² after one step, so θ moves by η·g/(|g| + ε) ≈ η·sign(g) whatever β₁, β₂ are;
        // without the correction the step would be η·(1−β₁)/√(1−β₂) ≈ 3.16·η.
        var p = Param();
        var opt = new Adam([p], 0.01f, beta1: 0.9f, beta2: 0.999f);
        SetGrad(p, G1); opt.Step();
        var th = p.Value.ToArray();
        for (int i = 0; i < th.Length; i++)
            Assert.Equal(-0.01 * Math.Sign(G1[i]), th[i] - (double)Theta0[i], 5);
    }

    [Fact]
    public void Adam_L2WeightDecay_MatchesFloat64Reference()
    {
        var p = Param();
        var opt = new Adam([p], 0.01f, weightDecay: 0.1f);
        SetGrad(p, G1); opt.Step();
        SetGrad(p, G2); opt.Step();
        Close(AdamReference(0.01, 0.9, 0.999, 1e-8, 0.1, false, G1, G2), p);
    }

    [Fact]
    public void AdamW_DecoupledDecay_MatchesFloat64Reference_AndDiffersFromL2()
    {
        var p = Param();
        var opt = new AdamW([p], 0.01f, weightDecay: 0.1f);
        SetGrad(p, G1); opt.Step();
        SetGrad(p, G2); opt.Step();
        var expected = AdamReference(0.01, 0.9, 0.999, 1e-8, 0.1, true, G1, G2);
        Close(expected, p);
        var l2 = AdamReference(0.01, 0.9, 0.999, 1e-8, 0.1, false, G1, G2);
        Assert.True(expected.Zip(l2).Max(t => Math.Abs(t.First - t.Second)) > 1e-4);
    }

    [Fact]
    public void Optimizer_SkipsParametersWithoutGradient()
    {
        var p = Param(); var q = Param();
        var opt = new Adam([p, q], 0.01f);
        SetGrad(p, G1);
        opt.Step();
        Assert.Equal(Theta0, q.Value.ToArray());
        Assert.NotEqual(Theta0, p.Value.ToArray());
    }

    [Fact]
    public void Optimizer_RejectsNonLeafOrDuplicateParameters()
    {
        var p = Param();
        Assert.Throws<ArgumentException>(() => new Sgd([p, p], 0.1f));
        Assert.Throws<ArgumentException>(() => new Sgd([p * 2f], 0.1f));
        Assert.Throws<ArgumentException>(() => new Sgd([Var.Constant(Tensor.Zeros(2))], 0.1f));
    }

    [Fact]
    public void GradClip_ScalesToTargetNorm_AndReturnsNormBefore()
    {
        var a = Var.Parameter(Tensor.Zeros(2)); var b = Var.Parameter(Tensor.Zeros(1));
        a.AccumulateGrad(Tensor.FromArray([3f, 4f], 2));
        b.AccumulateGrad(Tensor.FromArray([12f], 1));
        double before = GradClip.ByGlobalNorm([a, b], 2f);
        Assert.Equal(13.0, before, 5);
        Assert.Equal(2.0, GradClip.GlobalNorm([a, b]), 5);
        // direction kept: every component scaled by 2/13
        Assert.Equal(3f * 2f / 13f, a.Grad![0], 6);
        Assert.Equal(12f * 2f / 13f, b.Grad![0], 6);
    }

    [Fact]
    public void GradClip_BelowThreshold_LeavesGradientsUnchanged()
    {
        var a = Var.Parameter(Tensor.Zeros(2));
        a.AccumulateGrad(Tensor.FromArray([0.3f, 0.4f], 2));
        Assert.Equal(0.5, GradClip.ByGlobalNorm([a], 1f), 6);
        Assert.Equal([0.3f, 0.4f], a.Grad!.ToArray());
    }

    [Fact]
    public void WarmupCosine_FollowsItsFormulaAtKeySteps()
    {
        var s = new WarmupCosineSchedule(peakRate: 1e-3f, warmupSteps: 10, totalSteps: 110, minRate: 1e-5f);
        Assert.Equal(1e-4f, s.At(1), 9);
        Assert.Equal(5e-4f, s.At(5), 9);
        Assert.Equal(1e-3f, s.At(10), 9);
        // halfway through the decay the cosine is 0: the midpoint of peak and floor
        Assert.Equal((1e-3 + 1e-5) / 2, s.At(60), 8);
        // a quarter of the way: η_min + ½(Δ)(1 + cos(π/4))
        Assert.Equal(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.Cos(Math.PI / 4)), s.At(35), 8);
        Assert.Equal(1e-5f, s.At(110), 9);
        Assert.Equal(1e-5f, s.At(500), 9);
        for (int t = 11; t < 110; t++) Assert.True(s.At(t + 1) <= s.At(t), $"not decreasing at {t}");
    }

    [Fact]
    public void InverseSqrt_FollowsNoamFormula()
    {
        var s = new InverseSqrtSchedule(modelSize: 512, warmupSteps: 4000);
        double peak = 1 / Math.Sqrt(512.0 * 4000);
        Assert.Equal(peak, s.At(4000), 9);
        Assert.Equal(peak / 2, s.At(2000), 9);   // linear warm-up
        Assert.Equal(peak / 2, s.At(16000), 9);  // 1/√step decay: 4× the steps, half the rate
        Assert.Equal(peak / 4000, s.At(1), 11);
    }
}

internal static class OptimizerTestExtensions
{
    public static void Apply(this Optimizer opt, Var p, float[] g)
    {
        p.ZeroGrad();
        p.AccumulateGrad(Tensor.FromArray((float[])g.Clone(), g.Length));
        opt.Step();
    }
}
