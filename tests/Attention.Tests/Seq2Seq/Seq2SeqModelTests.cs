using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Tests.Seq2Seq;

public class Seq2SeqModelTests
{
    private static Seq2SeqConfig Tiny(AttentionKind kind) => new(10, 10)
    {
        Embedding = 8, EncoderHidden = 8, DecoderHidden = 16, AttentionSize = 8, Attention = kind, MaxSource = 12,
    };

    private static List<(int[] Source, int[] Target)> CopyData(int count, int minLength, int maxLength, ulong seed)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var x = Enumerable.Range(0, minLength + rng.NextInt(maxLength - minLength + 1)).Select(_ => 4 + rng.NextInt(6)).ToArray();
            return (x, x);
        }).ToList();
    }

    [Theory]
    [InlineData(AttentionKind.None)]
    [InlineData(AttentionKind.Bahdanau)]
    [InlineData(AttentionKind.LuongGeneral)]
    [InlineData(AttentionKind.LocalPredictive)]
    [InlineData(AttentionKind.Coverage)]
    [InlineData(AttentionKind.LocationAware)]
    public void TeacherForcedForward_GivesLogitsPerStep_AndWeightsZeroOnPadding(AttentionKind kind)
    {
        var model = new Seq2SeqModel(Tiny(kind), new Rng(1));
        var batch = Seq2SeqBatch.Create(CopyData(4, 2, 6, 3));
        var output = model.Forward(batch.Source, batch.DecoderInput);
        Assert.Equal(new[] { 4, batch.DecoderInput.Time, 10 }, output.Logits.Shape.ToArray());
        Assert.Equal(batch.DecoderInput.Time, output.Weights.Count);
        foreach (var w in output.Weights)
            for (int b = 0; b < 4; b++)
                for (int j = batch.Source.Lengths[b]; j < batch.Source.Time; j++)
                    Assert.Equal(0f, w.Value.AsSpan()[b * batch.Source.Time + j]);
    }

    [Fact]
    public void LstmEncoder_UnidirectionalAndTwoLayers_GivesTheSameShapes_AndPaddingInvariance()
    {
        var config = Tiny(AttentionKind.Bahdanau) with { EncoderKind = RecurrentKind.Lstm, Bidirectional = false, EncoderLayers = 2, EncoderHidden = 16 };
        var model = new Seq2SeqModel(config, new Rng(5));
        var pairs = CopyData(3, 2, 6, 8);
        var batch = Seq2SeqBatch.Create(pairs);
        var together = model.Forward(batch.Source, batch.DecoderInput).Logits.Value;
        Assert.Equal(new[] { 3, batch.DecoderInput.Time, 10 }, together.Shape.ToArray());
        var alone = Seq2SeqBatch.Create([pairs[1]]);
        var single = model.Forward(alone.Source, alone.DecoderInput).Logits.Value.AsSpan();
        for (int t = 0; t < alone.DecoderInput.Time; t++)
            for (int k = 0; k < 10; k++)
                Assert.InRange(Math.Abs(single[t * 10 + k] - together.AsSpan()[(batch.DecoderInput.Time + t) * 10 + k]), 0f, 1e-5f);
    }

    [Fact]
    public void Vocabulary_ReservesPadBosEosUnk_AndDecodeStopsAtEos()
    {
        var v = new Vocabulary(["K", "AE", "T", "K"]);
        Assert.Equal(7, v.Count);
        Assert.Equal(new[] { 4, 5, 6, Vocabulary.Unk }, v.Encode(["K", "AE", "T", "ZZ"]));
        Assert.Equal(new[] { "K", "AE" }, v.Decode([Vocabulary.Bos, 4, 5, Vocabulary.Eos, 6]));
        Assert.Throws<ArgumentOutOfRangeException>(() => v.Decode([99]));
    }

    [Fact]
    public void Model_Gradients_MatchFiniteDifferences_ThroughEncoderAndDecoder()
    {
        var config = new Seq2SeqConfig(6, 6) { Embedding = 3, EncoderHidden = 3, DecoderHidden = 4, AttentionSize = 3, Attention = AttentionKind.Bahdanau };
        var model = new Seq2SeqModel(config, new Rng(2));
        var batch = Seq2SeqBatch.Create([([4, 5, 4], [5, 4]), ([5], [4])]);
        // Every parameter of the encoder and decoder. The attention's own parameters move the logits of this tiny
        // model too little for the checker's non-triviality bar; Mechanism_Gradients_MatchFiniteDifferences checks them.
        var leaves = model.NamedParameters().Where(p => !p.Name.StartsWith("attention.", StringComparison.Ordinal)).Select(p => p.Parameter).ToList();
        Attention.Tests.Autograd.GradCheck.CheckLeaves(() => model.Forward(batch.Source, batch.DecoderInput).Logits, leaves);
    }

    [Fact]
    public void BeamWidthOne_EqualsGreedy()
    {
        var model = new Seq2SeqModel(Tiny(AttentionKind.Bahdanau), new Rng(7));
        Seq2SeqTrainer.Train(model, CopyData(64, 2, 5, 1), new TrainOptions { Steps = 20, BatchSize = 16 });
        foreach (var (src, _) in CopyData(8, 2, 6, 9))
        {
            var greedy = Decoding.Greedy(model, [src], 10)[0];
            var beam = Decoding.Beam(model, src, 1, 10);
            Assert.Equal(greedy.Tokens, beam.Tokens);
            Assert.Equal(greedy.LogProb, beam.LogProb, 4);
        }
    }

    [Fact]
    public void WiderBeam_NeverScoresBelowGreedy()
    {
        var model = new Seq2SeqModel(Tiny(AttentionKind.LuongGeneral), new Rng(8));
        Seq2SeqTrainer.Train(model, CopyData(64, 2, 5, 2), new TrainOptions { Steps = 20, BatchSize = 16 });
        foreach (var (src, _) in CopyData(8, 2, 6, 10))
        {
            var greedy = Decoding.Beam(model, src, 1, 10);
            var beam = Decoding.Beam(model, src, 4, 10);
            Assert.True(beam.LogProb >= greedy.LogProb - 1e-5, $"beam {beam.LogProb} < greedy {greedy.LogProb}");
            Assert.Equal(beam.Tokens.Length, beam.Weights.GetLength(0));
            Assert.Equal(src.Length, beam.Weights.GetLength(1));
        }
    }

    [Fact]
    public void Bahdanau_LearnsATinyCopyTask()
    {
        var model = new Seq2SeqModel(Tiny(AttentionKind.Bahdanau) with { DecoderHidden = 24, EncoderHidden = 16 }, new Rng(11));
        Seq2SeqTrainer.Train(model, CopyData(2000, 2, 6, 4), new TrainOptions { Steps = 300, BatchSize = 32, LearningRate = 1e-2f });
        var test = CopyData(100, 2, 6, 99);
        var (per, wer, _) = Seq2SeqTrainer.Evaluate(model, test, 10);
        Assert.True(wer < 0.1, $"copy WER {wer} (PER {per}) after training; chance is near 1");
    }
}

public class SequenceMetricsTests
{
    [Fact]
    public void EditDistance_CountsInsertionsDeletionsAndSubstitutions()
    {
        Assert.Equal(3, SequenceMetrics.EditDistance("kitten".ToArray(), "sitting".ToArray()));
        Assert.Equal(0, SequenceMetrics.EditDistance(new[] { "K", "AE", "T" }, new[] { "K", "AE", "T" }));
        Assert.Equal(3, SequenceMetrics.EditDistance(new[] { "K", "AE", "T" }, Array.Empty<string>()));
        Assert.Equal(2, SequenceMetrics.EditDistance(Array.Empty<string>(), new[] { "K", "T" }));
    }

    [Fact]
    public void ErrorRates_OnHandExamples()
    {
        IReadOnlyList<string>[] refs = [["K", "AE", "T"], ["D", "AO", "G"], ["AH"]];
        IReadOnlyList<string>[] hyps = [["K", "AE", "T"], ["D", "AA", "G", "Z"], ["AH"]];
        var (per, wer) = SequenceMetrics.ErrorRates(refs, hyps);
        Assert.Equal(2.0 / 7, per, 12);      // one substitution + one insertion over 7 reference phonemes
        Assert.Equal(1.0 / 3, wer, 12);      // one word of three is wrong
        Assert.Throws<ArgumentException>(() => SequenceMetrics.ErrorRates(refs, hyps[..2]));
    }

    [Fact]
    public void G2PData_RemovesStress_AndSplitsDisjointly()
    {
        var data = G2PData.Load();
        Assert.Equal(4 + 39, data.Phonemes.Count);
        Assert.All(data.Phonemes.Symbols.Skip(4), p => Assert.False(char.IsAsciiDigit(p[^1])));
        var train = data.Train.Select(e => e.Word).ToHashSet();
        Assert.DoesNotContain(data.Test, e => train.Contains(e.Word));
        Assert.True(data.Train.Count > 100_000, $"train words {data.Train.Count}");
        var cat = data.Example("Cat");
        Assert.Equal(new[] { "K", "AE", "T" }, cat.Phonemes);
        Assert.Throws<ArgumentException>(() => data.Example("x-ray"));
    }
}
