using System.Text.RegularExpressions;
using Spectre.Console;

namespace Attention.Cli;

/// <summary>
/// Renders an answer page's Markdown readably in a terminal: headings bold, **bold**, `code` in colour, links as
/// "text (target)", tables and math left as written. Deliberately line-based: pages are short and regular.
/// </summary>
internal static partial class TerminalMarkdown
{
    public static void Write(IAnsiConsole console, string markdown)
    {
        bool inCode = false;
        foreach (var raw in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.StartsWith("```", StringComparison.Ordinal)) { inCode = !inCode; continue; }
            if (inCode) { console.MarkupLine("    [cyan]" + Markup.Escape(line) + "[/]"); continue; }
            if (line.StartsWith("<!--", StringComparison.Ordinal)) continue;
            var heading = HeadingPattern().Match(line);
            if (heading.Success)
            {
                console.WriteLine();
                var text = Inline(heading.Groups[2].Value);
                console.MarkupLine(heading.Groups[1].Value.Length == 1 ? $"[bold underline]{text}[/]" : $"[bold]{text}[/]");
                continue;
            }
            console.MarkupLine(Inline(line));
        }
    }

    /// <summary>Markdown inline syntax → Spectre markup (escaped).</summary>
    public static string Inline(string text)
    {
        var escaped = Markup.Escape(text);
        escaped = ImagePattern().Replace(escaped, m => $"[grey]🖼 {m.Groups[1].Value} ({m.Groups[2].Value})[/]");
        escaped = LinkPattern().Replace(escaped, m => $"{m.Groups[1].Value} [grey]({m.Groups[2].Value})[/]");
        escaped = BoldPattern().Replace(escaped, m => $"[bold]{m.Groups[1].Value}[/]");
        escaped = CodePattern().Replace(escaped, m => $"[cyan]{m.Groups[1].Value}[/]");
        escaped = SubPattern().Replace(escaped, m => $"[grey]{m.Groups[1].Value}[/]");
        return escaped;
    }

    [GeneratedRegex(@"^(#{1,6})\s+(.*)$")] private static partial Regex HeadingPattern();
    // Markup.Escape doubles [ and ] into [[ and ]]
    [GeneratedRegex(@"!\[\[(.*?)\]\]\(([^)\s]+)\)")] private static partial Regex ImagePattern();
    [GeneratedRegex(@"\[\[(.*?)\]\]\(([^)\s]+)\)")] private static partial Regex LinkPattern();
    [GeneratedRegex(@"\*\*(.+?)\*\*")] private static partial Regex BoldPattern();
    [GeneratedRegex(@"`([^`]+)`")] private static partial Regex CodePattern();
    [GeneratedRegex(@"<sub>(.*?)</sub>")] private static partial Regex SubPattern();
}
