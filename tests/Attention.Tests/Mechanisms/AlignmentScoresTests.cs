using Attention.Mechanisms;

namespace Attention.Tests.Mechanisms;

/// <summary>Float64 naive references for the score zoo and attention pooling.</summary>
internal static class ScoresReference
{
    public static float[] Gaussian(Random rng, int n, double scale = 1)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return x;
    }

    public static double[] Dot(float[] q, float[] k, int l, int s, int d, double scale = 1)
    {
        var e = new double[l * s];
        for (int i = 0; i < l; i++)
            for (int j = 0; j < s; j++)
            {
                double acc = 0;
                for (int p = 0; p < d; p++) acc += (double)q[i * d + p] * k[j * d + p];
                e[i * s + j] = scale * acc;
            }
        return e;
    }

    public static double[] General(float[] q, float[] k, float[] w, int l, int s, int dq, int dk)
    {
        var e = new double[l * s];
        for (int i = 0; i < l; i++)
            for (int j = 0; j < s; j++)
            {
                double acc = 0;
                for (int a = 0; a < dq; a++)
                    for (int b = 0; b < dk; b++) acc += (double)q[i * dq + a] * w[a * dk + b] * k[j * dk + b];
                e[i * s + j] = acc;
            }
        return e;
    }

    public static double[] Additive(float[] q, float[] k, float[] wq, float[] uk, float[] v, int l, int s, int dq, int dk, int da)
    {
        var e = new double[l * s];
        for (int i = 0; i < l; i++)
            for (int j = 0; j < s; j++)
            {
                double acc = 0;
                for (int h = 0; h < da; h++)
                {
                    double z = 0;
                    for (int p = 0; p < dq; p++) z += (double)wq[h * dq + p] * q[i * dq + p];
                    for (int p = 0; p < dk; p++) z += (double)uk[h * dk + p] * k[j * dk + p];
                    acc += v[h] * Math.Tanh(z);
                }
                e[i * s + j] = acc;
            }
        return e;
    }

    public static double[] NegativeSquaredDistance(float[] q, float[] k, int l, int s, int d)
    {
        var e = new double[l * s];
        for (int i = 0; i < l; i++)
            for (int j = 0; j < s; j++)
            {
                double acc = 0;
                for (int p = 0; p < d; p++) { double t = (double)q[i * d + p] - k[j * d + p]; acc += t * t; }
                e[i * s + j] = -acc;
            }
        return e;
    }

    public static double[] Pool(double[] scores, float[] v, int l, int s, int dv, out double[] weights)
    {
        weights = new double[l * s];
        var o = new double[l * dv];
        for (int i = 0; i < l; i++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < s; j++) max = Math.Max(max, scores[i * s + j]);
            if (double.IsNegativeInfinity(max)) continue;
            double sum = 0;
            for (int j = 0; j < s; j++) sum += weights[i * s + j] = Math.Exp(scores[i * s + j] - max);
            for (int j = 0; j < s; j++)
            {
                weights[i * s + j] /= sum;
                for (int c = 0; c < dv; c++) o[i * dv + c] += weights[i * s + j] * v[j * dv + c];
            }
        }
        return o;
    }

    /// <summary>|actual − ref| ≤ tol·(1 + |ref|) elementwise; returns the worst excess ratio for the message.</summary>
    public static void AssertClose(double[] expected, float[] actual, double absolute, double relative)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = absolute + relative * Math.Abs(expected[i]);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tol,
                $"element {i}: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tol:E2})");
        }
    }
}

public class AlignmentScoresTests
{
    // Dot products of length D accumulate D roundings; inputs are unit-variance, so |error| ≲ D·ε·√D·|q||k|/… —
    // 1e-5 absolute plus 1e-5 relative covers D ≤ 129 with margin.
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 63, 7)]
    [InlineData(63, 7, 127)]
    [InlineData(129, 127, 63)]
    public void Dot_MatchesReference(int l, int s, int d)
    {
        var rng = new Random(l * 1000 + s * 10 + d);
        float[] q = ScoresReference.Gaussian(rng, l * d), k = ScoresReference.Gaussian(rng, s * d);
        var e = new float[l * s];
        AlignmentScores.Dot(q, k, e, l, s, d);
        ScoresReference.AssertClose(ScoresReference.Dot(q, k, l, s, d), e, 1e-5 * Math.Sqrt(d), 1e-5);
    }

    [Theory]
    [InlineData(7, 63, 7)]
    [InlineData(129, 127, 63)]
    public void ScaledDot_DefaultScaleIsInverseSqrtD_MatchesReference(int l, int s, int d)
    {
        var rng = new Random(l + s + d);
        float[] q = ScoresReference.Gaussian(rng, l * d), k = ScoresReference.Gaussian(rng, s * d);
        var e = new float[l * s];
        AlignmentScores.ScaledDot(q, k, e, l, s, d);
        ScoresReference.AssertClose(ScoresReference.Dot(q, k, l, s, d, 1 / Math.Sqrt(d)), e, 1e-5, 1e-5);
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(7, 63, 7, 1)]
    [InlineData(63, 7, 5, 127)]
    [InlineData(127, 129, 31, 33)]
    public void General_MatchesReference_RectangularW(int l, int s, int dq, int dk)
    {
        var rng = new Random(l * 7 + s * 3 + dq + dk);
        float[] q = ScoresReference.Gaussian(rng, l * dq), k = ScoresReference.Gaussian(rng, s * dk);
        float[] w = ScoresReference.Gaussian(rng, dq * dk, 1 / Math.Sqrt(dq));
        var e = new float[l * s];
        AlignmentScores.General(q, k, w, e, l, s, dq, dk);
        ScoresReference.AssertClose(ScoresReference.General(q, k, w, l, s, dq, dk), e, 2e-5 * Math.Sqrt(dq + dk), 1e-5);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(7, 63, 7, 5, 9)]
    [InlineData(63, 7, 17, 33, 127)]
    [InlineData(129, 127, 16, 16, 7)]
    public void Additive_MatchesReference(int l, int s, int dq, int dk, int da)
    {
        var rng = new Random(l + 31 * s + 7 * da);
        float[] q = ScoresReference.Gaussian(rng, l * dq), k = ScoresReference.Gaussian(rng, s * dk);
        float[] wq = ScoresReference.Gaussian(rng, da * dq, 1 / Math.Sqrt(dq)), uk = ScoresReference.Gaussian(rng, da * dk, 1 / Math.Sqrt(dk));
        float[] v = ScoresReference.Gaussian(rng, da);
        var e = new float[l * s];
        AlignmentScores.Additive(q, k, wq, uk, v, e, l, s, dq, dk, da);
        // tanh is bounded, so |score| ≤ ‖v‖₁; the error is a sum of Da rounded terms.
        ScoresReference.AssertClose(ScoresReference.Additive(q, k, wq, uk, v, l, s, dq, dk, da), e, 1e-5 * Math.Sqrt(da + dq + dk), 1e-5);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 63, 7)]
    [InlineData(129, 127, 63)]
    public void NegativeSquaredDistance_MatchesReference(int l, int s, int d)
    {
        var rng = new Random(3 * l + s + d);
        float[] q = ScoresReference.Gaussian(rng, l * d), k = ScoresReference.Gaussian(rng, s * d);
        var e = new float[l * s];
        AlignmentScores.NegativeSquaredDistance(q, k, e, l, s, d);
        ScoresReference.AssertClose(ScoresReference.NegativeSquaredDistance(q, k, l, s, d), e, 1e-5, 1e-5);
    }

    [Fact]
    public void NegativeSquaredDistance_SoftmaxEqualsDotSoftmax_WhenKeyNormsEqual()
    {
        const int l = 7, s = 63, d = 33;
        var rng = new Random(5);
        float[] q = ScoresReference.Gaussian(rng, l * d), k = ScoresReference.Gaussian(rng, s * d);
        for (int j = 0; j < s; j++) // every key gets norm 2
        {
            var kj = k.AsSpan(j * d, d);
            float n = System.Numerics.Tensors.TensorPrimitives.Norm(kj);
            System.Numerics.Tensors.TensorPrimitives.Multiply(kj, 2f / n, kj);
        }
        float[] dist = new float[l * s], dot = new float[l * s], pd = new float[l * s], pk = new float[l * s];
        AlignmentScores.NegativeSquaredDistance(q, k, dist, l, s, d);
        AlignmentScores.Dot(q, k, dot, l, s, d);
        for (int i = 0; i < dist.Length; i++) dist[i] *= 0.5f; // −½‖q − k‖² = q·k − const
        Attention.Kernels.Softmax.Rows(dist, pd, l, s);
        Attention.Kernels.Softmax.Rows(dot, pk, l, s);
        for (int i = 0; i < pd.Length; i++) Assert.True(Math.Abs(pd[i] - pk[i]) < 1e-5, $"weight {i}: {pd[i]} vs {pk[i]}");
    }

    [Fact]
    public void Scores_RejectWrongLengths_NamingExpectedAndActual()
    {
        var ex = Assert.Throws<ArgumentException>(() => AlignmentScores.Dot(new float[6], new float[9], new float[5], 2, 3, 3));
        Assert.Contains("6", ex.Message);
        Assert.Contains("5", ex.Message);
        Assert.Throws<ArgumentException>(() => AlignmentScores.General(new float[4], new float[4], new float[3], new float[4], 2, 2, 2, 2));
        Assert.Throws<ArgumentException>(() => AlignmentScores.Additive(new float[4], new float[4], new float[4], new float[4], new float[3], new float[4], 2, 2, 2, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => AlignmentScores.Dot(new float[0], new float[0], new float[0], 0, 1, 1));
    }
}

public class AttentionPoolingTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 63, 5)]
    [InlineData(63, 129, 7)]
    [InlineData(127, 7, 63)]
    public void Forward_MatchesReference_WeightsSumToOne(int l, int s, int dv)
    {
        var rng = new Random(l * 17 + s + dv);
        float[] scores = ScoresReference.Gaussian(rng, l * s, 3), v = ScoresReference.Gaussian(rng, s * dv);
        float[] o = new float[l * dv], w = new float[l * s];
        AttentionPooling.Forward(scores, v, o, l, s, dv, w);
        var expected = ScoresReference.Pool(Array.ConvertAll(scores, x => (double)x), v, l, s, dv, out var wRef);
        ScoresReference.AssertClose(wRef, w, 1e-6, 1e-5);
        ScoresReference.AssertClose(expected, o, 1e-6, 1e-5);
        for (int i = 0; i < l; i++)
        {
            double sum = 0;
            for (int j = 0; j < s; j++) sum += w[i * s + j];
            Assert.True(Math.Abs(sum - 1) < 1e-5, $"row {i} sums to {sum}");
        }
    }

    [Fact]
    public void Forward_FullyMaskedRow_GivesZeroWeightsAndZeroOutput()
    {
        float[] scores = [float.NegativeInfinity, float.NegativeInfinity, 1f, 2f];
        float[] v = [1f, 2f, 3f, 4f];
        float[] o = new float[4], w = new float[4];
        AttentionPooling.Forward(scores, v, o, 2, 2, 2, w);
        Assert.Equal([0f, 0f], o[..2]);
        Assert.Equal([0f, 0f], w[..2]);
        Assert.All(o, x => Assert.False(float.IsNaN(x)));
    }

    [Fact]
    public void SoftLookup_BetaZero_ReturnsMeanOfValues()
    {
        var rng = new Random(9);
        const int s = 63, d = 7, dv = 5;
        float[] q = ScoresReference.Gaussian(rng, d), k = ScoresReference.Gaussian(rng, s * d), v = ScoresReference.Gaussian(rng, s * dv);
        var o = new float[dv];
        AttentionPooling.SoftLookup(q, k, v, o, 1, s, d, dv, 0f);
        for (int c = 0; c < dv; c++)
        {
            double mean = 0;
            for (int j = 0; j < s; j++) mean += v[j * dv + c];
            Assert.True(Math.Abs(o[c] - mean / s) < 1e-5, $"column {c}: {o[c]} vs {mean / s}");
        }
    }

    [Fact]
    public void SoftLookup_LargeBeta_ReturnsValueOfBestKey()
    {
        var rng = new Random(10);
        const int s = 63, d = 16, dv = 5;
        float[] q = ScoresReference.Gaussian(rng, d), k = ScoresReference.Gaussian(rng, s * d), v = ScoresReference.Gaussian(rng, s * dv);
        var dots = ScoresReference.Dot(q, k, 1, s, d);
        int best = Array.IndexOf(dots, dots.Max());
        var o = new float[dv];
        AttentionPooling.SoftLookup(q, k, v, o, 1, s, d, dv, 1e4f);
        for (int c = 0; c < dv; c++) Assert.True(Math.Abs(o[c] - v[best * dv + c]) < 1e-4, $"column {c}: {o[c]} vs {v[best * dv + c]}");
    }

    [Fact]
    public void SoftLookup_RejectsNegativeOrNaNBeta()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionPooling.SoftLookup(new float[2], new float[2], new float[2], new float[2], 1, 1, 2, 2, -1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionPooling.SoftLookup(new float[2], new float[2], new float[2], new float[2], 1, 1, 2, 2, float.NaN));
    }
}
