using System.Globalization;
using Attention.Book;

namespace Attention.Cli.Quiz;

/// <summary>Named groups of questions for <c>attn quiz --topic</c>; a topic may also be question numbers or words of a title.</summary>
public static class QuizTopics
{
    public static IReadOnlyDictionary<string, int[]> Named { get; } = new SortedDictionary<string, int[]>(StringComparer.OrdinalIgnoreCase)
    {
        ["basics"] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        ["seq2seq"] = [2, 3, 4, 10, 17, 18, 28, 29, 30, 31, 32, 33],
        ["transformer"] = [11, 12, 13, 14, 16, 35, 36, 44, 45],
        ["efficiency"] = [15, 19, 20, 21, 37, 38, 39],
        ["interpretability"] = [22, 23, 47],
        ["vision"] = [24, 25, 26, 27],
        ["training"] = [33, 34, 50],
        ["applications"] = [24, 27, 29, 40, 41, 42, 43],
        ["limits"] = [46, 47, 48, 49],
    };

    /// <summary>
    /// The questions <paramref name="topic"/> names: a topic above, a list of numbers ("3,14"), or words every matching
    /// title contains (case-insensitive). Throws <see cref="ArgumentException"/> when it matches no question.
    /// </summary>
    public static IReadOnlySet<int> Resolve(string topic)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        topic = topic.Trim();
        if (Named.TryGetValue(topic, out var named)) return named.ToHashSet();
        var parts = topic.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length > 0 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            var numbers = parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToHashSet();
            var bad = numbers.FirstOrDefault(n => n is < 1 or > Questions.Count);
            if (bad != 0 || numbers.Contains(0))
                throw new ArgumentException($"--topic expects question numbers 1..{Questions.Count}; got {(numbers.Contains(0) ? 0 : bad)}");
            return numbers;
        }
        var byTitle = Questions.All.Where(q => q.Title.Contains(topic, StringComparison.OrdinalIgnoreCase)).Select(q => q.Number).ToHashSet();
        if (byTitle.Count == 0)
            throw new ArgumentException($"--topic expects one of {string.Join(", ", Named.Keys)}, question numbers such as 3,14, or words of a question's title; '{topic}' matches none");
        return byTitle;
    }
}
