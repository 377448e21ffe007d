namespace Attention.Interpret;

/// <summary>
/// Scores that name a head by its attention pattern (the prefix-matching and previous-token scores of Olsson et al.,
/// 2022, "In-context Learning and Induction Heads", on sequences with repeats), computed from one head's
/// probabilities P (T, T) over a token sequence x (T):
/// <code>
///   previous-token score = mean over queries i ≥ 1 of P[i, i − 1]
///   induction score      = mean over queries i with an earlier occurrence j = prev(i) of x[i] of P[i, j + 1]
///                          prev(i) = the largest j &lt; i with x[j] = x[i]
/// </code>
/// Both lie in [0, 1]; 1 means the head puts all its weight on that one key. The induction score reads the key
/// after the previous occurrence of the current token: the token an induction head copies. Accumulate over many
/// rows with <see cref="Add"/>, read the means from <see cref="PreviousToken"/> and <see cref="Induction"/>.
/// Answer: docs/answers/11-self-attention.md
/// </summary>
public sealed class PatternScores
{
    private double _previous, _induction;
    private long _previousRows, _inductionRows;

    /// <summary>Mean P[i, i − 1] so far (NaN before any row).</summary>
    public double PreviousToken => _previousRows == 0 ? double.NaN : _previous / _previousRows;

    /// <summary>Mean P[i, prev(i) + 1] so far (NaN before any query with an earlier occurrence).</summary>
    public double Induction => _inductionRows == 0 ? double.NaN : _induction / _inductionRows;

    /// <summary>Query rows that counted towards <see cref="Induction"/>.</summary>
    public long InductionRows => _inductionRows;

    /// <summary>
    /// Adds one head's pattern over one sequence: <paramref name="probabilities"/> (T, T) row-major, <paramref name="tokens"/> (T).
    /// <paramref name="includeQuery"/>, when given, selects the query positions that count (e.g. only the second copy).
    /// </summary>
    public void Add(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> tokens, Func<int, bool>? includeQuery = null)
    {
        int t = tokens.Length;
        if (t == 0 || probabilities.Length != t * t)
            throw new ArgumentException($"expected {t}×{t} probabilities for {t} tokens, got {probabilities.Length}", nameof(probabilities));
        var previous = PreviousOccurrence(tokens);
        for (int i = 0; i < t; i++)
        {
            if (includeQuery is not null && !includeQuery(i)) continue;
            var row = probabilities.Slice(i * t, t);
            if (i >= 1) { _previous += row[i - 1]; _previousRows++; }
            if (previous[i] >= 0) { _induction += row[previous[i] + 1]; _inductionRows++; }
        }
    }

    /// <summary>For each position i, the largest j &lt; i with tokens[j] = tokens[i], or −1 when the token is new.</summary>
    public static int[] PreviousOccurrence(ReadOnlySpan<int> tokens)
    {
        var last = new Dictionary<int, int>();
        var result = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            result[i] = last.TryGetValue(tokens[i], out var j) ? j : -1;
            last[tokens[i]] = i;
        }
        return result;
    }
}
