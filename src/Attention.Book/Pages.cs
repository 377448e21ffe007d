using System.Text.RegularExpressions;

namespace Attention.Book;

/// <summary>An answer page docs/answers/NN-slug.md.</summary>
public sealed record AnswerPage(int Question, string Slug, string Path)
{
    /// <summary>The file name, e.g. 14-why-scale.md.</summary>
    public string FileName => System.IO.Path.GetFileName(Path);
}

/// <summary>Where a question stands in the book.</summary>
public enum AnswerStatus
{
    NotYet,
    PageOnly,
    ExperimentOnly,
    Answered,
}

/// <summary>Finds the answer pages in a docs/answers folder.</summary>
public static partial class Pages
{
    /// <summary>The pages NN-slug.md in <paramref name="answersDirectory"/>, by question; other files are ignored.
    /// Two pages for one question are an error. A missing folder means no pages.</summary>
    public static IReadOnlyDictionary<int, AnswerPage> Find(string answersDirectory)
    {
        var pages = new SortedDictionary<int, AnswerPage>();
        if (!Directory.Exists(answersDirectory)) return pages;
        foreach (var file in Directory.EnumerateFiles(answersDirectory, "*.md").Order(StringComparer.Ordinal))
        {
            var m = PagePattern().Match(System.IO.Path.GetFileName(file));
            if (!m.Success) continue;
            int n = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (n is < 1 or > Questions.Count)
                throw new InvalidOperationException($"Page {file} is numbered {n}; expected 01..{Questions.Count}.");
            if (pages.TryGetValue(n, out var other))
                throw new InvalidOperationException($"Two pages answer question {n}: {other.FileName} and {System.IO.Path.GetFileName(file)}.");
            pages.Add(n, new AnswerPage(n, m.Groups[2].Value, file));
        }
        return pages;
    }

    /// <summary>Status of every question 1..50 given the pages and the registry.</summary>
    public static IReadOnlyList<(Question Question, AnswerStatus Status, AnswerPage? Page, Experiment? Experiment)> Status(
        IReadOnlyDictionary<int, AnswerPage> pages, ExperimentRegistry registry)
        => Questions.All.Select(q =>
        {
            var page = pages.GetValueOrDefault(q.Number);
            var experiment = registry.Find(q.Number);
            var status = (page, experiment) switch
            {
                (not null, not null) => AnswerStatus.Answered,
                (not null, null) => AnswerStatus.PageOnly,
                (null, not null) => AnswerStatus.ExperimentOnly,
                _ => AnswerStatus.NotYet,
            };
            return (q, status, page, experiment);
        }).ToList();

    /// <summary>Words for a status, as the contents page and <c>attn list</c> show it.</summary>
    public static string Describe(AnswerStatus status) => status switch
    {
        AnswerStatus.Answered => "answered, with experiment",
        AnswerStatus.PageOnly => "page only",
        AnswerStatus.ExperimentOnly => "experiment only",
        _ => "not yet",
    };

    /// <summary>NN-slug.md; group 1 is NN, group 2 the slug.</summary>
    [GeneratedRegex(@"^(\d{2})-([a-z0-9][a-z0-9-]*)\.md$")]
    public static partial Regex PagePattern();
}
