using System.Globalization;
using System.Text;

namespace Attention.Models;

/// <summary>
/// The BERT tokenizer (Devlin et al., 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
/// Understanding", NAACL, §3 and appendix A.2; rules of Google's tokenization.py, which Hugging Face's
/// BertTokenizer follows) for uncased vocabularies:
/// <list type="number">
/// <item>clean: drop U+0000, U+FFFD and control characters (Unicode C*, except tab, newline and carriage return);
///   every whitespace character (those three, space, Unicode Zs) becomes a space;</item>
/// <item>put spaces around CJK ideographs, so each becomes its own word;</item>
/// <item>split on whitespace; lower-case each word, decompose it (NFD) and drop the combining marks (Mn), so "é" → "e";</item>
/// <item>split each word before and after every punctuation character: ASCII 33–47, 58–64, 91–96, 123–126
///   (so $ + &lt; = &gt; ^ ` | ~ count, although Unicode calls them symbols) and Unicode P*;</item>
/// <item>WordPiece (Wu et al., 2016, §4.1 of "Google's Neural Machine Translation System"): greedy longest match
///   from the left, continuation pieces prefixed "##"; a word with no match at some position, or longer than
///   100 characters, becomes [UNK].</item>
/// </list>
/// Sequences are wrapped as [CLS] pieces… [SEP], truncated to a maximum length and right-padded with [PAD].
/// Needs .NET globalization (NFD and categories); with InvariantGlobalization normalisation is a no-op and
/// accented words would silently become [UNK], so the constructor checks it.
/// </summary>
public sealed class BertTokenizer
{
    public const int MaxCharsPerWord = 100;
    private readonly string[] _vocab;
    private readonly Dictionary<string, int> _ids;

    public IReadOnlyList<string> Vocabulary => _vocab;
    public int PadId { get; }
    public int UnknownId { get; }
    public int ClsId { get; }
    public int SepId { get; }

    /// <summary>Builds the tokenizer from a vocabulary (token of id i at index i) that holds [PAD], [UNK], [CLS] and [SEP].</summary>
    /// <exception cref="ArgumentException">A special token is missing, or a token is empty or repeated.</exception>
    /// <exception cref="InvalidOperationException">The process runs with invariant globalization (no Unicode normalisation).</exception>
    public BertTokenizer(IReadOnlyList<string> vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        if ("é".Normalize(NormalizationForm.FormD).Length != 2)
            throw new InvalidOperationException("BertTokenizer: expected .NET globalization (Unicode NFD) to be available, got InvariantGlobalization; accented words would become [UNK]");
        _vocab = vocabulary.ToArray();
        _ids = new Dictionary<string, int>(_vocab.Length, StringComparer.Ordinal);
        for (int i = 0; i < _vocab.Length; i++)
        {
            if (string.IsNullOrEmpty(_vocab[i])) throw new ArgumentException($"vocabulary: expected a non-empty token at id {i}, got an empty one", nameof(vocabulary));
            _ids.TryAdd(_vocab[i], i);   // vocab.txt files with duplicate lines keep the first id, like the reference loader's dictionary
        }
        PadId = Special("[PAD]"); UnknownId = Special("[UNK]"); ClsId = Special("[CLS]"); SepId = Special("[SEP]");

        int Special(string token) => _ids.TryGetValue(token, out int id) ? id
            : throw new ArgumentException($"vocabulary: expected the special token {token}, found none among {_vocab.Length} tokens", nameof(vocabulary));
    }

    /// <summary>Reads a vocab.txt (one token per line, UTF-8; a byte-order mark is skipped).</summary>
    /// <exception cref="InvalidDataException">The file is not UTF-8, has an empty line, or lacks a special token; the message names the file.</exception>
    public static BertTokenizer FromVocabFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = File.ReadAllBytes(path);
        try { return new BertTokenizer(MiniLm.VocabFromBytes(bytes)); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Id of a token, or null when it is not in the vocabulary.</summary>
    public int? IdOf(string token) => _ids.TryGetValue(token, out int id) ? id : null;

    /// <summary>The word pieces of <paramref name="text"/>, without [CLS]/[SEP].</summary>
    public List<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<string>();
        foreach (var word in BasicTokenize(text)) WordPiece(word, pieces);
        return pieces;
    }

    /// <summary>Token ids of <paramref name="text"/> as [CLS] pieces [SEP], keeping at most <paramref name="maxLength"/> ids.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is below 2.</exception>
    public int[] Encode(string text, int maxLength = 512)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "expected maxLength ≥ 2 (room for [CLS] and [SEP])");
        ArgumentNullException.ThrowIfNull(text);
        // word by word, stopping once maxLength − 2 pieces are in hand: the ids are the same as tokenizing the whole
        // text and cutting, but a megabyte of text costs what its first words cost
        var pieces = new List<string>();
        foreach (var word in Words(text))
        {
            if (pieces.Count >= maxLength - 2) break;
            WordPiece(word, pieces);
        }
        int n = Math.Min(pieces.Count, maxLength - 2);
        var ids = new int[n + 2];
        ids[0] = ClsId;
        for (int i = 0; i < n; i++) ids[i + 1] = _ids[pieces[i]];
        ids[n + 1] = SepId;
        return ids;
    }

    /// <summary>
    /// Encodes several texts into one right-padded batch: T = the longest sequence (≤ <paramref name="maxLength"/>),
    /// mask 1 on real tokens and 0 on padding, token type 0 everywhere (single segments).
    /// </summary>
    public BertBatch EncodeBatch(IReadOnlyList<string> texts, int maxLength = 256)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0) throw new ArgumentException("texts: expected at least one text, got none", nameof(texts));
        var encoded = new int[texts.Count][];
        for (int b = 0; b < texts.Count; b++)
            encoded[b] = Encode(texts[b] ?? throw new ArgumentException($"texts[{b}]: expected a string, got null", nameof(texts)), maxLength);
        int t = encoded.Max(e => e.Length);
        var ids = new int[texts.Count * t];
        var mask = new int[ids.Length];
        var tokens = new string[texts.Count][];
        var lengths = new int[texts.Count];
        Array.Fill(ids, PadId);
        for (int b = 0; b < encoded.Length; b++)
        {
            var e = encoded[b];
            e.CopyTo(ids, b * t);
            mask.AsSpan(b * t, e.Length).Fill(1);
            lengths[b] = e.Length;
            tokens[b] = e.Select(id => _vocab[id]).ToArray();
        }
        return new BertBatch(texts.ToArray(), texts.Count, t, ids, mask, new int[ids.Length], lengths, tokens);
    }

    /// <summary>Steps 1–4: cleaned, lower-cased, accent-stripped words split at punctuation.</summary>
    public static List<string> BasicTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Words(text).ToList();
    }

    /// <summary>
    /// <see cref="BasicTokenize"/> one word at a time: cleaning (step 1) and CJK spacing (step 2) rune by rune, a
    /// whitespace-separated chunk is lower-cased, accent-stripped and split at punctuation (steps 3–4) when it ends.
    /// </summary>
    private static IEnumerable<string> Words(string text)
    {
        var chunk = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune)) continue;
            // whitespace by BERT's rule becomes a space; a CJK ideograph stands alone; the split that follows is on
            // every .NET whitespace character (which also catches U+2028 and U+2029, kept by the cleaning step)
            bool isCjk = IsCjk(cp);
            if (IsWhitespace(rune) || Rune.IsWhiteSpace(rune) || isCjk)
            {
                if (chunk.Length > 0) { foreach (var w in SplitChunk(chunk.ToString())) yield return w; chunk.Clear(); }
                if (isCjk) foreach (var w in SplitChunk(rune.ToString())) yield return w;
                continue;
            }
            chunk.Append(rune.ToString());
        }
        if (chunk.Length > 0) foreach (var w in SplitChunk(chunk.ToString())) yield return w;
    }

    private static IEnumerable<string> SplitChunk(string raw)
    {
        // lower-case again after stripping: .NET leaves U+0130 (İ) as is where Python gives i + U+0307
        var word = StripAccents(raw.ToLowerInvariant()).ToLowerInvariant();
        var current = new StringBuilder();
        foreach (var rune in word.EnumerateRunes())
        {
            if (IsPunctuation(rune))
            {
                if (current.Length > 0) { yield return current.ToString(); current.Clear(); }
                yield return rune.ToString();
            }
            else current.Append(rune.ToString());
        }
        if (current.Length > 0) yield return current.ToString();
    }

    private void WordPiece(string word, List<string> pieces)
    {
        // offsets of each code point, so pieces never split a surrogate pair and the length limit counts characters
        var starts = new List<int>();
        for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1) starts.Add(i);
        int n = starts.Count;
        if (n > MaxCharsPerWord) { pieces.Add(_vocab[UnknownId]); return; }
        starts.Add(word.Length);
        int mark = pieces.Count;
        int start = 0;
        while (start < n)
        {
            string? found = null;
            int end = n;
            for (; end > start; end--)
            {
                var sub = word[starts[start]..starts[end]];
                if (start > 0) sub = "##" + sub;
                if (_ids.ContainsKey(sub)) { found = sub; break; }
            }
            if (found is null)
            {
                pieces.RemoveRange(mark, pieces.Count - mark);
                pieces.Add(_vocab[UnknownId]);
                return;
            }
            pieces.Add(found);
            start = end;
        }
    }

    private static string StripAccents(string word)
    {
        var nfd = word.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(nfd.Length);
        foreach (var rune in nfd.EnumerateRunes())
            if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark) sb.Append(rune.ToString());
        return sb.ToString();
    }

    /// <summary>Tab, newline, carriage return, space and Unicode Zs.</summary>
    public static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;

    /// <summary>Unicode C* (control, format, surrogate, private use, unassigned) except tab, newline and carriage return.</summary>
    public static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>BERT's punctuation: every non-alphanumeric printable ASCII character, and Unicode P*.</summary>
    public static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK Unified Ideographs blocks the reference tokenizer isolates (not Hiragana, Katakana or Hangul).</summary>
    public static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}

/// <summary>
/// A right-padded batch of token ids. Arrays are row-major (Batch, Length): Ids, Mask (1 real, 0 padding), TypeIds
/// (segment ids); Lengths[b] real tokens in row b; Tokens[b] their strings ([CLS] … [SEP]) for labels.
/// </summary>
public sealed record BertBatch(string[] Texts, int Batch, int Length, int[] Ids, int[] Mask, int[] TypeIds, int[] Lengths, string[][] Tokens)
{
    /// <summary>Id at row b, position t.</summary>
    public int Id(int b, int t) => Ids[b * Length + t];
}
