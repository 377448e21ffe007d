using System.IO.Compression;
using Attention.Data;

namespace Attention.Tests.Data;

public class KjvTests
{
    private static Kjv Bible => Kjv.LoadRepoCopy();

    [Fact]
    public void RepoCopy_HoldsAll31102Verses_In66Books_FromGenesisToRevelation()
    {
        Assert.Equal(31_102, Bible.Count);
        Assert.Equal("Ge1:1 In the beginning God created the heaven and the earth.", Bible.Verses[0].ToString());
        Assert.Equal("Rev22:21 The grace of our Lord Jesus Christ be with you all. Amen.", Bible.Verses[^1].ToString());
        Assert.Equal(66, Bible.Verses.Select(v => v.Book).Distinct().Count());
        Assert.Equal(150, Bible.Book(18).Max(v => v.Chapter));          // Psalms
        Assert.Equal(176, Bible.Book(18).Where(v => v.Chapter == 119).Max(v => v.Verse));
        Assert.Equal(14, Bible.Book(63).Count);                          // 3 John
    }

    [Fact]
    public void Text_JoinsVerseTextsWithNewlines_AndTheVocabularyRoundTrips()
    {
        var ruth = Bible.Text([7]);
        Assert.StartsWith("Now it came to pass in the days when the judges ruled", ruth);
        Assert.Equal(Bible.Book(7).Count, ruth.Count(c => c == '\n'));
        var vocab = new CharVocabulary(Bible.Text());
        Assert.Equal(63 + 1, vocab.Size);
        Assert.Equal(ruth, vocab.Decode(vocab.Encode(ruth)));
        Assert.Equal(CharVocabulary.Unknown, vocab.Id('~'));
        Assert.Throws<ArgumentOutOfRangeException>(() => vocab.Char(vocab.Size));
    }

    [Fact]
    public void SplitByBook_IsDisjoint_Complete_Seeded_AndHoldsOutWholeBooks()
    {
        var split = Kjv.SplitByBook();
        var all = split.TrainBooks.Concat(split.DevBooks).Concat(split.TestBooks).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 66), all);
        Assert.NotEmpty(split.DevBooks);
        Assert.NotEmpty(split.TestBooks);
        Assert.Equal(split.TestBooks, Kjv.SplitByBook().TestBooks);
        var other = Kjv.SplitByBook(seed: 7);
        Assert.False(split.TestBooks.SequenceEqual(other.TestBooks) && split.DevBooks.SequenceEqual(other.DevBooks), "another seed should give another split");
        Assert.Throws<ArgumentOutOfRangeException>(() => Kjv.SplitByBook(0.6, 0.5));
    }

    [Theory]
    [InlineData("Ge1:1 In the beginning.\nGe1:3 And God said.", "line 2: expected the verse after Ge1:1", "Ge1:3")]
    [InlineData("Ge1:1 In the beginning.\nXx1:2 And.", "line 2: expected one of the 66 book abbreviations", "'Xx'")]
    [InlineData("Ge1:1 In the beginning.\nGe1:2", "line 2: expected '<Book><chapter>:<verse> <text>'", "Ge1:2")]
    [InlineData("Exo1:1 Now.\nGe1:1 In.", "line 2: expected the verse after Exo1:1", "Ge1:1")]
    [InlineData("Ge2:1 Thus.", "line 1: expected the first verse of a book", "Ge2:1")]
    [InlineData("Ge1:1 In the be\tginning.", "line 1: expected printable ASCII verse text", "U+0009")]
    public void Parse_ABadLine_NamesTheSourceTheLineAndWhatItHeld(string text, string expected, string got)
    {
        var e = Assert.Throws<InvalidDataException>(() => Kjv.Parse(new StringReader(text), "verses.txt", requireComplete: false));
        Assert.Contains("verses.txt, " + expected, e.Message);
        Assert.Contains(got, e.Message);
    }

    [Fact]
    public void Load_ATruncatedCopy_FailsNamingTheFile()
    {
        var dir = Directory.CreateTempSubdirectory("kjv-test");
        try
        {
            // (1) a complete gzip of fewer verses: the completeness check names file, last line and last verse
            var cut = Path.Combine(dir.FullName, "cut.txt.gz");
            using (var gz = new GZipStream(File.Create(cut), CompressionLevel.Fastest))
            using (var w = new StreamWriter(gz))
                foreach (var v in Bible.Verses.Take(1000)) w.Write(v + "\n");
            var e = Assert.Throws<InvalidDataException>(() => Kjv.Load(cut));
            Assert.Contains(cut + ", line 1000: expected the complete text (31102 verses ending at Rev22:21), got 1000 verses ending at Ge34:19 (truncated?)", e.Message);
            Assert.Equal(1000, Kjv.Load(cut, requireComplete: false).Count);

            // (2) the vendored file cut in the middle of its gzip stream
            var bytes = File.ReadAllBytes(Kjv.FindRepoCopy());
            var broken = Path.Combine(dir.FullName, "broken.txt.gz");
            File.WriteAllBytes(broken, bytes[..(bytes.Length / 2)]);
            var e2 = Assert.ThrowsAny<InvalidDataException>(() => Kjv.Load(broken));
            Assert.Contains(broken, e2.Message);
        }
        finally { dir.Delete(recursive: true); }
    }
}
