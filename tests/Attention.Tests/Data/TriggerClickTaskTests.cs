using Attention.Data;
using Attention.Tensors;

namespace Attention.Tests.Data;

public class TriggerClickTaskTests
{
    [Fact]
    public void Trigger_IsASeededFixedPointFreeInvolution()
    {
        var task = new TriggerClickTask(40, 3, 10, seed: 5);
        for (int i = 0; i < 40; i++)
        {
            Assert.NotEqual(i, task.Trigger(i));
            Assert.Equal(i, task.Trigger(task.Trigger(i)));
        }
        var same = new TriggerClickTask(40, 3, 10, seed: 5);
        var other = new TriggerClickTask(40, 3, 10, seed: 6);
        Assert.All(Enumerable.Range(0, 40), i => Assert.Equal(task.Trigger(i), same.Trigger(i)));
        Assert.Contains(Enumerable.Range(0, 40), i => task.Trigger(i) != other.Trigger(i));
    }

    [Fact]
    public void Sample_ClicksExactlyWhenTheTriggerIsInTheHistory_CandidateNeverIs_ItemsDistinct()
    {
        var task = new TriggerClickTask(30, 2, 12, seed: 1);
        var batch = task.Sample(3000, new Rng(2));
        int t = batch.MaxLength, clicks = 0;
        Assert.Equal(12, t);
        for (int b = 0; b < batch.Count; b++)
        {
            int length = batch.Lengths[b], c = batch.Candidates[b];
            Assert.InRange(length, 2, 12);
            var items = batch.History.Skip(b * t).Take(length).ToArray();
            Assert.Equal(length, items.Distinct().Count());
            Assert.DoesNotContain(c, items);
            int at = Array.IndexOf(items, task.Trigger(c));
            Assert.Equal(batch.TriggerPositions[b], at);
            Assert.Equal(at >= 0 ? 1f : 0f, batch.Labels[b]);
            Assert.All(batch.History.Skip(b * t + length).Take(t - length), id => Assert.Equal(0, id));
            clicks += at >= 0 ? 1 : 0;
        }
        Assert.InRange(clicks / 3000.0, 0.45, 0.55);
        // the same generator state gives the same batch
        Assert.Equal(batch.History, task.Sample(3000, new Rng(2)).History);
    }

    [Fact]
    public void Auc_EqualsThePairCountingDefinition_WithTies()
    {
        var rng = new Rng(3);
        int n = 200;
        var scores = Enumerable.Range(0, n).Select(_ => (float)rng.NextInt(10)).ToArray();   // many ties
        var labels = Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.4 ? 1f : 0f).ToArray();
        double pairs = 0, wins = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (labels[i] == 1 && labels[j] == 0) { pairs++; wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0; }
        Assert.Equal(wins / pairs, TriggerClickTask.Auc(scores, labels), 12);
        Assert.Equal(1.0, TriggerClickTask.Auc([0.1f, 0.2f, 0.9f, 0.8f], [0, 0, 1, 1]));
        Assert.Equal(0.0, TriggerClickTask.Auc([0.9f, 0.8f, 0.1f], [0, 0, 1]));
        Assert.True(double.IsNaN(TriggerClickTask.Auc([0.1f, 0.2f], [1, 1])));
        Assert.Throws<ArgumentException>(() => TriggerClickTask.Auc([0.1f], [0.5f]));
    }

    [Fact]
    public void Constructor_RejectsImpossibleSettings()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TriggerClickTask(31, 2, 10, 1));   // odd: no pairing
        Assert.Throws<ArgumentOutOfRangeException>(() => new TriggerClickTask(10, 2, 10, 1));   // histories cannot be distinct
        Assert.Throws<ArgumentOutOfRangeException>(() => new TriggerClickTask(40, 5, 4, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TriggerClickTask(40, 0, 4, 1));
    }
}
