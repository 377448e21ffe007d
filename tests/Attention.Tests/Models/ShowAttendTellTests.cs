using Attention.Alignments;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Models;

public class ShowAttendTellTests
{
    private static readonly ShowAttendTellConfig Tiny = new() { Features = 4, Embedding = 3, Hidden = 5, AttentionSize = 3 };

    private static List<MnistStrip> Strips(int count, ulong seed) =>
        MnistStrips.Generate(Mnist.Split(Mnist.LoadRepoCopy()).Test, count, new Rng(seed));

    [Fact]
    public void DoublyStochasticPenalty_MatchesFloat64Reference_AndIgnoresStepsPastEachCaption()
    {
        const int b = 3, l = 6, steps = 4;
        int[] lengths = [4, 2, 3];
        var rng = new Rng(1);
        var alphas = Enumerable.Range(0, steps).Select(_ => Var.Parameter(rng.UniformTensor([b, l], 0.05f, 0.5f))).ToList();
        double expected = 0;
        for (int i = 0; i < b; i++)
            for (int j = 0; j < l; j++)
            {
                double sum = 0;
                for (int t = 0; t < lengths[i]; t++) sum += alphas[t].Value.ToArray()[i * l + j];
                expected += (1 - sum) * (1 - sum);
            }
        var penalty = ShowAttendTell.DoublyStochasticPenalty(alphas, lengths);
        Assert.Equal(expected / b, penalty.Item(), 4);
        // weights of step 3 for item 1 (length 2) must not matter
        alphas[3].Value.AsSpan()[1 * l + 2] += 10f;
        Assert.Equal(expected / b, ShowAttendTell.DoublyStochasticPenalty(alphas, lengths).Item(), 4);
        GradCheck.CheckLeaves(() => ShowAttendTell.DoublyStochasticPenalty(alphas, lengths), alphas.Take(3).ToList());
        Assert.Throws<ArgumentException>(() => ShowAttendTell.DoublyStochasticPenalty(alphas, [1, 2]));
    }

    [Fact]
    public void SoftModel_Gradients_MatchFiniteDifferences_ThroughAttentionGateAndDecoder()
    {
        var model = new ShowAttendTell(Tiny with { Features = 8 }, new Rng(2));
        var strips = Strips(2, 3);
        var targets = ShowAttendTell.Targets(strips);
        // every parameter except the 784-wide window layer (the Conv2d has its own finite-difference test)
        // at initialisation the tiny scorer is nearly uniform over 17 windows and the annotation vectors are small, so the
        // gradients of v_a, W_a and the gate would fall below the check's floor for a non-vacuous gradient: scale them up
        foreach (var (_, p) in model.NamedParameters().Where(x => x.Name.StartsWith("attention.", StringComparison.Ordinal) || x.Name == "encoder.position"))
        { var s = p.Value.AsSpan(); for (int i = 0; i < s.Length; i++) s[i] *= 5f; }
        // every parameter except the 784-wide window layer (the Conv2d has its own finite-difference test), in two checks:
        // the logits, at step 1e-3 because the encoder's two ReLUs put kinks within 1e-2 of some inputs; and the doubly
        // stochastic penalty with respect to the attention scorer (smooth in it), which reaches the loss mostly through α
        var named = model.NamedParameters().Where(p => !p.Name.StartsWith("encoder.window", StringComparison.Ordinal)).ToList();
        var lengths = strips.Select(s => s.Digits.Length + 1).ToArray();
        GradCheck.CheckLeaves(() => model.Forward(strips).Logits, named.Where(p => !p.Name.StartsWith("attention.", StringComparison.Ordinal)).Select(p => p.Parameter).ToList(), h: 1e-3);
        GradCheck.CheckLeaves(() => ShowAttendTell.DoublyStochasticPenalty(model.Forward(strips).Alphas, lengths),
                              named.Where(p => p.Name.StartsWith("attention.", StringComparison.Ordinal)).Select(p => p.Parameter).ToList());
        Assert.Equal(strips.Max(s => s.Digits.Length) + 1, targets.Length / 2);
    }

    [Theory]
    [InlineData(null)] [InlineData(HardAttentionMode.GumbelStraightThrough)] [InlineData(HardAttentionMode.Reinforce)]
    public void Weights_AreDistributions_SoftOrOneHot_AndTheContextFollowsThem(HardAttentionMode? hard)
    {
        Func<int, int, Rng, IDecoderAttention>? factory = hard is HardAttentionMode mode
            ? (n, d, rng) => new HardAttention(new BahdanauAttention(n, d, Tiny.AttentionSize, rng), mode, new Rng(40))
            : null;
        var model = new ShowAttendTell(Tiny, new Rng(4), factory);
        var strips = Strips(3, 5);
        var output = model.Forward(strips);
        Assert.Equal([3, strips.Max(s => s.Digits.Length) + 1, ShowAttendTell.Classes], output.Logits.Shape.ToArray());
        Assert.Equal(hard == HardAttentionMode.Reinforce ? output.Weights.Count : 0, output.SampleLogProbs.Count);
        int l = model.Locations;
        Assert.Equal(17, l);
        foreach (var (w, a) in output.Weights.Zip(output.Alphas))
            for (int i = 0; i < 3; i++)
            {
                var wr = w.Value.ToArray().AsSpan(i * l, l).ToArray(); var ar = a.Value.ToArray().AsSpan(i * l, l).ToArray();
                Assert.Equal(1.0, ar.Sum(), 5);
                Assert.All(ar, x => Assert.True(x > 0));
                if (hard is null) Assert.Equal(ar, wr);
                else { Assert.Equal(1, wr.Count(x => x == 1f)); Assert.Equal(l - 1, wr.Count(x => x == 0f)); }
                double cells = Enumerable.Range(0, 5).Sum(c => model.MassInCell(wr, c));
                Assert.Equal(1.0, cells, 5);
            }
    }

    [Fact]
    public void Greedy_WritesAtMostMaxDigits_WithOneWeightRowPerStep()
    {
        var model = new ShowAttendTell(Tiny, new Rng(6));
        var captions = model.Greedy(Strips(4, 7), 3);
        Assert.Equal(4, captions.Count);
        foreach (var c in captions)
        {
            Assert.InRange(c.Digits.Length, 0, 3);
            Assert.Equal(c.Digits.Length + 1, c.Attention.Length);
            Assert.All(c.Digits, d => Assert.InRange(d, 0, 9));
        }
        Assert.True(model.Training, "Greedy must restore the training mode it found");
    }

    [Fact]
    public void SoftCaptioner_LearnsAFixedBatch_CrossEntropyFallsBelowAThird()
    {
        var model = new ShowAttendTell(new ShowAttendTellConfig { Features = 32, Hidden = 48, AttentionSize = 32, Embedding = 16 }, new Rng(8));
        var strips = Strips(8, 9);
        var targets = ShowAttendTell.Targets(strips);
        var optimizer = new Adam(model.Parameters(), 5e-3f);
        double first = 0, last = 0;
        for (int s = 0; s < 120; s++)
        {
            optimizer.ZeroGrad();
            var loss = Var.CrossEntropy(model.Forward(strips).Logits, targets);
            loss.Backward();
            optimizer.Step();
            if (s == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.True(last < first / 3, $"cross-entropy {first:0.000} → {last:0.000}");
    }
}

public class StripQuestionAnswererTests
{
    private static List<StripQuestion> Questions(int count, ulong seed) =>
        StripQuestions.Generate(Mnist.Split(Mnist.LoadRepoCopy()).Test, count, new Rng(seed));

    [Theory]
    [InlineData(StripAnswererKind.QuestionOnly)] [InlineData(StripAnswererKind.ImageOnly)]
    [InlineData(StripAnswererKind.ParallelCoAttention)] [InlineData(StripAnswererKind.AlternatingCoAttention)]
    public void EachModel_ReadsOnlyWhatItClaims(StripAnswererKind kind)
    {
        var model = new StripQuestionAnswerer(new StripAnswererConfig { Kind = kind, Features = 8, Hidden = 6 }, new Rng(1));
        var questions = Questions(4, 2);
        var answer = model.Forward(questions);
        Assert.Equal([4, StripQuestions.Answers.Count], answer.Logits.Shape.ToArray());
        Assert.Equal(kind != StripAnswererKind.QuestionOnly, answer.ImageWeights is not null);
        Assert.Equal(kind is StripAnswererKind.ParallelCoAttention or StripAnswererKind.AlternatingCoAttention, answer.QuestionWeights is not null);
        // swap the strips (question-only must not notice) or the questions (image-only must not notice)
        var otherStrips = questions.Select((q, i) => q with { Strip = questions[(i + 1) % 4].Strip }).ToList();
        var otherWords = questions.Select((q, i) => q with { TokenIds = questions[(i + 1) % 4].TokenIds }).ToList();
        bool sameWithOtherStrips = model.Forward(otherStrips).Logits.Value.ToArray().SequenceEqual(answer.Logits.Value.ToArray());
        bool sameWithOtherWords = model.Forward(otherWords).Logits.Value.ToArray().SequenceEqual(answer.Logits.Value.ToArray());
        Assert.Equal(kind == StripAnswererKind.QuestionOnly, sameWithOtherStrips);
        Assert.Equal(kind == StripAnswererKind.ImageOnly, sameWithOtherWords);
    }
}
