using System.IO.Compression;
using System.Text;
using Attention.Data;

namespace Attention.Tests.Data;

public class CmuDictTests
{
    private static CmuDict Dict => CmuDict.LoadRepoCopy();

    private static CmuDict ParseText(string text) => CmuDict.Parse(new StringReader(text), "test");

    [Fact]
    public void RepoCopy_HoldsOneEntryPerWord_UniqueAndSorted()
    {
        // npm cmu-pronouncing-dictionary 3.0.0 has 135,155 keys, 9,109 of them alternates "word(n)"; one entry per word remains
        Assert.Equal(135_155 - 9_109, Dict.Count);
        for (int i = 1; i < Dict.Count; i++)
            Assert.True(string.CompareOrdinal(Dict.Entries[i - 1].Word, Dict.Entries[i].Word) < 0, $"entries {i - 1} and {i} out of order");
        Assert.DoesNotContain(Dict.Entries, e => e.Word.Contains('('));
        Assert.All(Dict.Entries, e => Assert.NotEmpty(e.Phonemes));
    }

    [Theory]
    [InlineData("hello", "HH AH0 L OW1")]
    [InlineData("attention", "AH0 T EH1 N SH AH0 N")]
    [InlineData("cat", "K AE1 T")]
    [InlineData("the", "DH AH0")]          // the package's "the(2)" is DH AH1: dropped
    [InlineData("a", "AH0")]               // "a(2)" is EY1: dropped
    [InlineData("aalborg", "AO1 L B AO0 R G")]  // the package appends "# place, danish": the comment is dropped
    public void RepoCopy_KnownWords_HaveThePackagesFirstPronunciation(string word, string phonemes)
    {
        Assert.Equal(phonemes.Split(' '), Dict[word]);
    }

    [Fact]
    public void Lookup_IsCaseInsensitive_AndUnknownWordsAreNull()
    {
        Assert.Same(Dict.Find("hello"), Dict.Find("HeLLo"));
        Assert.Null(Dict.Find("qzxqzxq"));
        var e = Assert.Throws<KeyNotFoundException>(() => Dict["qzxqzxq"]);
        Assert.Contains("qzxqzxq", e.Message);
    }

    [Fact]
    public void RepoCopy_UsesExactlyTheSixtyNineArpabetSymbols()
    {
        var used = Dict.Entries.SelectMany(e => e.Phonemes).ToHashSet();
        Assert.Equal(69, CmuDict.PhonemeSymbols.Count);
        Assert.Equal(CmuDict.PhonemeSymbols.OrderBy(s => s, StringComparer.Ordinal), used.OrderBy(s => s, StringComparer.Ordinal));
    }

    [Fact]
    public void Split_IsDeterministic_Disjoint_AndCoversEveryWord()
    {
        var a = Dict.Split();
        var b = CmuDict.LoadRepoCopy().Split();
        Assert.Equal(a.Train.Select(e => e.Word), b.Train.Select(e => e.Word));
        Assert.Equal(a.Test.Select(e => e.Word), b.Test.Select(e => e.Word));
        var train = a.Train.Select(e => e.Word).ToHashSet();
        var dev = a.Dev.Select(e => e.Word).ToHashSet();
        var test = a.Test.Select(e => e.Word).ToHashSet();
        Assert.False(train.Overlaps(dev) || train.Overlaps(test) || dev.Overlaps(test));
        Assert.Equal(Dict.Count, train.Count + dev.Count + test.Count);
        // 5% each in expectation; the binomial standard deviation at n = 126k is 0.06%
        Assert.InRange((double)dev.Count / Dict.Count, 0.045, 0.055);
        Assert.InRange((double)test.Count / Dict.Count, 0.045, 0.055);
    }

    [Fact]
    public void Split_WordsPartDoesNotDependOnTheOtherWords_ButOnTheSeed()
    {
        var words = Dict.Entries.Where((_, i) => i % 97 == 0).Select(e => e.Word).ToList();
        var full = Dict.Split();
        var testWords = full.Test.Select(e => e.Word).ToHashSet();
        foreach (var w in words) Assert.Equal(testWords.Contains(w), CmuDict.PartOf(w) == CmuPart.Test);
        int moved = words.Count(w => CmuDict.PartOf(w) != CmuDict.PartOf(w, seed: 7));
        Assert.True(moved > words.Count / 20, $"another seed should move many words between parts; moved {moved} of {words.Count}");
    }

    [Fact]
    public void Load_GzipAndPlainText_GiveTheSameEntries()
    {
        const string text = "abc\tAE1 B K\nx-ray\tEH1 K S R EY2\n";
        var dir = Directory.CreateTempSubdirectory("cmudict-test");
        try
        {
            var plain = Path.Combine(dir.FullName, "d.txt");
            var gz = Path.Combine(dir.FullName, "d.txt.gz");
            File.WriteAllText(plain, text);
            using (var file = File.Create(gz))
            using (var zip = new GZipStream(file, CompressionLevel.Optimal))
                zip.Write(Encoding.UTF8.GetBytes(text));
            var p = CmuDict.Load(plain);
            var g = CmuDict.Load(gz);
            Assert.Equal(p.Entries.Select(e => e.ToString()), g.Entries.Select(e => e.ToString()));
            Assert.Equal(["EH1", "K", "S", "R", "EY2"], g["X-RAY"]);
            Assert.False(g.Find("x-ray")!.IsAlphabetic);
            Assert.True(g.Find("abc")!.IsAlphabetic);
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("abc AE1 B K\n", 1, "exactly one tab")]
    [InlineData("abc\tAE1 B K\nabd\tAE1\tB\n", 2, "exactly one tab")]
    [InlineData("abc\tAE1 B K\n\nabd\tAE1 B D\n", 2, "exactly one tab")]              // an empty line
    [InlineData("abc\tAE1 B K\nabd\tAE1 B XX\n", 2, "ARPABET")]                       // not a phoneme
    [InlineData("abc\tAE B K\n", 1, "ARPABET")]                                       // vowel without stress
    [InlineData("abc\tAE1  B K\n", 1, "ARPABET")]                                     // two spaces
    [InlineData("abc\t\n", 1, "ARPABET")]                                             // no phonemes
    [InlineData("Abc\tAE1 B K\n", 1, "a word of a–z")]                                // upper case
    [InlineData("\tAE1 B K\n", 1, "a word of a–z")]                                   // no word
    [InlineData("abd\tAE1 B D\nabc\tAE1 B K\n", 2, "ordinal order")]                 // unsorted
    [InlineData("abc\tAE1 B K\nabc\tAE1 B K\n", 2, "duplicate")]
    public void Parse_CorruptLine_ThrowsNamingLineAndExpectation(string text, int line, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => ParseText(text));
        Assert.Contains($"line {line}:", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Parse_EmptyInput_Throws()
    {
        var e = Assert.Throws<InvalidDataException>(() => ParseText(""));
        Assert.Contains("at least one", e.Message);
    }

    [Fact]
    public void Load_InvalidUtf8_ThrowsInvalidData()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, [(byte)'a', 0xFF, (byte)'\t', (byte)'B', (byte)'\n']);
            var e = Assert.Throws<InvalidDataException>(() => CmuDict.Load(path));
            Assert.Contains("line 1", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BadArguments_ThrowNamingWhatWasExpected()
    {
        Assert.Throws<FileNotFoundException>(() => CmuDict.Load(Path.Combine(Path.GetTempPath(), "no-such-cmudict.txt")));
        var outside = Directory.CreateTempSubdirectory("no-repo");
        try { Assert.Contains("ATTN_DATA", Assert.Throws<FileNotFoundException>(() => CmuDict.FindRepoCopy(outside.FullName)).Message); }
        finally { outside.Delete(); }
        Assert.Contains("dev fraction", Assert.Throws<ArgumentOutOfRangeException>(() => Dict.Split(devFraction: 1.5)).Message);
        Assert.Contains("below 1", Assert.Throws<ArgumentOutOfRangeException>(() => CmuDict.PartOf("cat", 0.6, 0.5)).Message);
    }
}
