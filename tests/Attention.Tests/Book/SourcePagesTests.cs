using Attention.Book;

namespace Attention.Tests.Book;

public class SourcePagesTests
{
    private const string Sample = """"
        #nullable enable
        using System; // the usual
        /* a block
           comment */
        public static class K
        {
            /// <summary>Doc.</summary>
            public const string A = "if \"quoted\" // not a comment", B = @"C:\path ""x""", C = $"{1 + 2} for";
            private const char Q = '\'';
            public static int F(int x) => x * 0x1F + 2.5e3 > 0 ? x : -1;
            private static readonly string Raw = """
                raw "text" with class
                """;
        }
        """";

    [Fact]
    public void CSharpTokens_ConcatenateBackToTheSource_Exactly()
    {
        var tokens = SourcePages.TokenizeCSharp(Sample);
        Assert.Equal(Sample, string.Concat(tokens.Select(t => t.Text)));
    }

    [Fact]
    public void CSharpTokens_ClassifyCommentsStringsKeywordsNumbersAndDirectives()
    {
        var tokens = SourcePages.TokenizeCSharp(Sample);
        string[] Of(SourceToken kind) => tokens.Where(t => t.Kind == kind).Select(t => t.Text).ToArray();
        Assert.Equal(["#nullable enable"], Of(SourceToken.Preprocessor));
        Assert.Contains("// the usual", Of(SourceToken.Comment));
        Assert.Contains("/* a block\n   comment */", Of(SourceToken.Comment));
        Assert.Contains("/// <summary>Doc.</summary>", Of(SourceToken.Comment));
        Assert.Contains("\"if \\\"quoted\\\" // not a comment\"", Of(SourceToken.String));   // a // inside a string is string
        Assert.Contains("@\"C:\\path \"\"x\"\"\"", Of(SourceToken.String));
        Assert.Contains("$\"{1 + 2} for\"", Of(SourceToken.String));
        Assert.Contains("'\\''", Of(SourceToken.String));
        Assert.Contains(Of(SourceToken.String), s => s.StartsWith("\"\"\"", StringComparison.Ordinal) && s.Contains("with class", StringComparison.Ordinal));
        Assert.Contains("0x1F", Of(SourceToken.Number));
        Assert.Contains("2.5e3", Of(SourceToken.Number));
        foreach (var k in new[] { "public", "static", "class", "const", "string", "int", "using", "private", "readonly", "char" })
            Assert.Contains(k, Of(SourceToken.Keyword));
        Assert.DoesNotContain("K", Of(SourceToken.Keyword));
        Assert.DoesNotContain("for", Of(SourceToken.Keyword));                      // only inside the interpolated string
        Assert.Equal(1, Of(SourceToken.Keyword).Count(k => k == "class"));          // "class" inside the raw string stays string
    }

    [Fact]
    public void Render_EscapesMarkup_NumbersEveryLine_AndKeepsMultiLineTokensPerLine()
    {
        var html = SourcePages.Render("var s = \"</pre><script>\";\n/* a\nb */\n", ".cs");
        Assert.DoesNotContain("<script>", html);
        Assert.Contains("&lt;/pre&gt;&lt;script&gt;", html);
        for (int line = 1; line <= 4; line++) Assert.Contains($"id=\"L{line}\"", html);
        Assert.Contains("<span class=\"tk-c\">/* a</span></span>\n<span class=\"line\" id=\"L3\"><span class=\"tk-c\">b */</span>", html);
        Assert.Contains("lang-text", SourcePages.Render("plain <b>", ".txt"));
        Assert.Contains("plain &lt;b&gt;", SourcePages.Render("plain <b>", ".txt"));
    }
}
