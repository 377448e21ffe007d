using Attention.Autograd;
using Attention.Models;
using Attention.Seq2Seq;
using Attention.Tensors;
using Attention.Tests.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Models;

public class ListenAttendSpellTests
{
    private static LasConfig Tiny(SpellerAttention kind, int bottom = 1) => new(Features: 3, Vocabulary: 7)
    {
        ListenerHidden = 3, BottomLayers = bottom, PyramidLayers = 2, SpellerHidden = 4, Embedding = 3, AttentionSize = 4,
        Attention = kind, Filters = 2, FilterWidth = 3,
    };

    private static List<LasExample> RandomExamples(Rng rng, int features, params (int Frames, int[] Tokens)[] items) =>
        items.Select(i => new LasExample(rng.NormalTensor([i.Frames * features]).ToArray(), i.Frames, i.Tokens)).ToList();

    [Fact]
    public void Pyramid_Reduce_ConcatenatesNeighbouringFrames_AndPadsAnOddLengthWithZeros()
    {
        const int b = 2, t = 5, e = 3;
        var x = new Rng(1).NormalTensor([b, t, e]);
        var (y, lengths) = Pyramid.Reduce(Var.Constant(x), [5, 2]);
        Assert.Equal(new[] { b, 3, 2 * e }, y.Shape.ToArray());
        Assert.Equal(new[] { 3, 1 }, lengths);
        var xs = x.ToArray(); var ys = y.Value.Contiguous().ToArray();
        for (int i = 0; i < b; i++)
            for (int k = 0; k < 3; k++)
                for (int half = 0; half < 2; half++)
                    for (int c = 0; c < e; c++)
                    {
                        int frame = 2 * k + half;
                        float expected = frame < t ? xs[(i * t + frame) * e + c] : 0f;
                        Assert.Equal(expected, ys[((i * 3 + k) * 2 + half) * e + c]);
                    }
    }

    [Fact]
    public void Pyramid_Reduce_GradientMatchesFiniteDifferences_OddAndEvenLengths()
    {
        foreach (int t in new[] { 4, 7 })
        {
            var x = Var.Parameter(new Rng((ulong)t).NormalTensor([2, t, 3]));
            ParameterGradCheck.Check(() => Pyramid.Reduce(x, [t, t - 1]).States * Pyramid.Reduce(x, [t, t - 1]).States, [x]);
        }
    }

    [Fact]
    public void Pyramid_Reduce_BadArguments_ThrowNamingWhatWasExpected()
    {
        var x = Var.Constant(Tensor.Zeros(2, 4, 3));
        Assert.Contains("(B, T, E)", Assert.Throws<ArgumentException>(() => Pyramid.Reduce(Var.Constant(Tensor.Zeros(4, 3)), [4])).Message);
        Assert.Contains("2 lengths", Assert.Throws<ArgumentException>(() => Pyramid.Reduce(x, [4])).Message);
        Assert.Contains("[0, 4]", Assert.Throws<ArgumentException>(() => Pyramid.Reduce(x, [4, 5])).Message);
    }

    [Theory]
    [InlineData(0, 2, 13, 4)]     // two halvings: 13 → 7 → 4
    [InlineData(1, 2, 16, 4)]
    [InlineData(1, 3, 17, 3)]     // 17 → 9 → 5 → 3
    public void Listener_HalvesTimePerPyramidLayer(int bottom, int pyramid, int frames, int expected)
    {
        var config = Tiny(SpellerAttention.Content, bottom) with { PyramidLayers = pyramid };
        var listener = new Listener(config, new Rng(3));
        var x = Var.Constant(new Rng(4).NormalTensor([2, frames, 3]));
        var (states, lengths) = listener.Forward(x, [frames, frames - 5]);
        Assert.Equal(new[] { 2, expected, config.ListenerOutput }, states.Shape.ToArray());
        int Reduced(int n) { for (int l = 0; l < pyramid; l++) n = (n + 1) / 2; return n; }
        Assert.Equal(new[] { expected, Reduced(frames - 5) }, lengths);
    }

    [Theory]
    [InlineData(SpellerAttention.Content)]
    [InlineData(SpellerAttention.LocationAware)]
    public void Forward_PaddedItemGivesTheSameLogitsAndAttentionAsAlone_AndRowsSumToOne(SpellerAttention kind)
    {
        var config = Tiny(kind);
        var model = new ListenAttendSpell(config, new Rng(5));
        var rng = new Rng(6);
        var batch = RandomExamples(rng, 3, (19, [4, 5, 6]), (9, [6]));
        using var _ = Var.NoGrad();
        var both = model.Forward(batch);
        Assert.Equal(new[] { 2, 4, 7 }, both.Logits.Shape.ToArray());
        Assert.Equal(new[] { 5, 3 }, both.ListenerLengths);
        var alone = model.Forward([batch[1]]);
        var lb = both.Logits.Value.Contiguous().ToArray(); var la = alone.Logits.Value.Contiguous().ToArray();
        for (int i = 0; i < 2; i++)                                   // item 1's real steps: its token and EOS
            for (int v = 0; v < 7; v++) Assert.Equal(la[i * 7 + v], lb[(4 + i) * 7 + v], 4);
        foreach (var step in both.Steps)
        {
            var w = step.Weights.Value.Contiguous().ToArray();         // (2, 5)
            Assert.Equal(1.0, w[..5].Sum(), 5);
            Assert.Equal(1.0, w[5..8].Sum(), 5);
            Assert.Equal(0f, w[8]); Assert.Equal(0f, w[9]);
        }
    }

    [Theory]
    [InlineData(SpellerAttention.Content)]
    [InlineData(SpellerAttention.LocationAware)]
    public void Forward_GradientMatchesFiniteDifferences_ThroughListenerAttentionAndSpeller(SpellerAttention kind)
    {
        var model = new ListenAttendSpell(Tiny(kind, bottom: 0), new Rng(8));
        // weights at twice their initial scale and inputs at three times: at the default scale some leaves (v_a, the
        // first layer's weight_hh) move the logits too little for the check's guard against vacuous gradients
        foreach (var p in model.Parameters()) { var v = p.Value.AsSpan(); for (int i = 0; i < v.Length; i++) v[i] *= 2; }
        var batch = RandomExamples(new Rng(9), 3, (13, [4, 5, 6, 4, 5]), (9, [6, 4, 6]))
            .Select(e => e with { Features = e.Features.Select(x => 3 * x).ToArray() }).ToList();
        ParameterGradCheck.Check(() => model.Forward(batch).Logits, model.Parameters());
    }

    [Fact]
    public void Greedy_AgreesWithTeacherForcedArgmax_AndBlockingEosForcesTheLength()
    {
        var model = new ListenAttendSpell(Tiny(SpellerAttention.LocationAware), new Rng(10));
        var examples = RandomExamples(new Rng(11), 3, (15, [4]), (11, [5, 6]));
        var free = model.Greedy(examples, 6);
        // feeding the greedy output back under teacher forcing, each position's argmax (PAD and BOS excluded) is what greedy chose
        var replay = examples.Select((e, k) => e with { Tokens = free[k].Tokens }).ToList();
        using (Var.NoGrad())
        {
            var logits = model.Forward(replay).Logits.Value.Contiguous().ToArray();
            int u = replay.Max(e => e.Tokens.Length) + 1;
            for (int k = 0; k < replay.Count; k++)
            {
                var chosen = free[k].Tokens.Append(Vocabulary.Eos).Take(Math.Min(free[k].Tokens.Length + 1, 6)).ToArray();
                for (int i = 0; i < chosen.Length && i < u; i++)
                {
                    var row = logits.AsSpan((k * u + i) * 7, 7);
                    int best = Vocabulary.Eos;
                    for (int id = best + 1; id < 7; id++) if (row[id] > row[best]) best = id;
                    Assert.Equal(chosen[i], best);
                }
            }
        }
        var forced = model.Greedy(examples, 6, [5, 4]);
        Assert.True(forced[0].Tokens.Length >= 5 && forced[1].Tokens.Length >= 4);
        Assert.Equal(forced[0].Tokens.Length, forced[0].Weights.GetLength(0));
        Assert.Equal(4, forced[0].Weights.GetLength(1));                   // 15 frames → 8 → 4 listener steps
        Assert.Throws<ArgumentException>(() => model.Greedy(examples, 6, [1]));
    }

    [Fact]
    public void Trainer_LearnsToSpellToneSequences_AndScoresThem()
    {
        // digit d is a burst of 4 frames with feature d hot; 2–3 frames of silence between bursts
        var rng = new Rng(12);
        var data = new List<LasExample>();
        for (int n = 0; n < 24; n++)
        {
            int length = 1 + rng.NextInt(3);
            var frames = new List<float[]>();
            var tokens = new int[length];
            void Silence() { for (int s = 0; s < 2 + rng.NextInt(2); s++) frames.Add(new float[3]); }
            Silence();
            for (int w = 0; w < length; w++)
            {
                int d = rng.NextInt(3);
                tokens[w] = 4 + d;
                for (int s = 0; s < 4; s++) { var f = new float[3]; f[d] = 1; frames.Add(f); }
                Silence();
            }
            data.Add(new LasExample(frames.SelectMany(f => f).ToArray(), frames.Count, tokens));
        }
        var config = new LasConfig(3, 7) { ListenerHidden = 8, BottomLayers = 0, PyramidLayers = 1, SpellerHidden = 16, Embedding = 4, AttentionSize = 8 };
        var model = new ListenAttendSpell(config, new Rng(13));
        var report = ListenAttendSpellTrainer.Train(model, data, new LasTrainOptions { Steps = 250, BatchSize = 8, LearningRate = 1e-2f, Seed = 14 });
        Assert.Equal(250, report.Losses.Count);
        Assert.True(report.Losses.TakeLast(20).Average() < 0.2 * report.Losses.Take(5).Average(), $"loss {report.Losses.Take(5).Average():F3} → {report.Losses.TakeLast(20).Average():F3}");
        var hyps = ListenAttendSpellTrainer.Transcribe(model, data, 8, batchSize: 5);
        var (errorRate, exact) = ListenAttendSpellTrainer.Score(data, hyps);
        Assert.True(errorRate < 0.1, $"token error rate {errorRate:P1}");
        Assert.True(exact > 0.8, $"exact {exact:P0}");
    }

    [Fact]
    public void Score_CountsEditsAndExactStrings()
    {
        var data = new List<LasExample> { new([0f], 1, [4, 5, 6]), new([0f], 1, [7]) };
        var hyps = new List<LasHypothesis> { new([4, 6], new float[2, 1]), new([7], new float[1, 1]) };
        var (errorRate, exact) = ListenAttendSpellTrainer.Score(data, hyps);
        Assert.Equal(1.0 / 4, errorRate, 12);
        Assert.Equal(0.5, exact, 12);
    }

    [Fact]
    public void BadArguments_ThrowNamingWhatWasExpected()
    {
        var model = new ListenAttendSpell(Tiny(SpellerAttention.Content), new Rng(1));
        Assert.Contains("frames·3", Assert.Throws<ArgumentException>(() => model.Forward([new LasExample(new float[5], 2, [4])])).Message);
        Assert.Throws<ArgumentException>(() => new ListenAttendSpell(new LasConfig(3, 4), new Rng(1)));
        Assert.Throws<ArgumentException>(() => new Listener(Tiny(SpellerAttention.Content, 0) with { PyramidLayers = 0 }, new Rng(1)));
        Assert.Throws<ArgumentException>(() => ListenAttendSpellTrainer.Train(model, [], new LasTrainOptions()));
    }
}
