using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Autograd;

/// <summary>End to end: a two-layer MLP built from the ops alone memorises a fixed batch with Adam.</summary>
public class MlpOverfitTests
{
    private static Var Kaiming(Rng rng, int fanIn, int fanOut) =>
        Var.Parameter(rng.NormalTensor([fanIn, fanOut], 0f, MathF.Sqrt(2f / fanIn)));

    [Fact]
    public void Mlp_OverfitsFixedBatch_CrossEntropyNearZero()
    {
        var rng = new Rng(12);
        const int n = 24, d = 9, h = 33, c = 5;
        var x = Var.Constant(rng.NormalTensor([n, d]));
        var y = Enumerable.Range(0, n).Select(_ => rng.NextInt(c)).ToArray();
        var w1 = Kaiming(rng, d, h); var b1 = Var.Parameter(Tensor.Zeros(h));
        var w2 = Kaiming(rng, h, c); var b2 = Var.Parameter(Tensor.Zeros(c));
        var opt = new Adam([w1, b1, w2, b2], 1e-2f);
        float first = 0, last = 0;
        for (int step = 0; step < 400; step++)
        {
            var logits = (x.MatMul(w1) + b1).Gelu().MatMul(w2) + b2;
            var loss = Var.CrossEntropy(logits, y);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(first > 1f, $"initial loss {first} should be near ln 5 ≈ 1.6");
        Assert.True(last < 1e-2f, $"loss after 400 Adam steps is {last}, expected < 0.01");
        using (Var.NoGrad())
        {
            var logits = ((x.MatMul(w1) + b1).Gelu().MatMul(w2) + b2).Value;
            for (int i = 0; i < n; i++)
            {
                int arg = 0;
                for (int j = 1; j < c; j++) if (logits[i, j] > logits[i, arg]) arg = j;
                Assert.Equal(y[i], arg);
            }
        }
    }

    [Fact]
    public void Mlp_OverfitsFixedBatch_MseWithLayerNormAndClipping()
    {
        var rng = new Rng(5);
        const int n = 16, d = 7, h = 31;
        var x = Var.Constant(rng.NormalTensor([2, n / 2, d]));
        var target = Var.Constant(rng.NormalTensor([2, n / 2, 3]));
        var w1 = Kaiming(rng, d, h); var b1 = Var.Parameter(Tensor.Zeros(h));
        var g = Var.Parameter(Tensor.Ones(h)); var be = Var.Parameter(Tensor.Zeros(h));
        var w2 = Kaiming(rng, h, 3);
        var parameters = new[] { w1, b1, g, be, w2 };
        var opt = new AdamW(parameters, 1e-2f, weightDecay: 0f);
        float last = 0;
        int clipped = 0;
        for (int step = 0; step < 500; step++)
        {
            var pred = (x.MatMul(w1) + b1).LayerNorm(g, be).Tanh().MatMul(w2);
            var loss = Var.Mse(pred, target);
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            double before = GradClip.ByGlobalNorm(parameters, 0.5f);
            if (before > 0.5)
            {
                clipped++;
                // the clip did its job: the gradient the optimizer sees has norm 0.5
                double after = Math.Sqrt(parameters.Sum(p => p.Grad!.ToArray().Sum(v => (double)v * v)));
                Assert.InRange(after, 0.5 - 1e-4, 0.5 + 1e-4);
            }
            opt.Step();
        }
        Assert.True(clipped > 0, "the gradient never exceeded the clip norm, so clipping was not exercised");
        Assert.True(last < 1e-3f, $"MSE after 500 steps is {last}, expected < 1e-3 (clipped on {clipped} steps)");
    }
}
