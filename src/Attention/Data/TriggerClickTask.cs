using Attention.Tensors;

namespace Attention.Data;

/// <summary>A batch of click examples from <see cref="TriggerClickTask"/>.</summary>
/// <param name="History">(B, T) item ids, row-major; positions t ≥ Lengths[b] hold 0 and are padding.</param>
/// <param name="Lengths">(B) real history lengths, in [MinLength, MaxLength].</param>
/// <param name="Candidates">(B) the candidate item of each example.</param>
/// <param name="Labels">(B) 1 for a click, 0 for none.</param>
/// <param name="TriggerPositions">(B) where the candidate's trigger item sits in the history, −1 when it is absent.</param>
/// <param name="MaxLength">T, the padded length.</param>
public sealed record ClickBatch(int[] History, int[] Lengths, int[] Candidates, float[] Labels, int[] TriggerPositions, int MaxLength)
{
    /// <summary>Number of examples B.</summary>
    public int Count => Candidates.Length;
}

/// <summary>
/// A synthetic click-through task with a planted rule, built so that target attention has something definite to find.
/// <para>
/// Items 0 … Items−1 are paired at random once per task seed (a fixed-point-free involution τ: τ(τ(i)) = i ≠ τ(i)).
/// An example is a user's history (distinct items, length uniform in [MinLength, MaxLength]) and a candidate c; the user
/// clicks c exactly when the history contains c's partner τ(c), the trigger. Half of the examples are clicks (the
/// trigger is planted at a uniform position), half are not (the trigger is kept out). The candidate itself never appears
/// in its history, so "have I seen this item" is no shortcut. Every other history item is noise for this candidate
/// but is the trigger of some other candidate, so no item is noise in general: which item matters depends on the
/// candidate, the situation the Deep Interest Network was designed for (Zhou et al., 2018).
/// </para>
/// Sampling is seeded: the same task seed gives the same pairing, the same <see cref="Rng"/> state the same batch.
/// </summary>
public sealed class TriggerClickTask
{
    private readonly int[] _partner;

    /// <summary>Number of items V (even).</summary>
    public int Items { get; }
    /// <summary>Shortest history.</summary>
    public int MinLength { get; }
    /// <summary>Longest history, the padded length T.</summary>
    public int MaxLength { get; }

    /// <summary>Creates the task; <paramref name="seed"/> draws the item pairing.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Items odd or below MaxLength + 2, or lengths out of order.</exception>
    public TriggerClickTask(int items, int minLength, int maxLength, ulong seed)
    {
        if (minLength < 1) throw new ArgumentOutOfRangeException(nameof(minLength), minLength, "expected a shortest history of at least 1 item");
        if (maxLength < minLength) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"expected a longest history ≥ the shortest ({minLength})");
        if (items % 2 != 0 || items < maxLength + 2)
            throw new ArgumentOutOfRangeException(nameof(items), items, $"expected an even number of items ≥ MaxLength + 2 = {maxLength + 2} (a history holds distinct items other than the candidate)");
        Items = items; MinLength = minLength; MaxLength = maxLength;
        var order = Enumerable.Range(0, items).ToArray();
        var rng = new Rng(seed);
        for (int i = items - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        _partner = new int[items];
        for (int i = 0; i < items; i += 2) { _partner[order[i]] = order[i + 1]; _partner[order[i + 1]] = order[i]; }
    }

    /// <summary>τ(item): the item whose presence in a history makes a user click <paramref name="item"/>.</summary>
    public int Trigger(int item)
    {
        if ((uint)item >= (uint)Items) throw new ArgumentOutOfRangeException(nameof(item), item, $"expected an item in [0, {Items})");
        return _partner[item];
    }

    /// <summary><paramref name="count"/> examples drawn from <paramref name="rng"/>.</summary>
    public ClickBatch Sample(int count, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentNullException.ThrowIfNull(rng);
        int t = MaxLength;
        var history = new int[count * t];
        var lengths = new int[count];
        var candidates = new int[count];
        var labels = new float[count];
        var positions = new int[count];
        var pool = new int[Items];
        for (int b = 0; b < count; b++)
        {
            int c = rng.NextInt(Items), trigger = _partner[c];
            bool click = rng.NextDouble() < 0.5;
            int length = MinLength + rng.NextInt(MaxLength - MinLength + 1);
            // distinct items other than c and τ(c): a partial Fisher–Yates shuffle of the remaining ones
            int m = 0;
            for (int i = 0; i < Items; i++) if (i != c && i != trigger) pool[m++] = i;
            for (int i = 0; i < length; i++)
            {
                int j = i + rng.NextInt(m - i);
                (pool[i], pool[j]) = (pool[j], pool[i]);
                history[b * t + i] = pool[i];
            }
            positions[b] = -1;
            if (click)
            {
                int at = rng.NextInt(length);
                history[b * t + at] = trigger;
                positions[b] = at;
            }
            lengths[b] = length; candidates[b] = c; labels[b] = click ? 1f : 0f;
        }
        return new ClickBatch(history, lengths, candidates, labels, positions, t);
    }

    /// <summary>
    /// Area under the ROC curve: the probability that a random positive scores above a random negative (ties count ½),
    /// from the ranks of the scores (Mann–Whitney U). NaN when one class is missing.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, or a label is not 0 or 1.</exception>
    public static double Auc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        if (scores.Length != labels.Length)
            throw new ArgumentException($"Auc: expected as many labels as scores ({scores.Length}), got {labels.Length}", nameof(labels));
        int n = scores.Length;
        var order = Enumerable.Range(0, n).ToArray();
        var s = scores.ToArray();
        Array.Sort(s.ToArray(), order);
        Array.Sort(s);
        double positives = 0, rankSum = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && s[j + 1] == s[i]) j++;
            double rank = (i + j) / 2.0 + 1;    // average rank of a tie group, 1-based
            for (int k = i; k <= j; k++)
            {
                float y = labels[order[k]];
                if (y != 0f && y != 1f) throw new ArgumentException($"Auc: expected labels 0 or 1, got {y} at {order[k]}", nameof(labels));
                if (y == 1f) { positives++; rankSum += rank; }
            }
            i = j + 1;
        }
        double negatives = n - positives;
        if (positives == 0 || negatives == 0) return double.NaN;
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
    }
}
