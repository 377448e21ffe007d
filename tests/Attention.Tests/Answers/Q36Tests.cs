using Attention.Book;
using Attention.Book.Experiments;
using Attention.Tensors;

namespace Attention.Tests.Answers;

public class Q36Tests
{
    [Fact]
    public void Q36_Quick_AllChecksHold()
    {
        var result = new Q36_CausalMasking().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(36, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        Assert.Equal(0, result.Metrics["perturbation_max_abs_change_before_t_causal"]);
        Assert.True(result.Metrics["train_loss_no_mask"] < result.Metrics["train_loss_causal"]);
        Assert.True(result.Metrics["dev_loss_prefix_only_no_mask"] > result.Metrics["dev_loss_prefix_only_causal"]);
        Assert.Equal(3, result.Figures.Count);
        Assert.All(result.Figures, f => Assert.True(File.Exists(f.Path), f.Path));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void CausalCharLm_Untrained_LogitsUpToT_IgnoreTokensAfterT(int layers)
    {
        // independent of training: the mask alone must make positions ≤ t blind to the tokens after t
        var model = new Q36_CausalMasking.CharLm(maxLength: 12, dim: 16, heads: 2, layers, new Rng(5));
        var rng = new Rng(6);
        var input = Q36_CausalMasking.Encode("transformer").Input;
        var reference = model.Logits(input, causal: true);
        for (int t = 0; t < input.Length - 1; t++)
        {
            var changed = (int[])input.Clone();
            for (int p = t + 1; p < changed.Length; p++)      // a different letter at every later position
                changed[p] = Q36_CausalMasking.FirstLetter + (input[p] - Q36_CausalMasking.FirstLetter + 1 + rng.NextInt(25)) % 26;
            var causal = model.Logits(changed, causal: true);
            var open = model.Logits(changed, causal: false);
            var openReference = model.Logits(input, causal: false);
            int prefix = (t + 1) * Q36_CausalMasking.Vocab;
            Assert.True(reference.AsSpan(0, prefix).SequenceEqual(causal.AsSpan(0, prefix)), $"cut {t}: causal logits before the cut changed");
            Assert.False(openReference.AsSpan(0, prefix).SequenceEqual(open.AsSpan(0, prefix)), $"cut {t}: without the mask the change should reach earlier positions");
        }
    }

    [Fact]
    public void Encode_TargetIsInputShiftedByOne_WithBosAndEos()
    {
        var (input, target) = Q36_CausalMasking.Encode("cat");
        Assert.Equal([Q36_CausalMasking.Bos, 5, 3, 22], input);
        Assert.Equal([5, 3, 22, Q36_CausalMasking.Eos], target);
        Assert.Equal(input[1..], target[..^1]);
        Assert.Throws<ArgumentException>(() => Q36_CausalMasking.Encode("Cat"));
        Assert.Throws<ArgumentException>(() => Q36_CausalMasking.Encode(""));
    }

    [Fact]
    public void SampleWord_IsSeeded_AndStaysWithinTheLengthLimit()
    {
        var model = new Q36_CausalMasking.CharLm(maxLength: 8, dim: 16, heads: 2, layers: 1, new Rng(5));
        var a = Enumerable.Range(0, 5).Select(_ => Q36_CausalMasking.SampleWord(model, true, new Rng(9), 1f)).ToList();
        Assert.All(a, w => Assert.Equal(a[0], w));
        var rng = new Rng(10);
        for (int i = 0; i < 20; i++)
        {
            var w = Q36_CausalMasking.SampleWord(model, true, rng, 1f);
            Assert.True(w.Length <= 7 && w.All(c => c is >= 'a' and <= 'z'), $"'{w}'");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Q36_CausalMasking.SampleWord(model, true, rng, 0f));
    }
}
