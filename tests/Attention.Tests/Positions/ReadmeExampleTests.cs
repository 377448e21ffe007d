using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Positions;
using Attention.Tensors;

namespace Attention.Tests.Positions;

/// <summary>The README's "Choosing a position scheme" example, as written there.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void ReadmeExample_ChoosingAPositionScheme_RunsAndTheAlibiModelRunsAtEightTimesItsLength()
    {
        var rng = new Rng(7);
        // a scheme plugs into one attention layer ...
        var attention = new MultiHeadAttention(modelDim: 32, heads: 4, rng, positions: new RotaryPositions());
        // ... or into every layer of a character language model
        var kjv = Kjv.LoadRepoCopy();                                   // 31,102 verses, every line validated
        var split = Kjv.SplitByBook();                                  // whole books to train / dev / test, seeded
        var vocab = new CharVocabulary(kjv.Text());
        var lm = new CharLm(new CharLmConfig(vocab.Size, Dim: 32, Heads: 2, Layers: 2), PositionKind.Alibi, rng);
        lm.Fit(vocab.Encode(kjv.Text(split.TrainBooks)), context: 128, steps: 60, batch: 8, learningRate: 3e-3f, rng);
        double ppl = lm.Perplexity(vocab.Encode(kjv.Text(split.TestBooks)), context: 1024, maxWindows: 2);   // 8× the trained length

        Assert.Equal(4, attention.Forward(Var.Constant(rng.NormalTensor([1, 5, 32])), causal: true).Shape[1] - 1);
        Assert.True(ppl < 0.75 * vocab.Size, $"after 60 steps the perplexity at 1024 is {ppl:0.0}, hardly below the {vocab.Size} of uniform guessing");
    }
}
