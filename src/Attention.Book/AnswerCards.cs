using System.Text;
using System.Text.RegularExpressions;

namespace Attention.Book;

/// <summary>
/// What an interviewer listens for in one answer: the page's short answer and its "Key points" list.
/// <c>attn quiz</c> drills these, read straight from the pages so the quiz and the pages cannot drift.
/// </summary>
public sealed record AnswerCard(int Question, string Title, string ShortAnswer, IReadOnlyList<string> KeyPoints);

/// <summary>
/// Reads <see cref="AnswerCard"/>s from answer pages. A page holds them as
/// <code>
/// **Short answer.** One paragraph (ends at the first blank line).
/// ...
/// **Key points.**
///
/// - one statement per item (a line indented under an item continues it; "1." numbering works too)
/// - ...
/// </code>
/// </summary>
public static partial class AnswerCards
{
    public const string ShortAnswerLabel = "**Short answer.**";
    public const string KeyPointsLabel = "**Key points.**";

    /// <summary>The short answer of <paramref name="markdown"/> (the label removed, lines joined), or null when the page has none.</summary>
    public static string? ShortAnswer(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimStart().StartsWith(ShortAnswerLabel, StringComparison.Ordinal));
        if (start < 0) return null;
        var text = new StringBuilder(lines[start].TrimStart()[ShortAnswerLabel.Length..].Trim());
        for (int i = start + 1; i < lines.Length && lines[i].Trim().Length > 0; i++)
            text.Append(' ').Append(lines[i].Trim());
        return text.ToString().Trim();
    }

    /// <summary>The items of the "Key points" list of <paramref name="markdown"/> (empty when the page has none).</summary>
    public static IReadOnlyList<string> KeyPoints(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        int start = Array.FindIndex(lines, l => l.TrimStart().StartsWith(KeyPointsLabel, StringComparison.Ordinal));
        var items = new List<string>();
        if (start < 0) return items;
        int i = start + 1;
        while (i < lines.Length && lines[i].Trim().Length == 0) i++;
        for (; i < lines.Length; i++)
        {
            var line = lines[i];
            var item = ItemPattern().Match(line);
            if (item.Success) items.Add(item.Groups[1].Value.Trim());
            else if (items.Count > 0 && line.Length > 0 && char.IsWhiteSpace(line[0]) && line.Trim().Length > 0)
                items[^1] += " " + line.Trim();
            else break;
        }
        return items;
    }

    /// <summary>The number of words in <paramref name="text"/> (runs of non-space characters).</summary>
    public static int WordCount(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>The card of page <paramref name="page"/>, or null when it lacks a short answer or key points.</summary>
    public static AnswerCard? Read(AnswerPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        var text = File.ReadAllText(page.Path);
        var shortAnswer = ShortAnswer(text);
        var points = KeyPoints(text);
        if (shortAnswer is null || points.Count == 0) return null;
        return new AnswerCard(page.Question, Questions.Get(page.Question).Title, shortAnswer, points);
    }

    /// <summary>The cards of every page in <paramref name="answersDirectory"/> that has both a short answer and key points, by question.</summary>
    public static IReadOnlyList<AnswerCard> Load(string answersDirectory)
        => Pages.Find(answersDirectory).Values.Select(Read).OfType<AnswerCard>().ToList();

    [GeneratedRegex(@"^\s{0,3}(?:[-*+]|\d{1,2}[.)])\s+(.*)$")]
    private static partial Regex ItemPattern();
}
