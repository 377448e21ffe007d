using System.CommandLine;
using System.Globalization;
using Attention.Book;
using Attention.Plots;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Attention.Cli;

/// <summary>
/// The <c>attn</c> command: <c>list</c>, <c>show N [--json] [--full] [--seed S]</c>,
/// <c>show N [--input TEXT]</c>, <c>book [--out DIR] [--full] [--write-pages] [--only N,M]</c>, <c>bench [--full] [--out DIR]</c> and <c>quiz</c>.
/// Exit codes: 0 success, 1 a runtime failure (one line on stderr), 2 a usage error (one line on stderr).
/// </summary>
public sealed class AttnApp
{
    public const int Ok = 0, Failure = 1, Usage = 2;

    private readonly ExperimentRegistry? _registry;
    private readonly string? _root;

    /// <summary>Uses <paramref name="registry"/> (default: the book's experiments) and <paramref name="root"/>
    /// (default: found from the current directory; <c>--root</c> overrides).</summary>
    public AttnApp(ExperimentRegistry? registry = null, string? root = null)
    {
        _registry = registry;
        _root = root;
    }

    private ExperimentRegistry Registry => _registry ?? ExperimentRegistry.Default;

    /// <summary>Where <c>quiz</c> reads answers and grades from (default: the console's standard input).</summary>
    public TextReader Input { get; init; } = Console.In;

    /// <summary>The clock <c>quiz</c> schedules reviews by (tests pass a fixed one).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>The quiz cards (short answer and key points) of the answer pages under the repository root.</summary>
    internal IReadOnlyList<AnswerCard> QuizCards(string? rootOverride)
    {
        var answers = AnswersFolder(rootOverride)
            ?? throw new UsageException("quiz reads the answer pages: run it inside the repository or pass --root");
        return AnswerCards.Load(answers);
    }

    /// <summary>Runs the command line <paramref name="args"/>; returns the exit code.</summary>
    public int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        var rootOption = new Option<string?>("--root") { Description = "Repository root (the folder holding Attention.slnx); found from the current folder by default", Recursive = true };
        var fullOption = new Option<bool>("--full") { Description = "Run the long setting the published pages use (default: quick)" };
        var seedOption = new Option<int>("--seed") { Description = "Seed for every random draw", DefaultValueFactory = _ => 1234 };

        var list = new Command("list", "List the 50 questions and whether each is answered");
        list.SetAction(parse => List(stdout, parse.GetValue(rootOption)));

        var number = new Argument<string>("N") { Description = "Question number, 1..50" };
        var json = new Option<bool>("--json") { Description = "Print the experiment's result as one JSON object on stdout, nothing else" };
        var input = new Option<string?>("--input", "--word") { Description = "Text the experiment works on where it takes any (e.g. the word answer 3 aligns)" };
        var outOption = new Option<string?>("--out") { Description = "Output folder (show: figures, default out/figures/qNN under the repository; book: site/ under the repository; bench: bench/results)" };
        var show = new Command("show", "Show answer N and run its experiment live") { number, json, fullOption, seedOption, input, outOption };
        show.SetAction(parse => Show(parse.GetValue(number)!, parse.GetValue(json), parse.GetValue(fullOption), parse.GetValue(seedOption),
                                     parse.GetValue(input), parse.GetValue(outOption), parse.GetValue(rootOption), stdout, stderr));

        var writePages = new Option<bool>("--write-pages") { Description = "Rewrite the experiment blocks of docs/answers/*.md in place" };
        var only = new Option<string?>("--only") { Description = "Run only these questions' experiments, e.g. 3,4,10 (the site keeps the other pages' committed blocks)" };
        var pagesOnly = new Option<bool>("--pages-only") { Description = "Run no experiment: build the site from the committed pages and figures (seconds)" };
        var book = new Command("book", "Run every experiment and write the static site") { outOption, fullOption, seedOption, writePages, only, pagesOnly };
        book.SetAction(parse => Book(parse.GetValue(outOption), parse.GetValue(fullOption), parse.GetValue(seedOption), parse.GetValue(writePages),
                                     parse.GetValue(only), parse.GetValue(pagesOnly), parse.GetValue(rootOption), stdout, stderr));

        var bench = new Command("bench", "Benchmark the attention kernels side by side with ONNX Runtime and ggml") { fullOption, outOption };
        bench.SetAction(parse => Bench(parse.GetValue(fullOption), parse.GetValue(outOption), parse.GetValue(rootOption), stdout, stderr));

        var root = new RootCommand("attn: attention, answered and implemented in C#")
            { rootOption, list, show, book, bench, Quiz.QuizCommand.Create(this, rootOption, stdout), ModelCommands.Embed(stdout), ModelCommands.Heads(stdout), VizCommand.Create(stdout),
              ExportCommand.Create(stdout, rootOption) };

        ParseResult parsed;
        try { parsed = root.Parse(args); }
        catch (Exception e) { return Fail(stderr, Usage, e.Message); }

        bool help = args.Any(a => a is "--help" or "-h" or "-?");
        if (parsed.Errors.Count > 0 && !help)
        {
            // an unrecognised token says more than the errors it causes downstream
            var unrecognized = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal));
            if (parsed.CommandResult.Command == root && (unrecognized is null || parsed.UnmatchedTokens.Any(a => !a.StartsWith('-'))))
            {
                var verb = parsed.UnmatchedTokens.FirstOrDefault(a => !a.StartsWith('-'));
                string verbs = Verbs(root);
                return Fail(stderr, Usage, verb is null
                    ? $"expected a verb: {verbs} (attn --help for more)"
                    : $"unknown verb '{verb}'; expected {verbs}");
            }
            return Fail(stderr, Usage, (unrecognized ?? parsed.Errors[0]).Message);
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e) { return Fail(stderr, Usage, e.Message); }
        catch (ModelUsageException e) { return Fail(stderr, Usage, e.Message); }
        catch (Exception e) { return Fail(stderr, Failure, e.Message); }
    }

    /// <summary>"list, show N, book, … or viz": every verb the root command has, in order, so the message cannot fall behind.</summary>
    private static string Verbs(RootCommand root)
    {
        var names = root.Subcommands.Select(c => c.Name + string.Concat(c.Arguments.Select(a => " " + a.Name))).ToList();
        return names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];
    }

    /// <summary>Creates <paramref name="folder"/> and proves a file can be written there, before any long work starts.</summary>
    private static void EnsureWritable(string folder, string what)
    {
        string probe = Path.Combine(folder, $".attn-write-test-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new UsageException($"cannot write {what} to '{folder}': {e.Message}");
        }
    }

    private static int Fail(TextWriter stderr, int code, string message)
    {
        stderr.WriteLine("attn: " + message.ReplaceLineEndings(" ").Trim());
        return code;
    }

    // ---------- list ----------

    private int List(TextWriter stdout, string? rootOverride)
    {
        var pages = FindPages(rootOverride);
        var console = Consoles.For(stdout);
        foreach (var (q, status, _, _) in Pages.Status(pages, Registry))
        {
            string colour = status switch
            {
                AnswerStatus.Answered => "green", AnswerStatus.PageOnly => "yellow", AnswerStatus.ExperimentOnly => "blue", _ => "grey",
            };
            console.MarkupLine($"{q.Number,2}  [{colour}]{Pages.Describe(status),-25}[/] {Markup.Escape(q.Title)}");
        }
        return Ok;
    }

    // ---------- show ----------

    private int Show(string numberText, bool json, bool full, int seed, string? input, string? outDir, string? rootOverride, TextWriter stdout, TextWriter stderr)
    {
        if (!int.TryParse(numberText, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new UsageException($"show expects a question number 1..{Questions.Count}; got '{numberText}'");
        if (n is < 1 or > Questions.Count)
            throw new UsageException($"show expects a question number 1..{Questions.Count}; got {n}");

        var question = Questions.Get(n);
        var experiment = Registry.Find(n);
        string? root = TryRoot(rootOverride);
        string figureDir = Path.GetFullPath(outDir ?? (root is null
            ? Path.Combine(Path.GetTempPath(), "attn-figures", $"q{n:00}")
            : Path.Combine(root, "out", "figures", $"q{n:00}")));
        if (experiment is not null) EnsureWritable(figureDir, "figures");

        if (json)
        {
            if (experiment is null)
                return Fail(stderr, Failure, $"question {n} has no experiment yet");
            var progress = Consoles.IsTerminal(stderr) ? Consoles.For(stderr) : null;
            var run = progress is null
                ? ExperimentRunner.Run(experiment, full, seed, figureDir, input: input)
                : RunWithProgress(progress, experiment, full, seed, figureDir, input);
            if (!run.Succeeded)
                return Fail(stderr, Failure, $"{experiment.GetType().Name} failed: {run.Error!.Message}");
            stdout.WriteLine(ResultJson.Write(run));
            return Ok;
        }

        var console = Consoles.For(stdout);
        var answers = root is null ? RepoPaths.ShippedAnswers() : RepoPaths.Answers(root);
        AnswerPage? page = answers is null ? null : Pages.Find(answers).GetValueOrDefault(n);
        if (page is not null)
        {
            var text = File.ReadAllText(page.Path);
            if (PageBlock.Has(text, n)) text = PageBlock.Replace(text, n, "*(the experiment's results follow below, from a live run)*");
            TerminalMarkdown.Write(console, text);
        }
        else
        {
            console.MarkupLine($"[bold underline]{n} · {Markup.Escape(question.Title)}[/]");
            console.MarkupLine("[grey]No answer page yet.[/]");
        }
        console.WriteLine();
        if (experiment is null)
        {
            console.MarkupLine("[grey]No experiment for this question yet.[/]");
            return Ok;
        }

        console.Write(new Rule($"[bold]{Markup.Escape(experiment.GetType().Name)}[/] · {(full ? "full" : "quick")} · seed {seed}").LeftJustified());
        console.MarkupLine($"[grey]figures go to {Markup.Escape(figureDir)} (--out DIR chooses)[/]");
        var result = RunWithProgress(console, experiment, full, seed, figureDir, input);
        if (!result.Succeeded)
            return Fail(stderr, Failure, $"{experiment.GetType().Name} failed: {result.Error!.Message}");
        WriteResult(console, result);
        return Ok;
    }

    private static ExperimentRun RunWithProgress(IAnsiConsole console, Experiment experiment, bool full, int seed, string figureDir, string? input)
    {
        // a live bar only where it can redraw in place; in a log it would be a line per update
        if (!console.Profile.Capabilities.Interactive) return ExperimentRunner.Run(experiment, full, seed, figureDir, input: input);
        ExperimentRun? run = null;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(experiment.GetType().Name), maxValue: 1.0);
                run = ExperimentRunner.Run(experiment, full, seed, figureDir, new TaskProgress(task, experiment.GetType().Name), input: input);
                task.Value = 1.0;
            });
        return run!;
    }

    private static void WriteResult(IAnsiConsole console, ExperimentRun run)
    {
        var r = run.Result!;
        if (r.Metrics.Count > 0)
        {
            var metrics = new Spectre.Console.Table().Border(TableBorder.Rounded).Title("[bold]metrics[/]");
            metrics.AddColumn("metric");
            metrics.AddColumn(new TableColumn("value").RightAligned());
            foreach (var (name, value) in r.Metrics) metrics.AddRow(Markup.Escape(name), Markup.Escape(Attention.Book.Table.FormatNumber(value)));
            console.Write(metrics);
        }
        foreach (var t in r.Tables)
        {
            var table = new Spectre.Console.Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(t.Title)}[/]");
            foreach (var c in t.Columns) table.AddColumn(Markup.Escape(c));
            foreach (var row in t.Rows) table.AddRow(row.Select(cell => (IRenderable)new Text(cell)).ToArray());
            console.Write(table);
        }
        foreach (var figure in r.Figures)
        {
            console.WriteLine();
            if (figure.Heatmap is { } values)
                console.Write(new TerminalHeatmap(values, figure.RowLabels, figure.ColumnLabels, figure.Caption));
            else
                console.MarkupLine($"[bold]{Markup.Escape(figure.Caption)}[/]");
            console.MarkupLine($"[grey]figure: {Markup.Escape(Path.GetFullPath(figure.Path))}[/]");
        }
        if (r.Checks.Count > 0) console.WriteLine();
        foreach (var check in r.Checks)
        {
            var mark = check.Holds ? "[green]✓[/]" : "[red]✗[/]";
            var detail = string.IsNullOrWhiteSpace(check.Detail) ? "" : $" [grey]— {Markup.Escape(check.Detail)}[/]";
            var timing = check.Timing ? " [grey](timing)[/]" : "";
            console.MarkupLine($"{mark} {Markup.Escape(check.Claim)}{timing}{detail}");
        }
        foreach (var note in r.Notes) console.MarkupLine($"[grey]{Markup.Escape(note)}[/]");
        console.WriteLine();
        console.MarkupLine($"[grey]setting {run.Setting} · seed {run.Seed} · {Markup.Escape(MachineInfo.Describe())} · {ResultMarkdown.FormatSeconds(run.Elapsed)}[/]");
    }

    // ---------- book ----------

    private int Book(string? outDir, bool full, int seed, bool writePages, string? onlyText, bool pagesOnly, string? rootOverride, TextWriter stdout, TextWriter stderr)
    {
        if (pagesOnly && (full || writePages || onlyText is not null))
            throw new UsageException("--pages-only runs no experiment, so it takes none of --full, --write-pages or --only");
        var selected = onlyText is null ? null : ParseQuestionList(onlyText);
        var missing = selected?.Where(q => Registry.Find(q) is null).Order().ToList() ?? [];
        if (missing.Count > 0)
            throw new UsageException($"--only names question{(missing.Count == 1 ? "" : "s")} without an experiment: {string.Join(", ", missing)}");
        // a checkout (found, or --root); else the book the tool carries, whose pages are never rewritten
        var root = TryRoot(rootOverride);
        if (root is null && writePages)
            throw new UsageException("--write-pages rewrites the answer pages of a checkout: run it inside the repository or pass --root");
        var bookRoot = root ?? RepoPaths.ShippedBook()
            ?? throw new UsageException("book needs the repository (run it inside a checkout or pass --root) or the pages the attn tool carries; found neither");
        var site = Path.GetFullPath(outDir ?? (root is null ? Path.Combine(Directory.GetCurrentDirectory(), "site") : RepoPaths.DefaultSite(root)));
        EnsureWritable(site, "the site");
        BookPipeline pipeline;
        try
        {
            pipeline = new BookPipeline(new BookOptions
            {
                Root = bookRoot, OutputDirectory = site, Registry = Registry, Full = full, Seed = seed,
                Only = selected, PagesOnly = pagesOnly, WritePages = writePages,
            });
        }
        catch (ArgumentException e) { throw new UsageException(WithoutParameter(e)); }
        var experiments = pipeline.Experiments;
        var console = Consoles.For(stdout);

        if (pagesOnly) console.MarkupLine($"Building the site from the {(root is null ? "pages and figures the attn tool carries" : "committed pages and figures")} (no experiment runs)");
        else console.MarkupLine($"Running {experiments.Count} experiment{(experiments.Count == 1 ? "" : "s")} ({(full ? "full" : "quick")}, seed {seed})");
        BookReport report;
        if (!console.Profile.Capabilities.Interactive || experiments.Count == 0)
        {
            // in a log: one line per experiment as it starts, its verdict in the summary below
            report = pipeline.Run(new LogProgress(console));
        }
        else
        {
            report = null!;
            console.Progress()
                .AutoClear(false)
                .HideCompleted(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx => report = pipeline.Run(new BarProgress(ctx, experiments.Count)));
        }

        foreach (var run in report.Runs)
        {
            var name = Markup.Escape(run.Experiment.GetType().Name);
            var time = ResultMarkdown.FormatSeconds(run.Elapsed);
            if (!run.Succeeded)
            {
                console.MarkupLine($"[red]✗[/] {name,-32} {time,9}  [red]failed: {Markup.Escape(run.Error!.Message.ReplaceLineEndings(" "))}[/]");
                continue;
            }
            int holds = run.Result!.Checks.Count(c => c.Holds), checks = run.Result.Checks.Count;
            int timingMisses = run.Result.Checks.Count(c => !c.Holds && c.Timing);
            var mark = holds == checks ? "[green]✓[/]" : "[yellow]![/]";
            var note = timingMisses > 0 ? $" [grey]({timingMisses} missed {(timingMisses == 1 ? "is a timing claim" : "are timing claims")})[/]" : "";
            console.MarkupLine($"{mark} {name,-32} {time,9}  {holds}/{checks} checks hold{note}");
        }
        foreach (var write in report.PageWrites)
        {
            var file = write.PagePath is null ? "" : Markup.Escape(Path.GetFileName(write.PagePath));
            console.MarkupLine(write.Outcome switch
            {
                PageWriteOutcome.Written => $"wrote block of {file}",
                PageWriteOutcome.NoPage => $"[yellow]no page docs/answers/{write.Question:00}-*.md for Q{write.Question:00}; block not written[/]",
                _ => $"[red]{file}: {Markup.Escape(write.Error ?? "")}[/]",
            });
        }

        var siteReport = report.Site;
        console.MarkupLine($"Site: {siteReport.PagesWritten} pages, {siteReport.SourcePagesWritten} repository files rendered, {siteReport.FilesCopied} files copied → {Markup.Escape(siteReport.IndexPath)}");
        foreach (var kept in siteReport.KeptAsText)
            console.MarkupLine($"[yellow]link kept as text (its target cannot be in the site): {Markup.Escape(kept)}[/]");

        if (!report.Succeeded)
            return Fail(stderr, Failure, $"{report.Failed.Count} of {experiments.Count} experiments failed: {string.Join(", ", report.Failed)}");
        return Ok;
    }

    /// <summary>An argument exception's message without the " (Parameter 'x')" the runtime appends: the line a user reads.</summary>
    private static string WithoutParameter(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);

    /// <summary>The book's progress in a log: a line as each experiment starts.</summary>
    private sealed class LogProgress(IAnsiConsole console) : IProgress<BookProgress>
    {
        public void Report(BookProgress value)
        {
            if (value.Stage == BookStage.ExperimentStarting)
                console.MarkupLine($"[grey]running {Markup.Escape(value.Experiment.GetType().Name)} …[/]");
        }
    }

    /// <summary>The book's progress as live bars: one for all experiments, one for the running one.</summary>
    private sealed class BarProgress(ProgressContext context, int count) : IProgress<BookProgress>
    {
        private readonly ProgressTask _overall = context.AddTask("all experiments", maxValue: Math.Max(1, count));
        private ProgressTask? _current;
        private TaskProgress? _currentProgress;

        public void Report(BookProgress value)
        {
            switch (value.Stage)
            {
                case BookStage.ExperimentStarting:
                    var name = value.Experiment.GetType().Name;
                    _current = context.AddTask(Markup.Escape(name), maxValue: 1.0);
                    _currentProgress = new TaskProgress(_current, name);
                    break;
                case BookStage.ExperimentProgress:
                    _currentProgress?.Report((value.Fraction, value.Status));
                    break;
                case BookStage.ExperimentFinished:
                    if (_current is not null)
                    {
                        _current.Value = 1.0;
                        _current.StopTask();
                    }
                    _overall.Increment(1);
                    break;
            }
        }
    }

    /// <summary>Parses "3,4,10" into question numbers; a usage error names the bad item.</summary>
    private static HashSet<int> ParseQuestionList(string text)
    {
        var set = new HashSet<int>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int q) || q < 1 || q > Questions.Count)
                throw new UsageException($"--only expects question numbers 1..{Questions.Count} separated by commas, e.g. 3,4,10; got '{item}' in '{text}'");
            set.Add(q);
        }
        return set;
    }

    // ---------- bench ----------

    private int Bench(bool full, string? outDir, string? rootOverride, TextWriter stdout, TextWriter stderr)
    {
        var peers = PeerKernels.Current;
        if (peers is null)
            return Fail(stderr, Failure, $"bench compares our kernels with ONNX Runtime and ggml: {PeerKernels.NotAvailable}");
        string dir = outDir ?? Path.Combine(TryRoot(rootOverride) ?? Directory.GetCurrentDirectory(), "bench", "results");
        try
        {
            var markdown = peers.Bench(full, Path.GetFullPath(dir), stdout);
            stdout.WriteLine($"results: {markdown}");
            return Ok;
        }
        catch (Exception e)
        {
            return Fail(stderr, Failure, $"bench failed: {e.Message}");
        }
    }

    // ---------- helpers ----------

    private string? TryRoot(string? rootOverride)
    {
        try { return RepoPaths.FindRoot(rootOverride ?? _root); }
        catch (DirectoryNotFoundException) when (rootOverride is null && _root is null) { return null; }
    }

    private IReadOnlyDictionary<int, AnswerPage> FindPages(string? rootOverride)
    {
        var answers = AnswersFolder(rootOverride);
        return answers is null ? new Dictionary<int, AnswerPage>() : Pages.Find(answers);
    }

    /// <summary>docs/answers of the repository (found, or --root), else the copy the tool package carries, else null.</summary>
    private string? AnswersFolder(string? rootOverride)
    {
        var root = TryRoot(rootOverride);
        return root is null ? RepoPaths.ShippedAnswers() : RepoPaths.Answers(root);
    }

    /// <summary>A usage error found after parsing (a bad question number): exit code 2.</summary>
    internal sealed class UsageException(string message) : Exception(message);

    /// <summary>Experiment progress → a Spectre task; thread-safe as Spectre's tasks are.</summary>
    private sealed class TaskProgress(ProgressTask task, string name) : IProgress<(double Fraction, string Status)>
    {
        public void Report((double Fraction, string Status) value)
        {
            task.Value = value.Fraction;
            task.Description = Markup.Escape(string.IsNullOrWhiteSpace(value.Status) ? name : $"{name}: {value.Status}");
        }
    }
}
