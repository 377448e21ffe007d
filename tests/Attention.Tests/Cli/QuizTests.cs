using System.Text.Json;
using Attention.Book;
using Attention.Cli;
using Attention.Cli.Quiz;
using Attention.Tests.Book;

namespace Attention.Tests.Cli;

public class QuizTests
{
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset Start = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    private static string Page(int n, string shortAnswer, params string[] points)
        => $"# {n} · {Questions.Get(n).Title}\n\n**Short answer.** {shortAnswer}\nsecond line.\n\n**The math.** x\n\n" +
           "**Key points.**\n\n" + string.Concat(points.Select(p => $"- {p}\n")) + "\n**Sources.** s\n";

    /// <summary>A repository with pages 3 and 14 (both with key points) and page 7 (none: not quizzed).</summary>
    private static (string Root, string Store) Repo()
    {
        var root = TempRepo.NewRepo("quiz");
        var answers = RepoPaths.Answers(root);
        File.WriteAllText(Path.Combine(answers, "03-bahdanau.md"), Page(3, "Bahdanau short.", "additive score", "bidirectional encoder"));
        File.WriteAllText(Path.Combine(answers, "14-why-scale.md"), Page(14, "Variance grows with d.", "Var(q·k) = d", "softmax saturates"));
        File.WriteAllText(Path.Combine(answers, "07-scores.md"), "# 7 · x\n\n**Short answer.** no key points here.\n");
        return (root, Path.Combine(TempRepo.NewFolder("quiz-store"), "progress.json"));
    }

    private static (int Code, string Out, string Err) Quiz(string root, string input, FixedClock clock, params string[] args)
    {
        var app = new AttnApp(TempRepo.Fakes(), root) { Input = new StringReader(input), Clock = clock };
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = app.Run(["quiz", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static Dictionary<int, CardProgress> Saved(string store) => new QuizStore(store).Load();

    [Fact]
    public void Plain_AsksDueQuestions_RevealsKeyPoints_AndSavesEachGrade()
    {
        var (root, store) = Repo();
        var (code, output, error) = Quiz(root, "my answer\n4\n\n2\n", new FixedClock(Start), "--plain", "--store", store);

        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Contains("Q03 · " + Questions.Get(3).Title, output);
        Assert.Contains("short answer: Bahdanau short. second line.", output);
        Assert.Contains("  - additive score", output);
        Assert.Contains("  - softmax saturates", output);
        Assert.DoesNotContain("Q07", output);                       // a page without key points is not quizzed
        var saved = Saved(store);
        Assert.Equal([3, 14], saved.Keys.Order());
        Assert.Equal(4, saved[3].LastGrade);
        Assert.Equal(2, saved[14].LastGrade);
    }

    [Fact]
    public void Plain_ThroughTheProcessStandardInput_GradesAndSaves()
    {
        var (root, store) = Repo();
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "attn.dll"), "quiz", "--plain", "--root", root, "--store", store })
            start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        process.StandardInput.Write("first answer\n7\n3\n");      // 7 is asked again; then end of input
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(60_000));

        Assert.Equal(0, process.ExitCode);
        Assert.Equal("", error);
        Assert.Contains("got '7'", output);
        Assert.Contains("end of input: graded 1", output);
        Assert.Equal(3, Saved(store)[3].LastGrade);
    }

    [Theory]
    [InlineData("9")]
    [InlineData("x")]
    [InlineData("-1")]
    [InlineData("3.5")]
    [InlineData("")]
    [InlineData("45")]
    public void Plain_AnythingButAGrade0To5_IsAskedAgain(string bad)
    {
        var (root, store) = Repo();
        var (code, output, _) = Quiz(root, $"answer\n{bad}\n5\n", new FixedClock(Start), "--plain", "--count", "1", "--store", store);

        Assert.Equal(0, code);
        Assert.Contains($"got '{bad}'", output);
        Assert.Equal(5, Saved(store)[3].LastGrade);
    }

    [Fact]
    public void Plain_EndOfInput_KeepsWhatWasGraded_AndExits0()
    {
        var (root, store) = Repo();
        var (code, output, _) = Quiz(root, "a\n5\nb\n", new FixedClock(Start), "--plain", "--store", store);

        Assert.Equal(0, code);
        Assert.Contains("end of input: graded 1", output);
        Assert.Equal([3], Saved(store).Keys);
    }

    [Fact]
    public void Plain_EmptyInput_SavesNothing_AndExits0()
    {
        var (root, store) = Repo();
        var (code, _, _) = Quiz(root, "", new FixedClock(Start), "--plain", "--store", store);
        Assert.Equal(0, code);
        Assert.False(File.Exists(store));
    }

    [Fact]
    public void CorruptStore_IsAClearError_Exit2_AndTheFileIsKept()
    {
        var (root, store) = Repo();
        File.WriteAllText(store, "{\"version\": 1, \"cards\": {\"3\": ");
        var before = File.ReadAllBytes(store);

        var (code, output, error) = Quiz(root, "a\n5\n", new FixedClock(Start), "--plain", "--store", store);

        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("attn: ", line);
        Assert.Contains(Path.GetFullPath(store), line);
        Assert.Contains("unreadable", line);
        Assert.Equal(before, File.ReadAllBytes(store));
        Assert.Equal(2, Quiz(root, "", new FixedClock(Start), "--stats", "--store", store).Code);
        Assert.Equal(before, File.ReadAllBytes(store));
    }

    [Fact]
    public void GradedQuestion_IsNotAskedAgainUntilDue_ThenIs()
    {
        var (root, store) = Repo();
        var clock = new FixedClock(Start);
        Quiz(root, "a\n5\nb\n5\n", clock, "--plain", "--store", store);

        var (code, output, _) = Quiz(root, "", clock, "--plain", "--store", store);
        Assert.Equal(0, code);
        Assert.Contains("nothing due", output);

        clock.Now = Start.AddDays(1.5);                              // the first interval after a success is one day
        var (_, later, _) = Quiz(root, "a\n3\nb\n3\n", clock, "--plain", "--store", store);
        Assert.Contains("Q03", later);
        Assert.Contains("Q14", later);
        Assert.Equal(2, Saved(store)[3].Reviews);
    }

    [Fact]
    public void Count_LimitsTheQuestionsAsked_AndTopicFiltersThem()
    {
        var (root, store) = Repo();
        var (_, output, _) = Quiz(root, "a\n4\nb\n4\n", new FixedClock(Start), "--plain", "--count", "1", "--store", store);
        Assert.Contains("[1/1] Q03", output);
        Assert.DoesNotContain("Q14", output);

        var (_, scaled, _) = Quiz(root, "a\n4\n", new FixedClock(Start), "--plain", "--topic", "14", "--store", store);
        Assert.Contains("Q14", scaled);
        Assert.DoesNotContain("Q03 ·", scaled);

        var (_, byName, _) = Quiz(root, "a\n4\n", new FixedClock(Start), "--plain", "--topic", "transformer", "--store", store + "2");
        Assert.Contains("Q14", byName);
        Assert.DoesNotContain("Q03 ·", byName);
    }

    [Theory]
    [InlineData("--count", "0")]
    [InlineData("--count", "x")]
    [InlineData("--topic", "no-such-topic-anywhere")]
    [InlineData("--topic", "51")]
    [InlineData("--topic", "7")]                                      // answered but without key points
    [InlineData("--stats", "--reset")]
    [InlineData("--bogus")]
    public void UsageErrors_Exit2_WithOneLine(params string[] args)
    {
        var (root, store) = Repo();
        var (code, output, error) = Quiz(root, "", new FixedClock(Start), [.. args, "--store", store]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Stats_ListsEveryQuizzableQuestion_SeenAndNew()
    {
        var (root, store) = Repo();
        Quiz(root, "a\n4\n", new FixedClock(Start), "--plain", "--count", "1", "--store", store);
        var (code, output, _) = Quiz(root, "", new FixedClock(Start), "--stats", "--store", store);

        Assert.Equal(0, code);
        Assert.Contains("03", output);
        Assert.Contains("new", output);
        Assert.Contains("1 of 2 questions seen", output);
    }

    [Fact]
    public void Reset_ForgetsProgress_AndKeepsTheOldStoreAsBackup()
    {
        var (root, store) = Repo();
        Quiz(root, "a\n4\n", new FixedClock(Start), "--plain", "--count", "1", "--store", store);
        var (code, _, _) = Quiz(root, "", new FixedClock(Start), "--reset", "--store", store);

        Assert.Equal(0, code);
        Assert.Empty(Saved(store));
        Assert.Equal([3], QuizStore_Parse(File.ReadAllText(store + ".bak")).Keys);
    }

    private static Dictionary<int, CardProgress> QuizStore_Parse(string text)
    {
        var path = Path.Combine(TempRepo.NewFolder("quiz-parse"), "s.json");
        File.WriteAllText(path, text);
        return new QuizStore(path).Load();
    }

    [Fact]
    public void Store_Save_ReplacesAtomically_KeepingThePreviousVersion_AndNoTempFiles()
    {
        var path = Path.Combine(TempRepo.NewFolder("quiz-save"), "sub", "s.json");
        var store = new QuizStore(path);
        var first = new Dictionary<int, CardProgress> { [5] = Sm2.Grade(null, 4, Start) };
        store.Save(first);
        var second = new Dictionary<int, CardProgress>(first) { [6] = Sm2.Grade(null, 1, Start) };
        store.Save(second);

        Assert.Equal([5, 6], store.Load().Keys.Order());
        Assert.Equal([5], QuizStore_Parse(File.ReadAllText(store.BackupPath)).Keys);
        Assert.Equal(["s.json", "s.json.bak"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName).Order());
        using var doc = JsonDocument.Parse(File.ReadAllText(path));        // the file on disk is complete JSON
        Assert.Equal(QuizStore.FormatVersion, doc.RootElement.GetProperty("version").GetInt32());
    }

    [Fact]
    public void Store_MissingWhileItsBackupExists_ReadsTheBackup()
    {
        // a crash between the two renames of a replace leaves only the backup
        var path = Path.Combine(TempRepo.NewFolder("quiz-crash"), "s.json");
        var store = new QuizStore(path);
        store.Save(new Dictionary<int, CardProgress> { [9] = Sm2.Grade(null, 3, Start) });
        File.Move(path, store.BackupPath);
        Assert.Equal([9], store.Load().Keys);
    }

    [Fact]
    public void Sm2_Successes_Space1Then6ThenIntervalTimesEasiness()
    {
        var p1 = Sm2.Grade(null, 5, Start);
        var p2 = Sm2.Grade(p1, 5, Start.AddDays(1));
        var p3 = Sm2.Grade(p2, 5, Start.AddDays(7));
        Assert.Equal(1, p1.IntervalDays);
        Assert.Equal(6, p2.IntervalDays);
        Assert.Equal((int)Math.Round(6 * p2.Easiness, MidpointRounding.AwayFromZero), p3.IntervalDays);
        Assert.Equal(Start.AddDays(7 + p3.IntervalDays), p3.Due);
        Assert.Equal(Sm2.InitialEasiness + 0.3, p3.Easiness, 12);     // each 5 adds 0.1
    }

    [Fact]
    public void Sm2_ALapse_StartsOverAtOneDay_AndEasinessNeverFallsBelow1_3()
    {
        CardProgress? p = null;
        for (int i = 0; i < 3; i++) p = Sm2.Grade(p, 5, Start);
        for (int i = 0; i < 20; i++) p = Sm2.Grade(p, 0, Start);
        Assert.Equal(0, p!.Repetitions);
        Assert.Equal(1, p.IntervalDays);
        Assert.Equal(Sm2.MinimumEasiness, p.Easiness, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => Sm2.Grade(p, 6, Start));
    }

    [Fact]
    public void Sm2_PickDue_PutsOverdueBeforeNew_AndSkipsNotYetDue()
    {
        var progress = new Dictionary<int, CardProgress>
        {
            [1] = new() { Due = Start.AddDays(-1) },
            [2] = new() { Due = Start.AddDays(3) },
            [3] = new() { Due = Start.AddDays(-5) },
        };
        Assert.Equal([3, 1, 4, 5], Sm2.PickDue([1, 2, 3, 4, 5], progress, Start, 10));
        Assert.Equal([3, 1], Sm2.PickDue([1, 2, 3, 4, 5], progress, Start, 2));
    }
}
