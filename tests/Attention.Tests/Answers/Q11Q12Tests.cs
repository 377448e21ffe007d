using Attention.Book.Experiments;
using Attention.Data;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Tests.Answers;

/// <summary>
/// Pieces of answers 11 and 12 (ExperimentRenderTests runs both experiments quick once and checks their claims).
/// </summary>
public class Q11Q12Tests
{
    [Fact]
    public void SelfAttention_IsPermutationEquivariant_WithoutPositions_AndNotWithThem()
    {
        var rng = new Rng(21);
        var layer = new MultiHeadAttention(16, 4, rng);
        var x = rng.NormalTensor([1, 11, 16]);
        var positions = rng.NormalTensor([1, 11, 16]);
        var perm = Batching.Permutation(11, rng);
        Assert.True(Q11_SelfAttention.EquivarianceError(layer, x, perm) < 1e-5);
        Assert.True(Q11_SelfAttention.EquivarianceError(layer, x, perm, positions) > 1e-2);
        Assert.True(Q11_SelfAttention.EquivarianceError(layer, x, perm, causal: true) > 1e-2);
    }

    [Fact]
    public void LowRankFit_HeadAsWideAsTheTargetRank_FitsIt_NarrowerDoesNot()
    {
        var target = Q12_MultiHeadAttention.LowRankTarget(12, 4, new Rng(3));
        double narrow = Q12_MultiHeadAttention.FitHead(target, 12, 1, 300, new Rng(4));
        double wide = Q12_MultiHeadAttention.FitHead(target, 12, 4, 300, new Rng(4));
        Assert.True(wide < 0.01 && narrow > 10 * wide, $"width 1: {narrow:0.####}, width 4: {wide:0.####} nats");
    }

    [Fact]
    public void JensenShannon_IsZeroForEqualRows_AndLn2ForDisjointOnes()
    {
        float[] p = [0.5f, 0.5f, 0f, 0f];
        float[] q = [0f, 0f, 0.25f, 0.75f];
        Assert.Equal(0, Q12_MultiHeadAttention.JensenShannon(p, p), 12);
        Assert.Equal(Math.Log(2), Q12_MultiHeadAttention.JensenShannon(p, q), 6);
    }
}
