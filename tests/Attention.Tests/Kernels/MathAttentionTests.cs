using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

public class MathAttentionTests
{
    [Theory]
    [InlineData(false), InlineData(true)]
    public void Math_ProbabilityRows_SumToOne_AndMaskedEntriesAreExactlyZero(bool causal)
    {
        var shape = new AttentionShape(2, 2, 1, 40, 60, 16);
        var options = new AttentionOptions { Causal = causal, WindowLeft = 25, KeyLengths = [60, 31] };
        var (q, k, v) = NaiveAttention.Inputs(shape, 31);
        var o = new float[q.Length];
        var p = new float[2 * 2 * 40 * 60];
        MathAttention.Forward(q, k, v, o, shape, options, p);
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < 40; i++)
                {
                    var row = p.AsSpan(((b * 2 + h) * 40 + i) * 60, 60);
                    double sum = 0;
                    bool anyVisible = false;
                    for (int j = 0; j < 60; j++)
                    {
                        bool visible = NaiveAttention.Visible(shape, options, b, i, j);
                        anyVisible |= visible;
                        if (!visible) Assert.Equal(0f, row[j]);
                        else Assert.True(row[j] > 0);
                        sum += row[j];
                    }
                    Assert.Equal(anyVisible ? 1.0 : 0.0, sum, 5);
                }
    }

    [Fact]
    public void Math_WithoutProbabilitiesSpan_GivesTheSameOutput()
    {
        var shape = new AttentionShape(1, 2, 2, 33, 45, 8);
        var (q, k, v) = NaiveAttention.Inputs(shape, 32);
        float[] a = new float[q.Length], b = new float[q.Length];
        MathAttention.Forward(q, k, v, a, shape, new AttentionOptions { Causal = true }, new float[2 * 33 * 45]);
        MathAttention.Forward(q, k, v, b, shape, new AttentionOptions { Causal = true });
        Assert.Equal(a, b);
    }
}
