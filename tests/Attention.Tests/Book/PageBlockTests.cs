using Attention.Book;

namespace Attention.Tests.Book;

public class PageBlockTests
{
    private const string Page = "# 14 · Why scale?\n**Short answer.** Because.\n<!-- experiment:14 --> old table <!-- /experiment -->\n**Pitfalls.** None.\n";

    [Fact]
    public void Replace_PutsTheMarkdownBetweenTheMarkers_AndKeepsEverythingElse()
    {
        var updated = PageBlock.Replace(Page, 14, "| a |\n|---|\n| 1 |\n");
        Assert.Equal("# 14 · Why scale?\n**Short answer.** Because.\n<!-- experiment:14 -->\n| a |\n|---|\n| 1 |\n<!-- /experiment -->\n**Pitfalls.** None.\n", updated);
        Assert.Equal("| a |\n|---|\n| 1 |", PageBlock.Read(updated, 14));
    }

    [Fact]
    public void Replace_IsIdempotent()
    {
        var once = PageBlock.Replace(Page, 14, "new block");
        Assert.Equal(once, PageBlock.Replace(once, 14, "new block"));
        Assert.Equal(once, PageBlock.Replace(PageBlock.Replace(once, 14, "something else"), 14, "new block"));
    }

    [Fact]
    public void Replace_KeepsWindowsLineEndings()
    {
        var crlf = Page.ReplaceLineEndings("\r\n");
        var updated = PageBlock.Replace(crlf, 14, "line 1\nline 2");
        Assert.DoesNotContain("\n", updated.Replace("\r\n", "", StringComparison.Ordinal));
        Assert.Contains("<!-- experiment:14 -->\r\nline 1\r\nline 2\r\n<!-- /experiment -->", updated);
    }

    [Theory]
    [InlineData("no markers at all", "found none")]
    [InlineData("<!-- experiment:14 --> open only", "closing")]
    [InlineData("<!-- experiment:14 --> a <!-- /experiment --> <!-- experiment:14 --> b <!-- /experiment -->", "found 2")]
    [InlineData("<!-- experiment:14 --> a <!-- /experiment --> <!-- /experiment -->", "found 2")]
    [InlineData("<!-- /experiment --> <!-- experiment:14 -->", "before")]
    [InlineData("<!-- experiment:15 --> a <!-- /experiment -->", "question 15")]
    public void Replace_MissingDuplicatedOrMisplacedMarkers_ThrowClearErrors(string page, string expectedInMessage)
    {
        var ex = Assert.Throws<FormatException>(() => PageBlock.Replace(page, 14, "x"));
        Assert.Contains(expectedInMessage, ex.Message);
        Assert.False(PageBlock.Has(page, 14));
    }

    [Fact]
    public void StartMarker_IsTwoDigit()
    {
        Assert.Equal("<!-- experiment:07 -->", PageBlock.StartMarker(7));
        Assert.True(PageBlock.Has("<!-- experiment:7 --><!-- /experiment -->", 7));
    }
}
