using Attention.Book;

namespace Attention.Tests.Book;

public class AnswerCardTests
{
    private const string Sample = """
        # 14 · Why scale?

        **Short answer.** First line
        second line.

        **The math.** stuff

        **Key points.**

        - Var(q·k) = d for unit-variance components
        - a saturated softmax has a near-zero Jacobian;
          dividing by √d restores unit variance
        * the cost is one multiply

        **Sources.** Vaswani et al.
        """;

    [Fact]
    public void ShortAnswer_IsTheFirstParagraph_WithoutItsLabel()
        => Assert.Equal("First line second line.", AnswerCards.ShortAnswer(Sample));

    [Fact]
    public void KeyPoints_AreTheListItems_WithIndentedLinesJoined()
        => Assert.Equal(
            ["Var(q·k) = d for unit-variance components", "a saturated softmax has a near-zero Jacobian; dividing by √d restores unit variance", "the cost is one multiply"],
            AnswerCards.KeyPoints(Sample));

    [Fact]
    public void KeyPoints_MayBeANumberedList()
        => Assert.Equal(["first claim, continued", "second"],
            AnswerCards.KeyPoints("**Key points.**\n1. first claim,\n   continued\n2. second\n\n**Sources.** x\n"));

    [Fact]
    public void APageWithoutTheLabels_HasNoCard()
    {
        Assert.Null(AnswerCards.ShortAnswer("# 1 · x\n\ntext\n"));
        Assert.Empty(AnswerCards.KeyPoints("# 1 · x\n\n- a list that is not key points\n"));
    }

    /// <summary>The standard every published page meets (docs/answers/README.md): a short answer an interviewer can
    /// hear out (≤ 150 words) and 5–8 key points, which <c>attn quiz</c> drills.</summary>
    [Fact]
    public void EveryPublishedPage_HasAShortAnswerOfAtMost150Words_And5To8KeyPoints()
    {
        var answers = RepoPaths.Answers(RepoPaths.FindRoot());
        var problems = new List<string>();
        foreach (var page in Pages.Find(answers).Values)
        {
            var text = File.ReadAllText(page.Path);
            var shortAnswer = AnswerCards.ShortAnswer(text);
            if (shortAnswer is null) problems.Add($"{page.FileName}: no short answer");
            else if (AnswerCards.WordCount(shortAnswer) > 150) problems.Add($"{page.FileName}: short answer of {AnswerCards.WordCount(shortAnswer)} words");
            int points = AnswerCards.KeyPoints(text).Count;
            if (points is < 5 or > 8) problems.Add($"{page.FileName}: {points} key points");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
