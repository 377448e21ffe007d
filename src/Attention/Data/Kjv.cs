using System.IO.Compression;
using System.Text;

namespace Attention.Data;

/// <summary>One verse: its book (0-based canonical index and the abbreviation the source uses), chapter, verse and text.</summary>
/// <param name="Book">0 = Genesis … 65 = Revelation.</param>
/// <param name="BookName">The abbreviation of the source file, e.g. "Ge", "1Sm", "Rev".</param>
/// <param name="Chapter">1-based.</param>
/// <param name="Verse">1-based.</param>
/// <param name="Text">The verse as printed, without its reference.</param>
public sealed record KjvVerse(int Book, string BookName, int Chapter, int Verse, string Text)
{
    /// <summary>The reference as in the file, e.g. "Ge1:1".</summary>
    public string Reference => $"{BookName}{Chapter}:{Verse}";

    public override string ToString() => $"{Reference} {Text}";
}

/// <summary>The three disjoint parts of <see cref="Kjv.SplitByBook"/>: whole books each, in canonical order.</summary>
public sealed record KjvSplit(IReadOnlyList<int> TrainBooks, IReadOnlyList<int> DevBooks, IReadOnlyList<int> TestBooks);

/// <summary>
/// The King James Bible (1611, public domain) as vendored in <c>data/kjv/kjv.txt.gz</c>: the output of
/// <c>bible -f "Gen1:1-Rev22:21"</c> from Debian's bible-kjv 4.38 (see PROVENANCE.md there), 31,102 verses
/// in 66 books, 4.4 MB; the verse texts joined by newlines are 4,137,850 characters of 63 kinds.
/// <para>
/// File format, ASCII (optionally gzip), one verse per line: <c>&lt;Book&gt;&lt;chapter&gt;:&lt;verse&gt; &lt;text&gt;</c>,
/// e.g. <c>Ge1:1 In the beginning God created the heaven and the earth.</c> Books come in canonical order
/// with the source's abbreviations (<see cref="BookNames"/>); within a book chapters count 1, 2, … and
/// within a chapter verses count 1, 2, … without gaps. <see cref="Load(string, bool)"/> checks every line and
/// throws <see cref="InvalidDataException"/> naming the file, the line and what was expected; a complete
/// copy must also end at Revelation 22:21 with all 31,102 verses, so a truncated file fails too.
/// </para>
/// The corpus of the character-level language models (answers 44, 45 and later long-context work):
/// <see cref="Text(IEnumerable{int})"/> joins the verses of some books with newlines, and
/// <see cref="CharVocabulary"/> maps its characters to ids.
/// </summary>
public sealed class Kjv
{
    /// <summary>The vendored copy, relative to the data folder (<see cref="DataDirectory"/>).</summary>
    public const string DataRelativePath = "kjv/kjv.txt.gz";

    /// <summary>Verses in the complete text.</summary>
    public const int VerseCount = 31_102;

    /// <summary>The seed of the book split the answers use.</summary>
    public const ulong DefaultSplitSeed = 1611;

    /// <summary>The 66 book abbreviations of the source, in canonical order (Genesis … Revelation).</summary>
    public static IReadOnlyList<string> BookNames { get; } =
    [
        "Ge", "Exo", "Lev", "Num", "Deu", "Josh", "Jdgs", "Ruth", "1Sm", "2Sm", "1Ki", "2Ki", "1Chr", "2Chr", "Ezra", "Neh",
        "Est", "Job", "Psa", "Prv", "Eccl", "SSol", "Isa", "Jer", "Lam", "Eze", "Dan", "Hos", "Joel", "Amos", "Obad", "Jonah",
        "Mic", "Nahum", "Hab", "Zep", "Hag", "Zec", "Mal",
        "Mat", "Mark", "Luke", "John", "Acts", "Rom", "1Cor", "2Cor", "Gal", "Eph", "Phi", "Col", "1Th", "2Th", "1Tim", "2Tim",
        "Titus", "Phmn", "Heb", "Jas", "1Pet", "2Pet", "1Jn", "2Jn", "3Jn", "Jude", "Rev",
    ];

    private static readonly Dictionary<string, int> BookIndex =
        BookNames.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);

    private static readonly Lazy<Kjv> RepoCopy = new(() => Load(FindRepoCopy()));

    private readonly int[] _bookStart;   // index of each book's first verse; _bookStart[66] = Count

    /// <summary>Every verse in file order.</summary>
    public IReadOnlyList<KjvVerse> Verses { get; }

    /// <summary>Number of verses.</summary>
    public int Count => Verses.Count;

    private Kjv(List<KjvVerse> verses)
    {
        Verses = verses;
        _bookStart = new int[BookNames.Count + 1];
        Array.Fill(_bookStart, verses.Count);
        for (int i = verses.Count - 1; i >= 0; i--) _bookStart[verses[i].Book] = i;
        for (int b = BookNames.Count - 1; b >= 0; b--) _bookStart[b] = Math.Min(_bookStart[b], _bookStart[b + 1]);
    }

    /// <summary>The verses of book <paramref name="book"/> (0-based), empty if the file holds none.</summary>
    public IReadOnlyList<KjvVerse> Book(int book)
    {
        if ((uint)book >= (uint)BookNames.Count)
            throw new ArgumentOutOfRangeException(nameof(book), book, $"expected a book index in [0, {BookNames.Count})");
        int start = _bookStart[book], end = _bookStart[book + 1];
        return Verses.Skip(start).Take(end - start).ToList();
    }

    /// <summary>The verse texts of the given books joined by '\n' (one verse a line, references dropped): the language-model corpus.</summary>
    public string Text(IEnumerable<int> books)
    {
        ArgumentNullException.ThrowIfNull(books);
        var sb = new StringBuilder();
        foreach (int b in books)
            foreach (var v in Book(b)) sb.Append(v.Text).Append('\n');
        return sb.ToString();
    }

    /// <summary>The whole text, verses joined by '\n'.</summary>
    public string Text() => Text(Enumerable.Range(0, BookNames.Count));

    /// <summary>
    /// A seeded split by whole books: each book draws a uniform number from a hash of its name and
    /// <paramref name="seed"/>; test when it is below <paramref name="testFraction"/>, dev when below
    /// test + dev, else train. If a requested part would be empty, the book nearest its threshold joins it,
    /// so dev and test each get at least one book when their fraction is positive. Whole books keep held-out
    /// text from sharing verses (or near-duplicate parallel passages within a book) with the training text.
    /// </summary>
    public static KjvSplit SplitByBook(double devFraction = 0.1, double testFraction = 0.1, ulong seed = DefaultSplitSeed)
    {
        if (!(devFraction >= 0 && devFraction < 1)) throw new ArgumentOutOfRangeException(nameof(devFraction), devFraction, "expected a dev fraction in [0, 1)");
        if (!(testFraction >= 0 && testFraction < 1)) throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "expected a test fraction in [0, 1)");
        if (devFraction + testFraction >= 1) throw new ArgumentOutOfRangeException(nameof(testFraction), devFraction + testFraction, "expected dev + test below 1, leaving books to train on");
        var u = BookNames.Select(n => UnitHash(n, seed)).ToArray();
        var part = u.Select(x => x < testFraction ? 2 : x < testFraction + devFraction ? 1 : 0).ToArray();
        void Ensure(int p, double fraction)
        {
            if (fraction <= 0 || part.Contains(p)) return;
            // the training book whose hash is closest to the part's range joins it
            double lo = p == 2 ? 0 : testFraction, hi = p == 2 ? testFraction : testFraction + devFraction;
            int best = Enumerable.Range(0, u.Length).Where(i => part[i] == 0)
                .OrderBy(i => u[i] < lo ? lo - u[i] : u[i] - hi).First();
            part[best] = p;
        }
        Ensure(2, testFraction);
        Ensure(1, devFraction);
        List<int> Of(int p) => Enumerable.Range(0, u.Length).Where(i => part[i] == p).ToList();
        return new KjvSplit(Of(0), Of(1), Of(2));
    }

    private static double UnitHash(string s, ulong seed)
    {
        ulong h = 14695981039346656037UL ^ seed;
        foreach (byte b in Encoding.UTF8.GetBytes(s)) { h ^= b; h *= 1099511628211UL; }
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        return (h >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>
    /// Reads a verse file: <c>.gz</c> through <see cref="GZipStream"/>, anything else as text. With
    /// <paramref name="requireComplete"/> (the default) the file must hold all 31,102 verses, Genesis 1:1 to Revelation 22:21.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A malformed or out-of-order line, a damaged gzip stream, or a truncated file; the message names the file and line.</exception>
    public static Kjv Load(string path, bool requireComplete = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"expected a KJV verse file at '{path}', found none", path);
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true));
        return Parse(reader, path, requireComplete);
    }

    /// <summary>The vendored copy, read once per process and shared.</summary>
    public static Kjv LoadRepoCopy() => RepoCopy.Value;

    /// <summary>The path of <see cref="DataRelativePath"/> in the data folder (<see cref="DataDirectory.Find"/>; <paramref name="start"/>: walk up from there only).</summary>
    /// <exception cref="FileNotFoundException">No data folder holds the file; the message lists where it looked.</exception>
    public static string FindRepoCopy(string? start = null)
        => DataDirectory.Find(DataRelativePath, start);

    /// <summary>Parses verse text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="InvalidDataException">The first bad line, by 1-based number, with what was expected and what it holds.</exception>
    public static Kjv Parse(TextReader reader, string source = "input", bool requireComplete = true)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var verses = new List<KjvVerse>(VerseCount);
        int lineNumber = 0;
        KjvVerse? previous = null;
        try
        {
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                lineNumber++;
                var v = ParseLine(line, lineNumber, source);
                string expected = previous is null
                    ? "the first verse of a book (chapter 1, verse 1)"
                    : $"the verse after {previous.Reference}";
                bool ok = previous is null
                    ? v.Chapter == 1 && v.Verse == 1
                    : v.Book == previous.Book
                        ? (v.Chapter == previous.Chapter && v.Verse == previous.Verse + 1) || (v.Chapter == previous.Chapter + 1 && v.Verse == 1)
                        : v.Book > previous.Book && v.Chapter == 1 && v.Verse == 1;
                if (!ok) throw Bad(source, lineNumber, expected + " (books in canonical order, chapters and verses counting up from 1)", v.Reference);
                verses.Add(v);
                previous = v;
            }
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{source}, line {lineNumber + 1} or later: expected ASCII text, got invalid bytes ({e.Message})", e);
        }
        catch (Exception e) when (e is InvalidDataException or IOException && e.Message.IndexOf(source, StringComparison.Ordinal) < 0)
        {
            // a damaged or cut gzip stream surfaces here, from the decompressor
            throw new InvalidDataException($"{source}, after line {lineNumber}: the file cannot be read to its end ({e.Message})", e);
        }
        if (verses.Count == 0) throw new InvalidDataException($"{source}: expected at least one '<Book><chapter>:<verse> <text>' line, got none");
        if (requireComplete && (verses.Count != VerseCount || previous!.Reference != "Rev22:21"))
            throw new InvalidDataException(
                $"{source}, line {lineNumber}: expected the complete text ({VerseCount} verses ending at Rev22:21), got {verses.Count} verses ending at {previous!.Reference} (truncated?)");
        return new Kjv(verses);
    }

    private static KjvVerse ParseLine(string line, int lineNumber, string source)
    {
        const string shape = "'<Book><chapter>:<verse> <text>' (e.g. 'Ge1:1 In the beginning …')";
        int space = line.IndexOf(' ');
        if (space <= 0 || space == line.Length - 1) throw Bad(source, lineNumber, shape, Quote(line));
        var reference = line.AsSpan(0, space);
        int colon = reference.IndexOf(':');
        if (colon <= 0) throw Bad(source, lineNumber, shape, Quote(line));
        int digits = colon;
        while (digits > 0 && char.IsAsciiDigit(reference[digits - 1])) digits--;
        // book names may start with a digit ("1Sm"), so the chapter is the run of digits just before the colon
        if (digits == colon || digits == 0) throw Bad(source, lineNumber, shape, Quote(line));
        var name = reference[..digits].ToString();
        if (!BookIndex.TryGetValue(name, out int book))
            throw Bad(source, lineNumber, $"one of the 66 book abbreviations ({string.Join(", ", BookNames.Take(4))}, …, Rev)", Quote(name));
        if (!int.TryParse(reference[digits..colon], out int chapter) || chapter < 1 ||
            !int.TryParse(reference[(colon + 1)..], out int verse) || verse < 1)
            throw Bad(source, lineNumber, shape, Quote(line));
        var text = line[(space + 1)..];
        foreach (char c in text)
            if (c < ' ' || c > '~')
                throw Bad(source, lineNumber, "printable ASCII verse text", $"character U+{(int)c:X4} in {Quote(line)}");
        return new KjvVerse(book, name, chapter, verse, text);
    }

    private static InvalidDataException Bad(string source, int line, string expected, string got) =>
        new($"{source}, line {line}: expected {expected}, got {got}");

    private static string Quote(string s) => s.Length == 0 ? "nothing" : $"'{(s.Length > 80 ? s[..80] + "…" : s)}'";
}

/// <summary>
/// A character vocabulary: id 0 is reserved for characters the vocabulary has not seen (unknown), then
/// the distinct characters of the text it was built from in ordinal order. For the KJV text: 63 characters
/// (letters, punctuation, space, newline) plus unknown.
/// </summary>
public sealed class CharVocabulary
{
    private readonly Dictionary<char, int> _ids;
    private readonly char[] _chars;

    /// <summary>Id of characters outside the vocabulary.</summary>
    public const int Unknown = 0;

    /// <summary>Number of ids, including <see cref="Unknown"/>.</summary>
    public int Size => _chars.Length + 1;

    /// <summary>The characters with ids 1, 2, ….</summary>
    public IReadOnlyList<char> Characters => _chars;

    /// <summary>The characters of <paramref name="text"/>, each once, in ordinal order.</summary>
    public CharVocabulary(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new ArgumentException("expected a non-empty text to build a vocabulary from, got an empty one", nameof(text));
        _chars = text.Distinct().Order().ToArray();
        _ids = new Dictionary<char, int>(_chars.Length);
        for (int i = 0; i < _chars.Length; i++) _ids[_chars[i]] = i + 1;
    }

    /// <summary>The id of <paramref name="c"/>, or <see cref="Unknown"/>.</summary>
    public int Id(char c) => _ids.GetValueOrDefault(c, Unknown);

    /// <summary>The character of <paramref name="id"/> ('\uFFFD' for <see cref="Unknown"/>).</summary>
    public char Char(int id)
    {
        if ((uint)id >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(id), id, $"expected an id in [0, {Size})");
        return id == Unknown ? '\uFFFD' : _chars[id - 1];
    }

    /// <summary>The ids of <paramref name="text"/>.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new int[text.Length];
        for (int i = 0; i < text.Length; i++) ids[i] = Id(text[i]);
        return ids;
    }

    /// <summary>The text of <paramref name="ids"/>.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder(ids.Length);
        foreach (int id in ids) sb.Append(Char(id));
        return sb.ToString();
    }
}
