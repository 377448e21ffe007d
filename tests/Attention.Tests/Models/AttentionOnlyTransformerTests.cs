using Attention.Autograd;
using Attention.Models;
using Attention.Tensors;
using Attention.Tests.Nn;

namespace Attention.Tests.Models;

public class AttentionOnlyTransformerTests
{
    [Fact]
    public void AttentionOnlyTransformer_Gradients_MatchFiniteDifferences()
    {
        var model = new AttentionOnlyTransformer(vocab: 5, maxLength: 4, dim: 4, heads: 2, layers: 2, outputs: 3, new Rng(3), types: 2);
        int[] ids = [1, 4, 0, 2, 3, 3, 1, 0];
        int[] types = [0, 1, 0, 0, 1, 0, 0, 0];
        // a key bias adds q·b_k to every logit of a row, which softmax ignores: its gradient is exactly zero
        ParameterGradCheck.Check(() => model.Forward(ids, 2, 4, causal: true, types: types), model.Parameters(),
                                 zeroGradient: model.Layers.Select(l => l.K.Bias!).ToList());
    }

    [Fact]
    public void AttentionOnlyTransformer_ParameterCount_DoesNotDependOnHeads()
    {
        var counts = new[] { 1, 4, 8 }.Select(h => new AttentionOnlyTransformer(16, 16, 64, h, 1, 32, new Rng(1), types: 2, preNorm: false).ParameterCount).ToList();
        Assert.All(counts, c => Assert.Equal(counts[0], c));
        // tok 16·64 + type 2·64 + pos 16·64 + attention 4·64² + 4·64 + final LayerNorm 2·64 + readout 64·32 + 32
        Assert.Equal(16 * 64 + 2 * 64 + 16 * 64 + 4 * 64 * 64 + 4 * 64 + 2 * 64 + 64 * 32 + 32, counts[0]);
    }

    [Fact]
    public void AttentionOnlyTransformer_Causal_OutputIgnoresFutureTokens()
    {
        var model = new AttentionOnlyTransformer(7, 6, 8, 2, 2, 7, new Rng(5));
        int[] a = [0, 3, 4, 5, 1, 2];
        int[] b = [0, 3, 4, 6, 6, 6];
        using var _ = Var.NoGrad();
        var ya = model.Forward(a, 1, 6, causal: true).Value.ToArray();
        var yb = model.Forward(b, 1, 6, causal: true).Value.ToArray();
        Assert.Equal(ya.AsSpan(0, 3 * 7).ToArray(), yb.AsSpan(0, 3 * 7).ToArray());     // positions 0..2 see only 0..2
        Assert.NotEqual(ya.AsSpan(3 * 7, 7).ToArray(), yb.AsSpan(3 * 7, 7).ToArray());
    }

    [Fact]
    public void AttentionOnlyTransformer_ComposedAndFusedPaths_Agree()
    {
        var model = new AttentionOnlyTransformer(9, 7, 8, 2, 2, 9, new Rng(6));
        int[] ids = [0, 1, 2, 3, 4, 5, 6];
        using var _ = Var.NoGrad();
        var fused = model.Forward(ids, 1, 7, causal: true).Value.ToArray();
        var probabilities = new List<Var>();
        var composed = model.Forward(ids, 1, 7, causal: true, probabilities: probabilities).Value.ToArray();
        Assert.Equal(2, probabilities.Count);
        for (int i = 0; i < fused.Length; i++) Assert.True(Math.Abs(fused[i] - composed[i]) < 1e-4, $"logit {i}: {fused[i]} vs {composed[i]}");
    }

    [Fact]
    public void AttentionOnlyTransformer_RejectsBadInputs()
    {
        var model = new AttentionOnlyTransformer(5, 4, 4, 2, 1, 5, new Rng(1), types: 2);
        Assert.Throws<ArgumentException>(() => model.Forward([1, 2, 3], 1, 4, causal: false, types: [0, 0, 0]));
        Assert.Throws<ArgumentException>(() => model.Forward([1, 2, 3, 4, 1], 1, 5, causal: false, types: [0, 0, 0, 0, 0]));
        Assert.Throws<ArgumentException>(() => model.Forward([1, 2, 3, 4], 1, 4, causal: false));
        Assert.Throws<ArgumentException>(() => new AttentionOnlyTransformer(5, 4, 6, 4, 1, 5, new Rng(1)));
    }
}
