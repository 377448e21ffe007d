using Attention.Book;
using Attention.Book.Experiments;
using Attention.Interpret;
using Attention.Models;
using Attention.Tensors;

namespace Attention.Tests.Interpret;

public class Q22Tests
{
    [Fact]
    public void Q22_Quick_AllChecksHold()
    {
        var result = new Q22_InterpretingAttention().Run(new ExperimentContext { Seed = 1234 });
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        Assert.All(result.Figures, f => Assert.True(File.Exists(f.Path), f.Path));
    }

    [Fact]
    public void IntegratedGradients_OnMiniLm_AreComplete_ForTheParaphraseSimilarity()
    {
        // completeness (Sundararajan et al. 2017, Prop. 1) on the real model, with an independent f(x) from BertModel.Embed
        var model = BertModel.LoadMiniLm();
        const string a = "Owls hunt mostly at night.", b = "Owls do most of their hunting after dark.";
        var (f, input, tokens) = ModelProbe.SimilarityFunction(model, a, b);
        var ig = Attribution.IntegratedGradients(f, input, Tensor.Zeros(input.Shape.ToArray()), steps: 24);
        var e = model.Embed([a, b]);
        double cos = e[0].Zip(e[1]).Sum(x => (double)x.First * x.Second);
        Assert.Equal(cos, ig.Output, 4);
        Assert.True(Math.Abs(ig.CompletenessGap) < 0.02 * Math.Abs(ig.Output - ig.BaselineOutput), $"gap {ig.CompletenessGap}, change {ig.Output - ig.BaselineOutput}");
        Assert.Equal(tokens.Length * model.Config.Hidden, ig.Attributions.Length);
    }

    [Fact]
    public void ModelProbe_CroppedAttention_RowsSumToOne_AndMatchAnUnpaddedRun()
    {
        var model = BertModel.LoadMiniLm();
        var both = ModelProbe.Attend(model, ["A short one.", "A much longer sentence that forces padding onto the first."]);
        var alone = ModelProbe.Attend(model, ["A short one."])[0];
        Assert.Equal(alone.Tokens, both[0].Tokens);
        for (int l = 0; l < alone.Layers.Length; l++)
            for (int k = 0; k < alone.Layers[l].Length; k++) Assert.True(Math.Abs(alone.Layers[l][k] - both[0].Layers[l][k]) < 1e-5);
        foreach (var layer in both[1].Layers)
            for (int r = 0; r < layer.Length / both[1].Length; r++)
                Assert.Equal(1.0, layer.AsSpan(r * both[1].Length, both[1].Length).ToArray().Sum(v => (double)v), 4);
    }
}

public class Q23Tests
{
    [Fact]
    public void Q23_Quick_AllChecksHold()
    {
        var result = new Q23_AttentionHeatmaps().Run(new ExperimentContext { Seed = 1234 });
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        Assert.Equal(0, result.Metrics["max_weight_on_pad_keys"]);
        Assert.All(result.Figures, f => Assert.True(File.Exists(f.Path), f.Path));
    }
}

/// <summary>Q46 measures peak resident memory, which any other test allocating in this process at the same time
/// disturbs: it runs in the non-parallel experiments collection, alone.</summary>
[Collection("Experiments")]
public class Q46Tests
{
    [Fact]
    public void Q46_Quick_AllChecksHold()
    {
        var result = new Q46_AttentionLimitations().Run(new ExperimentContext { Seed = 1234 });
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }
}

public class Q47Tests
{
    [Fact]
    public void Q47_Quick_AllChecksHold()
    {
        var result = new Q47_HumanAttention().Run(new ExperimentContext { Seed = 1234 });
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }

    [Fact]
    public void HeadMask_OfOnes_LeavesEmbeddingsUnchanged_AndAZeroedHeadChangesThem()
    {
        var model = BertModel.LoadMiniLm();
        var batch = model.Tokenize(["Bees are essential for pollinating many crops."]);
        var plain = model.Forward(batch).Embeddings.ToArray();
        var ones = new float[6, 12];
        for (int l = 0; l < 6; l++) for (int h = 0; h < 12; h++) ones[l, h] = 1;
        Assert.Equal(plain, model.Forward(batch, new BertRunOptions { HeadMask = ones }).Embeddings.ToArray());
        ones[5, 3] = 0;
        var ablated = model.Forward(batch, new BertRunOptions { HeadMask = ones }).Embeddings.ToArray();
        Assert.True(plain.Zip(ablated).Max(x => Math.Abs(x.First - x.Second)) > 1e-4);
    }
}
