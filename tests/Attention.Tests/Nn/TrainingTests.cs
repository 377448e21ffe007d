using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>Padding, batching, bucketing and early stopping.</summary>
public class TrainingTests
{
    [Fact]
    public void Pad_FillsPadIdPastLengths_MaskAndTargetsAgree()
    {
        var batch = PaddedBatch.Pad([[5, 6, 7], [8], [9, 10]], padId: 1);
        Assert.Equal((3, 3), (batch.Batch, batch.Time));
        Assert.Equal([5, 6, 7, 8, 1, 1, 9, 10, 1], batch.Ids);
        Assert.Equal([3, 1, 2], batch.Lengths);
        Assert.Equal([1f, 1, 1, 1, 0, 0, 1, 1, 0], batch.Mask.ToArray());
        Assert.Equal([5, 6, 7, 8, -100, -100, 9, 10, -100], batch.TargetsIgnoringPadding());
        Assert.Equal(5, PaddedBatch.Pad([[1, 2]], length: 5).Time);
        Assert.Throws<ArgumentException>(() => PaddedBatch.Pad([[1, 2, 3]], length: 2));
        Assert.Throws<ArgumentException>(() => PaddedBatch.Pad([]));
    }

    [Fact]
    public void Batches_CoverEveryIndexOnce_SameSeedSameOrder()
    {
        var a = Batching.Batches(23, 5, new Rng(1));
        var b = Batching.Batches(23, 5, new Rng(1));
        var c = Batching.Batches(23, 5, new Rng(2));
        Assert.Equal(Enumerable.Range(0, 23), a.SelectMany(x => x).Order());
        Assert.Equal([5, 5, 5, 5, 3], a.Select(x => x.Length));
        Assert.Equal(a.SelectMany(x => x), b.SelectMany(x => x));
        Assert.NotEqual(a.SelectMany(x => x), c.SelectMany(x => x));
        Assert.Equal(Enumerable.Range(0, 23), Batching.Batches(23, 5).SelectMany(x => x));
    }

    [Fact]
    public void BucketByLength_CoversEveryIndex_AndPadsLessThanRandomBatches()
    {
        var rng = new Rng(3);
        var lengths = Enumerable.Range(0, 200).Select(_ => 1 + rng.NextInt(50)).ToArray();
        var buckets = Batching.BucketByLength(lengths, 16, new Rng(4));
        Assert.Equal(Enumerable.Range(0, 200), buckets.SelectMany(x => x).Order());
        double bucketed = Batching.PaddingFraction(buckets, lengths);
        double random = Batching.PaddingFraction(Batching.Batches(200, 16, new Rng(4)), lengths);
        // with 50 distinct lengths and 16 per batch, sorted batches span ~4 lengths: padding ≈ 2/25 of the data
        Assert.True(bucketed < 0.1, $"bucketed padding fraction {bucketed}");
        Assert.True(random > 3 * bucketed, $"random batches pad {random}, bucketed {bucketed}");
    }

    [Fact]
    public void EarlyStopping_StopsAfterPatience_AndRestoresBestWeights()
    {
        var lin = new Linear(2, 2, new Rng(5));
        var stop = new EarlyStopping(patience: 2, minDelta: 0.01);
        double[] metrics = [1.0, 0.8, 0.795, 0.9, 0.85];
        var stops = new List<bool>();
        float[]? bestWeights = null;
        for (int e = 0; e < metrics.Length; e++)
        {
            lin.Weight.Value.AsSpan()[0] = e;                     // weights differ per epoch
            if (e == 1) bestWeights = lin.Weight.Value.ToArray();
            stops.Add(stop.Report(metrics[e], lin));
        }
        Assert.Equal([false, false, false, false, true], stops);  // 0.795 is not 0.01 better than 0.8
        Assert.Equal(0.8, stop.Best);
        Assert.Equal(1, stop.BestEpoch);
        stop.RestoreBest(lin);
        Assert.Equal(bestWeights, lin.Weight.Value.ToArray());
        Assert.Throws<ArgumentException>(() => stop.Report(double.NaN));
        Assert.Throws<InvalidOperationException>(() => new EarlyStopping(1).RestoreBest(lin));
    }
}

/// <summary>The progress line with a fake clock.</summary>
public class TrainingProgressTests
{
    [Fact]
    public void Progress_ReportsSmoothedLossThroughputAndEta_RedrawsAtMostEveryInterval()
    {
        var now = TimeSpan.Zero;
        var writer = new StringWriter();
        var bar = new TrainingProgress(10, writer, "tok", () => now) { RefreshInterval = TimeSpan.FromSeconds(1) };
        for (int i = 0; i < 5; i++) { now += TimeSpan.FromSeconds(0.5); bar.Step(2.0, 100); }
        // constant loss: the bias-corrected average is exactly that loss, not pulled towards 0
        Assert.Equal(2.0, bar.SmoothedLoss, 12);
        Assert.Equal(200.0, bar.Throughput, 9);                       // 500 tokens in 2.5 s
        string line = bar.Line();
        Assert.StartsWith("[##########----------] 5/10 loss 2.0000 200 tok/s eta 2s", line);   // 0.5 s per step, 5 left
        int draws = writer.ToString().Count(c => c == '\r');
        Assert.Equal(3, draws);                                        // at t = 0.5, 1.5, 2.5
        for (int i = 0; i < 5; i++) { now += TimeSpan.FromSeconds(0.5); bar.Step(1.0, 100); }
        Assert.InRange(bar.SmoothedLoss, 1.0, 2.0);
        bar.Finish();
        Assert.EndsWith(Environment.NewLine, writer.ToString());
        Assert.Contains("10/10", writer.ToString());
    }
}
