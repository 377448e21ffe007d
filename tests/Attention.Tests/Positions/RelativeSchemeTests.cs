using Attention.Autograd;
using Attention.Positions;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Positions;

public class RelativeSchemeTests
{
    // ---- T5 ----

    // By hand from the formula (N = 32, D = 128). Bidirectional: N → 16, max_exact = 8, keys after the query
    // (r > 0) offset by 16; n ≥ 8 → 8 + ⌊ln(n/8)/ln(16)·8⌋, capped at 15. E.g. n = 12: ln 1.5/ln 16 · 8 = 1.17 → 9;
    // n = 17: 2.18 → 10; n = 33: 4.09 → 12; n = 65: 6.04 → 14; n = 127: 7.98 → 15; n = 128: 8 → capped 15.
    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, 1)]
    [InlineData(1, 17)]
    [InlineData(-7, 7)]
    [InlineData(7, 23)]
    [InlineData(-8, 8)]
    [InlineData(-11, 8)]
    [InlineData(-12, 9)]
    [InlineData(-17, 10)]
    [InlineData(-33, 12)]
    [InlineData(-65, 14)]
    [InlineData(65, 30)]
    [InlineData(-127, 15)]
    [InlineData(-128, 15)]
    [InlineData(-5000, 15)]
    [InlineData(5000, 31)]
    public void T5Bucket_Bidirectional_MatchesHandTable(int relative, int bucket) =>
        Assert.Equal(bucket, T5RelativeBias.Bucket(relative, bidirectional: true));

    // Causal: max_exact = 16, keys ahead (r > 0) all in bucket 0; n ≥ 16 → 16 + ⌊ln(n/16)/ln(8)·16⌋ capped at 31.
    // n = 24: ln 1.5/ln 8 · 16 = 3.12 → 19; n = 32: 5.33 → 21; n = 64: 10.67 → 26; n = 127: 15.94 → 31.
    [Theory]
    [InlineData(0, 0)]
    [InlineData(5, 0)]
    [InlineData(-1, 1)]
    [InlineData(-15, 15)]
    [InlineData(-16, 16)]
    [InlineData(-24, 19)]
    [InlineData(-32, 21)]
    [InlineData(-64, 26)]
    [InlineData(-127, 31)]
    [InlineData(-128, 31)]
    [InlineData(-100000, 31)]
    public void T5Bucket_Causal_MatchesHandTable(int relative, int bucket) =>
        Assert.Equal(bucket, T5RelativeBias.Bucket(relative, bidirectional: false));

    [Fact]
    public void T5Bias_IsTheTableEntryOfEachPairsBucket_AndItsGradientMatchesFiniteDifferences()
    {
        var t5 = new T5RelativeBias(heads: 3, bidirectional: true, numBuckets: 8, maxDistance: 10);
        new Rng(4).FillNormal(t5.Weight.Value);
        var q = Var.Constant(Tensor.Zeros(1, 3, 5, 2));
        var bias = t5.ScoreBias(q, keyLength: 7, queryStart: 2, keyStart: 0)!;
        Assert.Equal([1, 3, 5, 7], bias.Shape.ToArray());
        for (int h = 0; h < 3; h++)
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 7; j++)
                    Assert.Equal(t5.Weight.Value[T5RelativeBias.Bucket(j - (i + 2), true, 8, 10), h], bias.Value[0, h, i, j]);
        ParameterGradCheck.Check(() => t5.ScoreBias(q, 7, 2, 0)!, [t5.Weight]);
    }

    // ---- ALiBi ----

    [Fact]
    public void AlibiSlopes_AreTwoToTheMinus8hOverH_AndFollowThePapersRecipeForTwelveHeads()
    {
        Assert.Equal(Enumerable.Range(1, 8).Select(h => MathF.Pow(2, -h)), AlibiPositions.Slopes(8));
        Assert.Equal(Enumerable.Range(1, 4).Select(h => MathF.Pow(2, -2 * h)), AlibiPositions.Slopes(4));
        // 12 heads: the 8 slopes of H = 8, then slopes 1, 3, 5, 7 of H = 16 (2^−0.5, 2^−1.5, 2^−2.5, 2^−3.5)
        var twelve = AlibiPositions.Slopes(12);
        Assert.Equal(AlibiPositions.Slopes(8), twelve[..8]);
        Assert.Equal(new[] { -0.5, -1.5, -2.5, -3.5 }.Select(e => (float)Math.Pow(2, e)), twelve[8..]);
        foreach (int h in new[] { 1, 3, 6, 8, 12, 16 }) Assert.Equal(Attention.Kernels.Alibi.Slopes(h), AlibiPositions.Slopes(h));   // the kernel's own recipe
    }

    [Fact]
    public void AlibiBias_IsMinusSlopeTimesDistance_BottomRightAligned()
    {
        var bias = AlibiPositions.Bias(heads: 2, queryLength: 3, keyLength: 5, queryStart: 2, keyStart: 0);
        var slopes = AlibiPositions.Slopes(2);
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                    Assert.Equal(-slopes[h] * Math.Abs(i + 2 - j), bias[0, h, i, j]);
    }

    // ---- Shaw ----

    [Fact]
    public void Shaw_ScoreAndValueTerms_MatchTheFloat64Formula_WithClipping()
    {
        int b = 2, h = 2, l = 4, s = 6, dh = 3, k = 2;
        var shaw = new ShawRelativePositions(k, dh, new Rng(5));
        new Rng(6).FillNormal(shaw.KeyTable.Value);
        new Rng(7).FillNormal(shaw.ValueTable.Value);
        var q = Var.Constant(new Rng(8).NormalTensor([b, h, l, dh]));
        var p = Var.Constant(new Rng(9).UniformTensor([b, h, l, s], 0f, 1f));
        var bias = shaw.ScoreBias(q, s, queryStart: 2, keyStart: 0)!.Value;
        var value = shaw.ValueTerm(p, queryStart: 2, keyStart: 0)!.Value;
        for (int a = 0; a < b; a++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                {
                    var z = new double[dh];
                    for (int j = 0; j < s; j++)
                    {
                        int r = Math.Clamp(j - (i + 2), -k, k) + k;
                        double e = 0;
                        for (int c = 0; c < dh; c++) e += (double)q.Value[a, hh, i, c] * shaw.KeyTable.Value[r, c];
                        Assert.Equal(e / Math.Sqrt(dh), bias[a, hh, i, j], 5);
                        for (int c = 0; c < dh; c++) z[c] += (double)p.Value[a, hh, i, j] * shaw.ValueTable.Value[r, c];
                    }
                    for (int c = 0; c < dh; c++) Assert.Equal(z[c], value[a, hh, i, c], 5);
                }
    }

    [Fact]
    public void Shaw_GradientsOfBothTablesAndTheirInputs_MatchFiniteDifferences()
    {
        var shaw = new ShawRelativePositions(2, 3, new Rng(10));
        new Rng(11).FillNormal(shaw.KeyTable.Value);
        new Rng(12).FillNormal(shaw.ValueTable.Value);
        var q = Var.Parameter(new Rng(13).NormalTensor([1, 2, 4, 3]));
        var p = Var.Parameter(new Rng(14).UniformTensor([1, 2, 4, 5], 0f, 1f));
        ParameterGradCheck.Check(() => shaw.ScoreBias(q, 5, 1, 0)!, [shaw.KeyTable, q]);
        ParameterGradCheck.Check(() => shaw.ValueTerm(p, 1, 0)!, [shaw.ValueTable, p]);
    }

    // ---- RoPE ----

    [Theory]
    [InlineData(RotaryConvention.RotateHalf)]
    [InlineData(RotaryConvention.Interleaved)]
    public void Rope_QueryKeyDotProduct_DependsOnlyOnMMinusN(RotaryConvention convention)
    {
        int d = 16;
        var rope = new RotaryPositions(convention: convention);
        var rng = new Rng(15);
        var q = rng.NormalTensor([1, 1, 1, d]);
        var k = rng.NormalTensor([1, 1, 1, d]);
        float Dot(int m, int n)
        {
            var qm = rope.Apply(Var.Constant(q), m).Value.AsSpan();
            var kn = rope.Apply(Var.Constant(k), n).Value.AsSpan();
            float s = 0;
            for (int i = 0; i < d; i++) s += qm[i] * kn[i];
            return s;
        }
        foreach (int delta in new[] { 0, 3, -5, 40 })
        {
            float first = Dot(100 + delta, 100);
            foreach (int n in new[] { 0, 7, 129, 1000 })
            {
                if (n + delta < 0) continue;
                // angles up to ~1000 rad in float32 (cos/sin computed in double, rounded once): 1e-4 relative
                Assert.True(Math.Abs(Dot(n + delta, n) - first) <= 1e-4f * (1 + Math.Abs(first)),
                    $"m − n = {delta}: q·k at n = {n} is {Dot(n + delta, n)}, at n = 100 {first}");
            }
        }
        Assert.NotEqual(Dot(10, 0), Dot(0, 0), 3);   // and the dot product does move with m − n
    }

    [Fact]
    public void Rope_Interleaved_IsRotateHalfOnPermutedCoordinates()
    {
        int d = 8;
        var x = new Rng(16).NormalTensor([1, 1, 5, d]);
        // rotate-half pairs (i, i + d/2); interleaved pairs (2i, 2i + 1): permute so pair i sits at (2i, 2i + 1)
        var perm = new int[d];
        for (int i = 0; i < d / 2; i++) { perm[2 * i] = i; perm[2 * i + 1] = i + d / 2; }
        var xi = Tensor.Zeros(1, 1, 5, d);
        for (int t = 0; t < 5; t++) for (int c = 0; c < d; c++) xi[0, 0, t, c] = x[0, 0, t, perm[c]];
        var half = new RotaryPositions(convention: RotaryConvention.RotateHalf).Apply(Var.Constant(x), 3).Value;
        var inter = new RotaryPositions(convention: RotaryConvention.Interleaved).Apply(Var.Constant(xi), 3).Value;
        for (int t = 0; t < 5; t++) for (int c = 0; c < d; c++) Assert.Equal(half[0, 0, t, perm[c]], inter[0, 0, t, c], 6);
    }

    [Fact]
    public void Rope_PositionInterpolation_RotatesPositionMLikePositionMOverS_AndNtkRaisesTheBase()
    {
        var x = Var.Constant(new Rng(17).NormalTensor([1, 1, 1, 8]));
        var pi = new RotaryPositions(interpolationFactor: 4).Apply(x, 200).Value.ToArray();
        var plain = new RotaryPositions().Apply(x, 50).Value.ToArray();
        for (int i = 0; i < 8; i++) Assert.Equal(plain[i], pi[i], 5);
        var ntk = new RotaryPositions(ntkAlpha: 4);
        Assert.Equal(10000 * Math.Pow(4, 8 / 6.0), ntk.EffectiveBase(8), 6);
        // the highest frequency (pair 0) is unchanged; the lowest is stretched about α×
        Assert.Equal(new RotaryPositions().Angle(9, 0, 8), ntk.Angle(9, 0, 8), 12);
        Assert.Equal(4, new RotaryPositions().Angle(9, 3, 8) / ntk.Angle(9, 3, 8), 6);
    }

    [Fact]
    public void Rope_Backward_MatchesFiniteDifferences()
    {
        var rope = new RotaryPositions(convention: RotaryConvention.Interleaved);
        GradCheck.Check(v => rope.Apply(v[0], 5).Square(), [new Rng(18).NormalTensor([2, 3, 4, 6])]);
        var half = new RotaryPositions();
        GradCheck.Check(v => half.Apply(v[0], 0) * v[1], [new Rng(19).NormalTensor([1, 2, 3, 4]), new Rng(20).NormalTensor([1, 2, 3, 4])]);
    }

    [Fact]
    public void Schemes_RejectBadArguments_NamingWhatWasExpected()
    {
        Assert.Contains("even head width", Assert.Throws<ArgumentException>(() => new RotaryPositions().Apply(Var.Constant(Tensor.Zeros(1, 3)))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryPositions(interpolationFactor: 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => AlibiPositions.Slopes(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new T5RelativeBias(2, true, numBuckets: 2));
        Assert.Contains("heads", Assert.Throws<ArgumentException>(() => new Attention.Nn.MultiHeadAttention(8, 2, new Rng(1), positions: new T5RelativeBias(4, false))).Message);
    }
}
