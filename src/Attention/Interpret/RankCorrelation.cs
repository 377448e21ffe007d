namespace Attention.Interpret;

/// <summary>
/// Spearman's rank correlation ρ (Spearman, 1904): the Pearson correlation of the two samples' ranks, tied values
/// sharing their average rank. The measure Jain &amp; Wallace (2019, §4, "Attention is not Explanation", NAACL) use
/// to compare attention with gradient-based importance (they report Kendall τ; ρ answers the same question).
/// </summary>
public static class RankCorrelation
{
    /// <summary>ρ of two equal-length samples (n ≥ 2). NaN when either sample is constant (its ranks have no spread).</summary>
    public static double Spearman(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"expected samples of equal length, got {x.Length} and {y.Length}", nameof(y));
        if (x.Length < 2) throw new ArgumentException($"expected at least 2 values, got {x.Length}", nameof(x));
        foreach (var v in x) if (double.IsNaN(v)) throw new ArgumentException("expected no NaN in x", nameof(x));
        foreach (var v in y) if (double.IsNaN(v)) throw new ArgumentException("expected no NaN in y", nameof(y));
        return Pearson(Ranks(x), Ranks(y));
    }

    /// <summary>Ranks 1..n, ties given the mean of the ranks they span.</summary>
    public static double[] Ranks(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var copy = values.ToArray();
        Array.Sort(order, (a, b) => copy[a].CompareTo(copy[b]));
        var ranks = new double[n];
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && copy[order[end + 1]] == copy[order[start]]) end++;
            double rank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }

    /// <summary>Pearson's r; NaN when either sample has zero variance.</summary>
    public static double Pearson(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"expected samples of equal length, got {x.Length} and {y.Length}", nameof(y));
        int n = x.Length;
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
        mx /= n; my /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }
}
