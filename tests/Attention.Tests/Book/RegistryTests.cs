using Attention.Book;

namespace Attention.Tests.Book;

public class RegistryTests
{
    [Fact]
    public void Registry_FindsExperimentsByQuestion()
    {
        var registry = TempRepo.Fakes(typeof(Q08_FakeFailingCheck), typeof(Q07_FakeWeights));
        Assert.IsType<Q07_FakeWeights>(registry.Find(7));
        Assert.Null(registry.Find(1));
        Assert.Equal([7, 8], registry.All.Select(e => e.Question));
    }

    [Fact]
    public void Registry_TwoExperimentsForOneQuestion_IsAnErrorNamingBoth()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => TempRepo.Fakes(typeof(Q07_FakeWeights), typeof(Q07_FakeDuplicate)));
        Assert.Contains(nameof(Q07_FakeWeights), ex.Message);
        Assert.Contains(nameof(Q07_FakeDuplicate), ex.Message);
    }

    [Fact]
    public void Registry_ClassNameAndQuestionMustAgree()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => TempRepo.Fakes(typeof(Q10_FakeMisnamed)));
        Assert.Contains("named for question 10 but its Question is 11", ex.Message);
        Assert.Throws<InvalidOperationException>(() => TempRepo.Fakes(typeof(FakeBadName)));
        Assert.Throws<ArgumentException>(() => TempRepo.Fakes(typeof(string)));
    }

    [Fact]
    public void DefaultRegistry_LoadsTheBooksExperiments_WithConsistentNames()
    {
        // throws if any two real experiments claim one question or a name disagrees with its number
        var registry = ExperimentRegistry.Default;
        Assert.All(registry.All, e => Assert.Matches(ExperimentRegistry.NamePattern(), e.GetType().Name));
        Assert.All(registry.All, e => Assert.Equal(typeof(Experiment).Assembly, e.GetType().Assembly));
    }
}

public class QuestionsTests
{
    [Fact]
    public void Questions_AreFiftyNumberedOneToFifty()
    {
        Assert.Equal(50, Questions.All.Count);
        Assert.Equal(Enumerable.Range(1, 50), Questions.All.Select(q => q.Number));
        Assert.All(Questions.All, q => Assert.False(string.IsNullOrWhiteSpace(q.Title)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Questions.Get(51));
    }

    [Fact]
    public void Questions_MatchDocsQuestionsMd()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.FindRoot(), "docs", "questions.md"));
        foreach (var q in Questions.All)
            Assert.Contains($"## Question {q.Number}\n\n**{q.Title}**", text.ReplaceLineEndings("\n"));
    }
}

public class PagesTests
{
    [Fact]
    public void Find_ReadsNumberAndSlug_AndIgnoresOtherFiles()
    {
        var root = TempRepo.NewRepo("pages");
        var answers = RepoPaths.Answers(root);
        File.WriteAllText(Path.Combine(answers, "07-fake-weights.md"), "# 7");
        File.WriteAllText(Path.Combine(answers, "README.md"), "index");
        var pages = Pages.Find(answers);
        Assert.Equal("fake-weights", Assert.Single(pages).Value.Slug);
        var status = Pages.Status(pages, TempRepo.Fakes(typeof(Q07_FakeWeights), typeof(Q08_FakeFailingCheck)));
        Assert.Equal(AnswerStatus.Answered, status[6].Status);
        Assert.Equal(AnswerStatus.ExperimentOnly, status[7].Status);
        Assert.Equal(AnswerStatus.NotYet, status[0].Status);
    }

    [Fact]
    public void Find_TwoPagesForOneQuestion_IsAnError()
    {
        var answers = RepoPaths.Answers(TempRepo.NewRepo("pages2"));
        File.WriteAllText(Path.Combine(answers, "07-a.md"), "");
        File.WriteAllText(Path.Combine(answers, "07-b.md"), "");
        var ex = Assert.Throws<InvalidOperationException>(() => Pages.Find(answers));
        Assert.Contains("07-a.md", ex.Message);
    }

    [Fact]
    public void FindRoot_WalksUpToTheSolution_AndChecksAnExplicitRoot()
    {
        var root = TempRepo.NewRepo("root");
        var deep = Path.Combine(root, "docs", "answers");
        Assert.Equal(root, RepoPaths.WalkUp(deep));
        Assert.Equal(root, RepoPaths.FindRoot(root));
        Assert.Throws<DirectoryNotFoundException>(() => RepoPaths.FindRoot(deep));
    }
}
