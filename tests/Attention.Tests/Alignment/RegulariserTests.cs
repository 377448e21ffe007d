using Attention.Data;
using Attention.Alignments;
using Attention.Autograd;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Alignment;

public class RegulariserTests
{
    // 2 items, S = 4 (item 1 has source length 3), T = 3 steps (item 1 has 2 target steps)
    private static readonly int[] TargetLengths = [3, 2];
    private static Tensor Padding()
    {
        var m = Tensor.Zeros(2, 4); m[1, 3] = 1f; return m;
    }

    private static List<Var> Weights(Var[] logits) => logits.Select(l => l.MaskedFill(Padding(), float.NegativeInfinity).Softmax(-1)).ToList();

    private static Var[] Leaves(ulong seed) => Enumerable.Range(0, 3).Select(i => Var.Parameter(new Rng(seed + (ulong)i).NormalTensor([2, 4]))).ToArray();

    [Fact]
    public void Entropy_GradientCheck() { var p = Leaves(1); GradCheck.CheckLeaves(() => Regularisers.Entropy(Weights(p), TargetLengths), p); }

    [Fact]
    public void Coverage_GradientCheck()
    {
        // peaked weights (3× logits), so that every step has positions above and below its coverage and min(α, c)
        // passes gradient to both; ×10 because the scalar is small
        var p = Leaves(2);
        GradCheck.CheckLeaves(() => Regularisers.Coverage(Weights(p.Select(x => x * 3f).ToArray()), TargetLengths) * 10f, p);
    }

    [Fact]
    public void SupervisedAlignment_GradientCheck()
    {
        var p = Leaves(3);
        GradCheck.CheckLeaves(() => Regularisers.SupervisedAlignment(Weights(p), Gold(), usePossible: true), p); // step 2 has a Possible link only
    }

    private static GoldAlignment[] Gold() =>
    [
        new GoldAlignment(4, 3, [new(0, 0), new(2, 1), new(3, 1)], [new(1, 2)]),
        new GoldAlignment(3, 2, [new(2, 0), new(0, 1)], []),
    ];

    [Fact]
    public void Entropy_OfUniformWeights_IsLogOfTheSourceLength()
    {
        var zeros = Enumerable.Range(0, 3).Select(_ => Var.Constant(Tensor.Zeros(2, 4))).ToArray();
        // item 0: 3 steps over 4 positions, item 1: 2 steps over 3 positions
        double expected = (3 * Math.Log(4) + 2 * Math.Log(3)) / 5;
        Assert.Equal(expected, Regularisers.Entropy(Weights(zeros), TargetLengths).Item(), 5);
    }

    [Fact]
    public void SupervisedAlignment_IsSmallestWhenWeightsEqualTheGold()
    {
        // weights exactly the gold distribution (Sure links) give the gold's own entropy, ln 2 for the two-link row
        var g = Gold();
        var exact = new List<Var>();
        for (int t = 0; t < 3; t++)
        {
            var w = Tensor.Full(1e-9f, 2, 4);
            for (int b = 0; b < 2; b++)
            {
                var links = g[b].Sure.Where(l => l.Target == t).ToList();
                if (links.Count == 0) { for (int j = 0; j < (b == 0 ? 4 : 3); j++) w[b, j] = 1f / (b == 0 ? 4 : 3); }
                foreach (var l in links) w[b, l.Source] = 1f / links.Count;
            }
            exact.Add(Var.Constant(w));
        }
        double atGold = Regularisers.SupervisedAlignment(exact, g).Item();
        Assert.Equal(Math.Log(2) / 4, atGold, 4);                                 // four supervised (b, t) terms, one with two links
        var random = Weights(Leaves(5));
        Assert.True(Regularisers.SupervisedAlignment(random, g).Item() > atGold);
    }
}
