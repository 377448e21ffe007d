using Attention.Autograd;
using Attention.Nn.Advances;
using Attention.Positions;
using Attention.Tensors;
using Attention.Tests.Nn;
using static Attention.Tests.Advances.AdvancesReference;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Advances;

/// <summary>The answer-48 attention layers against float64 references written from the papers' formulas, and their gradients.</summary>
public class AttentionVariantLayerTests
{
    private static Tensor Input(int b, int l, int e, ulong seed) => new Rng(seed).NormalTensor([b, l, e]);

    /// <summary>Float64 SoftmaxAttention: projections, [QK-norm], RoPE, scale, [soft-cap], causal mask, softmax [+ sink], P·V, [gate], W_o.</summary>
    private static double[] Reference(SoftmaxAttention a, Tensor x, bool causal)
    {
        int b = x.Dim(0), l = x.Dim(1), h = a.Heads, g = a.KvHeads, dh = a.HeadDim;
        var xd = ToDouble(x);
        var q = Linear(a.Q, xd); var k = Linear(a.K, xd); var v = Linear(a.V, xd);
        if (a.Options.QkNorm) { q = RmsNorm(q, a.QueryGain!.Value.ToArray(), 1e-6); k = RmsNorm(k, a.KeyGain!.Value.ToArray(), 1e-6); }
        var gate = a.Gate is null ? null : Linear(a.Gate, xd);
        var heads = new double[b * l * h * dh];
        double scale = 1 / Math.Sqrt(dh), cap = a.Options.SoftCap;
        for (int n = 0; n < b; n++)
            for (int hh = 0; hh < h; hh++)
            {
                int kvh = hh / (h / g);
                for (int i = 0; i < l; i++)
                {
                    var qi = Rope(a.Rope!, q.AsSpan(((n * l + i) * h + hh) * dh, dh), i);
                    var s = new double[l];
                    for (int j = 0; j < l; j++)
                    {
                        if (causal && j > i) { s[j] = double.NegativeInfinity; continue; }
                        var kj = Rope(a.Rope!, k.AsSpan(((n * l + j) * g + kvh) * dh, dh), j);
                        s[j] = scale * Dot(qi, kj);
                        if (cap > 0) s[j] = cap * Math.Tanh(s[j] / cap);
                    }
                    var p = Softmax(s, a.Sinks is null ? double.NegativeInfinity : a.Sinks.Value[hh]);
                    double gt = gate is null ? 1 : 1 / (1 + Math.Exp(-gate[(n * l + i) * h + hh]));
                    for (int j = 0; j < l; j++)
                        for (int c = 0; c < dh; c++)
                            heads[((n * l + i) * h + hh) * dh + c] += gt * p[j] * v[((n * l + j) * g + kvh) * dh + c];
                }
            }
        return Linear(a.O, heads);
    }

    public static TheoryData<string> SoftmaxSwitches => new() { "plain", "mqa", "gqa+qknorm", "softcap", "gate+sinks", "all" };

    private static SoftmaxAttentionOptions Options(string name) => name switch
    {
        "plain" => new(),
        "mqa" => new() { KvHeads = 1 },
        "gqa+qknorm" => new() { KvHeads = 2, QkNorm = true },
        "softcap" => new() { SoftCap = 0.7f },
        "gate+sinks" => new() { OutputGate = true, LearnedSinks = true },
        _ => new() { KvHeads = 2, QkNorm = true, SoftCap = 1.5f, OutputGate = true, LearnedSinks = true },
    };

    private static SoftmaxAttention MakeSoftmax(string name, ulong seed)
    {
        var a = new SoftmaxAttention(16, 4, new Rng(seed), Options(name), new RotaryPositions());
        // move the trainable extras away from their initial values so the reference sees non-trivial ones
        var rng = new Rng(seed + 100);
        if (a.Sinks is not null) rng.NormalTensor([4]).AsSpan().CopyTo(a.Sinks.Value.AsSpan());
        if (a.QueryGain is not null) rng.UniformTensor([4], 0.5f, 2f).AsSpan().CopyTo(a.QueryGain.Value.AsSpan());
        if (a.KeyGain is not null) rng.UniformTensor([4], 0.5f, 2f).AsSpan().CopyTo(a.KeyGain.Value.AsSpan());
        return a;
    }

    [Theory]
    [MemberData(nameof(SoftmaxSwitches))]
    public void SoftmaxAttention_MatchesFloat64Reference_Causal_L7(string switches)
    {
        var a = MakeSoftmax(switches, 1);
        var x = Input(2, 7, 16, 2);
        using var _ = Var.NoGrad();
        var y = a.Forward(Var.Constant(x), causal: true);
        AssertClose(Reference(a, x, causal: true), y.Value.ToArray());
    }

    [Fact]
    public void SoftmaxAttention_KvCacheElements_ShrinkWithKvHeads()
    {
        Assert.Equal(2 * 16, new SoftmaxAttention(16, 4, new Rng(1)).KvCacheElementsPerToken);
        Assert.Equal(2 * 2 * 4, new SoftmaxAttention(16, 4, new Rng(1), new() { KvHeads = 2 }).KvCacheElementsPerToken);
        Assert.Equal(2 * 4, new SoftmaxAttention(16, 4, new Rng(1), new() { KvHeads = 1 }).KvCacheElementsPerToken);
    }

    [Theory]
    [InlineData("gqa+qknorm")]
    [InlineData("all")]
    public void SoftmaxAttention_GradientsMatchFiniteDifferences(string switches)
    {
        var a = MakeSoftmax(switches, 3);
        var x = Var.Parameter(Input(1, 5, 16, 4));
        ParameterGradCheck.Check(() => a.Forward(x, causal: true), [x, .. a.Parameters()]);
    }

    [Fact]
    public void SoftmaxAttention_RejectsKvHeadsThatDoNotDivide_NamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => new SoftmaxAttention(16, 4, new Rng(1), new() { KvHeads = 3 }));
        Assert.Contains("4 heads", e.Message);
        Assert.Contains("3", e.Message);
        var f = Assert.Throws<ArgumentException>(() => new SoftmaxAttention(16, 4, new Rng(1)).Forward(Var.Constant(Tensor.Zeros(1, 3, 12)), true));
        Assert.Contains("(B, L, 16)", f.Message);
        Assert.Contains("(1, 3, 12)", f.Message);
    }

    [Fact]
    public void SoftmaxAttention_Int8KvAtEvaluation_ChangesOutputsSlightly_AndNotInTraining()
    {
        var a = new SoftmaxAttention(16, 4, new Rng(5), rope: new RotaryPositions());
        var x = Var.Constant(Input(1, 20, 16, 6));
        a.Eval();
        var exact = a.Forward(x, true).Value.ToArray();
        a.QuantizeKvInt8 = true;
        var quantised = a.Forward(x, true).Value.ToArray();
        double err = exact.Zip(quantised, (p, q) => Math.Abs(p - q)).Max(), scale = exact.Max(Math.Abs);
        Assert.True(err > 0, "int8 rounding should change something");
        Assert.True(err < 0.02 * scale, $"int8 KV error {err:G3} should stay below 2% of the output scale {scale:G3}");
        a.Train();
        var training = a.Forward(x, true).Value.ToArray();
        Assert.Equal(exact, training);
    }

    // ----- sigmoid attention -----

    [Fact]
    public void SigmoidAttention_MatchesFloat64Reference_WithMinusLogNBias()
    {
        var a = new SigmoidAttention(12, 2, new Rng(7), new RotaryPositions());
        var x = Input(2, 6, 12, 8);
        int l = 6, h = 2, dh = 6;
        var xd = ToDouble(x);
        var q = Linear(a.Q, xd); var k = Linear(a.K, xd); var v = Linear(a.V, xd);
        var heads = new double[2 * l * h * dh];
        for (int n = 0; n < 2; n++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                {
                    var qi = Rope(a.Rope!, q.AsSpan(((n * l + i) * h + hh) * dh, dh), i);
                    for (int j = 0; j <= i; j++)
                    {
                        var kj = Rope(a.Rope!, k.AsSpan(((n * l + j) * h + hh) * dh, dh), j);
                        double w = 1 / (1 + Math.Exp(-(Dot(qi, kj) / Math.Sqrt(dh) - Math.Log(l))));
                        for (int c = 0; c < dh; c++) heads[((n * l + i) * h + hh) * dh + c] += w * v[((n * l + j) * h + hh) * dh + c];
                    }
                }
        using var _ = Var.NoGrad();
        var (y, weights) = a.ForwardWithWeights(Var.Constant(x), causal: true);
        AssertClose(Linear(a.O, heads), y.Value.ToArray());
        Assert.Equal(-MathF.Log(6), a.BiasFor(6));
        var wv = weights.Value;
        for (int i = 0; i < l; i++)
            for (int j = 0; j < l; j++)
                if (j > i) Assert.Equal(0f, wv[0, 1, i, j]);
                else Assert.InRange(wv[0, 1, i, j], 1e-6f, 1f - 1e-6f);
    }

    [Fact]
    public void SigmoidAttention_GradientsMatchFiniteDifferences()
    {
        var a = new SigmoidAttention(8, 2, new Rng(9), new RotaryPositions());
        var x = Var.Parameter(Input(1, 5, 8, 10));
        ParameterGradCheck.Check(() => a.Forward(x, causal: true), [x, .. a.Parameters()]);
    }

    // ----- differential attention -----

    [Fact]
    public void DifferentialAttention_LambdaInit_FollowsThePaperSchedule()
    {
        Assert.Equal(0.2f, DifferentialAttention.DefaultLambdaInit(1), 6);
        Assert.Equal(0.8 - 0.6 * Math.Exp(-0.3 * 4), DifferentialAttention.DefaultLambdaInit(5), 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => DifferentialAttention.DefaultLambdaInit(0));
    }

    [Fact]
    public void DifferentialAttention_MatchesFloat64Reference_Causal()
    {
        var a = new DifferentialAttention(16, 2, layer: 3, new Rng(11), new RotaryPositions());
        var x = Input(2, 6, 16, 12);
        int b = 2, l = 6, h = 2, d = 4;
        var xd = ToDouble(x);
        var q = Linear(a.Q, xd); var k = Linear(a.K, xd); var v = Linear(a.V, xd);
        double Sum(Var p, Var r) { double s = 0; for (int i = 0; i < d; i++) s += (double)p.Value[i] * r.Value[i]; return s; }
        double lambdaInit = 0.8 - 0.6 * Math.Exp(-0.3 * 2);
        double lambda = Math.Exp(Sum(a.LambdaQ1, a.LambdaK1)) - Math.Exp(Sum(a.LambdaQ2, a.LambdaK2)) + lambdaInit;
        var heads = new double[b * l * h * 2 * d];
        for (int n = 0; n < b; n++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                {
                    int qo = ((n * l + i) * h + hh) * 2 * d;
                    var q1 = Rope(a.Rope!, q.AsSpan(qo, d), i); var q2 = Rope(a.Rope!, q.AsSpan(qo + d, d), i);
                    var s1 = new double[l]; var s2 = new double[l];
                    for (int j = 0; j < l; j++)
                    {
                        if (j > i) { s1[j] = s2[j] = double.NegativeInfinity; continue; }
                        int ko = ((n * l + j) * h + hh) * 2 * d;
                        s1[j] = Dot(q1, Rope(a.Rope!, k.AsSpan(ko, d), j)) / Math.Sqrt(d);
                        s2[j] = Dot(q2, Rope(a.Rope!, k.AsSpan(ko + d, d), j)) / Math.Sqrt(d);
                    }
                    var p1 = Softmax(s1); var p2 = Softmax(s2);
                    var o = new double[2 * d];
                    for (int j = 0; j <= i; j++)
                        for (int c = 0; c < 2 * d; c++) o[c] += (p1[j] - lambda * p2[j]) * v[((n * l + j) * h + hh) * 2 * d + c];
                    var normed = RmsNorm(o, a.NormGain.Value.ToArray(), 1e-5);
                    for (int c = 0; c < 2 * d; c++) heads[qo + c] = (1 - lambdaInit) * normed[c];
                }
        using var _ = Var.NoGrad();
        AssertClose(Linear(a.O, heads), a.Forward(Var.Constant(x), causal: true).Value.ToArray());
        var (first, second, diff) = a.Maps(Var.Constant(x), head: 1);
        Assert.Equal(first[5, 2] - (float)lambda * second[5, 2], diff[5, 2], 5);
    }

    [Fact]
    public void DifferentialAttention_GradientsMatchFiniteDifferences_IncludingLambda()
    {
        var a = new DifferentialAttention(8, 1, layer: 2, new Rng(13), new RotaryPositions());
        var x = Var.Parameter(Input(1, 5, 8, 14));
        ParameterGradCheck.Check(() => a.Forward(x, causal: true), [x, .. a.Parameters()]);
    }

    [Fact]
    public void DifferentialAttention_RejectsAWidthNotDivisibleByTwiceTheHeads()
    {
        var e = Assert.Throws<ArgumentException>(() => new DifferentialAttention(10, 2, 1, new Rng(1)));
        Assert.Contains("2·H = 4", e.Message);
        Assert.Contains("10", e.Message);
    }
}
