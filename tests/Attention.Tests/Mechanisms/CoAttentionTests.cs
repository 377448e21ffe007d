using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Mechanisms;

public class CoAttentionTests
{
    private const int B = 2, N = 7, T = 5, D = 4, K = 3;

    // question 1 has two padded words
    private static Tensor Padding()
    {
        var p = Tensor.Zeros(B, T);
        p.AsSpan()[1 * T + 3] = 1f; p.AsSpan()[1 * T + 4] = 1f;
        return p;
    }

    private static double[,] Mat(Var w)
    {
        var v = w.Value.ToArray();
        int r = w.Shape[0], c = w.Shape[1];
        var m = new double[r, c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) m[i, j] = v[i * c + j];
        return m;
    }

    private static double[] Softmax(double[] e, bool[] masked)
    {
        double max = e.Where((_, i) => !masked[i]).Max();
        var a = e.Select((x, i) => masked[i] ? 0 : Math.Exp(x - max)).ToArray();
        double s = a.Sum();
        return a.Select(x => x / s).ToArray();
    }

    // x W (x (len, D) as rows, W (k, D)) → (len, k)
    private static double[,] Proj(float[] x, int offset, int len, double[,] w)
    {
        int k = w.GetLength(0);
        var r = new double[len, k];
        for (int i = 0; i < len; i++) for (int h = 0; h < k; h++) for (int d = 0; d < D; d++) r[i, h] += w[h, d] * x[offset + i * D + d];
        return r;
    }

    /// <summary>Lu et al. (2016) eq. 3–4 in float64 loops, columns as in the paper, from the layer's own parameters.</summary>
    private static (double[] V, double[] Q, double[] Av, double[] Aq) ParallelReference(ParallelCoAttention layer, float[] v, float[] q, float[] pad, int b)
    {
        var wb = Mat(layer.Wb); var wv = Mat(layer.Wv); var wq = Mat(layer.Wq); var whv = Mat(layer.Whv); var whq = Mat(layer.Whq);
        var c = new double[T, N];
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++)
            {
                if (pad[b * T + t] != 0) continue;
                double s = 0;
                for (int i = 0; i < D; i++) for (int j = 0; j < D; j++) s += q[(b * T + t) * D + i] * wb[i, j] * v[(b * N + n) * D + j];
                c[t, n] = Math.Tanh(s);
            }
        var wvV = Proj(v, b * N * D, N, wv); var wqQ = Proj(q, b * T * D, T, wq);
        var ev = new double[N]; var eq = new double[T];
        for (int n = 0; n < N; n++)
            for (int h = 0; h < K; h++)
            {
                double x = wvV[n, h];
                for (int t = 0; t < T; t++) x += wqQ[t, h] * c[t, n];
                ev[n] += whv[h, 0] * Math.Tanh(x);
            }
        for (int t = 0; t < T; t++)
            for (int h = 0; h < K; h++)
            {
                double x = wqQ[t, h];
                for (int n = 0; n < N; n++) x += wvV[n, h] * c[t, n];
                eq[t] += whq[h, 0] * Math.Tanh(x);
            }
        var av = Softmax(ev, new bool[N]);
        var aq = Softmax(eq, Enumerable.Range(0, T).Select(t => pad[b * T + t] != 0).ToArray());
        return (Pool(av, v, b * N * D), Pool(aq, q, b * T * D), av, aq);
    }

    private static double[] Pool(double[] a, float[] x, int offset)
    {
        var r = new double[D];
        for (int i = 0; i < a.Length; i++) for (int d = 0; d < D; d++) r[d] += a[i] * x[offset + i * D + d];
        return r;
    }

    private static void Close(double expected, float got, string what) =>
        Assert.True(Math.Abs(got - expected) <= 1e-6 + 1e-5 * Math.Abs(expected), $"{what}: expected {expected:G9}, got {got:G9}");

    private static void AssertMatches(CoAttentionResult r, int b, (double[] V, double[] Q, double[] Av, double[] Aq) e)
    {
        for (int d = 0; d < D; d++) { Close(e.V[d], r.Image.Value.ToArray()[b * D + d], $"v̂[{b},{d}]"); Close(e.Q[d], r.Question.Value.ToArray()[b * D + d], $"q̂[{b},{d}]"); }
        for (int n = 0; n < N; n++) Close(e.Av[n], r.ImageWeights.Value.ToArray()[b * N + n], $"a^v[{b},{n}]");
        for (int t = 0; t < T; t++) Close(e.Aq[t], r.QuestionWeights.Value.ToArray()[b * T + t], $"a^q[{b},{t}]");
    }

    [Fact]
    public void ParallelCoAttention_MatchesFloat64Reference_AndPaddedWordsGetExactlyZeroWeight()
    {
        var layer = new ParallelCoAttention(D, K, new Rng(1));
        var v = new Rng(2).NormalArray(B * N * D); var q = new Rng(3).NormalArray(B * T * D);
        var pad = Padding();
        var r = layer.Forward(Var.Constant(Tensor.FromArray(v, B, N, D)), Var.Constant(Tensor.FromArray(q, B, T, D)), pad);
        for (int b = 0; b < B; b++) AssertMatches(r, b, ParallelReference(layer, v, q, pad.ToArray(), b));
        Assert.Equal(0f, r.QuestionWeights.Value.ToArray()[1 * T + 3]);
        Assert.Equal(0f, r.QuestionWeights.Value.ToArray()[1 * T + 4]);
    }

    [Fact]
    public void ParallelCoAttention_Gradients_MatchFiniteDifferences()
    {
        var layer = new ParallelCoAttention(D, K, new Rng(4));
        var v = Var.Parameter(new Rng(5).NormalTensor([B, N, D])); var q = Var.Parameter(new Rng(6).NormalTensor([B, T, D]));
        var pad = Padding();
        GradCheck.CheckLeaves(() =>
        {
            var r = layer.Forward(v, q, pad);
            return Var.Concat([r.Image, r.Question, r.ImageWeights, r.QuestionWeights], 1);
        }, [v, q, .. layer.Parameters()]);
    }

    /// <summary>Lu et al. (2016) eq. 6 applied three times, float64 loops from the layer's own parameters.</summary>
    private static (double[] V, double[] Q, double[] Av, double[] Aq) AlternatingReference(AlternatingCoAttention layer, float[] v, float[] q, float[] pad, int b)
    {
        var p = layer.NamedParameters().ToDictionary(x => x.Name, x => Mat(x.Parameter));
        bool[] qMask = Enumerable.Range(0, T).Select(t => pad[b * T + t] != 0).ToArray();
        (double[] Pooled, double[] A) Attend(int step, float[] x, int offset, int len, double[]? g, bool[] masked)
        {
            var wx = p[$"W_x{step}.weight"]; var wh = p[$"w_hx{step}"];
            var wgG = new double[K];
            if (g is not null) { var wg = p[$"W_g{step}.weight"]; for (int h = 0; h < K; h++) for (int d = 0; d < D; d++) wgG[h] += wg[h, d] * g[d]; }
            var xw = Proj(x, offset, len, wx);
            var e = new double[len];
            for (int i = 0; i < len; i++) for (int h = 0; h < K; h++) e[i] += wh[h, 0] * Math.Tanh(xw[i, h] + wgG[h]);
            var a = Softmax(e, masked);
            return (Pool(a, x, offset), a);
        }
        var (s, _) = Attend(1, q, b * T * D, T, null, qMask);
        var (vh, av) = Attend(2, v, b * N * D, N, s, new bool[N]);
        var (qh, aq) = Attend(3, q, b * T * D, T, vh, qMask);
        return (vh, qh, av, aq);
    }

    [Fact]
    public void AlternatingCoAttention_MatchesFloat64Reference_WithPaddedWords()
    {
        var layer = new AlternatingCoAttention(D, K, new Rng(7));
        var v = new Rng(8).NormalArray(B * N * D); var q = new Rng(9).NormalArray(B * T * D);
        var pad = Padding();
        var r = layer.Forward(Var.Constant(Tensor.FromArray(v, B, N, D)), Var.Constant(Tensor.FromArray(q, B, T, D)), pad);
        for (int b = 0; b < B; b++) AssertMatches(r, b, AlternatingReference(layer, v, q, pad.ToArray(), b));
        Assert.Equal(0f, layer.SummaryWeights!.Value.ToArray()[1 * T + 4]);
    }

    [Fact]
    public void AlternatingCoAttention_Gradients_MatchFiniteDifferences()
    {
        var layer = new AlternatingCoAttention(D, K, new Rng(10));
        // step 1 reaches the outputs only through ŝ's guidance of step 2: at the default scale its gradient is below the
        // check's 1e-2 floor for a non-vacuous gradient, so the weights are scaled up (the check is about the backward)
        foreach (var p in layer.Parameters()) { var s = p.Value.AsSpan(); for (int i = 0; i < s.Length; i++) s[i] *= 3f; }
        var v = Var.Parameter(new Rng(11).NormalTensor([B, N, D])); var q = Var.Parameter(new Rng(12).NormalTensor([B, T, D]));
        var pad = Padding();
        GradCheck.CheckLeaves(() =>
        {
            var r = layer.Forward(v, q, pad);
            return Var.Concat([r.Image, r.Question, r.ImageWeights, r.QuestionWeights], 1);
        }, [v, q, .. layer.Parameters()]);
    }

    [Fact]
    public void CoAttention_IgnoresTheFeaturesOfPaddedWords()
    {
        var parallel = new ParallelCoAttention(D, K, new Rng(13));
        var alternating = new AlternatingCoAttention(D, K, new Rng(14));
        var v = Var.Constant(new Rng(15).NormalTensor([B, N, D]));
        var q = new Rng(16).NormalTensor([B, T, D]);
        var q2 = q.Clone();
        var s = q2.AsSpan();
        for (int d = 0; d < D; d++) { s[(1 * T + 3) * D + d] += 5f; s[(1 * T + 4) * D + d] -= 3f; }
        var pad = Padding();
        foreach (Func<Var, CoAttentionResult> f in new Func<Var, CoAttentionResult>[] { x => parallel.Forward(v, x, pad), x => alternating.Forward(v, x, pad) })
        {
            var a = f(Var.Constant(q)); var c = f(Var.Constant(q2));
            Assert.Equal(a.Image.Value.ToArray(), c.Image.Value.ToArray());
            Assert.Equal(a.Question.Value.ToArray(), c.Question.Value.ToArray());
            Assert.Equal(a.ImageWeights.Value.ToArray(), c.ImageWeights.Value.ToArray());
        }
    }

    [Fact]
    public void CoAttention_RejectsMismatchedShapes_AndAllPaddingQuestions()
    {
        var layer = new ParallelCoAttention(D, K, new Rng(17));
        var v = Var.Constant(Tensor.Zeros(B, N, D));
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(v, Var.Constant(Tensor.Zeros(B, T, D + 1))));
        Assert.Contains($"({B}, T, {D})", e.Message);
        Assert.Throws<ArgumentException>(() => layer.Forward(v, Var.Constant(Tensor.Zeros(B, T, D)), Tensor.Ones(B, T)));
        Assert.Throws<ArgumentException>(() => new AlternatingCoAttention(D, K, new Rng(1)).Forward(v, Var.Constant(Tensor.Zeros(B + 1, T, D))));
    }
}
