using Attention.Autograd;
using Attention.Models;
using Attention.Nn;
using Attention.Positions;
using Attention.Tensors;
using Attention.Tests.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Positions;

/// <summary>MultiHeadAttention with a position scheme: paths, the float64 formula, shifts, gradients.</summary>
public class AttentionWithPositionsTests
{
    private static Tensor Input(int b, int l, int e, ulong seed) => new Rng(seed).NormalTensor([b, l, e]);

    private static float MaxDiff(Tensor a, Tensor b)
    {
        float m = 0;
        var x = a.AsSpan(); var y = b.AsSpan();
        for (int i = 0; i < x.Length; i++) m = Math.Max(m, Math.Abs(x[i] - y[i]));
        return m;
    }

    /// <summary>The layer in float64, loop by loop, with RoPE, ALiBi, T5 or Shaw written from their formulas.</summary>
    private static double[] Reference(MultiHeadAttention mha, Tensor x, bool causal, int offset)
    {
        int b = x.Dim(0), l = x.Dim(1), e = mha.ModelDim, h = mha.Heads, dh = mha.HeadDim;
        double[] Proj(Linear lin)
        {
            var w = lin.Weight.Value; var bias = lin.Bias!.Value;
            var r = new double[b * l * lin.OutFeatures];
            for (int a = 0; a < b; a++)
                for (int t = 0; t < l; t++)
                    for (int c = 0; c < lin.OutFeatures; c++)
                    {
                        double acc = bias[c];
                        for (int k = 0; k < lin.InFeatures; k++) acc += (double)x[a, t, k] * w[c, k];
                        r[(a * l + t) * lin.OutFeatures + c] = acc;
                    }
            return r;
        }
        double[] q = Proj(mha.Q), k = Proj(mha.K), v = Proj(mha.V);
        if (mha.Positions is RotaryPositions rope)
            foreach (var z in new[] { q, k })
                for (int a = 0; a < b; a++)
                    for (int t = 0; t < l; t++)
                        for (int hh = 0; hh < h; hh++)
                            for (int i = 0; i < dh / 2; i++)
                            {
                                int at = (a * l + t) * h * dh + hh * dh;
                                double ang = rope.Angle(offset + t, i, dh), c = Math.Cos(ang), s = Math.Sin(ang);
                                double u = z[at + i], w = z[at + i + dh / 2];   // rotate-half pairs
                                z[at + i] = u * c - w * s;
                                z[at + i + dh / 2] = u * s + w * c;
                            }
        var heads = new double[b * l * h * dh];
        for (int a = 0; a < b; a++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                {
                    var p = new double[l];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < l; j++)
                    {
                        if (causal && j > i) { p[j] = double.NegativeInfinity; continue; }
                        double d = 0;
                        for (int c = 0; c < dh; c++) d += q[(a * l + i) * h * dh + hh * dh + c] * k[(a * l + j) * h * dh + hh * dh + c];
                        d /= Math.Sqrt(dh);
                        int rel = j - i;   // key minus query; the offset cancels
                        d += mha.Positions switch
                        {
                            AlibiPositions => -AlibiPositions.Slopes(h)[hh] * Math.Abs(rel),
                            T5RelativeBias t5 => t5.Weight.Value[T5RelativeBias.Bucket(rel, t5.Bidirectional, t5.NumBuckets, t5.MaxDistance), hh],
                            ShawRelativePositions sh => Dot(q, (a * l + i) * h * dh + hh * dh, sh.KeyTable.Value, Math.Clamp(rel, -sh.MaxDistance, sh.MaxDistance) + sh.MaxDistance, dh) / Math.Sqrt(dh),
                            _ => 0,
                        };
                        p[j] = d;
                        max = Math.Max(max, d);
                    }
                    double sum = 0;
                    for (int j = 0; j < l; j++) { p[j] = Math.Exp(p[j] - max); sum += p[j]; }
                    for (int j = 0; j < l; j++)
                        for (int c = 0; c < dh; c++)
                        {
                            double val = v[(a * l + j) * h * dh + hh * dh + c];
                            if (mha.Positions is ShawRelativePositions sv)
                                val += sv.ValueTable.Value[Math.Clamp(j - i, -sv.MaxDistance, sv.MaxDistance) + sv.MaxDistance, c];
                            heads[(a * l + i) * h * dh + hh * dh + c] += p[j] / sum * val;
                        }
                }
        var y = new double[b * l * e];
        var wo = mha.O.Weight.Value; var bo = mha.O.Bias!.Value;
        for (int r = 0; r < b * l; r++)
            for (int c = 0; c < e; c++)
            {
                double acc = bo[c];
                for (int m = 0; m < h * dh; m++) acc += heads[r * h * dh + m] * wo[c, m];
                y[r * e + c] = acc;
            }
        return y;
    }

    private static double Dot(double[] q, int at, Tensor table, int row, int dh)
    {
        double s = 0;
        for (int c = 0; c < dh; c++) s += q[at + c] * table[row, c];
        return s;
    }

    public static TheoryData<string> Schemes => new() { "rope", "alibi", "t5", "shaw" };

    private static PositionScheme Make(string name, int heads, int headDim) => name switch
    {
        "rope" => new RotaryPositions(),
        "alibi" => new AlibiPositions(),
        "t5" => WithRandomTable(new T5RelativeBias(heads, bidirectional: false, numBuckets: 8, maxDistance: 12)),
        "shaw" => new ShawRelativePositions(3, headDim, new Rng(21)),
        _ => throw new ArgumentException(name),
    };

    private static T5RelativeBias WithRandomTable(T5RelativeBias t5)
    {
        new Rng(22).FillNormal(t5.Weight.Value);
        return t5;
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Attention_WithEachRelativeScheme_MatchesTheFloat64Formula_Causal_L13(string scheme)
    {
        var mha = new MultiHeadAttention(12, 3, new Rng(23), positions: Make(scheme, 3, 4));
        var x = Input(2, 13, 12, 24);
        var want = Reference(mha, x, causal: true, offset: 5);
        foreach (var y in new[] { mha.Forward(Var.Constant(x), causal: true, positionOffset: 5), mha.ForwardWithProbabilities(Var.Constant(x), causal: true, positionOffset: 5).Output })
        {
            var got = y.Value.AsSpan();
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(got[i] - want[i]) <= 1e-5 + 1e-4 * Math.Abs(want[i]), $"{scheme}: element {i}: {got[i]} against {want[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Schemes))]
    public void Attention_WithRelativeSchemes_IsUnchangedWhenEveryPositionShifts(string scheme)
    {
        var mha = new MultiHeadAttention(8, 2, new Rng(25), positions: Make(scheme, 2, 4));
        var x = Var.Constant(Input(1, 9, 8, 26));
        var at0 = mha.Forward(x, causal: true).Value;
        var at300 = mha.Forward(x, causal: true, positionOffset: 300).Value;
        // bias schemes see only j − i: bit-identical; RoPE rotates by absolute angles, equal up to float rounding
        Assert.True(MaxDiff(at0, at300) <= (scheme == "rope" ? 1e-4f : 0f), $"{scheme}: shift changed the output by {MaxDiff(at0, at300):e2}");
    }

    [Fact]
    public void Attention_WithAbsolutePositionsAtTheInput_ChangesWhenPositionsShift()
    {
        var x = Var.Constant(Input(1, 9, 8, 27));
        var sin = new SinusoidalPositions();
        var mha = new MultiHeadAttention(8, 2, new Rng(28));
        var moved = MaxDiff(mha.Forward(sin.AddToInput(x, 0), causal: true).Value, mha.Forward(sin.AddToInput(x, 300), causal: true).Value);
        Assert.True(moved > 1e-2f, $"a shift of 300 moved the output by only {moved:e2}");
    }

    [Fact]
    public void Attention_WithoutPositions_IsPermutationEquivariant_Bidirectional()
    {
        var mha = new MultiHeadAttention(8, 2, new Rng(29), positions: new NoPositions());
        var x = Input(1, 6, 8, 30);
        int[] perm = [3, 0, 5, 1, 4, 2];
        var xp = Tensor.Zeros(1, 6, 8);
        for (int t = 0; t < 6; t++) for (int c = 0; c < 8; c++) xp[0, t, c] = x[0, perm[t], c];
        var y = mha.Forward(Var.Constant(x)).Value;
        var yp = mha.Forward(Var.Constant(xp)).Value;
        for (int t = 0; t < 6; t++) for (int c = 0; c < 8; c++) Assert.True(Math.Abs(y[0, perm[t], c] - yp[0, t, c]) < 1e-5, $"token {t}, channel {c}");
    }

    [Theory]
    [InlineData("t5")]
    [InlineData("shaw")]
    [InlineData("rope")]
    [InlineData("alibi")]
    public void Attention_GradientsWithEachScheme_MatchFiniteDifferences(string scheme)
    {
        var mha = new MultiHeadAttention(8, 2, new Rng(31), positions: Make(scheme, 2, 4));
        if (mha.Positions is ShawRelativePositions shaw)
        {
            new Rng(32).FillNormal(shaw.KeyTable.Value);
            new Rng(33).FillNormal(shaw.ValueTable.Value);
        }
        var x = Var.Parameter(Input(1, 5, 8, 34));
        var kBias = mha.K.Bias!;   // softmax ignores a key bias added to every key alike; RoPE rotates it per position, so not then
        var leaves = mha.Parameters().Append(x).ToList();
        ParameterGradCheck.Check(() => mha.Forward(x, causal: true, positionOffset: 2), leaves, zeroGradient: scheme == "rope" ? null : [kBias]);
    }

    [Fact]
    public void SharedT5Table_IsOneParameter_AcrossLayers()
    {
        var model = new CharLm(new CharLmConfig(Vocab: 10, Dim: 8, Heads: 2, Layers: 3), PositionKind.T5, new Rng(35));
        Assert.Single(model.NamedParameters(), p => p.Name.EndsWith("pos.weight", StringComparison.Ordinal));
        var shaw = new CharLm(new CharLmConfig(Vocab: 10, Dim: 8, Heads: 2, Layers: 3), PositionKind.Shaw, new Rng(35));
        Assert.Equal(3, shaw.NamedParameters().Count(p => p.Name.EndsWith("pos.key", StringComparison.Ordinal)));
    }
}
