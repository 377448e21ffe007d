using System.Net;
using System.Text;

namespace Attention.Book;

/// <summary>The kinds of token the site colours in source code.</summary>
public enum SourceToken { Text, Keyword, String, Comment, Number, Preprocessor }

/// <summary>
/// Repository source files as HTML for the site, highlighted at build time (no script, no CDN): a small C# tokenizer
/// (comments, doc comments, strings — regular, verbatim, interpolated, raw —, characters, numbers, keywords,
/// preprocessor lines) and plain text for other files. Every line carries an anchor, <c>#L12</c>.
/// </summary>
public static class SourcePages
{
    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
        "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock",
        "long", "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected",
        "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string",
        "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort",
        "using", "virtual", "void", "volatile", "while",
        // contextual keywords worth colouring
        "var", "record", "init", "required", "get", "set", "value", "yield", "async", "await", "when", "where", "with",
        "and", "or", "not", "nint", "nuint", "dynamic", "partial", "global", "file", "scoped", "managed", "unmanaged",
    };

    /// <summary>The page body for a file's <paramref name="text"/>; <paramref name="extension"/> (e.g. ".cs") picks the highlighter.</summary>
    public static string Render(string text, string extension)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = string.Equals(extension, ".cs", StringComparison.OrdinalIgnoreCase) ? TokenizeCSharp(text) : [(SourceToken.Text, text)];
        var lang = string.Equals(extension, ".cs", StringComparison.OrdinalIgnoreCase) ? "cs" : "text";
        var html = new StringBuilder();
        html.Append("<pre class=\"code lang-").Append(lang).Append("\"><code>");
        int line = 1;
        html.Append("<span class=\"line\" id=\"L1\">");
        foreach (var (kind, value) in tokens)
        {
            var parts = value.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            for (int p = 0; p < parts.Length; p++)
            {
                if (p > 0)
                {
                    line++;
                    html.Append("</span>\n<span class=\"line\" id=\"L").Append(line).Append("\">");
                }
                if (parts[p].Length == 0) continue;
                var css = Css(kind);
                if (css is null) html.Append(WebUtility.HtmlEncode(parts[p]));
                else html.Append("<span class=\"").Append(css).Append("\">").Append(WebUtility.HtmlEncode(parts[p])).Append("</span>");
            }
        }
        html.Append("</span></code></pre>\n");
        return html.ToString();
    }

    private static string? Css(SourceToken kind) => kind switch
    {
        SourceToken.Keyword => "tk-k", SourceToken.String => "tk-s", SourceToken.Comment => "tk-c",
        SourceToken.Number => "tk-n", SourceToken.Preprocessor => "tk-p", _ => null,
    };

    /// <summary>Splits C# source into tokens whose concatenation is the source, exactly.</summary>
    public static List<(SourceToken Kind, string Text)> TokenizeCSharp(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var tokens = new List<(SourceToken, string)>();
        var plain = new StringBuilder();
        int i = 0, n = source.Length;
        bool lineStart = true;
        void Emit(SourceToken kind, int start, int end)
        {
            if (plain.Length > 0) { tokens.Add((SourceToken.Text, plain.ToString())); plain.Clear(); }
            tokens.Add((kind, source[start..end]));
        }
        while (i < n)
        {
            char c = source[i];
            char next = i + 1 < n ? source[i + 1] : '\0';
            if (c == '/' && next == '/')
            {
                int end = source.IndexOf('\n', i);
                end = end < 0 ? n : end;
                Emit(SourceToken.Comment, i, end);
                i = end;
            }
            else if (c == '/' && next == '*')
            {
                int end = source.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? n : end + 2;
                Emit(SourceToken.Comment, i, end);
                i = end;
            }
            else if (c == '#' && lineStart)
            {
                int end = source.IndexOf('\n', i);
                end = end < 0 ? n : end;
                Emit(SourceToken.Preprocessor, i, end);
                i = end;
            }
            else if (StringStart(source, i) is { } quote)
            {
                int end = StringEnd(source, i, quote);
                Emit(SourceToken.String, i, end);
                i = end;
            }
            else if (c == '\'')
            {
                int j = i + 1;
                while (j < n && source[j] != '\'' && source[j] != '\n') j += source[j] == '\\' ? 2 : 1;
                int end = Math.Min(n, j + 1);
                Emit(SourceToken.String, i, end);
                i = end;
            }
            else if (char.IsAsciiDigit(c) && (i == 0 || !IsIdentifierChar(source[i - 1])))
            {
                int j = i + 1;
                while (j < n && (char.IsAsciiLetterOrDigit(source[j]) || source[j] == '_' || (source[j] == '.' && j + 1 < n && char.IsAsciiDigit(source[j + 1])))) j++;
                Emit(SourceToken.Number, i, j);
                i = j;
            }
            else if (char.IsLetter(c) || c == '_' || c == '@' && next != '"' && i + 1 < n && char.IsLetter(next))
            {
                int j = i + 1;
                while (j < n && IsIdentifierChar(source[j])) j++;
                var word = source[i..j];
                if (Keywords.Contains(word)) Emit(SourceToken.Keyword, i, j);
                else plain.Append(word);
                i = j;
            }
            else
            {
                plain.Append(c);
                i++;
            }
            if (i > 0 && i <= n)
            {
                char last = source[i - 1];
                if (last == '\n') lineStart = true;
                else if (!char.IsWhiteSpace(last)) lineStart = false;
            }
        }
        if (plain.Length > 0) tokens.Add((SourceToken.Text, plain.ToString()));
        return tokens;
    }

    private static bool IsIdentifierChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    /// <summary>The string form starting at <paramref name="i"/>: its prefix ($, @, $@, @$, $$…) and whether raw; null if none.</summary>
    private static (int PrefixLength, bool Verbatim, int RawQuotes)? StringStart(string s, int i)
    {
        int j = i;
        bool verbatim = false;
        while (j < s.Length && (s[j] == '$' || s[j] == '@'))
        {
            if (s[j] == '@') verbatim = true;
            j++;
        }
        if (j >= s.Length || s[j] != '"') return null;
        if (j > i && i > 0 && IsIdentifierChar(s[i - 1])) return null;
        int quotes = 0;
        while (j + quotes < s.Length && s[j + quotes] == '"') quotes++;
        int raw = quotes >= 3 ? quotes : 0;
        return (j - i, verbatim, raw);
    }

    private static int StringEnd(string s, int i, (int PrefixLength, bool Verbatim, int RawQuotes) form)
    {
        int n = s.Length, j = i + form.PrefixLength;
        if (form.RawQuotes > 0)
        {
            var closing = new string('"', form.RawQuotes);
            int end = s.IndexOf(closing, j + form.RawQuotes, StringComparison.Ordinal);
            return end < 0 ? n : end + form.RawQuotes;
        }
        j++;                                                                  // past the opening quote
        while (j < n)
        {
            char c = s[j];
            if (form.Verbatim)
            {
                if (c == '"' && j + 1 < n && s[j + 1] == '"') { j += 2; continue; }
                if (c == '"') return j + 1;
            }
            else
            {
                if (c == '\\') { j += 2; continue; }
                if (c == '"') return j + 1;
                if (c == '\n') return j;                                      // an unclosed regular string ends at the line
            }
            j++;
        }
        return n;
    }
}
