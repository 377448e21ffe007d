using Attention.Autograd;
using Attention.Interpret;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Interpret;

/// <summary>Head ablation, pattern scores and singular values: the tools answers 11 and 12 read heads with.</summary>
public class HeadToolsTests
{
    [Fact]
    public void HeadAblation_RemovesExactlyThatHeadsContribution_AndRestoresTheWeights()
    {
        var rng = new Rng(11);
        var mha = new MultiHeadAttention(12, 3, rng);
        var x = Var.Constant(rng.NormalTensor([2, 5, 12]));
        var before = mha.O.Weight.Value.ToArray();
        using var _ = Var.NoGrad();
        var full = mha.ForwardWithProbabilities(x);
        const int head = 1;
        AttentionResult ablated;
        using (HeadAblation.Zero(mha, head)) ablated = mha.ForwardWithProbabilities(x);
        Assert.Equal(before, mha.O.Weight.Value.ToArray());                               // restored bit for bit
        Assert.Equal(full.Probabilities.Value.ToArray(), ablated.Probabilities.Value.ToArray());   // no head's pattern moves

        // head h's contribution, in float64: W_O[:, h·Dh..] · (P_h · V_h), V_h = x·W_vᵀ + b_v restricted to the head's rows
        int dh = mha.HeadDim, e = 12, width = 3 * dh, t = 5;
        var xs = x.Value.ToArray(); var wv = mha.V.Weight.Value.ToArray(); var bv = mha.V.Bias!.Value.ToArray();
        var wo = mha.O.Weight.Value.ToArray(); var p = full.Probabilities.Value.ToArray();
        var y = full.Output.Value.ToArray(); var ya = ablated.Output.Value.ToArray();
        double worst = 0;
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < t; i++)
            {
                var headOut = new double[dh];
                for (int j = 0; j < t; j++)
                    for (int c = 0; c < dh; c++)
                    {
                        double v = bv[head * dh + c];
                        for (int k = 0; k < e; k++) v += (double)xs[(b * t + j) * e + k] * wv[(head * dh + c) * e + k];
                        headOut[c] += p[((b * 3 + head) * t + i) * t + j] * v;
                    }
                for (int r = 0; r < e; r++)
                {
                    double contribution = 0;
                    for (int c = 0; c < dh; c++) contribution += wo[r * width + head * dh + c] * headOut[c];
                    worst = Math.Max(worst, Math.Abs((y[(b * t + i) * e + r] - ya[(b * t + i) * e + r]) - contribution));
                }
            }
        Assert.True(worst < 1e-5, $"full − ablated should equal head {head}'s contribution; worst gap {worst:e2}");
    }

    [Fact]
    public void HeadAblation_OfTwoHeads_IsTheSumOfSingleAblations_AndRejectsBadHeads()
    {
        var rng = new Rng(2);
        var mha = new MultiHeadAttention(16, 4, rng);
        var x = Var.Constant(rng.NormalTensor([1, 6, 16]));
        using var _ = Var.NoGrad();
        float[] Run() => mha.Forward(x).Value.ToArray();
        var full = Run();
        float[] a, b, both;
        using (HeadAblation.Zero(mha, 0)) a = Run();
        using (HeadAblation.Zero(mha, 3)) b = Run();
        using (HeadAblation.Zero(mha, 0, 3)) both = Run();
        for (int i = 0; i < full.Length; i++)
            Assert.True(Math.Abs((full[i] - both[i]) - ((full[i] - a[i]) + (full[i] - b[i]))) < 1e-5, $"element {i}: contributions do not add");
        Assert.Throws<ArgumentException>(() => HeadAblation.Zero(mha, 4));
        Assert.Throws<ArgumentException>(() => HeadAblation.Zero(mha, 1, 1));
        Assert.Throws<ArgumentException>(() => HeadAblation.Zero(mha));
    }

    [Fact]
    public void PatternScores_ReadTheNamedKeys()
    {
        // tokens 5 6 7 5 6: query 3 (token 5) occurred at 0, its induction key is 1; query 4 (token 6) occurred at 1, key 2
        int[] tokens = [5, 6, 7, 5, 6];
        const int t = 5;
        var previousHead = new float[t * t];
        previousHead[0] = 1;
        for (int i = 1; i < t; i++) previousHead[i * t + i - 1] = 1;
        var inductionHead = new float[t * t];
        for (int i = 0; i < t; i++) inductionHead[i * t] = 1;
        inductionHead[3 * t] = 0; inductionHead[3 * t + 1] = 1;
        inductionHead[4 * t] = 0; inductionHead[4 * t + 2] = 1;
        var a = new PatternScores(); a.Add(previousHead, tokens);
        var b = new PatternScores(); b.Add(inductionHead, tokens);
        Assert.Equal(1.0, a.PreviousToken);
        Assert.Equal(0.0, a.Induction);
        Assert.Equal(1.0, b.Induction);
        Assert.Equal(2, b.InductionRows);
        Assert.Equal(0.25, b.PreviousToken);          // of queries 1..4 only query 1 (reading key 0) reads its previous token
        Assert.Equal([-1, -1, -1, 0, 1], PatternScores.PreviousOccurrence(tokens));
        Assert.Throws<ArgumentException>(() => a.Add(new float[t * t - 1], tokens));
    }

    [Fact]
    public void SingularValues_MatchAKnownFactorisation_AndRankIsTheInnerWidth()
    {
        // A = U·diag(5, 2, 0.5)·Vᵀ with orthonormal U (7×3), V (4×3) from Gram–Schmidt: singular values 5, 2, 0.5, 0
        var rng = new Rng(4);
        double[,] Orthonormal(int n, int k)
        {
            var m = new double[n, k];
            for (int c = 0; c < k; c++)
            {
                for (int r = 0; r < n; r++) m[r, c] = rng.NextStandardNormal();
                for (int p = 0; p < c; p++)
                {
                    double dot = 0;
                    for (int r = 0; r < n; r++) dot += m[r, c] * m[r, p];
                    for (int r = 0; r < n; r++) m[r, c] -= dot * m[r, p];
                }
                double norm = 0;
                for (int r = 0; r < n; r++) norm += m[r, c] * m[r, c];
                for (int r = 0; r < n; r++) m[r, c] /= Math.Sqrt(norm);
            }
            return m;
        }
        var u = Orthonormal(7, 3); var v = Orthonormal(4, 3);
        double[] sigma = [5, 2, 0.5];
        var a = new double[7, 4];
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 3; k++) a[i, j] += u[i, k] * sigma[k] * v[j, k];
        var s = SingularValues.Of(a);
        Assert.Equal(4, s.Length);
        for (int k = 0; k < 3; k++) Assert.Equal(sigma[k], s[k], 10);
        Assert.True(s[3] < 1e-12);
        Assert.Equal(3, SingularValues.Rank(a));
        var transposed = new double[4, 7];
        for (int i = 0; i < 7; i++) for (int j = 0; j < 4; j++) transposed[j, i] = a[i, j];
        Assert.Equal(s, SingularValues.Of(transposed), (x, y) => Math.Abs(x - y) < 1e-10);
    }

    [Fact]
    public void SingularValues_HeadLogits_HaveRankAtMostTheHeadWidth()
    {
        // S = Q·Kᵀ with Q, K of width 3 over 9 positions: rank 3, as a 3-wide head's logits over 9 tokens must be
        var rng = new Rng(8);
        var q = rng.NormalArray(9 * 3); var k = rng.NormalArray(9 * 3);
        var logits = new double[9, 9];
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 9; j++)
                for (int c = 0; c < 3; c++) logits[i, j] += (double)q[i * 3 + c] * k[j * 3 + c];
        Assert.Equal(3, SingularValues.Rank(logits));
    }
}
