using System.Reflection;
using Attention.Autograd;
using Attention.Models;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Models;

public class TransformerTests
{
    private static TransformerConfig Tiny(bool preNorm = true) => new(11, 9)
    {
        ModelDim = 16, Heads = 2, EncoderLayers = 2, DecoderLayers = 2, FeedForwardDim = 24, Dropout = 0f, MaxLength = 16, PreNorm = preNorm,
    };

    private static Transformer Model(bool preNorm = true, ulong seed = 5)
    {
        var model = new Transformer(Tiny(preNorm), new Rng(seed));
        model.Eval();
        return model;
    }

    private static readonly int[][] Sources = [[4, 5, 6, 7, 8], [9, 4, 10], [5, 5, 6, 4]];

    [Fact]
    public void Forward_GivesLogitsPerTargetPosition()
    {
        var model = Model();
        var src = PaddedBatch.Pad(Sources, Vocabulary.Pad);
        var tgt = PaddedBatch.Pad([[1, 4, 5], [1, 6], [1, 7, 8]], Vocabulary.Pad);
        Assert.Equal(new[] { 3, 3, 9 }, model.Forward(src, tgt).Shape.ToArray());
        Assert.Equal(new[] { 3, 5, 16 }, model.Encode(src).Shape.ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void IncrementalDecoding_WithKvCache_MatchesRecomputingThePrefix(bool preNorm)
    {
        var model = Model(preNorm);
        var src = PaddedBatch.Pad(Sources, Vocabulary.Pad);
        int[][] prefix = [[1, 4, 5, 6, 7, 8], [1, 8, 7, 6, 5, 4], [1, 5, 5, 5, 5, 5]];
        var full = model.Forward(src, PaddedBatch.Pad(prefix, Vocabulary.Pad)).LogSoftmax(-1).Value.ToArray();   // (3, 6, 9)
        var session = model.StartSession(src);
        for (int t = 0; t < 6; t++)
        {
            var (logp, weights) = session.Step(prefix.Select(p => p[t]).ToArray());
            var step = logp.ToArray();
            for (int b = 0; b < 3; b++)
                for (int v = 0; v < 9; v++)
                    Assert.InRange(Math.Abs(step[b * 9 + v] - full[(b * 6 + t) * 9 + v]), 0, 2e-5);
            var w = weights.ToArray();                               // (3, S): padded source positions get no weight
            for (int b = 0; b < 3; b++)
            {
                Assert.InRange(w.Skip(b * 5).Take(5).Sum(), 0.9999, 1.0001);
                for (int j = Sources[b].Length; j < 5; j++) Assert.Equal(0f, w[b * 5 + j]);
            }
        }
    }

    [Fact]
    public void CrossAttentionKeysAndValues_AreComputedOncePerSource_AndGiveTheNaiveDecodersOutputs()
    {
        var model = Model();
        var src = PaddedBatch.Pad(Sources, Vocabulary.Pad);
        var cached = model.StartSession(src, cacheCrossAttention: true);
        var naive = model.StartSession(src, cacheCrossAttention: false);
        Assert.Equal(2, cached.CrossProjections);                     // one per decoder layer, at the start
        var previous = new[] { 1, 1, 1 };
        for (int t = 0; t < 5; t++)
        {
            var a = cached.Step(previous).LogProbs.ToArray();
            var b = naive.Step(previous).LogProbs.ToArray();
            for (int i = 0; i < a.Length; i++) Assert.InRange(Math.Abs(a[i] - b[i]), 0, 1e-5);
            previous = [4 + t, 5 + t, 6];
        }
        Assert.Equal(2, cached.CrossProjections);                     // no step projected the encoder output again
        Assert.Equal(5 * 2, naive.CrossProjections);
    }

    [Fact]
    public void CausalDecoder_OutputIgnoresFutureTokens()
    {
        var model = Model();
        var src = PaddedBatch.Pad([Sources[0]], Vocabulary.Pad);
        var a = model.Forward(src, PaddedBatch.Pad([[1, 4, 5, 6, 7]], Vocabulary.Pad)).Value.ToArray();
        var b = model.Forward(src, PaddedBatch.Pad([[1, 4, 8, 8, 8]], Vocabulary.Pad)).Value.ToArray();
        for (int i = 0; i < 2 * 9; i++) Assert.Equal(a[i], b[i]);     // positions 0 and 1 see only BOS and 4
        Assert.NotEqual(a[2 * 9 + 4], b[2 * 9 + 4]);                   // position 2 sees the changed token (logit 0, PAD, is 0 with a tied output)
    }

    [Fact]
    public void BeamSearch_ReordersTheKvCache_AndWidthOneIsGreedy()
    {
        var model = Model(seed: 9);
        foreach (var src in Sources)
        {
            var greedy = Decoding.Greedy(model, [src], 8)[0];
            var beam1 = Decoding.Beam(model, src, 1, 8);
            Assert.Equal(greedy.Tokens, beam1.Tokens);
            Assert.InRange(Math.Abs(greedy.LogProb - beam1.LogProb), 0, 1e-4);
            // A wider beam's result, rescored by teacher forcing, has the log-probability the search reported.
            var beam = Decoding.Beam(model, src, 3, 8);
            Assert.True(beam.LogProb >= greedy.LogProb - 1e-4 || beam.Tokens.Length == 8);
            var rescored = Rescore(model, src, beam.Tokens);
            Assert.InRange(Math.Abs(rescored - beam.LogProb), 0, 1e-3);
        }
    }

    private static double Rescore(Transformer model, int[] source, int[] tokens)
    {
        var input = PaddedBatch.Pad([[Vocabulary.Bos, .. tokens]], Vocabulary.Pad);
        var logp = model.Forward(PaddedBatch.Pad([source], Vocabulary.Pad), input).LogSoftmax(-1).Value.ToArray();
        int[] next = [.. tokens, Vocabulary.Eos];
        double sum = 0;
        for (int t = 0; t < next.Length; t++) sum += logp[t * 9 + next[t]];
        return sum;
    }

    [Fact]
    public void TrainingStep_RunsOnTheFusedAttentionKernels_AndLearnsToCopy()
    {
        var model = new Transformer(Tiny() with { ModelDim = 32, Heads = 4, FeedForwardDim = 64 }, new Rng(2));
        var rng = new Rng(3);
        var pairs = Enumerable.Range(0, 256).Select(_ =>
        {
            var x = Enumerable.Range(0, 2 + rng.NextInt(4)).Select(_ => 4 + rng.NextInt(5)).ToArray();
            return (x, x);
        }).ToList();
        // The graph of one training loss holds one fused "attention" node per attention layer and no softmax over keys.
        model.Train();
        var batch = Seq2SeqBatch.Create(pairs.Take(8).ToList());
        var loss = Var.CrossEntropy(model.Forward(batch.Source, batch.DecoderInput), batch.Targets, Seq2SeqBatch.Ignore);
        var ops = GraphOps(loss);
        Assert.Equal(2 + 2 * 2, ops.Count(o => o == "attention"));
        Assert.DoesNotContain("softmax", ops);
        var report = TransformerTrainer.Train(model, pairs, new TransformerTrainOptions { Steps = 120, TokensPerBatch = 400, PeakLearningRate = 5e-3f, WarmupSteps = 15, LabelSmoothing = 0f });
        Assert.True(report.Losses.Take(5).Average() > 2 * report.Losses.TakeLast(10).Average(), $"loss {report.Losses[0]:0.###} → {report.FinalLoss:0.###}");
        var (per, _, _) = Seq2SeqTrainer.Evaluate(model, pairs.Take(64).ToList());
        Assert.True(per < 0.5, $"copy PER {per:P1} (an untrained model is near 100%)");
    }

    private static List<string> GraphOps(Var root)
    {
        var parents = typeof(Var).GetField("_parents", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var seen = new HashSet<Var>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Var>([root]);
        var ops = new List<string>();
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (!seen.Add(v)) continue;
            ops.Add(v.Op);
            foreach (var p in (Var[])parents.GetValue(v)!) stack.Push(p);
        }
        return ops;
    }

    [Fact]
    public void Model_RejectsBadArguments()
    {
        Assert.Throws<ArgumentException>(() => new Transformer(Tiny() with { Heads = 3 }, new Rng(1)));
        Assert.Throws<ArgumentException>(() => new Transformer(new TransformerConfig(3, 9), new Rng(1)));
        Assert.Contains("even", Assert.Throws<ArgumentException>(() => new Transformer(Tiny() with { ModelDim = 7, Heads = 1 }, new Rng(1))).Message);
        var model = Model();
        var tooLong = PaddedBatch.Pad([Enumerable.Repeat(4, 17).ToArray()], Vocabulary.Pad);
        var ex = Assert.Throws<ArgumentException>(() => model.Encode(tooLong));
        Assert.Contains("16", ex.Message);
        var session = model.StartSession(PaddedBatch.Pad(Sources, Vocabulary.Pad));
        Assert.Throws<ArgumentException>(() => session.Step([1, 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Reorder([3]));
    }
}
