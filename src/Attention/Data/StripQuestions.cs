using Attention.Tensors;

namespace Attention.Data;

/// <summary>The three templates of <see cref="StripQuestions"/>.</summary>
public enum StripQuestionKind
{
    /// <summary>"which digit is right of the X ?" — the digit in the next cell.</summary>
    RightOf,
    /// <summary>"which digit is left of the X ?" — the digit in the previous cell.</summary>
    LeftOf,
    /// <summary>"is there a X left of a Y ?" — yes when both occur and X's cell is left of Y's.</summary>
    ExistsLeftOf,
}

/// <summary>
/// One question about a strip. <see cref="Answer"/> indexes <see cref="StripQuestions.Answers"/> (0–9 a digit, 10 "yes", 11 "no").
/// Gold: <see cref="GoldCells"/> are the cells the question is about (the named digits' cells and, for "which digit",
/// the answer's cell); <see cref="GoldTokens"/> the positions of the digit words in the question.
/// </summary>
public sealed record StripQuestion(MnistStrip Strip, StripQuestionKind Kind, string[] Tokens, int[] TokenIds, int Answer, int[] GoldCells, int[] GoldTokens);

/// <summary>
/// A small templated question language over <see cref="MnistStrips"/> (our task, for answer 43, in the spirit of
/// CLEVR-style synthetic VQA): three templates, tokenised by spaces into a fixed 16-word vocabulary,
/// <code>
///   which digit is right of the X ?      answer: the digit in X's cell + 1
///   which digit is left of the X ?       answer: the digit in X's cell − 1
///   is there a X left of a Y ?           answer: yes / no
/// </code>
/// Strips have distinct labels and no gaps, so "the X" names one cell and "right of" the next one. Yes/no questions are
/// balanced: half yes (both digits present, X first); of the no's, half have both digits in the wrong order (only the
/// positions tell them apart) and half name a digit that is absent. Neither the question alone nor the image alone
/// determines the answer. Answer: docs/answers/43-co-attention.md
/// </summary>
public static class StripQuestions
{
    /// <summary>The question words; a token's id is its index.</summary>
    public static readonly IReadOnlyList<string> Vocabulary =
        ["which", "digit", "is", "right", "left", "of", "the", "there", "a", "?", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>The answers; an answer's class is its index.</summary>
    public static readonly IReadOnlyList<string> Answers = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "yes", "no"];

    /// <summary>Answer class of "yes".</summary>
    public const int Yes = 10;
    /// <summary>Answer class of "no".</summary>
    public const int No = 11;
    /// <summary>The longest question, in tokens ("is there a X left of a Y ?").</summary>
    public const int MaxTokens = 9;

    /// <summary>The strip options the questions need: distinct labels, no gaps, 3–5 digits in 5 cells.</summary>
    public static MnistStripOptions StripOptions => new() { Cells = 5, MinDigits = 3, MaxDigits = 5, Gaps = false, DistinctLabels = true };

    /// <summary>
    /// <paramref name="count"/> questions, each on a fresh strip of <paramref name="digits"/> drawn with <see cref="StripOptions"/>;
    /// the template uniform over the three kinds, every choice from <paramref name="rng"/>.
    /// </summary>
    public static List<StripQuestion> Generate(MnistDigits digits, int count, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(digits);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var strips = MnistStrips.Generate(digits, count, rng, StripOptions);
        return strips.Select(s => Ask(s, (StripQuestionKind)rng.NextInt(3), rng)).ToList();
    }

    /// <summary>One question of kind <paramref name="kind"/> about <paramref name="strip"/> (distinct labels, no gaps, ≥ 2 digits).</summary>
    /// <exception cref="ArgumentException">The strip repeats a label, has gaps, or has fewer than 2 digits.</exception>
    public static StripQuestion Ask(MnistStrip strip, StripQuestionKind kind, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(strip);
        ArgumentNullException.ThrowIfNull(rng);
        int n = strip.Digits.Length;
        if (n < 2 || strip.Digits.Distinct().Count() != n || strip.CellOf.Where((c, k) => c != k).Any())
            throw new ArgumentException($"expected a strip of at least 2 distinct digits in cells 0…n−1, got digits [{string.Join(", ", strip.Digits)}] in cells [{string.Join(", ", strip.CellOf)}]", nameof(strip));
        switch (kind)
        {
            case StripQuestionKind.RightOf:
            case StripQuestionKind.LeftOf:
            {
                bool right = kind == StripQuestionKind.RightOf;
                int k = right ? rng.NextInt(n - 1) : 1 + rng.NextInt(n - 1);       // the named digit has a neighbour on that side
                int other = right ? k + 1 : k - 1;
                var words = new[] { "which", "digit", "is", right ? "right" : "left", "of", "the", Digit(strip.Digits[k]), "?" };
                return Make(strip, kind, words, strip.Digits[other], [k, other], [6]);
            }
            case StripQuestionKind.ExistsLeftOf:
            {
                int x, y, answer;
                var cells = new List<int>();
                double u = rng.NextDouble();
                if (u < 0.5 || u < 0.75)
                {
                    // both present: in order (yes) or reversed (no)
                    int i = rng.NextInt(n), j = rng.NextInt(n - 1);
                    if (j >= i) j++;
                    if (u < 0.5 == i > j) (i, j) = (j, i);                                 // yes: i < j; no: i > j
                    (x, y) = (strip.Digits[i], strip.Digits[j]);
                    answer = i < j ? Yes : No;
                    cells.Add(Math.Min(i, j)); cells.Add(Math.Max(i, j));
                }
                else
                {
                    // one of the two is absent: no
                    var absent = Enumerable.Range(0, 10).Except(strip.Digits).ToArray();
                    int missing = absent[rng.NextInt(absent.Length)];
                    int k = rng.NextInt(n);
                    if (rng.NextInt(2) == 0) (x, y) = (missing, strip.Digits[k]); else (x, y) = (strip.Digits[k], missing);
                    answer = No;
                    cells.Add(k);
                }
                var words = new[] { "is", "there", "a", Digit(x), "left", "of", "a", Digit(y), "?" };
                return Make(strip, kind, words, answer, cells.ToArray(), [3, 7]);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected RightOf, LeftOf or ExistsLeftOf");
        }
    }

    /// <summary>Token ids of a space-separated question; unknown words throw.</summary>
    /// <exception cref="ArgumentException">A word outside <see cref="Vocabulary"/>.</exception>
    public static int[] Tokenise(string question)
    {
        ArgumentNullException.ThrowIfNull(question);
        var words = question.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return words.Select(w =>
        {
            int id = IndexOf(w);
            return id >= 0 ? id : throw new ArgumentException($"expected words of the question vocabulary ({string.Join(" ", Vocabulary)}), got '{w}'", nameof(question));
        }).ToArray();
    }

    private static string Digit(int d) => d.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static int IndexOf(string word)
    {
        for (int i = 0; i < Vocabulary.Count; i++) if (Vocabulary[i] == word) return i;
        return -1;
    }

    private static StripQuestion Make(MnistStrip strip, StripQuestionKind kind, string[] words, int answer, int[] cells, int[] goldTokens) =>
        new(strip, kind, words, Tokenise(string.Join(' ', words)), answer, cells, goldTokens);
}
