namespace Attention.Cli.Quiz;

/// <summary>Where one question stands in the review schedule (SuperMemo SM-2's state, plus a little history).</summary>
public sealed record CardProgress
{
    /// <summary>Successful reviews in a row (grade ≥ 3); a lapse resets it to 0.</summary>
    public int Repetitions { get; init; }
    /// <summary>SM-2's easiness factor: starts at 2.5, never below 1.3.</summary>
    public double Easiness { get; init; } = Sm2.InitialEasiness;
    /// <summary>Days from the last review to the next.</summary>
    public int IntervalDays { get; init; }
    /// <summary>When the question is next due (UTC).</summary>
    public DateTimeOffset Due { get; init; }
    /// <summary>Reviews graded so far.</summary>
    public int Reviews { get; init; }
    /// <summary>The last grade given, 0..5.</summary>
    public int LastGrade { get; init; }
    /// <summary>When it was last graded (UTC).</summary>
    public DateTimeOffset LastReviewed { get; init; }
}

/// <summary>
/// SuperMemo SM-2 (Woźniak, 1990): after a self-grade q in 0..5, a success (q ≥ 3) moves the interval
/// 1 day → 6 days → previous × easiness (the easiness before this grade, as in SM-2's description); a lapse (q &lt; 3) starts the question over at 1 day. Every grade moves
/// the easiness by 0.1 − (5 − q)(0.08 + (5 − q)·0.02), floored at 1.3.
/// </summary>
public static class Sm2
{
    public const double InitialEasiness = 2.5, MinimumEasiness = 1.3;
    public const int MaxGrade = 5;

    /// <summary>The state after grading <paramref name="previous"/> (null: never seen) with <paramref name="grade"/> at <paramref name="now"/>.</summary>
    public static CardProgress Grade(CardProgress? previous, int grade, DateTimeOffset now)
    {
        if (grade is < 0 or > MaxGrade)
            throw new ArgumentOutOfRangeException(nameof(grade), grade, $"Expected a grade 0..{MaxGrade}; got {grade}.");
        var p = previous ?? new CardProgress();
        int q = grade;
        double easiness = Math.Max(MinimumEasiness, p.Easiness + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02));
        int repetitions, interval;
        if (q >= 3)
        {
            repetitions = p.Repetitions + 1;
            interval = repetitions switch
            {
                1 => 1,
                2 => 6,
                _ => (int)Math.Min(36500, Math.Round(p.IntervalDays * p.Easiness, MidpointRounding.AwayFromZero)),
            };
        }
        else
        {
            repetitions = 0;
            interval = 1;
        }
        return new CardProgress
        {
            Repetitions = repetitions,
            Easiness = easiness,
            IntervalDays = interval,
            Due = now.ToUniversalTime().AddDays(interval),
            Reviews = p.Reviews + 1,
            LastGrade = q,
            LastReviewed = now.ToUniversalTime(),
        };
    }

    /// <summary>
    /// Up to <paramref name="count"/> of <paramref name="questions"/> to review at <paramref name="now"/>: first those due
    /// (most overdue first), then ones never seen (in question order). Questions not yet due are left out.
    /// </summary>
    public static IReadOnlyList<int> PickDue(IEnumerable<int> questions, IReadOnlyDictionary<int, CardProgress> progress,
                                             DateTimeOffset now, int count)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var list = questions.ToList();
        var due = list.Where(q => progress.TryGetValue(q, out var p) && p.Due <= now)
                      .OrderBy(q => progress[q].Due).ThenBy(q => q);
        var fresh = list.Where(q => !progress.ContainsKey(q)).OrderBy(q => q);
        return due.Concat(fresh).Take(count).ToList();
    }
}
