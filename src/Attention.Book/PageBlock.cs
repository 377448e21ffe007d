using System.Text.RegularExpressions;

namespace Attention.Book;

/// <summary>
/// The experiment block of an answer page: the text between <c>&lt;!-- experiment:NN --&gt;</c> and
/// <c>&lt;!-- /experiment --&gt;</c>, which <c>attn book --write-pages</c> replaces with the rendered result.
/// Everything outside the markers is left byte for byte as it was.
/// </summary>
public static partial class PageBlock
{
    public const string EndMarker = "<!-- /experiment -->";

    /// <summary>The opening marker for question <paramref name="question"/>, e.g. <c>&lt;!-- experiment:14 --&gt;</c>.</summary>
    public static string StartMarker(int question) => $"<!-- experiment:{question:00} -->";

    /// <summary>
    /// Returns <paramref name="page"/> with the block for <paramref name="question"/> replaced by <paramref name="markdown"/>.
    /// Replacing twice with the same Markdown gives the same text. Throws <see cref="FormatException"/> when the markers
    /// are missing, repeated, out of order, or name another question.
    /// </summary>
    public static string Replace(string page, int question, string markdown)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(markdown);
        var (start, end) = Locate(page, question);
        var body = markdown.Trim('\r', '\n');
        string newline = page.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        if (newline == "\r\n") body = body.ReplaceLineEndings("\r\n");
        string marker = page[start.Index..(start.Index + start.Length)];
        return page[..start.Index] + marker + newline + body + newline + page[end..];
    }

    /// <summary>The current content between the markers (trimmed of surrounding line breaks).</summary>
    public static string Read(string page, int question)
    {
        var (start, end) = Locate(page, question);
        return page[(start.Index + start.Length)..end].Trim('\r', '\n');
    }

    /// <summary>Whether the page has a well-formed block for <paramref name="question"/>.</summary>
    public static bool Has(string page, int question)
    {
        try { Locate(page, question); return true; }
        catch (FormatException) { return false; }
    }

    // Returns the start-marker match and the index where the end marker begins.
    private static (Match Start, int End) Locate(string page, int question)
    {
        var starts = StartPattern().Matches(page);
        var ends = EndPattern().Matches(page);
        if (starts.Count == 0)
            throw new FormatException($"Expected one '{StartMarker(question)}' marker in the page; found none.");
        if (starts.Count > 1)
            throw new FormatException($"Expected one '<!-- experiment:NN -->' marker in the page; found {starts.Count}.");
        if (ends.Count == 0)
            throw new FormatException($"Expected a closing '{EndMarker}' marker after '{StartMarker(question)}'; found none.");
        if (ends.Count > 1)
            throw new FormatException($"Expected one closing '{EndMarker}' marker; found {ends.Count}.");
        var start = starts[0];
        int named = int.Parse(start.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        if (named != question)
            throw new FormatException($"The page's block is for question {named}; expected question {question}.");
        if (ends[0].Index < start.Index + start.Length)
            throw new FormatException($"The closing '{EndMarker}' marker comes before '{StartMarker(question)}'.");
        return (start, ends[0].Index);
    }

    [GeneratedRegex(@"<!--\s*experiment:(\d+)\s*-->")]
    private static partial Regex StartPattern();

    [GeneratedRegex(@"<!--\s*/experiment\s*-->")]
    private static partial Regex EndPattern();
}
