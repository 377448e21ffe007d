using Attention.Book;
using Attention.Plots;

namespace Attention.Tests.Book;

// Fake experiments for the book and CLI tests. They are outside Attention.Book, so the real registry never sees them.

/// <summary>Writes one heatmap figure and reports metrics, a table, two holding checks and a note.</summary>
public sealed class Q07_FakeWeights : Experiment
{
    public override int Question => 7;
    public override string Title => "Fake: attention weights of a diagonal";

    public override ExperimentResult Run(ExperimentContext context)
    {
        var weights = new float[4, 5];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++)
                weights[i, j] = i == j ? 0.7f : 0.075f;
        context.Report(0.5, "drawing");
        var path = context.FigurePath("q07-weights.png");
        Charts.Heatmap(path, weights, "Fake weights", ["a", "b", "c", "d"], ["v", "w", "x", "y", "z"]);
        var result = new ExperimentResult { Question = 7 };
        result.Metrics["row_sum"] = 1.0;
        result.Metrics["seed_echo"] = context.Seed;
        result.Metrics["setting_full"] = context.Full ? 1 : 0;
        result.Tables.Add(new Attention.Book.Table("Weights by row", "row", "max weight").AddRow("a", 0.7).AddRow("b|c", 0.7));
        result.Figures.Add(new Figure(path, "Fake attention weights") { Heatmap = weights });
        result.Check("rows sum to one", true, "max error 0");
        result.Check("diagonal dominates", true);
        result.Notes.Add("A fake experiment used by the tests.");
        if (context.Input is not null) result.Notes.Add($"input: {context.Input}");
        return result;
    }
}

/// <summary>Reports one claim that does not hold.</summary>
public sealed class Q08_FakeFailingCheck : Experiment
{
    public override int Question => 8;
    public override string Title => "Fake: a claim that fails";
    public override ExperimentResult Run(ExperimentContext context) => new ExperimentResult { Question = 8 }.Check("pigs fly", false, "they did not");
}

/// <summary>Throws, as a broken experiment would.</summary>
public sealed class Q09_FakeThrows : Experiment
{
    public override int Question => 9;
    public override string Title => "Fake: throws";
    public override ExperimentResult Run(ExperimentContext context) => throw new InvalidOperationException("boom from the fake");
}

/// <summary>Claims question 7 too: a registry holding it and Q07_FakeWeights is an error.</summary>
public sealed class Q07_FakeDuplicate : Experiment
{
    public override int Question => 7;
    public override string Title => "Fake duplicate";
    public override ExperimentResult Run(ExperimentContext context) => new() { Question = 7 };
}

/// <summary>Named for question 10 but claims 11.</summary>
public sealed class Q10_FakeMisnamed : Experiment
{
    public override int Question => 11;
    public override string Title => "Fake misnamed";
    public override ExperimentResult Run(ExperimentContext context) => new() { Question = 11 };
}

/// <summary>Not named QNN_Slug.</summary>
public sealed class FakeBadName : Experiment
{
    public override int Question => 12;
    public override string Title => "Fake bad name";
    public override ExperimentResult Run(ExperimentContext context) => new() { Question = 12 };
}

/// <summary>Helpers for temporary folders and repos.</summary>
public static class TempRepo
{
    /// <summary>A fresh empty folder under the temp directory.</summary>
    public static string NewFolder(string tag)
    {
        var dir = Path.Combine(Path.GetTempPath(), "attn-tests", $"{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A folder with Attention.slnx, docs/answers/ and src/Code.cs, as the book expects of a repository.</summary>
    public static string NewRepo(string tag)
    {
        var root = NewFolder(tag);
        File.WriteAllText(Path.Combine(root, "Attention.slnx"), "<Solution />");
        Directory.CreateDirectory(Path.Combine(root, "docs", "answers"));
        Directory.CreateDirectory(Path.Combine(root, "src", "Attention", "Kernels"));
        File.WriteAllText(Path.Combine(root, "src", "Attention", "Kernels", "Code.cs"), "// code\n");
        return root;
    }

    public static ExperimentRegistry Fakes(params Type[] types) => new(types);
}
