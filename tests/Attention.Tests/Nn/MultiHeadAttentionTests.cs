using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>MultiHeadAttention against a float64 reference built from the same weights, its masks, and its gradients.</summary>
public class MultiHeadAttentionTests
{
    /// <summary>
    /// The layer in float64, written out loop by loop: projections, per-head softmax over visible keys
    /// (padding j ≥ len[b]; causal j ≤ i + S − L), P·V, output projection. Returns y (B, L, E) and P (B, H, L, S).
    /// </summary>
    private static (double[] Y, double[] P) Reference(MultiHeadAttention mha, Tensor x, Tensor m, int[]? lengths, bool causal)
    {
        int b = x.Dim(0), l = x.Dim(1), s = m.Dim(1), e = mha.ModelDim, h = mha.Heads, g = mha.KvHeads, dh = mha.HeadDim;
        double[] Proj(Linear lin, Tensor input, int n)
        {
            var w = lin.Weight.Value; var bias = lin.Bias?.Value;
            int o = lin.OutFeatures, i = lin.InFeatures;
            var r = new double[b * n * o];
            for (int a = 0; a < b; a++)
                for (int t = 0; t < n; t++)
                    for (int c = 0; c < o; c++)
                    {
                        double acc = bias is null ? 0 : bias[c];
                        for (int k = 0; k < i; k++) acc += (double)input[a, t, k] * w[c, k];
                        r[(a * n + t) * o + c] = acc;
                    }
            return r;
        }
        var q = Proj(mha.Q, x, l); var kk = Proj(mha.K, m, s); var vv = Proj(mha.V, m, s);
        var p = new double[b * h * l * s];
        var heads = new double[b * l * h * dh];
        double scale = 1 / Math.Sqrt(dh);
        for (int a = 0; a < b; a++)
            for (int hh = 0; hh < h; hh++)
            {
                int kvh = hh / (h / g);
                for (int i = 0; i < l; i++)
                {
                    var sc = new double[s];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < s; j++)
                    {
                        bool visible = (lengths is null || j < lengths[a]) && (!causal || j <= i + s - l);
                        if (!visible) { sc[j] = double.NegativeInfinity; continue; }
                        double d = 0;
                        for (int c = 0; c < dh; c++) d += q[(a * l + i) * h * dh + hh * dh + c] * kk[(a * s + j) * g * dh + kvh * dh + c];
                        sc[j] = d * scale;
                        max = Math.Max(max, sc[j]);
                    }
                    if (double.IsNegativeInfinity(max)) continue;   // no visible key: zeros
                    double sum = 0;
                    for (int j = 0; j < s; j++) { sc[j] = Math.Exp(sc[j] - max); sum += sc[j]; }
                    for (int j = 0; j < s; j++)
                    {
                        double pj = sc[j] / sum;
                        p[((a * h + hh) * l + i) * s + j] = pj;
                        for (int c = 0; c < dh; c++) heads[(a * l + i) * h * dh + hh * dh + c] += pj * vv[(a * s + j) * g * dh + kvh * dh + c];
                    }
                }
            }
        var wo = mha.O.Weight.Value; var bo = mha.O.Bias?.Value;
        var y = new double[b * l * e];
        for (int r = 0; r < b * l; r++)
            for (int c = 0; c < e; c++)
            {
                double acc = bo is null ? 0 : bo[c];
                for (int k = 0; k < h * dh; k++) acc += heads[r * h * dh + k] * wo[c, k];
                y[r * e + c] = acc;
            }
        return (y, p);
    }

    private static void Close(double[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= atol + rtol * Math.Abs(expected[i]),
                $"{what}[{i}] = {actual[i]:G9}, reference {expected[i]:G9}");
    }

    // Tolerance: float32 products of length E and H·Dh (≤ 129) chained three times (projection, Q·Kᵀ,
    // output projection) accumulate about √129·6e-8·|terms| per stage, so 2e-5 absolute covers it
    // while a wrong head mapping, mask or scale is off by O(0.1).
    [Theory]
    [InlineData(1, 1, 1, 8, 2, 2, false, false, false)]
    [InlineData(2, 7, 7, 12, 3, 3, true, true, false)]
    [InlineData(2, 7, 7, 16, 4, 2, true, true, false)]      // GQA
    [InlineData(3, 5, 9, 12, 4, 1, true, true, true)]       // cross, MQA, L < S causal bottom-right
    [InlineData(2, 9, 4, 8, 2, 2, true, false, true)]       // cross, L > S: first rows fully masked
    [InlineData(1, 63, 129, 16, 2, 1, false, true, true)]
    public void Mha_MatchesFloat64Reference(int b, int l, int s, int e, int h, int g, bool causal, bool padded, bool cross)
    {
        var rng = new Rng((ulong)(b * 7919 + l * 131 + s * 17 + e + h + g));
        int ekv = cross ? e + 3 : e;
        var mha = new MultiHeadAttention(e, h, rng, kvHeads: g, kvInputDim: ekv);
        var x = rng.NormalTensor([b, l, e]);
        var m = cross ? rng.NormalTensor([b, s, ekv]) : x;
        int[]? lengths = padded ? Enumerable.Range(0, b).Select(i => Math.Max(1, s - 2 * i)).ToArray() : null;
        var (yRef, pRef) = Reference(mha, x, m, lengths, causal);
        var result = mha.ForwardWithProbabilities(Var.Constant(x), cross ? Var.Constant(m) : null, lengths, causal);
        Assert.Equal([b, l, e], result.Output.Shape.ToArray());
        Assert.Equal([b, h, l, s], result.Probabilities.Shape.ToArray());
        Close(yRef, result.Output.Value.ToArray(), 2e-5, 1e-4, "y");
        Close(pRef, result.Probabilities.Value.ToArray(), 1e-6, 1e-4, "P");
        var plain = mha.Forward(Var.Constant(x), cross ? Var.Constant(m) : null, lengths, causal);
        Close(yRef, plain.Value.ToArray(), 2e-5, 1e-4, "y (Forward, fused with grad)");
    }

    [Fact]
    public void Mha_Causal_OutputIgnoresFutureTokens()
    {
        var rng = new Rng(21);
        var mha = new MultiHeadAttention(12, 3, rng);
        var x = rng.NormalTensor([2, 9, 12]);
        var changed = x.Clone();
        const int t = 4;
        for (int a = 0; a < 2; a++)
            for (int i = t + 1; i < 9; i++)
                for (int c = 0; c < 12; c++) changed[a, i, c] += 5f;
        foreach (bool noGrad in new[] { false, true })
        {
            Tensor y0, y1;
            using (noGrad ? Var.NoGrad() : default)
            {
                y0 = mha.Forward(Var.Constant(x), causal: true).Value;
                y1 = mha.Forward(Var.Constant(changed), causal: true).Value;
            }
            for (int a = 0; a < 2; a++)
                for (int i = 0; i < 9; i++)
                {
                    double diff = 0;
                    for (int c = 0; c < 12; c++) diff = Math.Max(diff, Math.Abs(y0[a, i, c] - y1[a, i, c]));
                    if (i <= t) Assert.True(diff <= 1e-6, $"noGrad={noGrad}: position {i} ≤ {t} moved by {diff}");
                    else Assert.True(diff > 1e-2, $"noGrad={noGrad}: position {i} > {t} should change, moved by {diff}");
                }
        }
    }

    [Fact]
    public void Mha_PaddingKeysGetZeroProbability_RowsSumToOne()
    {
        var rng = new Rng(22);
        var mha = new MultiHeadAttention(8, 2, rng);
        int[] lengths = [7, 3, 1];
        var x = rng.NormalTensor([3, 7, 8]);
        var p = mha.ForwardWithProbabilities(Var.Constant(x), keyLengths: lengths).Probabilities.Value;
        for (int a = 0; a < 3; a++)
            for (int hh = 0; hh < 2; hh++)
                for (int i = 0; i < 7; i++)
                {
                    double sum = 0;
                    for (int j = 0; j < 7; j++)
                    {
                        if (j >= lengths[a]) Assert.Equal(0f, p[a, hh, i, j]);
                        sum += p[a, hh, i, j];
                    }
                    Assert.True(Math.Abs(sum - 1) < 1e-5, $"row ({a}, {hh}, {i}) sums to {sum}");
                }
    }

    [Fact]
    public void Mha_PaddingChangesNothingForTheShorterSequence()
    {
        // The padded keys of item 1 are garbage: its outputs must not depend on them.
        var rng = new Rng(23);
        var mha = new MultiHeadAttention(8, 2, rng);
        var x = rng.NormalTensor([2, 6, 8]);
        var garbage = x.Clone();
        for (int i = 4; i < 6; i++) for (int c = 0; c < 8; c++) garbage[1, i, c] = 100f;
        var y0 = mha.Forward(Var.Constant(x), keyLengths: [6, 4]).Value;
        var y1 = mha.Forward(Var.Constant(garbage), keyLengths: [6, 4]).Value;
        for (int i = 0; i < 4; i++) for (int c = 0; c < 8; c++) Assert.True(Math.Abs(y0[1, i, c] - y1[1, i, c]) <= 1e-6);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Mha_GradientCheck_TinyLayer(bool cross, bool fused)
    {
        var rng = new Rng(24);
        var mha = new MultiHeadAttention(4, 2, rng, kvHeads: 1, kvInputDim: cross ? 3 : null);
        var x = Var.Parameter(rng.NormalTensor([2, 3, 4]), "x");
        var m = cross ? Var.Parameter(rng.NormalTensor([2, 5, 3]), "memory") : null;
        Var[] leaves = m is null ? [.. mha.Parameters(), x] : [.. mha.Parameters(), x, m];
        int[] lengths = [cross ? 4 : 3, 2];
        ParameterGradCheck.Check(() => fused ? mha.Forward(x, m, lengths, causal: true)
                                             : mha.ForwardWithProbabilities(x, m, lengths, causal: true).Output, leaves,
            zeroGradient: [mha.K.Bias!]);   // q·(k + b) shifts every score of a row by q·b: softmax cancels it
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Mha_FlashPathUnderNoGrad_EqualsComposedPath(bool causal, bool gqa)
    {
        var rng = new Rng(25);
        var mha = new MultiHeadAttention(32, 4, rng, kvHeads: gqa ? 2 : 4);
        var x = rng.NormalTensor([2, 33, 32]);
        int[] lengths = [33, 17];
        var composed = mha.ForwardWithProbabilities(Var.Constant(x), keyLengths: lengths, causal: causal).Output;
        Var flash;
        using (Var.NoGrad()) flash = mha.Forward(Var.Constant(x), keyLengths: lengths, causal: causal);
        Assert.False(flash.RequiresGrad);
        var a = composed.Value.ToArray(); var f = flash.Value.ToArray();
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - f[i]) <= 1e-5 + 1e-4 * Math.Abs(a[i]), $"[{i}] composed {a[i]} flash {f[i]}");
    }

    /// <summary>
    /// The fused node (FlashAttention.Forward/Backward) and the composed graph give the same gradients
    /// for every parameter and input: cross-attention with L &gt; S (fully masked causal rows), GQA, padding.
    /// </summary>
    [Fact]
    public void Mha_FusedGradients_EqualComposedGradients()
    {
        var rng = new Rng(27);
        var mha = new MultiHeadAttention(24, 6, rng, kvHeads: 2, kvInputDim: 10);
        var x = Var.Parameter(rng.NormalTensor([2, 13, 24]), "x");
        var m = Var.Parameter(rng.NormalTensor([2, 9, 10]), "memory");
        Var[] leaves = [.. mha.Parameters(), x, m];
        var r = rng.NormalTensor([2, 13, 24]);
        float[][] Grads(bool fused)
        {
            foreach (var p in leaves) p.ZeroGrad();
            var y = fused ? mha.Forward(x, m, [9, 5], causal: true) : mha.ForwardWithProbabilities(x, m, [9, 5], causal: true).Output;
            y.Backward(r);
            return leaves.Select(p => p.Grad!.ToArray()).ToArray();
        }
        var composed = Grads(false);
        var fusedGrads = Grads(true);
        for (int p = 0; p < leaves.Length; p++)
            for (int i = 0; i < composed[p].Length; i++)
                Assert.True(Math.Abs(composed[p][i] - fusedGrads[p][i]) <= 2e-5 + 1e-4 * Math.Abs(composed[p][i]),
                    $"{leaves[p].Name}[{i}]: composed {composed[p][i]}, fused {fusedGrads[p][i]}");
    }

    [Fact]
    public void Mha_ParametersAreNamed_AndBadShapesThrow()
    {
        var mha = new MultiHeadAttention(8, 4, new Rng(26), kvHeads: 2);
        Assert.Equal(["q.weight", "q.bias", "k.weight", "k.bias", "v.weight", "v.bias", "o.weight", "o.bias"], mha.NamedParameters().Select(p => p.Name));
        Assert.Equal([4, 8], mha.K.Weight.Shape.ToArray());
        var ex = Assert.Throws<ArgumentException>(() => mha.Forward(Var.Constant(Tensor.Zeros(1, 3, 7))));
        Assert.Contains("8", ex.Message); Assert.Contains("7", ex.Message);
        Assert.Throws<ArgumentException>(() => mha.Forward(Var.Constant(Tensor.Zeros(2, 3, 8)), keyLengths: [3]));
        Assert.Throws<ArgumentException>(() => mha.Forward(Var.Constant(Tensor.Zeros(1, 3, 8)), keyLengths: [4]));
        Assert.Throws<ArgumentException>(() => new MultiHeadAttention(8, 4, new Rng(1), kvHeads: 3));
    }
}
