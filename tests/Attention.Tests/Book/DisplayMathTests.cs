using Attention.Book;

namespace Attention.Tests.Book;

public class DisplayMathTests
{
    [Fact]
    public void OneLineDisplayMath_RendersAsMathBlock_NotInline()
    {
        var md = SiteBuilder.DisplayMathOnOwnLines("Text.\n\n$$a = b \\tag{1}$$\n\nMore $x$.");
        var html = Markdig.Markdown.ToHtml(md, SiteBuilder.Pipeline);
        Assert.Contains("<div class=\"math\">", html);
        Assert.Contains("\\tag{1}", html);
        Assert.Contains("<span class=\"math\">\\(x\\)</span>", html);   // inline math stays inline
    }
}
