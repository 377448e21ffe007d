using Attention.Alternatives;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Alternatives;

public class ShortConvolutionTests
{
    [Fact]
    public void ShortConvolution_MatchesFloat64Reference_AndItsDecodingSteps()
    {
        int b = 2, t = 9, e = 5, k = 3;
        var conv = new ShortConvolution(e, k, new Rng(61));
        var x = new Rng(62).NormalArray(b * t * e);
        float[] y;
        using (Var.NoGrad()) y = conv.Forward(Var.Constant(Tensor.FromArray(x, b, t, e))).Value.ToArray();
        var w = conv.Weight.Value.ToArray(); var bias = conv.Bias.Value.ToArray();
        for (int s = 0; s < b; s++)
        {
            var stepped = conv.StepAll(x.AsSpan(s * t * e, t * e), t);
            for (int i = 0; i < t; i++)
                for (int c = 0; c < e; c++)
                {
                    double expected = bias[c];
                    for (int l = 0; l < k && l <= i; l++) expected += (double)w[c * k + l] * x[(s * t + i - l) * e + c];
                    int at = (s * t + i) * e + c;
                    Assert.True(Math.Abs(y[at] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"forward ({s}, {i}, {c}): expected {expected}, got {y[at]}");
                    Assert.True(Math.Abs(stepped[i * e + c] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"step ({s}, {i}, {c}): expected {expected}, got {stepped[i * e + c]}");
                }
        }
        Assert.Equal((k - 1) * e, conv.StateFloats(1));
        Assert.Equal(conv.StateFloats(1), conv.StateFloats(1000));
    }

    [Fact]
    public void ShortConvolution_Gradients_MatchFiniteDifferences()
    {
        var conv = new ShortConvolution(4, 3, new Rng(63));
        var x = Var.Parameter(new Rng(64).NormalTensor([2, 6, 4]));
        var leaves = new List<Var> { x };
        leaves.AddRange(conv.Parameters());
        GradCheck.CheckLeaves(() => conv.Forward(x), leaves, seed: 65);
    }

    [Fact]
    public void ShortConvolution_WidthBelowOne_ThrowsNamingIt()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ShortConvolution(4, 0, new Rng(1)));
        Assert.Contains("width", ex.Message);
    }
}

public class LinearAttentionMixerTests
{
    [Fact]
    public void LinearAttentionMixer_MatchesFloat64Reference()
    {
        int t = 7, e = 6, heads = 2, d = e / heads;
        var mixer = new LinearAttentionMixer(e, heads, new Rng(71));
        var x = new Rng(72).NormalArray(t * e);
        float[] y;
        using (Var.NoGrad()) y = mixer.Forward(Var.Constant(Tensor.FromArray(x, 1, t, e))).Value.ToArray();

        double[] Project(Attention.Nn.Linear layer, int row)
        {
            var w = layer.Weight.Value.AsSpan(); var bias = layer.Bias!.Value.AsSpan();
            var r = new double[e];
            for (int o = 0; o < e; o++)
            {
                double acc = bias[o];
                for (int i = 0; i < e; i++) acc += (double)w[o * e + i] * x[row * e + i];
                r[o] = acc;
            }
            return r;
        }
        static double Phi(double v) => v > 0 ? v + 1 : Math.Exp(v);
        var q = Enumerable.Range(0, t).Select(i => Project(mixer.Q, i)).ToArray();
        var k = Enumerable.Range(0, t).Select(i => Project(mixer.K, i)).ToArray();
        var v = Enumerable.Range(0, t).Select(i => Project(mixer.V, i)).ToArray();
        var ow = mixer.O.Weight.Value.ToArray(); var ob = mixer.O.Bias!.Value.ToArray();
        for (int i = 0; i < t; i++)
        {
            var o = new double[e];
            for (int h = 0; h < heads; h++)
            {
                double den = 0;
                var num = new double[d];
                for (int j = 0; j <= i; j++)
                {
                    double a = 0;
                    for (int f = 0; f < d; f++) a += Phi(q[i][h * d + f]) * Phi(k[j][h * d + f]);
                    den += a;
                    for (int c = 0; c < d; c++) num[c] += a * v[j][h * d + c];
                }
                for (int c = 0; c < d; c++) o[h * d + c] = num[c] / (den + 1e-6);
            }
            for (int c = 0; c < e; c++)
            {
                double expected = ob[c];
                for (int j = 0; j < e; j++) expected += ow[c * e + j] * o[j];
                Assert.True(Math.Abs(y[i * e + c] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"t = {i}, channel {c}: expected {expected}, got {y[i * e + c]}");
            }
        }
        Assert.Equal(heads * d * (d + 1), mixer.StateFloats(t));
    }

    [Fact]
    public void LinearAttentionMixer_WidthNotDivisibleByHeads_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new LinearAttentionMixer(5, 2, new Rng(1)));
        Assert.Contains("E = 5, H = 2", ex.Message);
    }
}

public class MixerLmShortConvTests
{
    private static MixerLmConfig Config(int shortConv) => new(Vocab: 11, Dim: 8, Layers: 2, FfDim: 16, new MixerOptions(Heads: 2, StateDim: 4, MaxLength: 32), shortConv);

    [Theory]
    [InlineData(MixerKind.Attention)]
    [InlineData(MixerKind.Mamba)]
    [InlineData(MixerKind.LinearAttention)]
    public void MixerLm_WithShortConvolution_DecodeStepsGiveTheForwardLogits(MixerKind kind)
    {
        var lm = new MixerLm(Config(3), kind, new Rng(81));
        var rng = new Rng(82);
        var ids = Enumerable.Range(0, 10).Select(_ => rng.NextInt(11)).ToArray();
        float[] full;
        using (Var.NoGrad()) full = lm.Forward(ids, 1, 10).Value.ToArray();
        var dec = lm.NewDecoder();
        var logits = new float[11];
        for (int t = 0; t < 10; t++)
        {
            lm.DecodeStep(dec, ids[t], logits);
            for (int v = 0; v < 11; v++)
                Assert.True(Math.Abs(logits[v] - full[t * 11 + v]) <= 1e-4 * (1 + Math.Abs(full[t * 11 + v])), $"{kind}, t = {t}, token {v}: forward {full[t * 11 + v]}, decode {logits[v]}");
        }
        Assert.All(lm.ShortConvolutions, c => Assert.NotNull(c));
        Assert.Equal(lm.StateFloats(10) * 4, dec.StateBytes);
        Assert.Equal(lm.Mixers.Sum(m => m.StateFloats(10)) + 2 * 2 * 8, lm.StateFloats(10));   // two layers, (3 − 1)·E each
        Assert.Equal(new MixerLm(Config(0), kind, new Rng(81)).ParameterCount + 2 * (8 * 3 + 8), lm.ParameterCount);
    }

    [Fact]
    public void MixerLm_NegativeShortConvolution_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MixerLm(Config(-1), MixerKind.Attention, new Rng(1)));
    }

    /// <summary>Zoology's setting in small: two layers, a short convolution before the mixer, no position embedding.</summary>
    [Fact]
    public void MixerLm_AttentionWithShortConvolution_LearnsMqar()
    {
        var task = new MqarTask(keys: 16, values: 16, length: 16);
        var lm = new MixerLm(new MixerLmConfig(task.Vocab, 32, 2, 64, new MixerOptions(Heads: 2, StateDim: 4, MaxLength: 16), ShortConv: 3), MixerKind.Attention, new Rng(83));
        var rng = new Rng(84);
        lm.Fit(s => { var b = task.Sample(16, 2 + s % 3, rng); return (b.Inputs, b.Targets); }, 16, 16, 250, 1e-2f);
        var test = task.Sample(64, 4, new Rng(85));
        using var _ = Var.NoGrad();
        var logits = lm.Forward(test.Inputs, 64, 16).Value.AsSpan();
        int correct = 0, total = 0, v = task.Vocab;
        for (int i = 0; i < test.Targets.Length; i++)
        {
            if (test.Targets[i] < 0) continue;
            var row = logits.Slice(i * v, v);
            int best = 0;
            for (int j = 1; j < v; j++) if (row[j] > row[best]) best = j;
            correct += best == test.Targets[i] ? 1 : 0;
            total++;
        }
        // chance is 1/16; recall of 4 pairs needs the key-matching lookup
        Assert.True(correct >= 0.9 * total, $"answered {correct} of {total} queries");
    }
}
