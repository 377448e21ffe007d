using System.Text;

namespace Attention.Data;

/// <summary>One dictionary entry: a lower-case spelling and its ARPABET pronunciation (stress digits 0–2 on vowels).</summary>
/// <param name="Word">As in the package: lower case, may hold apostrophes, periods and hyphens ("'bout", "a.d.", "x-ray").</param>
/// <param name="Phonemes">The first pronunciation the dictionary lists, e.g. ["HH", "AH0", "L", "OW1"] for "hello".</param>
public sealed record CmuEntry(string Word, IReadOnlyList<string> Phonemes)
{
    /// <summary>True when the word is made of the letters a–z only (no apostrophe, period, hyphen or digit).</summary>
    public bool IsAlphabetic => Word.Length > 0 && Word.AsSpan().IndexOfAnyExceptInRange('a', 'z') < 0;

    public override string ToString() => $"{Word}\t{string.Join(' ', Phonemes)}";
}

/// <summary>Which part of the fixed split a word belongs to.</summary>
public enum CmuPart { Train, Dev, Test }

/// <summary>The three disjoint parts of <see cref="CmuDict.Split"/>, each in dictionary (sorted) order.</summary>
public sealed record CmuSplit(IReadOnlyList<CmuEntry> Train, IReadOnlyList<CmuEntry> Dev, IReadOnlyList<CmuEntry> Test);

/// <summary>
/// The CMU Pronouncing Dictionary (Carnegie Mellon University; npm package cmu-pronouncing-dictionary
/// 3.0.0), one pronunciation per word, as vendored in <c>data/cmudict/cmudict.txt.gz</c> (see
/// PROVENANCE.md there): 126,046 words, 69 phoneme symbols (24 consonants and 15 vowels × 3 stress levels).
/// <para>
/// File format, UTF-8 (optionally gzip), one entry per line: <c>word&lt;TAB&gt;PH1 PH2 …</c>, words unique and
/// in ordinal order. <see cref="Load(string)"/> checks every line and throws <see cref="InvalidDataException"/>
/// naming the line number and what was expected, so a damaged copy fails loudly instead of training on junk.
/// </para>
/// Used for grapheme-to-phoneme seq2seq (the recurrent answers) and as a word list for the character
/// language model of answer 36.
/// </summary>
public sealed class CmuDict
{
    /// <summary>The vendored copy, relative to the data folder (<see cref="DataDirectory"/>).</summary>
    public const string DataRelativePath = "cmudict/cmudict.txt.gz";

    /// <summary>The seed of the split the answers report (any other seed gives another fixed split).</summary>
    public const ulong DefaultSplitSeed = 20150101;

    private static readonly string[] Consonants =
        ["B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH"];
    private static readonly string[] Vowels =
        ["AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"];

    // Symbol → the one shared string instance, so 126k entries hold references rather than ~800k copies.
    private static readonly Dictionary<string, string> SymbolTable = BuildSymbolTable();
    private static readonly Lazy<CmuDict> RepoCopy = new(() => Load(FindRepoCopy()));

    private readonly Dictionary<string, CmuEntry> _byWord;

    /// <summary>Every entry in file (ordinal) order.</summary>
    public IReadOnlyList<CmuEntry> Entries { get; }

    /// <summary>Number of words.</summary>
    public int Count => Entries.Count;

    /// <summary>The 69 phoneme symbols a valid line may use: consonants bare, vowels with stress 0, 1 or 2 ("AH0").</summary>
    public static IReadOnlyCollection<string> PhonemeSymbols => SymbolTable.Keys;

    private CmuDict(List<CmuEntry> entries)
    {
        Entries = entries;
        _byWord = new Dictionary<string, CmuEntry>(entries.Count, StringComparer.Ordinal);
        foreach (var e in entries) _byWord.Add(e.Word, e);
    }

    /// <summary>The entry for <paramref name="word"/> (case-insensitive: the dictionary is lower case), or null.</summary>
    public CmuEntry? Find(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        return _byWord.GetValueOrDefault(word.ToLowerInvariant());
    }

    /// <summary>The phonemes of <paramref name="word"/> (case-insensitive).</summary>
    /// <exception cref="KeyNotFoundException">The word is not in the dictionary.</exception>
    public IReadOnlyList<string> this[string word] =>
        Find(word)?.Phonemes ?? throw new KeyNotFoundException($"expected a word in the CMU dictionary, got '{word}'");

    /// <summary>
    /// Reads a dictionary file: <c>.gz</c> files through <see cref="Gzip.Decompress"/> (checked to the end, so a cut
    /// or damaged file is an error rather than a shorter dictionary), anything else as plain UTF-8 text; a UTF-8
    /// byte-order mark is skipped.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The gzip stream is damaged or truncated, a line is not <c>word&lt;TAB&gt;phonemes</c>,
    /// or words are not unique and sorted (the message names the file and the line).</exception>
    public static CmuDict Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"expected a CMU dictionary file at '{path}', found none", path);
        var bytes = File.ReadAllBytes(path);
        // the vendored dictionary is 3.3 MB of text; 256 MiB leaves room for any real one and stops a deflate bomb
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) bytes = Gzip.Decompress(bytes, path, maxOutput: 256L << 20);
        var text = new MemoryStream(bytes, writable: false);
        using var reader = new StreamReader(text, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: false);
        return Parse(reader, path);
    }

    /// <summary>The vendored copy, read once per process and shared (entries are immutable).</summary>
    public static CmuDict LoadRepoCopy() => RepoCopy.Value;

    /// <summary>The path of <see cref="DataRelativePath"/> in the data folder (<see cref="DataDirectory.Find"/>; <paramref name="start"/>: walk up from there only).</summary>
    /// <exception cref="FileNotFoundException">No data folder holds the file; the message lists where it looked.</exception>
    public static string FindRepoCopy(string? start = null)
        => DataDirectory.Find(DataRelativePath, start);

    /// <summary>Parses dictionary text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="InvalidDataException">The first bad line, by 1-based number, with what was expected and what it holds.</exception>
    public static CmuDict Parse(TextReader reader, string source = "input")
    {
        ArgumentNullException.ThrowIfNull(reader);
        var entries = new List<CmuEntry>(130_000);
        string? previous = null;
        int lineNumber = 0;
        string? line;
        try
        {
            while ((line = reader.ReadLine()) is not null)
            {
                lineNumber++;
                if (lineNumber == 1 && line.StartsWith('\uFEFF')) line = line[1..];   // a byte-order mark
                var entry = ParseLine(line, lineNumber, source);
                if (previous is not null && string.CompareOrdinal(previous, entry.Word) >= 0)
                    throw Bad(source, lineNumber, "words unique and in ordinal order",
                        $"'{entry.Word}' after '{previous}'{(previous == entry.Word ? " (a duplicate)" : "")}");
                previous = entry.Word;
                entries.Add(entry);
            }
        }
        catch (DecoderFallbackException e)
        {
            // the reader decodes ahead in blocks, so the bad bytes are on this line or a later one
            throw new InvalidDataException($"{source}, line {lineNumber + 1} or later: expected UTF-8 text, got invalid bytes ({e.Message})", e);
        }
        if (entries.Count == 0) throw new InvalidDataException($"{source}: expected at least one 'word<TAB>phonemes' line, got none");
        return new CmuDict(entries);
    }

    private static CmuEntry ParseLine(string line, int lineNumber, string source)
    {
        int tab = line.IndexOf('\t');
        if (tab < 0 || line.IndexOf('\t', tab + 1) >= 0)
            throw Bad(source, lineNumber, "'word<TAB>PH1 PH2 …' with exactly one tab", Quote(line));
        var word = line[..tab];
        if (word.Length == 0 || word.AsSpan().IndexOfAnyExcept(WordCharacters) >= 0)
            throw Bad(source, lineNumber, "a word of a–z, 0–9, apostrophes, periods, hyphens or underscores", Quote(word));
        var symbols = line[(tab + 1)..].Split(' ');
        var phonemes = new string[symbols.Length];
        for (int i = 0; i < symbols.Length; i++)
        {
            if (!SymbolTable.TryGetValue(symbols[i], out var shared))
                throw Bad(source, lineNumber, $"ARPABET phonemes separated by single spaces (vowels with stress 0–2, e.g. AH0) for '{word}'",
                    $"{Quote(symbols[i])} as phoneme {i + 1}");
            phonemes[i] = shared;
        }
        return new CmuEntry(word, phonemes);
    }

    private static readonly System.Buffers.SearchValues<char> WordCharacters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789'.-_");

    private static InvalidDataException Bad(string source, int line, string expected, string got) =>
        new($"{source}, line {line}: expected {expected}, got {got}");

    private static string Quote(string s) => s.Length == 0 ? "nothing" : $"'{(s.Length > 80 ? s[..80] + "…" : s)}'";

    private static Dictionary<string, string> BuildSymbolTable()
    {
        var table = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var c in Consonants) table.Add(c, c);
        foreach (var v in Vowels)
            for (char stress = '0'; stress <= '2'; stress++) { var s = v + stress; table.Add(s, s); }
        return table;
    }

    /// <summary>
    /// The part of a fixed split that <paramref name="word"/> belongs to: a 64-bit hash of the word's UTF-8 bytes
    /// and <paramref name="seed"/> (FNV-1a, then the SplitMix64 finaliser), read as a uniform number u in [0, 1):
    /// test when u &lt; testFraction, dev when u &lt; testFraction + devFraction, else train. A word's part depends on
    /// the word and seed only — not on the other words, their order, the machine or the .NET version — so subsets
    /// of the dictionary (e.g. alphabetic words only) are split consistently.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A fraction outside [0, 1), or the two adding to 1 or more.</exception>
    public static CmuPart PartOf(string word, double devFraction = 0.05, double testFraction = 0.05, ulong seed = DefaultSplitSeed)
    {
        ArgumentNullException.ThrowIfNull(word);
        CheckFractions(devFraction, testFraction);
        double u = UnitHash(word, seed);
        return u < testFraction ? CmuPart.Test : u < testFraction + devFraction ? CmuPart.Dev : CmuPart.Train;
    }

    /// <summary>
    /// Splits every entry by <see cref="PartOf"/>: train, dev and test are disjoint, cover the dictionary, and have
    /// about 1 − dev − test, dev and test of the words. The same seed gives the same split on every run.
    /// </summary>
    public CmuSplit Split(double devFraction = 0.05, double testFraction = 0.05, ulong seed = DefaultSplitSeed)
    {
        CheckFractions(devFraction, testFraction);
        var parts = new[] { new List<CmuEntry>(), new List<CmuEntry>(), new List<CmuEntry>() };
        foreach (var e in Entries) parts[(int)PartOf(e.Word, devFraction, testFraction, seed)].Add(e);
        return new CmuSplit(parts[0], parts[1], parts[2]);
    }

    private static void CheckFractions(double devFraction, double testFraction)
    {
        if (!(devFraction >= 0 && devFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(devFraction), devFraction, "expected a dev fraction in [0, 1)");
        if (!(testFraction >= 0 && testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "expected a test fraction in [0, 1)");
        if (devFraction + testFraction >= 1)
            throw new ArgumentOutOfRangeException(nameof(testFraction), devFraction + testFraction, "expected dev + test fractions below 1, leaving words to train on");
    }

    private static double UnitHash(string word, ulong seed)
    {
        ulong h = 14695981039346656037UL ^ seed;
        foreach (byte b in Encoding.UTF8.GetBytes(word)) { h ^= b; h *= 1099511628211UL; }
        // SplitMix64's finaliser spreads FNV's weak low bits over the whole word
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        return (h >> 11) * (1.0 / (1UL << 53));
    }
}
