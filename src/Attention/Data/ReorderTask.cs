using Attention.Tensors;

namespace Attention.Data;

/// <summary>
/// T-Perm: a toy "translation" with an exact word alignment. The source language is SVO English-like
/// (det adj* noun verb det adj* noun, clauses joined by "and"); the target language
/// <list type="bullet">
/// <item>translates every word through a fixed 1-to-1 lexicon (source "cat" → target "neko"-like pseudo-words),</item>
/// <item>puts the verb last in its clause (SVO → SOV),</item>
/// <item>puts adjectives after their noun (adjective–noun swap; the adjectives keep their order),</item>
/// <item>gives verbs and a third of the nouns fertility 2: a verb becomes stem + the tense marker "ta", such a noun
///   becomes two words (a compound).</item>
/// </list>
/// Every target word has exactly one Sure link, to the source word it translates (both halves of a fertility-2
/// word link to it); there are no Possible-only links. Source "and" → target "to".
/// Answers: docs/answers/31-coverage.md, docs/answers/32-alignment-in-translation.md
/// </summary>
public static class ReorderTask
{
    public static readonly string[] Determiners = ["the", "a", "every", "some"];
    public static readonly string[] Adjectives = ["big", "small", "red", "old", "new", "happy", "quiet", "dark", "green", "fast"];
    public static readonly string[] Nouns =
        ["cat", "dog", "bird", "fish", "house", "tree", "car", "book", "child", "river", "stone", "horse", "apple", "king", "road"];
    public static readonly string[] Verbs = ["sees", "likes", "finds", "eats", "holds", "follows", "paints", "builds"];

    private static readonly Dictionary<string, string[]> Lexicon = BuildLexicon();

    /// <summary>The target words of a source word (one, or two for fertility-2 words).</summary>
    public static IReadOnlyList<string> Translate(string sourceWord)
    {
        ArgumentNullException.ThrowIfNull(sourceWord);
        return Lexicon.TryGetValue(sourceWord, out var t) ? t
            : throw new ArgumentException($"Expected a word of the T-Perm source vocabulary; got '{sourceWord}'.", nameof(sourceWord));
    }

    /// <summary>
    /// <paramref name="count"/> sentences of <paramref name="minClauses"/>..<paramref name="maxClauses"/> clauses, each
    /// noun phrase with 0–<paramref name="maxAdjectives"/> adjectives.
    /// </summary>
    public static List<AlignedExample> Generate(int count, Rng rng, int minClauses = 1, int maxClauses = 1, int maxAdjectives = 2)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Expected at least one example.");
        ArgumentNullException.ThrowIfNull(rng);
        if (minClauses < 1 || maxClauses < minClauses)
            throw new ArgumentOutOfRangeException(nameof(maxClauses), $"Expected 1 ≤ minClauses ≤ maxClauses; got {minClauses}..{maxClauses}.");
        if (maxAdjectives < 0) throw new ArgumentOutOfRangeException(nameof(maxAdjectives), maxAdjectives, "Expected maxAdjectives ≥ 0.");
        var list = new List<AlignedExample>(count);
        for (int i = 0; i < count; i++)
        {
            int clauses = minClauses + rng.NextInt(maxClauses - minClauses + 1);
            var source = new List<string>();
            for (int c = 0; c < clauses; c++)
            {
                if (c > 0) source.Add("and");
                NounPhrase(source, rng, maxAdjectives);
                source.Add(Verbs[rng.NextInt(Verbs.Length)]);
                NounPhrase(source, rng, maxAdjectives);
            }
            list.Add(Make(source.ToArray()));
        }
        return list;
    }

    /// <summary>Translates a well-formed source sentence and builds its exact alignment.</summary>
    public static AlignedExample Make(string[] source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length == 0) throw new ArgumentException("Expected a non-empty sentence.", nameof(source));
        // the target order as a list of source positions: per clause subject NP, object NP, verb; inside an NP det noun adj*
        var order = new List<int>();
        int i = 0;
        while (i < source.Length)
        {
            if (order.Count > 0) { Expect(source, i, "and"); order.Add(i++); }
            var subject = ReadNounPhrase(source, ref i);
            if (i >= source.Length || Array.IndexOf(Verbs, source[i]) < 0)
                throw new ArgumentException($"Expected a verb at position {i} of '{string.Join(' ', source)}'.", nameof(source));
            int verb = i++;
            var obj = ReadNounPhrase(source, ref i);
            order.AddRange(subject); order.AddRange(obj); order.Add(verb);
        }
        var target = new List<string>(); var sure = new List<Link>();
        foreach (int s in order)
            foreach (var w in Translate(source[s])) { sure.Add(new Link(s, target.Count)); target.Add(w); }
        return new AlignedExample(source, target.ToArray(), new GoldAlignment(source.Length, target.Count, sure, []));
    }

    private static void NounPhrase(List<string> words, Rng rng, int maxAdjectives)
    {
        words.Add(Determiners[rng.NextInt(Determiners.Length)]);
        int adjectives = rng.NextInt(maxAdjectives + 1);
        for (int k = 0; k < adjectives; k++) words.Add(Adjectives[rng.NextInt(Adjectives.Length)]);
        words.Add(Nouns[rng.NextInt(Nouns.Length)]);
    }

    // det adj* noun → target order det noun adj*
    private static List<int> ReadNounPhrase(string[] s, ref int i)
    {
        if (i >= s.Length || Array.IndexOf(Determiners, s[i]) < 0)
            throw new ArgumentException($"Expected a determiner at position {i} of '{string.Join(' ', s)}'.", nameof(s));
        var result = new List<int> { i++ };
        var adjectives = new List<int>();
        while (i < s.Length && Array.IndexOf(Adjectives, s[i]) >= 0) adjectives.Add(i++);
        if (i >= s.Length || Array.IndexOf(Nouns, s[i]) < 0)
            throw new ArgumentException($"Expected a noun at position {i} of '{string.Join(' ', s)}'.", nameof(s));
        result.Add(i++);
        result.AddRange(adjectives);
        return result;
    }

    private static void Expect(string[] s, int i, string word)
    {
        if (s[i] != word) throw new ArgumentException($"Expected '{word}' at position {i} of '{string.Join(' ', s)}'; got '{s[i]}'.", nameof(s));
    }

    // Pseudo-words from a fixed syllable generator (seed 0, independent of the experiment seed, so the language
    // is the same in every run); verbs get the marker "ta", every third noun a second word.
    private static Dictionary<string, string[]> BuildLexicon()
    {
        var rng = new Rng(0);
        string[] consonants = ["k", "t", "m", "n", "s", "r", "h", "p", "b", "g", "d", "y", "w", "z"];
        string[] vowels = ["a", "i", "u", "e", "o"];
        var used = new HashSet<string> { "ta", "to" };
        string Word()
        {
            while (true)
            {
                int syllables = 2 + rng.NextInt(2);
                var w = string.Concat(Enumerable.Range(0, syllables).Select(_ => consonants[rng.NextInt(consonants.Length)] + vowels[rng.NextInt(vowels.Length)]));
                if (used.Add(w)) return w;
            }
        }
        var lex = new Dictionary<string, string[]> { ["and"] = ["to"] };
        foreach (var w in Determiners.Concat(Adjectives)) lex[w] = [Word()];
        for (int k = 0; k < Nouns.Length; k++) lex[Nouns[k]] = k % 3 == 2 ? [Word(), Word()] : [Word()];
        foreach (var v in Verbs) lex[v] = [Word(), "ta"];
        return lex;
    }
}
