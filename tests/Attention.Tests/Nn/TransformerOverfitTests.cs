using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>End to end: embedding + one Transformer block + head memorises a fixed batch with AdamW.</summary>
public class TransformerOverfitTests
{
    private sealed class TinyModel : Module
    {
        public Embedding Tokens { get; }
        public Embedding Positions { get; }
        public TransformerBlock Block { get; }
        public LayerNorm? Final { get; }
        public Linear Head { get; }

        public TinyModel(int vocab, int length, int dim, bool preNorm, Rng rng)
        {
            Tokens = RegisterModule("tok", new Embedding(vocab, dim, rng));
            Positions = RegisterModule("pos", new Embedding(length, dim, rng));
            Block = RegisterModule("block", new TransformerBlock(dim, 4, 2 * dim, rng, preNorm, dropout: 0.1f));
            if (preNorm) Final = RegisterModule("ln_f", new LayerNorm(dim));
            Head = RegisterModule("head", new Linear(dim, vocab, rng));
        }

        public Var Forward(int[] ids, int b, int l, int[]? lengths)
        {
            var x = Tokens.Forward(ids, b, l) + Positions.Forward(Enumerable.Range(0, l).ToArray());
            x = Block.Forward(x, keyLengths: lengths);
            if (Final is not null) x = Final.Forward(x);
            return Head.Forward(x);                                                 // (B, L, V)
        }
    }

    /// <summary>
    /// The task needs attention: the target at position t is the token at position L−1−t of the same
    /// sequence (reversal), so no position-wise MLP can solve it without reading other positions.
    /// The last sequence is padded (its targets there are ignored, its padded keys masked).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TransformerBlock_OverfitsFixedBatch_CrossEntropyNearZero(bool preNorm)
    {
        var rng = new Rng(41);
        const int b = 6, l = 8, vocab = 11, dim = 32;
        int[] lengths = [8, 8, 8, 8, 8, 6];
        var ids = new int[b * l];
        var targets = new int[b * l];
        for (int n = 0; n < b; n++)
            for (int t = 0; t < l; t++) ids[n * l + t] = t < lengths[n] ? 1 + rng.NextInt(vocab - 1) : 0;
        for (int n = 0; n < b; n++)
            for (int t = 0; t < l; t++) targets[n * l + t] = t < lengths[n] ? ids[n * l + lengths[n] - 1 - t] : -100;
        var model = new TinyModel(vocab, l, dim, preNorm, rng);
        var opt = new AdamW(model.Parameters(), 3e-3f, weightDecay: 0.01f);
        float first = 0, last = 0;
        for (int step = 0; step < 250; step++)
        {
            var loss = Var.CrossEntropy(model.Forward(ids, b, l, lengths), targets);
            if (step == 0) first = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        model.Eval();
        using (Var.NoGrad()) last = Var.CrossEntropy(model.Forward(ids, b, l, lengths), targets).Item();
        Assert.True(first > 1.5f, $"initial loss {first} should be near ln 10 ≈ 2.3");
        Assert.True(last < 0.05f, $"loss after 250 AdamW steps is {last}, expected < 0.05 ({(preNorm ? "pre" : "post")}-LN)");
    }

    [Fact]
    public void SequentialMlp_OverfitsFixedBatch_WithDropoutOffInEval()
    {
        var rng = new Rng(42);
        const int n = 32, d = 7, c = 4;
        var x = Var.Constant(rng.NormalTensor([n, d]));
        var y = Enumerable.Range(0, n).Select(_ => rng.NextInt(c)).ToArray();
        var mlp = new Sequential(new Linear(d, 63, rng), Activation.Gelu(), new Dropout(0.1f, rng), new Linear(63, c, rng));
        var opt = new AdamW(mlp.Parameters(), 1e-2f, weightDecay: 0f);
        for (int step = 0; step < 300; step++)
        {
            var loss = Var.CrossEntropy(mlp.Forward(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        // in training mode dropout makes two forward passes differ; in eval mode they are identical
        float[] train1, train2, eval1, eval2;
        using (Var.NoGrad()) { train1 = mlp.Forward(x).Value.ToArray(); train2 = mlp.Forward(x).Value.ToArray(); }
        Assert.NotEqual(train1, train2);
        mlp.Eval();
        float final;
        using (Var.NoGrad())
        {
            eval1 = mlp.Forward(x).Value.ToArray(); eval2 = mlp.Forward(x).Value.ToArray();
            final = Var.CrossEntropy(mlp.Forward(x), y).Item();
        }
        Assert.Equal(eval1, eval2);
        Assert.True(final < 0.02f, $"eval loss after 300 AdamW steps is {final}, expected < 0.02");
    }
}
