namespace Attention.Tests;

public class SmokeTests
{
    [Fact]
    public void TableFormat_RoundsToFourSignificantDigits() =>
        Assert.Equal("3.142", Attention.Book.Table.FormatNumber(Math.PI));
}
