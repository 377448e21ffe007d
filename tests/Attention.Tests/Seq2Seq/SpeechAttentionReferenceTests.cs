using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Seq2Seq;

/// <summary>
/// The two attentions of the speech answer (29) against float64 references written from the papers' equations:
/// content-only additive attention e_j = vᵀ tanh(W s + V h_j + b) and location-aware attention (Chorowski et al., 2015,
/// eq. 8–9), f = F ∗ α_{i−1} (zero-padded, centred), e_j = wᵀ tanh(W s + V h_j + U f_j + b); then a softmax over the
/// real positions and c = Σ_j α_j h_j.
/// </summary>
public class SpeechAttentionReferenceTests
{
    private const int B = 2, S = 7, Q = 5, E = 6, A = 4, K = 3, R = 5;

    private static double[] D(Tensor t) => t.Contiguous().ToArray().Select(x => (double)x).ToArray();

    private static (double[] Weights, double[] Context) Reference(double[] s, double[] h, int[] lengths, double[] w, double[] v, double[] b,
                                                                  double[] vOut, double[]? prev = null, double[]? f = null, double[]? u = null)
    {
        var weights = new double[B * S]; var context = new double[B * E];
        for (int i = 0; i < B; i++)
        {
            var e = new double[S];
            for (int j = 0; j < lengths[i]; j++)
            {
                double score = 0;
                for (int a = 0; a < A; a++)
                {
                    double pre = b[a];
                    for (int q = 0; q < Q; q++) pre += w[a * Q + q] * s[i * Q + q];
                    for (int x = 0; x < E; x++) pre += v[a * E + x] * h[(i * S + j) * E + x];
                    if (prev is not null)
                        for (int k = 0; k < K; k++)
                        {
                            double conv = 0;                                     // (F ∗ α)_jk, centred, zero outside [0, S)
                            for (int o = 0; o < R; o++)
                            {
                                int at = j + o - R / 2;
                                if (at >= 0 && at < S) conv += prev[i * S + at] * f![o * K + k];
                            }
                            pre += conv * u![k * A + a];
                        }
                    score += vOut[a] * Math.Tanh(pre);
                }
                e[j] = score;
            }
            double max = e.Take(lengths[i]).Max(), sum = 0;
            for (int j = 0; j < lengths[i]; j++) sum += Math.Exp(e[j] - max);
            for (int j = 0; j < lengths[i]; j++)
            {
                weights[i * S + j] = Math.Exp(e[j] - max) / sum;
                for (int x = 0; x < E; x++) context[i * E + x] += weights[i * S + j] * h[(i * S + j) * E + x];
            }
        }
        return (weights, context);
    }

    private static void AssertClose(double[] expected, Tensor actual)
    {
        var a = actual.Contiguous().ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - expected[i]) <= 1e-5 + 1e-4 * Math.Abs(expected[i]), $"element {i}: {a[i]} vs {expected[i]}");
    }

    [Fact]
    public void ContentOnlyAttention_MatchesFloat64Reference_WithPadding()
    {
        var rng = new Rng(21);
        var attention = new BahdanauAttention(Q, E, A, rng);
        var p = attention.NamedParameters().ToDictionary(x => x.Name, x => D(x.Parameter.Value));
        var h = rng.NormalTensor([B, S, E]); var s = rng.NormalTensor([B, Q]);
        int[] lengths = [S, 4];
        var memory = attention.Prepare(Var.Constant(h), lengths);
        var step = attention.Step(memory, Var.Constant(s), AttentionStepState.Initial(lengths));
        var (weights, context) = Reference(D(s), D(h), lengths, p["W_a.weight"], p["U_a.weight"], p["U_a.bias"], p["v_a"]);
        AssertClose(weights, step.Weights.Value);
        AssertClose(context, step.Context.Value);
    }

    [Fact]
    public void LocationAwareAttention_MatchesFloat64Reference_FirstStepAndWithPreviousWeights()
    {
        var rng = new Rng(22);
        var attention = new LocationAwareAttention(Q, E, A, rng, filters: K, filterWidth: R);
        var p = attention.NamedParameters().ToDictionary(x => x.Name, x => D(x.Parameter.Value));
        var h = rng.NormalTensor([B, S, E]); var s = rng.NormalTensor([B, Q]);
        int[] lengths = [S, 5];
        var memory = attention.Prepare(Var.Constant(h), lengths);
        // first step: no previous alignment, so the location term is absent
        var first = attention.Step(memory, Var.Constant(s), AttentionStepState.Initial(lengths));
        var (w0, c0) = Reference(D(s), D(h), lengths, p["W.weight"], p["V.weight"], p["V.bias"], p["w"]);
        AssertClose(w0, first.Weights.Value);
        AssertClose(c0, first.Context.Value);
        // second step with a sharp previous alignment: the convolution must see it, centred
        var prev = Tensor.Zeros(B, S);
        prev.AsSpan()[2] = 0.8f; prev.AsSpan()[3] = 0.2f; prev.AsSpan()[S + 4] = 1f;
        var state = new AttentionStepState(1, Var.Constant(prev), Var.Constant(prev), lengths);
        var s2 = rng.NormalTensor([B, Q]);
        var second = attention.Step(memory, Var.Constant(s2), state);
        var (w1, c1) = Reference(D(s2), D(h), lengths, p["W.weight"], p["V.weight"], p["V.bias"], p["w"], D(prev), p["F"], p["U"]);
        AssertClose(w1, second.Weights.Value);
        AssertClose(c1, second.Context.Value);
        var plain = Reference(D(s2), D(h), lengths, p["W.weight"], p["V.weight"], p["V.bias"], p["w"]).Weights;
        Assert.True(plain.Zip(w1).Max(x => Math.Abs(x.First - x.Second)) > 1e-3, "expected the previous alignment to change the weights");
    }
}
