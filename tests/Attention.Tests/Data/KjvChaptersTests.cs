using Attention.Data;

namespace Attention.Tests.Data;

public class KjvChaptersTests
{
    private static readonly Lazy<IReadOnlyList<KjvChapter>> All = new(() => KjvChapters.From(Kjv.LoadRepoCopy()));

    [Fact]
    public void From_Gives1189Chapters_WithTheCanonsChapterCountPerGenre()
    {
        var chapters = All.Value;
        Assert.Equal(KjvChapters.ChapterCount, chapters.Count);
        // chapter counts of the books in each group, from the canon: Genesis 50 … Deuteronomy 34 = 187, and so on
        var expected = new Dictionary<KjvGenre, int>
        {
            [KjvGenre.Law] = 50 + 40 + 27 + 36 + 34,
            [KjvGenre.History] = 24 + 21 + 4 + 31 + 24 + 22 + 25 + 29 + 36 + 10 + 13 + 10,
            [KjvGenre.WisdomPoetry] = 42 + 150 + 31 + 12 + 8,
            [KjvGenre.Prophets] = 66 + 52 + 5 + 48 + 12 + 14 + 3 + 9 + 1 + 4 + 7 + 3 + 3 + 3 + 2 + 14 + 4,
            [KjvGenre.GospelsActs] = 28 + 16 + 24 + 21 + 28,
            [KjvGenre.Letters] = 16 + 16 + 13 + 6 + 6 + 4 + 4 + 5 + 3 + 6 + 4 + 3 + 1 + 13 + 5 + 5 + 3 + 5 + 1 + 1 + 1,
            [KjvGenre.Apocalyptic] = 22,
        };
        foreach (var (genre, count) in expected) Assert.Equal(count, chapters.Count(c => c.Genre == genre));
        Assert.Equal(KjvGenre.Prophets, KjvChapters.GenreOf(26));        // Daniel stays with the prophets
        Assert.Equal(KjvGenre.GospelsActs, KjvChapters.GenreOf(43));     // Acts
        Assert.Throws<ArgumentOutOfRangeException>(() => KjvChapters.GenreOf(66));
        var psalm23 = chapters.Single(c => c.Reference == "Psa23");
        Assert.Equal(6, psalm23.Verses.Count);
        Assert.Equal(["the", "lord", "is", "my", "shepherd", "i", "shall", "not", "want"], psalm23.Verses[0]);
    }

    [Fact]
    public void Tokenize_LowerCasesRunsOfLetters()
    {
        Assert.Equal(["the", "lord", "s", "house"], KjvChapters.Tokenize("The LORD's house."));
        Assert.Empty(KjvChapters.Tokenize("1:2 --"));
    }

    [Fact]
    public void SplitByChapter_IsDisjointAndComplete_EveryBookTrains_EveryGenreIsTested_Seeded()
    {
        var chapters = All.Value;
        var split = KjvChapters.SplitByChapter(chapters);
        var keys = split.Train.Concat(split.Dev).Concat(split.Test).Select(c => c.Reference).ToList();
        Assert.Equal(chapters.Count, keys.Count);
        Assert.Equal(chapters.Count, keys.Distinct().Count());
        Assert.Equal(66, split.Train.Select(c => c.Book).Distinct().Count());
        Assert.Equal(7, split.Test.Select(c => c.Genre).Distinct().Count());
        Assert.InRange(split.Test.Count, 0.12 * chapters.Count, 0.18 * chapters.Count);
        Assert.Equal(split.Test.Select(c => c.Reference), KjvChapters.SplitByChapter(chapters).Test.Select(c => c.Reference));
        Assert.NotEqual(split.Test.Select(c => c.Reference), KjvChapters.SplitByChapter(chapters, seed: 7).Test.Select(c => c.Reference));
    }

    [Fact]
    public void WordVocabulary_FromTrainingChapters_MapsWordsOnlyHeldOutTextHasToUnknown()
    {
        var split = KjvChapters.SplitByChapter(All.Value);
        var vocabulary = new WordVocabulary(split.Train, minCount: 1);
        var trainWords = split.Train.SelectMany(c => c.Verses).SelectMany(v => v).ToHashSet();
        var unseen = split.Test.SelectMany(c => c.Verses).SelectMany(v => v).First(w => !trainWords.Contains(w));
        Assert.Equal(WordVocabulary.Unknown, vocabulary.Id(unseen));
        Assert.Equal(trainWords.Count + 2, vocabulary.Size);
        Assert.Equal("the", vocabulary.Word(2));   // the most frequent word gets the first free id
        Assert.Equal("<pad>", vocabulary.Word(WordVocabulary.Pad));
    }

    [Fact]
    public void ChapterBatch_PadsVersesAndWords_AndTruncatesToTheLimits()
    {
        var chapters = All.Value;
        var vocabulary = new WordVocabulary(chapters, minCount: 1);
        var pair = new[] { chapters.Single(c => c.Reference == "Psa117"), chapters.Single(c => c.Reference == "Psa23") };
        var batch = ChapterBatch.From(pair, vocabulary, maxVerses: 4, maxWords: 5);
        Assert.Equal((2, 4, 5), (batch.Count, batch.MaxVerses, batch.MaxWords));
        Assert.Equal([2, 4], batch.VerseCounts);                       // Psalm 117 has two verses; Psalm 23 is cut to 4
        Assert.Equal([5, 5, 0, 0, 5, 5, 5, 5], batch.VerseLengths);
        Assert.Equal(vocabulary.Id("praise"), batch.Words[1]);         // "O praise the LORD, …"
        Assert.All(batch.Words.Skip(2 * 5).Take(2 * 5), id => Assert.Equal(WordVocabulary.Pad, id));
        Assert.Equal([(int)KjvGenre.WisdomPoetry, (int)KjvGenre.WisdomPoetry], batch.Labels);
    }
}
