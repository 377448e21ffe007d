using Attention.Data;

namespace Attention.Alignments;

/// <summary>Counts for a corpus-level AER: |A|, |S|, |A∩S|, |A∩P| summed over sentences.</summary>
public readonly record struct AerCounts(long Predicted, long Sure, long PredictedAndSure, long PredictedAndPossible)
{
    public static AerCounts operator +(AerCounts a, AerCounts b) =>
        new(a.Predicted + b.Predicted, a.Sure + b.Sure, a.PredictedAndSure + b.PredictedAndSure, a.PredictedAndPossible + b.PredictedAndPossible);

    /// <summary>AER = 1 − (|A∩S| + |A∩P|) / (|A| + |S|) (Och &amp; Ney, 2003). 0 is perfect.</summary>
    public double Aer => Predicted + Sure == 0 ? 0 : 1.0 - (double)(PredictedAndSure + PredictedAndPossible) / (Predicted + Sure);
    /// <summary>Precision |A∩P| / |A|.</summary>
    public double Precision => Predicted == 0 ? 1 : (double)PredictedAndPossible / Predicted;
    /// <summary>Recall |A∩S| / |S|.</summary>
    public double Recall => Sure == 0 ? 1 : (double)PredictedAndSure / Sure;
}

/// <summary>
/// Alignment error rate (Och &amp; Ney, 2000, "Improved Statistical Alignment Models", ACL; used throughout Och &amp; Ney,
/// 2003, "A Systematic Comparison of Various Statistical Alignment Models", Computational Linguistics 29(1)):
///     AER(S, P; A) = 1 − (|A ∩ S| + |A ∩ P|) / (|A| + |S|)
/// and the two ways of reading a hard alignment A off a soft attention matrix α (target × source).
/// Answer: docs/answers/32-alignment-in-translation.md
/// </summary>
public static class Aer
{
    /// <summary>The counts of one sentence pair.</summary>
    public static AerCounts Count(IEnumerable<Link> predicted, GoldAlignment gold)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(gold);
        var a = new HashSet<Link>(predicted);
        long aS = 0, aP = 0;
        foreach (var l in a)
        {
            if (gold.Sure.Contains(l)) aS++;
            if (gold.Possible.Contains(l)) aP++;
        }
        return new AerCounts(a.Count, gold.Sure.Count, aS, aP);
    }

    /// <summary>AER of one sentence pair.</summary>
    public static double Compute(IEnumerable<Link> predicted, GoldAlignment gold) => Count(predicted, gold).Aer;

    /// <summary>
    /// Argmax alignment: every target position t links to argmaxⱼ α[t, j] (ties to the lowest j). Weights (T, S)
    /// row-major, only the first <paramref name="sourceLength"/> columns read (the rest is padding).
    /// </summary>
    public static List<Link> Argmax(ReadOnlySpan<float> weights, int targetLength, int sourceStride, int sourceLength)
    {
        CheckMatrix(weights, targetLength, sourceStride, sourceLength);
        var links = new List<Link>(targetLength);
        for (int t = 0; t < targetLength; t++)
        {
            var row = weights.Slice(t * sourceStride, sourceLength);
            int best = 0;
            for (int j = 1; j < sourceLength; j++) if (row[j] > row[best]) best = j;
            links.Add(new Link(best, t));
        }
        return links;
    }

    /// <summary>
    /// Thresholded alignment: every (j, t) with α[t, j] ≥ <paramref name="threshold"/>, so a target may link to
    /// several sources (or to none). Weights (T, S) row-major.
    /// </summary>
    public static List<Link> Threshold(ReadOnlySpan<float> weights, int targetLength, int sourceStride, int sourceLength, float threshold)
    {
        CheckMatrix(weights, targetLength, sourceStride, sourceLength);
        if (!(threshold > 0 && threshold <= 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "Expected a threshold in (0, 1].");
        var links = new List<Link>();
        for (int t = 0; t < targetLength; t++)
            for (int j = 0; j < sourceLength; j++)
                if (weights[t * sourceStride + j] >= threshold) links.Add(new Link(j, t));
        return links;
    }

    private static void CheckMatrix(ReadOnlySpan<float> weights, int targetLength, int sourceStride, int sourceLength)
    {
        if (targetLength < 1) throw new ArgumentOutOfRangeException(nameof(targetLength), targetLength, "Expected a target length T ≥ 1.");
        if (sourceLength < 1 || sourceLength > sourceStride)
            throw new ArgumentOutOfRangeException(nameof(sourceLength), sourceLength, $"Expected a source length in [1, {sourceStride}] (the row stride).");
        if (weights.Length < targetLength * sourceStride)
            throw new ArgumentException($"Expected weights of length ≥ T·S = {targetLength}·{sourceStride}; got {weights.Length}.", nameof(weights));
    }
}
