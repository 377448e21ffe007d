using Attention.Book.Experiments;
using Attention.Tensors;

namespace Attention.Tests.Answers;

public class Q01Tests
{
    [Fact]
    public void Q01_Pool_TinySigmaIsNearestNeighbour_HugeSigmaIsTheMean()
    {
        float[] keys = [0f, 1f, 3f], values = [10f, 20f, 40f], queries = [0.2f, 1.9f, 2.2f, 5f];
        var tiny = new float[4]; var huge = new float[4];
        Q01_ConceptOfAttention.Pool(queries, keys, values, 1e-3, tiny);
        Q01_ConceptOfAttention.Pool(queries, keys, values, 1e4, huge);
        Assert.Equal([10f, 20f, 40f, 40f], tiny);                          // 1.9 is nearer 1 than 3; 2.2 nearer 3
        Assert.All(huge, y => Assert.Equal(70f / 3, y, 3));
    }

    [Fact]
    public void Q01_LearnWidth_LowersTheLeaveOneOutError()
    {
        var rng = new Rng(8);
        var x = Enumerable.Range(0, 40).Select(_ => rng.Uniform(0f, 5f)).Order().ToArray();
        var y = x.Select(v => (float)(Q01_ConceptOfAttention.Truth(v) + 0.5 * rng.NextStandardNormal())).ToArray();
        var (w, start, end) = Q01_ConceptOfAttention.LearnWidth(x, y, steps: 100);
        Assert.True(end < start, $"leave-one-out MSE {start} → {end}");
        Assert.True(Math.Abs(w) > 1, $"the data wants a narrower kernel than σ = 1; got w = {w}");
    }
}
