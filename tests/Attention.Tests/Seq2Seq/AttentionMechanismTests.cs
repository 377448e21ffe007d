using Attention.Autograd;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Seq2Seq;

public class AttentionMechanismTests
{
    private const int Q = 4, E = 4, A = 3, S = 5, B = 3;
    private static readonly int[] Lengths = [5, 3, 1];

    public static TheoryData<string> Soft => new() { "bahdanau", "dot", "general", "concat", "location", "local-m", "coverage", "location-aware" };
    public static TheoryData<string> Trainable => new() { "bahdanau", "general", "concat", "location", "local-p", "coverage", "location-aware" };

    internal static IDecoderAttention Make(string name, Rng rng, int halfWidth = 1) => name switch
    {
        "bahdanau" => new BahdanauAttention(Q, E, A, rng),
        "dot" => new LuongAttention(LuongScore.Dot, Q, E, rng),
        "general" => new LuongAttention(LuongScore.General, Q, E, rng),
        "concat" => new LuongAttention(LuongScore.Concat, Q, E, rng),
        "location" => new LuongAttention(LuongScore.Location, Q, E, rng, maxSource: 8),
        "local-m" => new LocalAttention(LocalMode.Monotonic, LuongScore.General, Q, E, halfWidth, rng),
        "local-p" => new LocalAttention(LocalMode.Predictive, LuongScore.General, Q, E, halfWidth, rng),
        "coverage" => new CoverageAttention(Q, E, A, rng),
        "location-aware" => new LocationAwareAttention(Q, E, A, rng, filters: 2, filterWidth: 3),
        _ => throw new ArgumentException(name),
    };

    private static (Var States, Var Query, AttentionStepState State) Inputs(ulong seed, int[] lengths, int s)
    {
        var rng = new Rng(seed);
        int b = lengths.Length;
        var states = Var.Constant(rng.NormalTensor([b, s, E]));
        var query = Var.Constant(rng.NormalTensor([b, Q]));
        // A previous step, so coverage and location-aware scores have something to read.
        var prev = Var.Constant(rng.UniformTensor([b, s], 0.1f, 1f)).MaskedFill(AttentionMasks.Padding(lengths, s), float.NegativeInfinity).Softmax(-1);
        return (states, query, new AttentionStepState(1, prev, prev, lengths));
    }

    [Theory]
    [MemberData(nameof(Soft))]
    public void Weights_SumToOne_OverValidSource_AndAreZeroOnPadding(string name)
    {
        var attention = Make(name, new Rng(3), halfWidth: 8);
        var (states, query, state) = Inputs(11, Lengths, S);
        var step = attention.Step(attention.Prepare(states, Lengths), query, state);
        var w = step.Weights.Value.AsSpan();
        for (int b = 0; b < B; b++)
        {
            double sum = 0;
            for (int j = 0; j < S; j++)
            {
                if (j >= Lengths[b]) Assert.Equal(0f, w[b * S + j]);
                else Assert.True(w[b * S + j] > 0f, $"{name}: weight of a real position should be positive");
                sum += w[b * S + j];
            }
            Assert.Equal(1.0, sum, 5);
        }
        Assert.Equal(new[] { B, E }, step.Context.Shape.ToArray());
    }

    [Theory]
    [MemberData(nameof(Soft))]
    public void Padding_DoesNotChange_TheUnpaddedItem(string name)
    {
        var attention = Make(name, new Rng(3), halfWidth: 8);
        var (states, query, state) = Inputs(12, Lengths, S);
        var padded = attention.Step(attention.Prepare(states, Lengths), query, state);
        // Item 1 (length 3) alone, its states cut to 3 positions.
        var alone = states.Slice(0, 1, 1).Slice(1, 0, 3);
        var aloneState = new AttentionStepState(1, state.PreviousWeights!.Slice(0, 1, 1).Slice(1, 0, 3), state.Coverage!.Slice(0, 1, 1).Slice(1, 0, 3), [3]);
        var single = attention.Step(attention.Prepare(alone, [3]), query.Slice(0, 1, 1), aloneState);
        for (int j = 0; j < 3; j++)
            Assert.InRange(Math.Abs(single.Weights.Value.AsSpan()[j] - padded.Weights.Value.AsSpan()[S + j]), 0f, 1e-6f);
        for (int k = 0; k < E; k++)
            Assert.InRange(Math.Abs(single.Context.Value.AsSpan()[k] - padded.Context.Value.AsSpan()[E + k]), 0f, 1e-6f);
    }

    [Fact]
    public void LocalMonotonic_WeightsAreZero_OutsideTheWindow()
    {
        const int d = 1, s = 9;
        var attention = Make("local-m", new Rng(4), halfWidth: d);
        var lengths = new[] { 9, 9, 6 };
        var (states, query, _) = Inputs(13, lengths, s);
        var memory = attention.Prepare(states, lengths);
        for (int t = 0; t < 6; t++)
        {
            var w = attention.Step(memory, query, new AttentionStepState(t, null, null, lengths)).Weights.Value.AsSpan();
            for (int b = 0; b < 3; b++)
            {
                double sum = 0;
                for (int j = 0; j < s; j++)
                {
                    if (Math.Abs(j - t) > d) Assert.Equal(0f, w[b * s + j]);
                    sum += w[b * s + j];
                }
                Assert.Equal(1.0, sum, 5);
            }
        }
    }

    [Fact]
    public void LocalPredictive_Centre_IsWithinSource_AndWeightsVanishOutsideWindow()
    {
        const int d = 1, s = 9;
        var lengths = new[] { 9, 4, 2 };
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var attention = Make("local-p", new Rng(seed), halfWidth: d);
            var (states, _, _) = Inputs(seed, lengths, s);
            var query = Var.Constant(new Rng(seed + 100).NormalTensor([3, Q], 0f, 3f));
            var step = attention.Step(attention.Prepare(states, lengths), query, AttentionStepState.Initial(lengths));
            var p = step.PredictedCentre!.Value.AsSpan();
            var w = step.Weights.Value.AsSpan();
            for (int b = 0; b < 3; b++)
            {
                Assert.InRange(p[b], 0f, lengths[b]);
                int c = (int)Math.Round(p[b]);
                double sum = 0;
                for (int j = 0; j < s; j++)
                {
                    if (Math.Abs(j - c) > d || j >= lengths[b]) Assert.Equal(0f, w[b * s + j]);
                    sum += w[b * s + j];
                }
                Assert.InRange(sum, 0.0, 1.0 + 1e-6);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Trainable))]
    public void Mechanism_Gradients_MatchFiniteDifferences(string name)
    {
        // halfWidth 8 > S keeps local-p's rounded window from moving under the perturbation (it is not differentiable).
        var attention = Make(name, new Rng(5), halfWidth: 8);
        var rng = new Rng(21);
        var states = Var.Parameter(rng.NormalTensor([B, S, E]));
        var query = Var.Parameter(rng.NormalTensor([B, Q]));
        var prev = Var.Parameter(rng.UniformTensor([B, S], 0f, 1f));
        var leaves = new List<Var> { states, query };
        if (name is "coverage" or "location-aware") leaves.Add(prev);
        leaves.AddRange(((Attention.Nn.Module)attention).Parameters());
        Attention.Tests.Autograd.GradCheck.CheckLeaves(() =>
        {
            var step = attention.Step(attention.Prepare(states, Lengths), query, new AttentionStepState(1, prev, prev, Lengths));
            return Var.Concat([step.Weights, step.Context], 1);
        }, leaves);
    }

    [Fact]
    public void CoverageLoss_Gradients_MatchFiniteDifferences_AndChargeRepeatedAttention()
    {
        var rng = new Rng(8);
        var scores = Enumerable.Range(0, 3).Select(_ => Var.Parameter(rng.NormalTensor([2, 4]))).ToList();
        int[] targetLengths = [3, 3];
        Attention.Tests.Autograd.GradCheck.CheckLeaves(() => CoverageLoss.Compute(scores.Select(s => s.Softmax(-1)).ToList(), targetLengths).Reshape(1), scores);
        // Attending the same position twice costs min(1, 1) = 1 per repeat; moving on costs 0.
        var same = Var.Constant(Tensor.FromArray([1f, 0f], 1, 2));
        var next = Var.Constant(Tensor.FromArray([0f, 1f], 1, 2));
        Assert.Equal(0.5f, CoverageLoss.Compute([same, same], [2]).Item(), 6);
        Assert.Equal(0f, CoverageLoss.Compute([same, next], [2]).Item(), 6);
    }

    [Fact]
    public void Step_RejectsAQueryOfTheWrongWidth()
    {
        var attention = Make("bahdanau", new Rng(1));
        var (states, _, state) = Inputs(1, Lengths, S);
        var memory = attention.Prepare(states, Lengths);
        var ex = Assert.Throws<ArgumentException>(() => attention.Step(memory, Var.Constant(Tensor.Zeros(B, Q + 1)), state));
        Assert.Contains($"({B}, {Q})", ex.Message);
        Assert.Throws<ArgumentException>(() => attention.Prepare(states, [5, 3]));
        Assert.Throws<ArgumentException>(() => attention.Prepare(states, [5, 3, 0]));
    }
}
