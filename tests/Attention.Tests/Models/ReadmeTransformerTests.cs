using Attention.Models;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Tests.Models;

/// <summary>The README's "Building a Transformer" example, verbatim, with the claims it implies checked.</summary>
public class ReadmeTransformerTests
{
    [Fact]
    public void ReadmeExample_TrainsAReversalTransformer_AndDecodesIt()
    {
        // ---- README code starts
        var config = new TransformerConfig(SourceVocabulary: 12, TargetVocabulary: 12)
        {
            ModelDim = 32, Heads = 4, EncoderLayers = 2, DecoderLayers = 2, FeedForwardDim = 64, Dropout = 0f,
            Norm = NormKind.RmsNorm, FeedForward = FeedForwardKind.SwiGlu,           // or LayerNorm / Relu, PreNorm = false
        };
        var model = new Transformer(config, new Rng(1));
        // pairs: (source ids, target ids) with ids ≥ 4 (0–3 are PAD, BOS, EOS, UNK); here: reverse the sequence
        var rng = new Rng(2);
        var pairs = Enumerable.Range(0, 512).Select(_ =>
        {
            var x = Enumerable.Range(0, 3 + rng.NextInt(5)).Select(_ => 4 + rng.NextInt(8)).ToArray();
            return (Source: x, Target: x.Reverse().ToArray());
        }).ToList();
        TransformerTrainer.Train(model, pairs, new TransformerTrainOptions { Steps = 200, TokensPerBatch = 512, PeakLearningRate = 3e-3f, WarmupSteps = 30 });
        Hypothesis h = Decoding.Greedy(model, [pairs[0].Source], maxLength: 10)[0];   // h.Tokens; h.Weights: cross-attention (T × S)
        var session = model.StartSession(PaddedBatch.Pad([pairs[0].Source]));        // step by step: session.Step(previousTokens)
        // ---- README code ends

        Assert.Equal(h.Tokens.Length, h.Weights.GetLength(0));
        Assert.Equal(pairs[0].Source.Length, h.Weights.GetLength(1));
        Assert.Equal(1, session.Rows);
        var (per, _, _) = Seq2SeqTrainer.Evaluate(model, pairs.Take(100).Select(p => (p.Source, p.Target)).ToList());
        Assert.True(per < 0.5, $"reversal PER {per:P1} after 200 steps (an untrained model is near 100%)");
    }
}
