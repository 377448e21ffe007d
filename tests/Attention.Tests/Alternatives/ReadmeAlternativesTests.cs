using Attention.Alternatives;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;

namespace Attention.Tests.Alternatives;

/// <summary>The README's "Alternatives to attention" example, as written there.</summary>
public class ReadmeAlternativesTests
{
    [Fact]
    public void ReadmeExample_Runs_AndMambasStateDoesNotGrow()
    {
        var task = new MqarTask(keys: 16, values: 16, length: 32);
        var config = new MixerLmConfig(task.Vocab, Dim: 32, Layers: 2, FfDim: 128, new MixerOptions(Heads: 2, StateDim: 16, MaxLength: 32), ShortConv: 3);
        long budget = new MixerLm(config, MixerKind.Attention, new Rng(1)).ParameterCount;
        var mamba = new MixerLm(MixerLm.WithBudget(config, MixerKind.Mamba, budget), MixerKind.Mamba, new Rng(1));   // same parameter count
        var rng = new Rng(2);
        mamba.Fit(_ => { var b = task.Sample(16, 4, rng); return (b.Inputs, b.Targets); }, batch: 16, time: 32, steps: 20, learningRate: 3e-3f);
        var decoder = mamba.NewDecoder();                    // one token at a time, a fixed-size state
        var logits = new float[task.Vocab];
        foreach (int id in task.Sample(1, 4, rng).Inputs) mamba.DecodeStep(decoder, id, logits);
        long bytes = decoder.StateBytes;                     // the same after 32 tokens as after 32,000; attention's grows

        Assert.True(Math.Abs(mamba.ParameterCount - budget) <= 2 * (2 * 32 + 1), $"{mamba.ParameterCount} vs {budget}");
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(mamba.StateFloats(32) * 4, bytes);
        Assert.Equal(mamba.StateFloats(32_000) * 4, bytes);
        Assert.Equal(mamba.Mixers.Sum(m => m.StateFloats(32)) + 2 * 2 * 32, mamba.StateFloats(32));   // + the two short convolutions' last 2 inputs
    }
}
