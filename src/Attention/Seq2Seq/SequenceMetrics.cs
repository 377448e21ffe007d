namespace Attention.Seq2Seq;

/// <summary>
/// The G2P metrics: Levenshtein edit distance (unit-cost insertion, deletion, substitution), phoneme error rate
/// PER = Σ edits / Σ reference lengths, and word error rate WER = fraction of words whose output is not exactly
/// the reference (Bisani and Ney, 2008, "Joint-sequence models for grapheme-to-phoneme conversion", Speech
/// Communication 50(5), §5 define both this way).
/// </summary>
public static class SequenceMetrics
{
    /// <summary>Minimum number of insertions, deletions and substitutions turning <paramref name="hypothesis"/> into <paramref name="reference"/>.</summary>
    public static int EditDistance<T>(IReadOnlyList<T> reference, IReadOnlyList<T> hypothesis) where T : IEquatable<T>
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(hypothesis);
        var row = new int[hypothesis.Count + 1];
        for (int j = 0; j <= hypothesis.Count; j++) row[j] = j;
        for (int i = 1; i <= reference.Count; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= hypothesis.Count; j++)
            {
                int up = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (reference[i - 1].Equals(hypothesis[j - 1]) ? 0 : 1));
                diagonal = up;
            }
        }
        return row[hypothesis.Count];
    }

    /// <summary>(PER, WER) over pairs of reference and hypothesis; both 0 for no pairs.</summary>
    /// <exception cref="ArgumentException">The lists differ in length.</exception>
    public static (double Per, double Wer) ErrorRates<T>(IReadOnlyList<IReadOnlyList<T>> references, IReadOnlyList<IReadOnlyList<T>> hypotheses) where T : IEquatable<T>
    {
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(hypotheses);
        if (references.Count != hypotheses.Count)
            throw new ArgumentException($"expected as many hypotheses as references ({references.Count}), got {hypotheses.Count}", nameof(hypotheses));
        long edits = 0, length = 0; int wrong = 0;
        for (int i = 0; i < references.Count; i++)
        {
            int d = EditDistance(references[i], hypotheses[i]);
            edits += d; length += references[i].Count;
            if (d != 0) wrong++;
        }
        return (length == 0 ? 0 : (double)edits / length, references.Count == 0 ? 0 : (double)wrong / references.Count);
    }
}
