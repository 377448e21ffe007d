using System.CommandLine;
using System.Globalization;
using Attention.Book;
using Spectre.Console;

namespace Attention.Cli.Quiz;

/// <summary>
/// <c>attn quiz [--plain] [--count N] [--topic T] [--store FILE] [--stats] [--reset]</c>: an interview
/// drill over the answered questions. For each due question (SM-2 schedule) it shows the question, waits for the
/// user's answer, reveals the page's short answer and key points, takes a self-grade 0–5 and schedules the next
/// review; progress is saved after every grade (<see cref="QuizStore"/>). <c>--plain</c> reads the answers and grades
/// line by line from standard input; end of input keeps what was graded and exits 0.
/// </summary>
internal static class QuizCommand
{
    public const int DefaultCount = 10;

    public static Command Create(AttnApp app, Option<string?> rootOption, TextWriter stdout)
    {
        var plain = new Option<bool>("--plain") { Description = "Read answers and grades line by line from standard input; plain text out" };
        var count = new Option<int>("--count") { Description = $"How many due questions to ask (default {DefaultCount})", DefaultValueFactory = _ => DefaultCount };
        var store = new Option<string?>("--store") { Description = "Progress file (default: attn/quiz.json in the user's local data directory)" };
        var stats = new Option<bool>("--stats") { Description = "Print the progress table and exit" };
        var reset = new Option<bool>("--reset") { Description = "Forget all progress (the old file is kept as FILE.bak)" };
        var topic = new Option<string?>("--topic") { Description = $"Only these questions: {string.Join(", ", QuizTopics.Named.Keys)}, numbers like 3,14, or words of a title" };
        var quiz = new Command("quiz", "Drill the answered questions with spaced repetition") { plain, count, store, stats, reset, topic };
        quiz.SetAction(parse => Run(app, new Settings(parse.GetValue(plain), parse.GetValue(count), parse.GetValue(store), parse.GetValue(stats),
                                                     parse.GetValue(reset), parse.GetValue(topic), parse.GetValue(rootOption)), stdout));
        return quiz;
    }

    private sealed record Settings(bool Plain, int Count, string? Store, bool Stats, bool Reset, string? Topic, string? Root);

    private static int Run(AttnApp app, Settings s, TextWriter stdout)
    {
        if (s.Count < 1) throw new AttnApp.UsageException($"--count expects a number of questions ≥ 1; got {s.Count}");
        if (s.Stats && s.Reset) throw new AttnApp.UsageException("--stats and --reset cannot be combined; run --reset first, then --stats");
        IReadOnlySet<int>? only = null;
        if (s.Topic is not null)
        {
            try { only = QuizTopics.Resolve(s.Topic); }
            catch (ArgumentException e) { throw new AttnApp.UsageException(e.Message); }
        }
        var store = new QuizStore(s.Store ?? QuizStore.DefaultPath());

        if (s.Reset)
        {
            var had = File.Exists(store.Path);
            if (had) { try { store.Load(); } catch (QuizStoreException) { /* a reset is how one starts over from a corrupt store */ } }
            store.Reset();
            stdout.WriteLine(had ? $"progress reset; the previous store is kept as {store.BackupPath}" : $"progress reset ({store.Path})");
            return AttnApp.Ok;
        }

        Dictionary<int, CardProgress> progress;
        try { progress = store.Load(); }
        catch (QuizStoreException e) { throw new AttnApp.UsageException(e.Message); }

        var cards = app.QuizCards(s.Root).Where(c => only is null || only.Contains(c.Question)).ToDictionary(c => c.Question);
        if (cards.Count == 0)
            throw new AttnApp.UsageException(only is null
                ? "no answer page has key points to quiz on yet"
                : $"no answered question with key points matches --topic '{s.Topic}'");

        var now = app.Clock.GetUtcNow();
        if (s.Stats) return Stats(cards, progress, now, store, stdout);

        var picked = Sm2.PickDue(cards.Keys, progress, now, s.Count);
        if (picked.Count == 0)
        {
            var next = cards.Keys.Where(progress.ContainsKey).Select(q => progress[q].Due).Min();
            stdout.WriteLine($"nothing due: {cards.Count} question{(cards.Count == 1 ? "" : "s")} reviewed; the next is due {Describe(next, now)}");
            return AttnApp.Ok;
        }
        bool interactive = !s.Plain && Consoles.IsTerminal(stdout) && ReferenceEquals(app.Input, Console.In) && !Console.IsInputRedirected;
        return interactive
            ? Interactive(cards, picked, progress, store, app, stdout)
            : Plain(cards, picked, progress, store, app, stdout);
    }

    // ---------- plain: one line in per prompt, for scripts and tests ----------

    private static int Plain(Dictionary<int, AnswerCard> cards, IReadOnlyList<int> picked, Dictionary<int, CardProgress> progress,
                             QuizStore store, AttnApp app, TextWriter stdout)
    {
        var input = app.Input;
        int graded = 0;
        for (int i = 0; i < picked.Count; i++)
        {
            var card = cards[picked[i]];
            stdout.WriteLine($"[{i + 1}/{picked.Count}] Q{card.Question:00} · {card.Title}");
            stdout.WriteLine("your answer (one line; may be empty):");
            if (input.ReadLine() is null) return EndOfInput(graded, store, stdout);
            stdout.WriteLine("short answer: " + Readable(card.ShortAnswer));
            stdout.WriteLine("key points:");
            foreach (var point in card.KeyPoints) stdout.WriteLine("  - " + Readable(point));
            int grade;
            while (true)
            {
                stdout.WriteLine("grade 0-5 (0 = blank, 3 = right with effort, 5 = perfect):");
                var line = input.ReadLine();
                if (line is null) return EndOfInput(graded, store, stdout);
                if (TryGrade(line, out grade)) break;
                stdout.WriteLine($"expected a grade 0, 1, 2, 3, 4 or 5; got '{line.Trim()}'");
            }
            var now = app.Clock.GetUtcNow();
            progress[card.Question] = Sm2.Grade(progress.GetValueOrDefault(card.Question), grade, now);
            store.Save(progress);
            graded++;
            stdout.WriteLine($"next review {Describe(progress[card.Question].Due, now)}");
            stdout.WriteLine();
        }
        stdout.WriteLine($"graded {graded}; progress saved to {store.Path}");
        return AttnApp.Ok;
    }

    private static int EndOfInput(int graded, QuizStore store, TextWriter stdout)
    {
        stdout.WriteLine($"end of input: graded {graded}; progress saved to {store.Path}");
        return AttnApp.Ok;
    }

    /// <summary>Markdown read as text: bold markers, code ticks and math dollars dropped, links reduced to their text.</summary>
    internal static string Readable(string markdown)
    {
        var text = System.Text.RegularExpressions.Regex.Replace(markdown, @"\[([^\]]+)\]\([^)]*\)", "$1");
        return text.Replace("**", "").Replace("`", "").Replace("$", "");
    }

    /// <summary>A grade is one digit 0..5, spaces around it allowed.</summary>
    internal static bool TryGrade(string line, out int grade)
        => int.TryParse(line.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out grade) && grade is >= 0 and <= Sm2.MaxGrade
           && line.Trim().Length == 1;

    // ---------- interactive: a terminal ----------

    private static int Interactive(Dictionary<int, AnswerCard> cards, IReadOnlyList<int> picked, Dictionary<int, CardProgress> progress,
                                   QuizStore store, AttnApp app, TextWriter stdout)
    {
        var console = Consoles.For(stdout);
        int graded = 0;
        for (int i = 0; i < picked.Count; i++)
        {
            var card = cards[picked[i]];
            console.Write(new Rule($"[bold]{i + 1}/{picked.Count} · Q{card.Question:00}[/]").LeftJustified());
            console.MarkupLine($"[bold]{Markup.Escape(card.Title)}[/]");
            console.Prompt(new TextPrompt<string>("[grey]Your answer (type it, or think it through; Enter to reveal):[/]").AllowEmpty());
            console.WriteLine();
            console.MarkupLine("[bold]Short answer.[/] " + Markup.Escape(Readable(card.ShortAnswer)));
            console.MarkupLine("[bold]Key points.[/]");
            foreach (var point in card.KeyPoints) console.MarkupLine(" • " + Markup.Escape(Readable(point)));
            int grade = console.Prompt(new TextPrompt<int>("Grade yourself [green]0–5[/] (0 = blank, 3 = right with effort, 5 = perfect):")
                .Validate(g => g is >= 0 and <= Sm2.MaxGrade ? ValidationResult.Success() : ValidationResult.Error("[red]a grade is 0, 1, 2, 3, 4 or 5[/]")));
            var now = app.Clock.GetUtcNow();
            progress[card.Question] = Sm2.Grade(progress.GetValueOrDefault(card.Question), grade, now);
            store.Save(progress);
            graded++;
            console.MarkupLine($"[grey]next review {Markup.Escape(Describe(progress[card.Question].Due, now))}[/]");
            console.WriteLine();
        }
        console.MarkupLine($"graded {graded}; progress saved to [grey]{Markup.Escape(store.Path)}[/]");
        return AttnApp.Ok;
    }

    // ---------- stats ----------

    private static int Stats(Dictionary<int, AnswerCard> cards, Dictionary<int, CardProgress> progress, DateTimeOffset now, QuizStore store, TextWriter stdout)
    {
        var console = Consoles.For(stdout);
        var table = new Spectre.Console.Table().Border(TableBorder.Rounded).Title("[bold]quiz progress[/]");
        foreach (var c in new[] { "Q", "question", "reviews", "last grade", "easiness", "interval (days)", "next review" }) table.AddColumn(c);
        foreach (var card in cards.Values.OrderBy(c => c.Question))
        {
            var title = card.Title.Length > 60 ? card.Title[..57] + "..." : card.Title;
            if (progress.TryGetValue(card.Question, out var p))
                table.AddRow(card.Question.ToString("00", CultureInfo.InvariantCulture), Markup.Escape(title), p.Reviews.ToString(CultureInfo.InvariantCulture),
                             p.LastGrade.ToString(CultureInfo.InvariantCulture), p.Easiness.ToString("0.00", CultureInfo.InvariantCulture),
                             p.IntervalDays.ToString(CultureInfo.InvariantCulture), Markup.Escape(p.Due <= now ? "due now" : p.Due.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
            else
                table.AddRow(card.Question.ToString("00", CultureInfo.InvariantCulture), Markup.Escape(title), "0", "-", "-", "-", "new");
        }
        console.Write(table);
        int seen = cards.Keys.Count(progress.ContainsKey);
        int due = cards.Keys.Count(q => !progress.TryGetValue(q, out var p) || p.Due <= now);
        var grades = cards.Keys.Where(progress.ContainsKey).Select(q => progress[q].LastGrade).ToList();
        var mean = grades.Count == 0 ? "-" : grades.Average().ToString("0.0", CultureInfo.InvariantCulture);
        console.WriteLine($"{seen} of {cards.Count} questions seen; {due} due now (new included); mean last grade {mean}; store {store.Path}");
        return AttnApp.Ok;
    }

    private static string Describe(DateTimeOffset due, DateTimeOffset now)
    {
        var days = (due - now).TotalDays;
        var date = due.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        return days <= 0 ? "now" : $"in {Math.Round(days, MidpointRounding.AwayFromZero):0} day{(Math.Round(days) == 1 ? "" : "s")} ({date})";
    }
}
