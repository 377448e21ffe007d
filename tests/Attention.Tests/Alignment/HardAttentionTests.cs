using Attention.Alignments;
using Attention.Autograd;
using Attention.Seq2Seq;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Alignment;

public class HardAttentionTests
{
    [Theory]
    [InlineData(HardAttentionMode.Reinforce, true)]
    [InlineData(HardAttentionMode.Reinforce, false)]
    [InlineData(HardAttentionMode.GumbelStraightThrough, true)]
    [InlineData(HardAttentionMode.GumbelStraightThrough, false)]
    public void HardAttention_Forward_PicksOneRealPosition_AndItsState(HardAttentionMode mode, bool training)
    {
        var rng = new Rng(3);
        var hard = new HardAttention(new BahdanauAttention(6, 4, 5, rng), mode, new Rng(9));
        hard.Train(training);
        int[] lengths = [5, 3, 4];
        var states = Var.Constant(rng.NormalTensor([3, 5, 4]));
        var memory = hard.Prepare(states, lengths);
        for (int trial = 0; trial < 20; trial++)
        {
            var step = hard.Step(memory, Var.Constant(rng.NormalTensor([3, 6])), AttentionStepState.Initial(lengths));
            var w = step.Weights.Value.ToArray(); var c = step.Context.Value.ToArray(); var h = states.Value.ToArray();
            for (int b = 0; b < 3; b++)
            {
                var row = w.AsSpan(b * 5, 5).ToArray();
                Assert.Equal(1, row.Count(x => x == 1f));
                Assert.Equal(4, row.Count(x => x == 0f));
                int z = Array.IndexOf(row, 1f);
                Assert.True(z < lengths[b], $"picked padding position {z} of a length-{lengths[b]} source");
                for (int e = 0; e < 4; e++) Assert.Equal(h[(b * 5 + z) * 4 + e], c[b * 4 + e], 5);
            }
            Assert.Equal(mode == HardAttentionMode.Reinforce && training, step.SampleLogProb is not null);
        }
    }

    [Fact]
    public void HardAttention_InEval_PicksTheSoftArgmax()
    {
        var rng = new Rng(4);
        var soft = new BahdanauAttention(6, 4, 5, rng);
        var hard = new HardAttention(soft, HardAttentionMode.Reinforce, new Rng(1));
        hard.Eval();
        int[] lengths = [5, 2];
        var memory = hard.Prepare(Var.Constant(rng.NormalTensor([2, 5, 4])), lengths);
        var query = Var.Constant(rng.NormalTensor([2, 6]));
        var s = soft.Step(memory, query, AttentionStepState.Initial(lengths));
        var h = hard.Step(memory, query, AttentionStepState.Initial(lengths));
        Assert.Equal(HardAttention.Argmax(s.Weights.Value), HardAttention.Argmax(h.Weights.Value));
    }

    [Fact]
    public void GumbelStraightThrough_ForwardIsOneHot_GradientIsTheRelaxedSoftmaxGradient()
    {
        const float tau = 0.7f;
        var rng = new Rng(12);
        var logits = Var.Parameter(rng.NormalTensor([3, 5]));
        var mask = Tensor.Zeros(3, 5); mask[2, 4] = 1f; mask[2, 3] = 1f;           // item 2 has length 3
        var c = Var.Constant(rng.NormalTensor([3, 5]));

        var st = HardAttention.GumbelStraightThrough(logits, mask, tau, new Rng(77));
        foreach (var row in st.Value.ToArray().Chunk(5)) { Assert.Equal(1, row.Count(x => x == 1f)); Assert.Equal(4, row.Count(x => x == 0f)); }
        Assert.Equal(0f, st.Value[2, 3] + st.Value[2, 4]);
        (st * c).Sum().Backward();
        var gradSt = logits.Grad!.ToArray();

        // the same noise, replayed: the relaxed y = softmax((e + g)/τ) with padding masked
        logits.ZeroGrad();
        var replay = new Rng(77);
        var g = Tensor.Zeros(3, 5);
        var gs = g.AsSpan();
        for (int i = 0; i < gs.Length; i++) gs[i] = (float)-Math.Log(-Math.Log(Math.Max(replay.NextDouble(), 1e-300)));
        var y = ((logits + Var.Constant(g)) * (1f / tau)).MaskedFill(mask, float.NegativeInfinity).Softmax(-1);
        (y * c).Sum().Backward();
        var gradSoft = logits.Grad!.ToArray();
        Assert.Contains(gradSoft, x => Math.Abs(x) > 1e-3);
        for (int i = 0; i < gradSt.Length; i++) Assert.Equal(gradSoft[i], gradSt[i], 6);
    }

    [Fact]
    public void Reinforce_WithBaseline_AveragesToTheExactGradient()
    {
        // E_{z~softmax(θ)}[c_z]: exact ∂/∂θ_k = α_k (c_k − Σ_j α_j c_j). The estimator's mean over N samples must match.
        const int n = 40000, s = 4;
        float[] theta0 = [0.3f, -0.5f, 1.0f, 0.1f];
        double[] cost = [1.0, -2.0, 0.5, 3.0];
        var theta = Var.Parameter(Tensor.FromArray(theta0, 1, s));
        var alpha = (theta + Var.Constant(Tensor.Zeros(n, s))).Softmax(-1);       // N copies of the same distribution
        var (picked, logProb) = HardAttention.Sample(alpha, new Rng(21));
        var rewards = picked.Select(z => cost[z]).ToArray();
        double baseline = rewards.Average();
        HardAttention.ReinforceLoss([logProb], rewards, baseline, Enumerable.Repeat(1, n).ToArray()).Backward();
        var estimate = theta.Grad!.ToArray().Select(x => -x).ToArray();          // the loss is −(R − b)·log p

        var a = theta0.Select(x => Math.Exp(x)).ToArray(); double z0 = a.Sum();
        a = a.Select(x => x / z0).ToArray();
        double mean = a.Zip(cost, (p, c) => p * c).Sum();
        for (int k = 0; k < s; k++)
        {
            double exact = a[k] * (cost[k] - mean);
            Assert.True(Math.Abs(estimate[k] - exact) < 0.03, $"θ_{k}: estimate {estimate[k]:F4}, exact {exact:F4}");
        }
        // the sample frequencies follow α
        for (int k = 0; k < s; k++) Assert.Equal(a[k], picked.Count(z => z == k) / (double)n, 2);
    }

    [Fact]
    public void Sample_LogProb_GradientCheck()
    {
        var theta = Var.Parameter(new Rng(2).NormalTensor([3, 4]));
        GradCheck.CheckLeaves(() => HardAttention.Sample(theta.Softmax(-1), new Rng(5)).LogProb, [theta]);
    }
}
