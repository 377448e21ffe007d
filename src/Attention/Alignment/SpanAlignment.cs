namespace Attention.Alignments;

/// <summary>How well one utterance's attention lines up with gold spans: sums and counts, so a corpus adds them up.</summary>
/// <param name="Outputs">Output steps scored.</param>
/// <param name="MassInSpan">Σ over output steps of the attention mass inside that output's gold span.</param>
/// <param name="ArgmaxInSpan">Output steps whose most-attended input step lies inside the gold span.</param>
/// <param name="Pairs">Consecutive output pairs (outputs − 1, or 0).</param>
/// <param name="ForwardPairs">Pairs whose argmax does not move backwards.</param>
/// <param name="ChanceMass">Σ over output steps of span length / input length (what uniform attention would score).</param>
public readonly record struct SpanAlignmentCounts(int Outputs, double MassInSpan, int ArgmaxInSpan, int Pairs, int ForwardPairs, double ChanceMass)
{
    /// <summary>Adds two utterances' counts.</summary>
    public static SpanAlignmentCounts operator +(SpanAlignmentCounts a, SpanAlignmentCounts b) =>
        new(a.Outputs + b.Outputs, a.MassInSpan + b.MassInSpan, a.ArgmaxInSpan + b.ArgmaxInSpan, a.Pairs + b.Pairs,
            a.ForwardPairs + b.ForwardPairs, a.ChanceMass + b.ChanceMass);

    /// <summary>Mean attention mass inside the gold span, per output step (NaN for no outputs).</summary>
    public double MeanMassInSpan => Outputs == 0 ? double.NaN : MassInSpan / Outputs;
    /// <summary>Share of output steps whose argmax lies in the gold span.</summary>
    public double ArgmaxAccuracy => Outputs == 0 ? double.NaN : (double)ArgmaxInSpan / Outputs;
    /// <summary>Share of consecutive output pairs whose argmax does not move backwards (1 for fewer than two outputs).</summary>
    public double Monotonicity => Pairs == 0 ? 1 : (double)ForwardPairs / Pairs;
    /// <summary>The mean mass uniform attention would put inside the spans.</summary>
    public double MeanChanceMass => Outputs == 0 ? double.NaN : ChanceMass / Outputs;
}

/// <summary>
/// Attention against gold spans of the input, for alignments where each output covers a stretch of input rather than
/// one token (a spoken word covers many frames; answer 29): per output step i with gold span [start_i, end_i),
/// mass_i = Σ_{j∈span_i} α_ij and hit_i = [argmax_j α_ij ∈ span_i]; monotonicity counts consecutive outputs whose
/// argmax does not move back. Spans may be empty only if the weights row is all outside (counted as 0 mass).
/// </summary>
public static class SpanAlignment
{
    /// <summary>
    /// Scores weights (outputs × inputs) against one gold span per output. When the weights have more or fewer rows
    /// than there are spans, the first min(rows, spans) outputs are scored (a free-running decoder may stop early).
    /// </summary>
    /// <exception cref="ArgumentException">A span outside [0, inputs] or with end &lt; start.</exception>
    public static SpanAlignmentCounts Score(float[,] weights, IReadOnlyList<(int Start, int End)> spans)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(spans);
        int rows = weights.GetLength(0), inputs = weights.GetLength(1);
        foreach (var (s, e) in spans)
            if (s < 0 || e < s || e > inputs)
                throw new ArgumentException($"expected spans with 0 ≤ start ≤ end ≤ {inputs} (the inputs), got [{s}, {e})", nameof(spans));
        int n = Math.Min(rows, spans.Count), hits = 0, forward = 0, previous = -1;
        double mass = 0, chance = 0;
        for (int i = 0; i < n; i++)
        {
            var (start, end) = spans[i];
            int best = 0;
            for (int j = 0; j < inputs; j++)
            {
                if (weights[i, j] > weights[i, best]) best = j;
                if (j >= start && j < end) mass += weights[i, j];
            }
            if (best >= start && best < end) hits++;
            if (i > 0 && best >= previous) forward++;
            previous = best;
            chance += (double)(end - start) / inputs;
        }
        return new SpanAlignmentCounts(n, mass, hits, Math.Max(0, n - 1), forward, chance);
    }

    /// <summary>Share of consecutive rows of <paramref name="weights"/> whose argmax does not move backwards (1 for fewer than two rows).</summary>
    public static double Monotonicity(float[,] weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int rows = weights.GetLength(0), inputs = weights.GetLength(1);
        if (rows < 2 || inputs == 0) return 1;
        int forward = 0, previous = -1;
        for (int i = 0; i < rows; i++)
        {
            int best = 0;
            for (int j = 1; j < inputs; j++) if (weights[i, j] > weights[i, best]) best = j;
            if (i > 0 && best >= previous) forward++;
            previous = best;
        }
        return (double)forward / (rows - 1);
    }
}
