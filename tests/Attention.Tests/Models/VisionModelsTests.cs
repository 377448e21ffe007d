using Attention.Autograd;
using Attention.Data;
using Attention.Mechanisms;
using Attention.Models;
using Attention.Tensors;
using Attention.Tests.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Models;

/// <summary>The vision models shared by answers 24–26: the ViT and the small CNN with its attention modules.</summary>
public class VisionModelsTests
{
    private static VisionTransformer TinyVit(Rng rng, int depth = 2) =>
        new(new VisionTransformerOptions { ImageSize = 8, PatchSize = 4, Dim = 8, Depth = depth, Heads = 2, MlpDim = 12, Classes = 3 }, rng);

    [Fact]
    public void Vit_Patchify_CutsRowMajorPatches()
    {
        var vit = TinyVit(new Rng(1));
        var pixels = Enumerable.Range(0, 64).Select(i => (float)i).ToArray();
        var patches = vit.Patchify(Var.Constant(Tensor.FromArray(pixels, 1, 1, 8, 8))).Value;
        Assert.Equal([1, 4, 16], patches.Shape.ToArray());
        // patch 1 is the top-right 4×4 block: rows 0..3, columns 4..7
        for (int u = 0; u < 4; u++)
            for (int v = 0; v < 4; v++) Assert.Equal(u * 8 + 4 + v, patches[0, 1, u * 4 + v]);
        // patch 2 is bottom-left: rows 4..7, columns 0..3
        Assert.Equal(4 * 8, patches[0, 2, 0]);
    }

    [Fact]
    public void Vit_ForwardWithAttention_ComputesTheSameLogits_AndRowStochasticMaps()
    {
        var rng = new Rng(2);
        var vit = TinyVit(rng);
        var x = Var.Constant(rng.UniformTensor([3, 1, 8, 8]));
        using var _ = Var.NoGrad();
        var fused = vit.Forward(x).Value.ToArray();
        var out2 = vit.ForwardWithAttention(x);
        var composed = out2.Logits.Value.ToArray();
        for (int i = 0; i < fused.Length; i++) Assert.True(Math.Abs(fused[i] - composed[i]) <= 1e-5, $"logit {i}: {fused[i]} vs {composed[i]}");
        Assert.Equal(2, out2.Attention.Count);
        foreach (var map in out2.Attention)
        {
            Assert.Equal([3, 2, 5, 5], map.Shape.ToArray());
            var p = map.ToArray();
            for (int row = 0; row < p.Length / 5; row++) Assert.Equal(1.0, p.Skip(row * 5).Take(5).Sum(v => (double)v), 5);
        }
    }

    [Fact]
    public void Vit_ClassTokenAndPositions_AreUsed_AndPassTheGradientCheck()
    {
        var rng = new Rng(3);
        var vit = TinyVit(rng, depth: 1);
        // [CLS] and positions start at N(0, 0.02²); LayerNorm of so small a token curves too fast for a step of 1e-2, so widen them
        rng.FillNormal(vit.ClassToken.Value);
        rng.FillNormal(vit.Positions.Value);
        var x = Var.Constant(rng.UniformTensor([2, 1, 8, 8]));
        // the key bias shifts every score of a query row alike, which softmax ignores: its gradient is exactly zero
        ParameterGradCheck.Check(() => vit.Forward(x), vit.Parameters(), rtol: 2e-2, atol: 3e-3, zeroGradient: [vit.Blocks[0].Attention.K.Bias!]);
        Assert.Equal([1, 1, 8], vit.ClassToken.Shape.ToArray());
        Assert.Equal([1, 5, 8], vit.Positions.Shape.ToArray());
        Assert.Throws<ArgumentException>(() => vit.Forward(Var.Constant(Tensor.Zeros(1, 1, 9, 9))));
        Assert.Throws<ArgumentException>(() => new VisionTransformer(new VisionTransformerOptions { ImageSize = 10, PatchSize = 4 }, rng));
    }

    [Fact]
    public void MeanAttentionDistance_IsZeroForSelfAttention_AndTheGridDistanceForAFixedOffset()
    {
        int g = 3, n = 9, l = n + 1;
        var self = new float[l * l];
        var right = new float[l * l];
        for (int i = 0; i < n; i++)
        {
            self[(i + 1) * l + i + 1] = 1f;
            // every patch looks half at itself and half at the patch one row below (or above on the last row)
            int j = i + g < n ? i + g : i - g;
            right[(i + 1) * l + i + 1] = 0.25f;
            right[(i + 1) * l + j + 1] = 0.25f;
            right[(i + 1) * l] = 0.5f;   // the [CLS] key is left out and the rest renormalised
        }
        Assert.Equal(0.0, VisionTransformer.MeanAttentionDistance(Tensor.FromArray(self, 1, 1, l, l), g, 4)[0], 9);
        Assert.Equal(2.0, VisionTransformer.MeanAttentionDistance(Tensor.FromArray(right, 1, 1, l, l), g, 4)[0], 5);
        Assert.Throws<ArgumentException>(() => VisionTransformer.MeanAttentionDistance(Tensor.Zeros(1, 1, 9, 9), g, 4));
    }

    [Theory]
    [InlineData(CnnAttention.None)]
    [InlineData(CnnAttention.SqueezeExcitation)]
    [InlineData(CnnAttention.Eca)]
    [InlineData(CnnAttention.CbamChannel)]
    [InlineData(CnnAttention.CbamSpatial)]
    [InlineData(CnnAttention.Cbam)]
    public void SmallCnn_EveryAttentionKind_ReachesEveryParameter_AndExposesItsGatesAndMaps(CnnAttention kind)
    {
        // the modules and Conv2d have their own finite-difference checks; ReLU and max-pool kinks make a whole-network
        // check with a step of 1e-2 unreliable, so here: the wiring (every parameter gets a gradient) and the read-outs
        var rng = new Rng(4);
        var cnn = new SmallCnn(new SmallCnnOptions { Channels = [3, 4], Classes = 3, Attention = kind, Reduction = 2, SpatialKernel = 3 }, rng);
        var x = Var.Constant(rng.UniformTensor([2, 1, 6, 6]));
        var loss = Var.CrossEntropy(cnn.Forward(x), [0, 2]);
        loss.Backward();
        foreach (var (name, p) in cnn.NamedParameters()) Assert.True(p.Grad is not null, $"{name} got no gradient");
        bool channel = kind is CnnAttention.SqueezeExcitation or CnnAttention.Eca or CnnAttention.CbamChannel or CnnAttention.Cbam;
        bool spatial = kind is CnnAttention.CbamSpatial or CnnAttention.Cbam;
        Assert.Equal(channel, cnn.ChannelGates(1) is not null);
        Assert.Equal(spatial, cnn.SpatialMap(0) is not null);
        if (spatial) Assert.Equal([2, 6, 6], cnn.SpatialMap(0)!.Shape.ToArray());
        if (channel) Assert.Equal([2, 4], cnn.ChannelGates(1)!.Shape.ToArray());
    }

    [Fact]
    public void SmallCnn_WithANonLocalBlock_AddsItsParameters_AndStartsAsThePlainNetwork()
    {
        var opts = new SmallCnnOptions { Channels = [4, 6], Classes = 3 };
        var plain = new SmallCnn(opts, new Rng(5));
        var withNl = new SmallCnn(opts with { NonLocalStage = 0 }, new Rng(5));
        Assert.NotNull(withNl.NonLocal);
        Assert.Equal(plain.ParameterCount + withNl.NonLocal!.ParameterCount, withNl.ParameterCount);
        Assert.Throws<ArgumentException>(() => new SmallCnn(opts with { NonLocalStage = 2 }, new Rng(5)));
        Assert.Throws<ArgumentException>(() => plain.Forward(Var.Constant(Tensor.Zeros(1, 2, 6, 6))));
    }

    [Fact]
    public void SmallCnn_LearnsRealDigits_WellAboveChance()
    {
        var digits = Mnist.Split(Mnist.LoadRepoCopy());
        var train = ImageSet.From(digits.Train).Sample(1000, 1);
        var test = ImageSet.From(digits.Test).Sample(300, 2);
        Assert.Equal(10, Enumerable.Range(0, test.Count).Select(test.Label).Distinct().Count());   // the copy is stored by class: a prefix would not do
        var cnn = new SmallCnn(new SmallCnnOptions { Channels = [8, 16, 16] }, new Rng(6));   // three stages: a 15-pixel receptive field before the global average
        ImageClassification.Train(cnn, train, new ImageTrainOptions { Epochs = 3, BatchSize = 16, LearningRate = 6e-3f, Seed = 6 });
        double accuracy = ImageClassification.Accuracy(cnn, test);
        Assert.True(accuracy > 0.5, $"accuracy {accuracy:0.000} after 3 epochs on 1,000 digits (chance 0.1)");
    }
}
