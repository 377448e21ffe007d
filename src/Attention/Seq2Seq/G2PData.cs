using Attention.Data;

namespace Attention.Seq2Seq;

/// <summary>One grapheme-to-phoneme example: the word, its letters' ids, its phonemes and their ids.</summary>
public sealed record G2PExample(string Word, int[] Source, IReadOnlyList<string> Phonemes, int[] Target);

/// <summary>
/// Grapheme-to-phoneme data from the vendored CMU dictionary (<see cref="CmuDict"/>): alphabetic words only (no
/// apostrophes, periods, hyphens), the first pronunciation of each word, letters a–z in, phonemes out, and the
/// fixed seeded split of <see cref="CmuDict.Split"/> (5% dev, 5% test by a hash of the word).
/// Stress digits are removed by default (AH0, AH1, AH2 → AH: 39 phonemes): lexical stress is a separate, harder
/// prediction, and the 39-phoneme inventory is the one CMUdict G2P results are usually quoted in (the pages say
/// that their splits differ from ours); <c>keepStress</c> keeps the 69 symbols.
/// </summary>
public sealed class G2PData
{
    /// <summary>Letters a–z.</summary>
    public Vocabulary Letters { get; }
    /// <summary>Phoneme symbols (39 without stress).</summary>
    public Vocabulary Phonemes { get; }
    /// <summary>Training words.</summary>
    public IReadOnlyList<G2PExample> Train { get; }
    /// <summary>Development words.</summary>
    public IReadOnlyList<G2PExample> Dev { get; }
    /// <summary>Test words.</summary>
    public IReadOnlyList<G2PExample> Test { get; }
    /// <summary>True when stress digits were kept.</summary>
    public bool KeepStress { get; }

    private G2PData(CmuDict dict, bool keepStress)
    {
        KeepStress = keepStress;
        Letters = new Vocabulary(Enumerable.Range('a', 26).Select(c => ((char)c).ToString()));
        Phonemes = new Vocabulary(CmuDict.PhonemeSymbols.Select(p => Normalise(p, keepStress)).Distinct().OrderBy(p => p, StringComparer.Ordinal));
        var split = dict.Split();
        Train = Convert(split.Train); Dev = Convert(split.Dev); Test = Convert(split.Test);
    }

    /// <summary>The data from the repository's copy of the dictionary (read once per process).</summary>
    public static G2PData Load(bool keepStress = false) => keepStress ? WithStress.Value : WithoutStress.Value;

    private static readonly Lazy<G2PData> WithStress = new(() => new G2PData(CmuDict.LoadRepoCopy(), true));
    private static readonly Lazy<G2PData> WithoutStress = new(() => new G2PData(CmuDict.LoadRepoCopy(), false));

    /// <summary>The example for a word of letters a–z (case-insensitive); phonemes from the dictionary when it has the word, else empty.</summary>
    /// <exception cref="ArgumentException">The word is empty or holds something other than letters.</exception>
    public G2PExample Example(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        var w = word.Trim().ToLowerInvariant();
        if (w.Length == 0 || w.AsSpan().IndexOfAnyExceptInRange('a', 'z') >= 0)
            throw new ArgumentException($"expected a word of letters a–z, got '{word}'", nameof(word));
        var phones = CmuDict.LoadRepoCopy().Find(w)?.Phonemes.Select(p => Normalise(p, KeepStress)).ToArray() ?? [];
        return new G2PExample(w, Letters.Encode(w.Select(c => c.ToString())), phones, Phonemes.Encode(phones));
    }

    private List<G2PExample> Convert(IReadOnlyList<CmuEntry> entries) =>
        entries.Where(e => e.IsAlphabetic).Select(e =>
        {
            var phones = e.Phonemes.Select(p => Normalise(p, KeepStress)).ToArray();
            return new G2PExample(e.Word, Letters.Encode(e.Word.Select(c => c.ToString())), phones, Phonemes.Encode(phones));
        }).ToList();

    private static string Normalise(string phoneme, bool keepStress) =>
        keepStress || !char.IsAsciiDigit(phoneme[^1]) ? phoneme : phoneme[..^1];
}
