using Attention.Models;
using Attention.Tensors;

namespace Attention.Tests.Models;

/// <summary>Our BERT tokenizer against FastBertTokenizer 1.2.6 (a faithful port of the reference rules) and hand-checked cases.</summary>
public class BertTokenizerTests
{
    private static BertTokenizer Ours => BertModel.LoadMiniLm().Tokenizer;

    private static readonly Lazy<FastBertTokenizer.BertTokenizer> Reference = new(() =>
    {
        var tok = new FastBertTokenizer.BertTokenizer();
        using var reader = new StringReader(string.Join("\n", MiniLm.Vocabulary()));
        tok.LoadVocabulary(reader, true);
        return tok;
    });

    private static readonly string[] Fragments =
    [
        "the", "cat", "sat", "on", "mat", "running", "unbelievably", "antidisestablishmentarianism", "tokenization",
        "$", "+", "<", "=", ">", "^", "|", "~", "`", "!", "?", ",", ".", ";", ":", "'", "\"", "(", ")", "[", "]", "{", "}", "#", "@", "%", "&", "*", "/", "\\", "-", "_",
        "3.14", "2024", "1,000,000", "42nd", "0x1F", "−7", "½",
        "café", "naïve", "Zoë", "crème", "brûlée", "Ångström", "São", "Paulo", "İstanbul", "straße", "ÉCOLE", "résumé", "piñata",
        "東京", "日本語", "中文字", "한국어", "ひらがな", "カタカナ",
        "🙂", "👍🏽", "🚀", "∑", "→", "€", "£", "©", "™", "°C",
        "\t", "\n", "\r\n", "  ", "\u00A0", "\u200B", "\u3000",
        "«quoted»", "“smart”", "‘single’", "—", "–", "…", "¿qué?", "¡hola!",
        "HELLO", "MiXeD", "e-mail", "don't", "U.S.A.", "C++", "x=y+z", "a|b", "~tilde", "^caret", "`tick`",
        new string('x', 99), new string('y', 101), "supercalifragilisticexpialidocious",
    ];

    public static IEnumerable<object[]> RandomTexts()
    {
        var rng = new Rng(2024);
        for (int i = 0; i < 300; i++)
        {
            int n = 1 + (int)(rng.NextUInt64() % 12);
            var parts = new List<string>();
            for (int k = 0; k < n; k++)
            {
                parts.Add(Fragments[(int)(rng.NextUInt64() % (ulong)Fragments.Length)]);
                ulong sep = rng.NextUInt64() % 4;
                parts.Add(sep == 0 ? "" : sep == 1 ? "\t" : " ");
            }
            yield return [i, string.Concat(parts)];
        }
    }

    /// <summary>
    /// FastBertTokenizer 1.2.6 does not apply the reference's 100-character word limit (it word-pieces such words),
    /// so texts with a longer word are compared with the reference rule separately (below), not with it.
    /// </summary>
    [Fact]
    public void Ids_MatchFastBertTokenizer_On300VariedTexts()
    {
        var mismatches = new List<string>();
        int compared = 0;
        foreach (var row in RandomTexts())
        {
            var text = (string)row[1];
            if (BertTokenizer.BasicTokenize(text).Any(w => w.EnumerateRunes().Count() > BertTokenizer.MaxCharsPerWord)) continue;
            compared++;
            var ours = Ours.Encode(text, 512).Select(i => (long)i).ToArray();
            var (ids, _, _) = Reference.Value.Encode(text, 512);
            var theirs = ids.ToArray();
            if (!ours.SequenceEqual(theirs))
                mismatches.Add($"{row[0]}: {System.Text.Json.JsonSerializer.Serialize(text)} ours [{string.Join(" ", ours)}] reference [{string.Join(" ", theirs)}]");
        }
        Assert.True(compared >= 200, $"expected at least 200 texts without over-long words, got {compared}");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {compared} differ; first: {string.Join("\n", mismatches.Take(5))}");
    }

    [Theory]
    [InlineData("a$b+c<d=e>f^g|h~i`j", "a $ b + c < d = e > f ^ g | h ~ i ` j")]
    [InlineData("tab\tand\nnew\r\nlines", "tab and new lines")]
    [InlineData("Café NAÏVE Zoë", "cafe naive zoe")]
    [InlineData("東京は", "東 京 は")]
    [InlineData("price: $3.50!", "price : $ 3 . 50 !")]
    public void Tokenize_FollowsTheBertRules(string text, string expected)
    {
        Assert.Equal(expected, string.Join(" ", Ours.Tokenize(text)));
    }

    [Fact]
    public void WordsOverOneHundredCharacters_BecomeUnk_AndUnmatchableWordsToo()
    {
        Assert.Equal(["[UNK]"], Ours.Tokenize(new string('a', 101)));
        Assert.NotEqual(["[UNK]"], Ours.Tokenize(new string('a', 100)));
        Assert.Equal(["hello", "[UNK]", "world"], Ours.Tokenize("hello 🙂 world"));
    }

    [Fact]
    public void EncodeBatch_PadsRight_MasksPadding_AndTruncatesToMaxLength()
    {
        var batch = Ours.EncodeBatch(["one two three four five", "six"], maxLength: 5);
        Assert.Equal(5, batch.Length);
        Assert.Equal([5, 3], batch.Lengths);
        Assert.Equal(["[CLS]", "one", "two", "three", "[SEP]"], batch.Tokens[0]);
        Assert.Equal([1, 1, 1, 0, 0], batch.Mask[5..]);
        Assert.Equal(Ours.PadId, batch.Id(1, 4));
        Assert.All(batch.TypeIds, x => Assert.Equal(0, x));
    }

    [Fact]
    public void Constructor_RejectsAVocabularyWithoutSpecialTokens()
    {
        var e = Assert.Throws<ArgumentException>(() => new BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "hello"]));
        Assert.Contains("[SEP]", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ours.Encode("x", maxLength: 1));
    }
}
