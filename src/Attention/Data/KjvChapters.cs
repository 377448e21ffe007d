using System.Text;

namespace Attention.Data;

/// <summary>The literary genre of a Bible book, as <see cref="KjvChapters.GenreOf"/> assigns it.</summary>
public enum KjvGenre
{
    /// <summary>Genesis – Deuteronomy (the Pentateuch).</summary>
    Law,
    /// <summary>Joshua – Esther.</summary>
    History,
    /// <summary>Job, Psalms, Proverbs, Ecclesiastes, Song of Solomon.</summary>
    WisdomPoetry,
    /// <summary>Isaiah – Malachi, Lamentations and Daniel included.</summary>
    Prophets,
    /// <summary>Matthew, Mark, Luke, John, Acts.</summary>
    GospelsActs,
    /// <summary>Romans – Jude.</summary>
    Letters,
    /// <summary>Revelation.</summary>
    Apocalyptic,
}

/// <summary>One chapter as word tokens: its book, chapter number, genre, and each verse's lower-case words.</summary>
public sealed record KjvChapter(int Book, int Chapter, KjvGenre Genre, IReadOnlyList<string[]> Verses)
{
    /// <summary>E.g. "Psa23".</summary>
    public string Reference => $"{Kjv.BookNames[Book]}{Chapter}";

    /// <summary>Words in the chapter.</summary>
    public int WordCount => Verses.Sum(v => v.Length);
}

/// <summary>The three disjoint parts of <see cref="KjvChapters.SplitByChapter"/>.</summary>
public sealed record KjvChapterSplit(IReadOnlyList<KjvChapter> Train, IReadOnlyList<KjvChapter> Dev, IReadOnlyList<KjvChapter> Test);

/// <summary>
/// The 1,189 chapters of the King James Bible as documents for classification: chapter → verses → words, labelled
/// with the genre of their book (the task of answer 42). The genre of each book follows the traditional grouping of
/// the Protestant canon: law (Genesis–Deuteronomy), history (Joshua–Esther), wisdom and poetry (Job–Song of Solomon),
/// prophets (Isaiah–Malachi, Lamentations and Daniel included), gospels and Acts, letters (Romans–Jude), apocalyptic
/// (Revelation). Daniel's second half is apocalyptic too; it stays with the prophets where the canon puts it.
/// Words are maximal runs of ASCII letters, lower-cased ("LORD's" → "lord", "s").
/// </summary>
public static class KjvChapters
{
    /// <summary>Number of chapters in the complete text.</summary>
    public const int ChapterCount = 1_189;

    /// <summary>The genres in enum order, named for tables.</summary>
    public static IReadOnlyList<string> GenreNames { get; } =
        ["law", "history", "wisdom/poetry", "prophets", "gospels/Acts", "letters", "apocalyptic"];

    /// <summary>The genre of book <paramref name="book"/> (0 = Genesis … 65 = Revelation).</summary>
    public static KjvGenre GenreOf(int book) => book switch
    {
        >= 0 and <= 4 => KjvGenre.Law,
        <= 16 and >= 5 => KjvGenre.History,
        <= 21 and >= 17 => KjvGenre.WisdomPoetry,
        <= 38 and >= 22 => KjvGenre.Prophets,
        <= 43 and >= 39 => KjvGenre.GospelsActs,
        <= 64 and >= 44 => KjvGenre.Letters,
        65 => KjvGenre.Apocalyptic,
        _ => throw new ArgumentOutOfRangeException(nameof(book), book, $"expected a book index in [0, {Kjv.BookNames.Count})"),
    };

    /// <summary>Every chapter of <paramref name="kjv"/>, in canonical order.</summary>
    public static IReadOnlyList<KjvChapter> From(Kjv kjv)
    {
        ArgumentNullException.ThrowIfNull(kjv);
        var chapters = new List<KjvChapter>(ChapterCount);
        List<string[]>? verses = null;
        KjvVerse? first = null;
        foreach (var v in kjv.Verses)
        {
            if (first is null || v.Book != first.Book || v.Chapter != first.Chapter)
            {
                if (first is not null) chapters.Add(new KjvChapter(first.Book, first.Chapter, GenreOf(first.Book), verses!));
                first = v;
                verses = [];
            }
            verses!.Add(Tokenize(v.Text));
        }
        if (first is not null) chapters.Add(new KjvChapter(first.Book, first.Chapter, GenreOf(first.Book), verses!));
        return chapters;
    }

    /// <summary>The lower-case runs of ASCII letters in <paramref name="text"/>.</summary>
    public static string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<string>();
        var sb = new StringBuilder();
        foreach (char ch in text)
        {
            if (char.IsAsciiLetter(ch)) sb.Append(char.ToLowerInvariant(ch));
            else if (sb.Length > 0) { words.Add(sb.ToString()); sb.Clear(); }
        }
        if (sb.Length > 0) words.Add(sb.ToString());
        return words.ToArray();
    }

    /// <summary>
    /// A seeded split by chapter, stratified by book: each book's chapters are shuffled and the first
    /// round(<paramref name="testFraction"/>·n) go to test, the next round(<paramref name="devFraction"/>·n) to dev, the rest
    /// to train, except that a book always keeps at least one training chapter. Every genre is then in every part (a split by
    /// book cannot do that: Revelation is the only apocalyptic book). The price: the model has seen other chapters of a
    /// test chapter's book, so names and phrases that mark a book also mark its genre.
    /// </summary>
    public static KjvChapterSplit SplitByChapter(IReadOnlyList<KjvChapter> chapters, double devFraction = 0.1, double testFraction = 0.15, ulong seed = Kjv.DefaultSplitSeed)
    {
        ArgumentNullException.ThrowIfNull(chapters);
        if (!(devFraction >= 0 && devFraction < 1)) throw new ArgumentOutOfRangeException(nameof(devFraction), devFraction, "expected a dev fraction in [0, 1)");
        if (!(testFraction >= 0 && testFraction < 1)) throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "expected a test fraction in [0, 1)");
        if (devFraction + testFraction >= 1) throw new ArgumentOutOfRangeException(nameof(testFraction), devFraction + testFraction, "expected dev + test below 1");
        var rng = new Tensors.Rng(seed);
        List<KjvChapter> train = [], dev = [], test = [];
        foreach (var book in chapters.GroupBy(c => c.Book).OrderBy(g => g.Key))
        {
            var list = book.ToList();
            for (int i = list.Count - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (list[i], list[j]) = (list[j], list[i]); }
            int n = list.Count;
            int nTest = (int)Math.Round(testFraction * n), nDev = (int)Math.Round(devFraction * n);
            while (nTest + nDev >= n && nTest + nDev > 0) { if (nDev > 0) nDev--; else nTest--; }
            test.AddRange(list.Take(nTest));
            dev.AddRange(list.Skip(nTest).Take(nDev));
            train.AddRange(list.Skip(nTest + nDev));
        }
        static List<KjvChapter> Canonical(List<KjvChapter> l) => l.OrderBy(c => c.Book).ThenBy(c => c.Chapter).ToList();
        return new KjvChapterSplit(Canonical(train), Canonical(dev), Canonical(test));
    }
}

/// <summary>
/// A word vocabulary: id 0 is padding, id 1 unknown, then the words seen at least MinCount times in the text it was
/// built from, most frequent first (ties in ordinal order). Build it on the training split only, so held-out words the
/// training text never showed become unknown instead of leaking in.
/// </summary>
public sealed class WordVocabulary
{
    /// <summary>Padding id.</summary>
    public const int Pad = 0;
    /// <summary>Unknown-word id.</summary>
    public const int Unknown = 1;

    private readonly Dictionary<string, int> _ids;
    private readonly string[] _words;

    /// <summary>Number of ids, padding and unknown included.</summary>
    public int Size => _words.Length;

    /// <summary>The words counted at least <paramref name="minCount"/> times in <paramref name="documents"/>' verses.</summary>
    public WordVocabulary(IEnumerable<KjvChapter> documents, int minCount = 2)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minCount);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var d in documents)
            foreach (var verse in d.Verses)
                foreach (var w in verse) counts[w] = counts.GetValueOrDefault(w) + 1;
        if (counts.Count == 0) throw new ArgumentException("expected documents with at least one word, got none", nameof(documents));
        _words = ["<pad>", "<unk>", .. counts.Where(p => p.Value >= minCount).OrderByDescending(p => p.Value)
                                           .ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key)];
        _ids = new Dictionary<string, int>(_words.Length, StringComparer.Ordinal);
        for (int i = 2; i < _words.Length; i++) _ids[_words[i]] = i;
    }

    /// <summary>The id of <paramref name="word"/>, or <see cref="Unknown"/>.</summary>
    public int Id(string word) => _ids.GetValueOrDefault(word, Unknown);

    /// <summary>The word of <paramref name="id"/> ("&lt;pad&gt;", "&lt;unk&gt;" for the reserved ids).</summary>
    public string Word(int id)
    {
        if ((uint)id >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(id), id, $"expected an id in [0, {Size})");
        return _words[id];
    }
}

/// <summary>
/// Chapters as a padded (B, S, W) batch for a hierarchical model: S verses per chapter, W words per verse.
/// </summary>
/// <param name="Words">(B, S, W) word ids, row-major; <see cref="WordVocabulary.Pad"/> beyond a verse's length.</param>
/// <param name="VerseLengths">(B·S) words per verse (0 for padding verses beyond a chapter's count).</param>
/// <param name="VerseCounts">(B) verses per chapter.</param>
/// <param name="Labels">(B) genre ids.</param>
/// <param name="MaxVerses">S, verses per padded chapter.</param>
/// <param name="MaxWords">W, words per padded verse.</param>
/// <param name="Chapters">The chapters, in batch order.</param>
public sealed record ChapterBatch(int[] Words, int[] VerseLengths, int[] VerseCounts, int[] Labels, int MaxVerses, int MaxWords, IReadOnlyList<KjvChapter> Chapters)
{
    /// <summary>B.</summary>
    public int Count => VerseCounts.Length;

    /// <summary>
    /// Pads <paramref name="chapters"/> into one batch, keeping each chapter's first <paramref name="maxVerses"/> verses and
    /// each verse's first <paramref name="maxWords"/> words; S and W are the largest kept counts in the batch. A verse
    /// cut to zero words cannot occur (every KJV verse has words).
    /// </summary>
    public static ChapterBatch From(IReadOnlyList<KjvChapter> chapters, WordVocabulary vocabulary, int maxVerses, int maxWords)
    {
        ArgumentNullException.ThrowIfNull(chapters);
        ArgumentNullException.ThrowIfNull(vocabulary);
        if (chapters.Count == 0) throw new ArgumentException("expected at least one chapter, got none", nameof(chapters));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxVerses);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxWords);
        int b = chapters.Count;
        int s = chapters.Max(c => Math.Min(c.Verses.Count, maxVerses));
        int w = chapters.Max(c => c.Verses.Take(maxVerses).Max(v => Math.Min(v.Length, maxWords)));
        var words = new int[b * s * w];
        var lengths = new int[b * s];
        var counts = new int[b];
        var labels = new int[b];
        for (int i = 0; i < b; i++)
        {
            var c = chapters[i];
            counts[i] = Math.Min(c.Verses.Count, maxVerses);
            labels[i] = (int)c.Genre;
            for (int v = 0; v < counts[i]; v++)
            {
                var verse = c.Verses[v];
                int n = Math.Min(verse.Length, maxWords);
                lengths[i * s + v] = n;
                for (int k = 0; k < n; k++) words[(i * s + v) * w + k] = vocabulary.Id(verse[k]);
            }
        }
        return new ChapterBatch(words, lengths, counts, labels, s, w, chapters);
    }
}
