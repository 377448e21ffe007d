using System.Globalization;
using Attention.Data;
using Attention.Tensors;

namespace Attention.Tests.Alignment;

public class TaskTests
{
    private static readonly string[] Months = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames;

    [Fact]
    public void DateTask_TargetIsIso_AndEveryFormatAppears()
    {
        var examples = DateTask.Generate(3000, new Rng(1));
        foreach (var ex in examples)
        {
            var target = string.Concat(ex.Target);
            Assert.True(DateOnly.TryParseExact(target, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _), target);
        }
        var made = DateTask.Make(new DateOnly(2015, 3, 3), 0);
        Assert.Equal("Tue, 3 March 2015", string.Concat(made.Source));
        Assert.Equal("2015-03-03", string.Concat(made.Target));
        for (int f = 0; f < DateTask.Formats.Length; f++)
            Assert.Equal(DateTask.Formats[f], string.Concat(DateTask.Make(new DateOnly(2015, 3, 3), f).Source));
    }

    [Fact]
    public void DateTask_GoldLinks_PointAtCorrespondingCharacters()
    {
        foreach (var ex in DateTask.Generate(3000, new Rng(2)))
        {
            var target = string.Concat(ex.Target);
            int month = int.Parse(target[5..7], CultureInfo.InvariantCulture);
            foreach (var l in ex.Gold.Sure)
            {
                char s = ex.Source[l.Source][0], t = target[l.Target];
                Assert.True(char.IsDigit(t), $"{ex}: a sure link must end on a digit, got '{t}' at {l.Target}");
                if (char.IsDigit(s)) Assert.Equal(t, s);                                  // digits are copied
                else
                {
                    Assert.InRange(l.Target, 5, 6);                                       // only month digits link to letters
                    Assert.Equal(char.ToLowerInvariant(Months[month - 1][FirstLetter(ex.Source, l.Source)]), char.ToLowerInvariant(s));
                }
            }
            // every target position has at least one (sure or possible) link except none: "-" links to the field before it
            for (int t = 0; t < ex.Target.Length; t++)
                Assert.Contains(ex.Gold.Possible, l => l.Target == t);
            // sure links of a digit never cross fields: year digits 0–3 link into the year, day 8–9 into the day
            Assert.All(ex.Gold.Sure.Where(l => l.Target <= 3 || l.Target >= 8), l => Assert.True(char.IsDigit(ex.Source[l.Source][0])));
        }
    }

    // offset of position p inside the run of letters it belongs to
    private static int FirstLetter(string[] source, int p)
    {
        int k = p;
        while (k > 0 && char.IsLetter(source[k - 1][0])) k--;
        return p - k;
    }

    [Fact]
    public void ReorderTask_EveryTargetWord_TranslatesItsLinkedSourceWord()
    {
        foreach (var ex in ReorderTask.Generate(500, new Rng(3), 1, 3))
        {
            Assert.Equal(ex.Target.Length, ex.Gold.Sure.Count);                            // one link per target word
            foreach (var l in ex.Gold.Sure) Assert.Contains(ex.Target[l.Target], ReorderTask.Translate(ex.Source[l.Source]));
            Assert.Equal(ex.Source.Length, ex.Gold.Sure.Select(l => l.Source).Distinct().Count()); // nothing dropped
            Assert.Equal(ex.Source.Sum(w => ReorderTask.Translate(w).Count), ex.Target.Length);
        }
    }

    [Fact]
    public void ReorderTask_MovesVerbLast_AndAdjectiveAfterNoun()
    {
        var ex = ReorderTask.Make(["the", "big", "cat", "sees", "a", "dog"]);
        // target order: the cat big a dog sees(2 words)
        int[] sourceOfTarget = ex.Gold.Sure.OrderBy(l => l.Target).Select(l => l.Source).ToArray();
        Assert.Equal([0, 2, 1, 4, 5, 3, 3], sourceOfTarget);
        Assert.Equal("ta", ex.Target[^1]);
        Assert.Throws<ArgumentException>(() => ReorderTask.Make(["the", "cat", "dog"]));
    }
}
