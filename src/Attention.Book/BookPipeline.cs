namespace Attention.Book;

/// <summary>What <see cref="BookPipeline"/> builds, from where, and which experiments it runs.</summary>
public sealed record BookOptions
{
    /// <summary>
    /// The repository root (the folder holding docs/answers and the code the pages cite), or a folder laid out like it:
    /// the copy the attn tool carries (<see cref="RepoPaths.ShippedBook"/>).
    /// </summary>
    public required string Root { get; init; }

    /// <summary>Where the site goes. A missing or empty folder, or one an earlier build wrote (it is replaced).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The experiments that exist (default: the book's fifty).</summary>
    public ExperimentRegistry Registry { get; init; } = ExperimentRegistry.Default;

    /// <summary>Run the long setting the published pages use (default: the quick one).</summary>
    public bool Full { get; init; }

    /// <summary>The seed of every random draw.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Run only these questions' experiments (each must have one); null runs every experiment. The site keeps
    /// the committed blocks of the other pages.</summary>
    public IReadOnlySet<int>? Only { get; init; }

    /// <summary>Run no experiment: the site shows the pages as they are (seconds). Excludes <see cref="Full"/>,
    /// <see cref="Only"/> and <see cref="WritePages"/>.</summary>
    public bool PagesOnly { get; init; }

    /// <summary>Rewrite the experiment blocks of Root/docs/answers/*.md in place (and their figures). Root must be a
    /// checkout (it holds <see cref="RepoPaths.SolutionFile"/>): the tool's own copy of the pages is never rewritten.</summary>
    public bool WritePages { get; init; }
}

/// <summary>What a <see cref="BookProgress"/> report says.</summary>
public enum BookStage
{
    /// <summary>An experiment is about to run (<see cref="BookProgress.Experiment"/>, its <see cref="BookProgress.Index"/>).</summary>
    ExperimentStarting,

    /// <summary>The running experiment reported how far it is (<see cref="BookProgress.Fraction"/>, <see cref="BookProgress.Status"/>).</summary>
    ExperimentProgress,

    /// <summary>An experiment ended, well or not (<see cref="BookProgress.Run"/>).</summary>
    ExperimentFinished,
}

/// <summary>
/// One report of a <see cref="BookPipeline"/> run. <see cref="Index"/> counts from 0 up to <see cref="Count"/> (the
/// number of experiments the run holds); <see cref="Run"/> is set when the stage is <see cref="BookStage.ExperimentFinished"/>.
/// </summary>
public sealed record BookProgress(BookStage Stage, Experiment Experiment, int Index, int Count,
                                  double Fraction = 0, string Status = "", ExperimentRun? Run = null);

/// <summary>What happened to one experiment block under <see cref="BookOptions.WritePages"/>.</summary>
public enum PageWriteOutcome
{
    /// <summary>The block (and its figures) were written into the page.</summary>
    Written,

    /// <summary>The question has no page NN-slug.md: nothing was written (not a failure).</summary>
    NoPage,

    /// <summary>The page's markers are missing or malformed (<see cref="PageWrite.Error"/> says how): a failure.</summary>
    Failed,
}

/// <summary>One block <see cref="BookPipeline"/> tried to write: the question, its page (null when there is none), the outcome.</summary>
public sealed record PageWrite(int Question, string? PagePath, PageWriteOutcome Outcome, string? Error = null);

/// <summary>
/// What a book build did: the experiment runs (in the order they ran), the blocks written into pages, the site, and
/// the experiments that failed (an exception, or a block that could not be written into its page).
/// </summary>
public sealed record BookReport(IReadOnlyList<ExperimentRun> Runs, IReadOnlyList<PageWrite> PageWrites, SiteReport Site,
                                IReadOnlyList<string> Failed)
{
    /// <summary>True when no experiment failed (a claim that does not hold is not a failure: the page shows it).</summary>
    public bool Succeeded => Failed.Count == 0;
}

/// <summary>
/// The book build behind <c>attn book</c>: runs the selected experiments (each with a fresh figure folder under the temp
/// directory), renders their blocks, writes them into the answer pages when asked, builds the static site
/// (<see cref="SiteBuilder"/>) with the fresh blocks in place of the committed ones, removes the temporary figures,
/// and reports which experiments failed. A failing experiment does not stop the others.
/// <code>
/// var pipeline = new BookPipeline(new BookOptions { Root = root, OutputDirectory = "site", Only = new HashSet&lt;int&gt; { 8 } });
/// BookReport report = pipeline.Run();
/// </code>
/// </summary>
public sealed class BookPipeline
{
    private readonly BookOptions _options;

    /// <summary>Checks <paramref name="options"/> and selects the experiments; nothing is run or written yet.</summary>
    /// <exception cref="ArgumentException">Root or OutputDirectory is empty, Root holds no docs/answers, PagesOnly is
    /// combined with Full, Only or WritePages, Only is empty or names a question without an experiment, or
    /// WritePages is asked of a folder that is not a checkout.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Only names a number outside 1..50.</exception>
    public BookPipeline(BookOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Root))
            throw new ArgumentException($"Expected {nameof(BookOptions.Root)}, the repository root or the tool's book folder; got an empty path.", nameof(options));
        if (string.IsNullOrWhiteSpace(options.OutputDirectory))
            throw new ArgumentException($"Expected {nameof(BookOptions.OutputDirectory)}, the site folder; got an empty path.", nameof(options));
        ArgumentNullException.ThrowIfNull(options.Registry, nameof(options) + "." + nameof(BookOptions.Registry));
        var root = Path.GetFullPath(options.Root);
        var answers = RepoPaths.Answers(root);
        if (!Directory.Exists(answers))
            throw new ArgumentException($"Expected {nameof(BookOptions.Root)} to hold docs/answers; '{root}' has none.", nameof(options));
        if (options.PagesOnly && (options.Full || options.WritePages || options.Only is not null))
            throw new ArgumentException(
                $"{nameof(BookOptions.PagesOnly)} runs no experiment, so it takes none of {nameof(BookOptions.Full)}, {nameof(BookOptions.WritePages)} or {nameof(BookOptions.Only)}.",
                nameof(options));
        if (options.WritePages && !File.Exists(Path.Combine(root, RepoPaths.SolutionFile)))
            throw new ArgumentException(
                $"{nameof(BookOptions.WritePages)} rewrites the pages of a checkout; '{root}' holds no {RepoPaths.SolutionFile}.", nameof(options));
        if (options.Only is { } only)
        {
            if (only.Count == 0)
                throw new ArgumentException($"Expected {nameof(BookOptions.Only)} to name at least one question (null runs all); got an empty set.", nameof(options));
            var outside = only.Where(q => q is < 1 or > Questions.Count).Order().ToList();
            if (outside.Count > 0)
                throw new ArgumentOutOfRangeException(nameof(options),
                    $"Expected {nameof(BookOptions.Only)} to hold question numbers 1..{Questions.Count}; got {string.Join(", ", outside)}.");
            var missing = only.Where(q => options.Registry.Find(q) is null).Order().ToList();
            if (missing.Count > 0)
                throw new ArgumentException(
                    $"{nameof(BookOptions.Only)} names question{(missing.Count == 1 ? "" : "s")} without an experiment: {string.Join(", ", missing)}.", nameof(options));
        }
        _options = options with { Root = root, OutputDirectory = Path.GetFullPath(options.OutputDirectory) };
        Experiments = options.PagesOnly
            ? []
            : options.Registry.All.Where(e => options.Only is null || options.Only.Contains(e.Question)).ToList();
    }

    /// <summary>The options, with Root and OutputDirectory made absolute.</summary>
    public BookOptions Options => _options;

    /// <summary>The experiments <see cref="Run"/> runs, in order (none under PagesOnly).</summary>
    public IReadOnlyList<Experiment> Experiments { get; }

    /// <summary>
    /// Runs the experiments, writes the pages (under WritePages), builds the site and removes the temporary figures.
    /// <paramref name="progress"/> hears of each experiment as it starts, advances and ends; <see cref="IProgress{T}.Report"/>
    /// is called directly (from the experiment's threads for <see cref="BookStage.ExperimentProgress"/>), so it should
    /// be quick and thread-safe. Cancellation stops between experiments or inside one that checks its token, and throws.
    /// </summary>
    /// <exception cref="IOException">The site folder is not empty and was not written by a book build (checked before any
    /// experiment runs), or cannot be written.</exception>
    public BookReport Run(IProgress<BookProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = _options;
        SiteBuilder.CheckOutput(o.OutputDirectory);
        var figureRoot = Path.Combine(Path.GetTempPath(), $"attn-book-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var runs = new List<ExperimentRun>();
            for (int i = 0; i < Experiments.Count; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                var experiment = Experiments[i];
                int index = i, count = Experiments.Count;
                progress?.Report(new BookProgress(BookStage.ExperimentStarting, experiment, index, count));
                var relay = progress is null ? null
                    : new Relay(p => progress.Report(new BookProgress(BookStage.ExperimentProgress, experiment, index, count, p.Fraction, p.Status)));
                var run = ExperimentRunner.Run(experiment, o.Full, o.Seed, Path.Combine(figureRoot, $"q{experiment.Question:00}"), relay,
                                               cancellation: cancellation);
                runs.Add(run);
                progress?.Report(new BookProgress(BookStage.ExperimentFinished, experiment, index, count, 1.0, "", run));
            }

            var blocks = new Dictionary<int, RenderedBlock>();
            foreach (var run in runs.Where(r => r.Succeeded)) blocks[run.Experiment.Question] = RenderedBlock.From(run);

            var writes = new List<PageWrite>();
            if (o.WritePages)
            {
                var pages = Pages.Find(RepoPaths.Answers(o.Root));
                foreach (var block in blocks.Values)
                {
                    if (!pages.TryGetValue(block.Question, out var page))
                    {
                        writes.Add(new PageWrite(block.Question, null, PageWriteOutcome.NoPage));
                        continue;
                    }
                    try
                    {
                        block.WriteInto(page.Path);
                        writes.Add(new PageWrite(block.Question, page.Path, PageWriteOutcome.Written));
                    }
                    catch (FormatException e)
                    {
                        writes.Add(new PageWrite(block.Question, page.Path, PageWriteOutcome.Failed, e.Message));
                    }
                }
            }

            var site = SiteBuilder.Build(new SiteOptions { Root = o.Root, OutputDirectory = o.OutputDirectory, Registry = o.Registry, FreshBlocks = blocks });
            var failedQuestions = runs.Where(r => !r.Succeeded).Select(r => r.Experiment)
                .Concat(writes.Where(w => w.Outcome == PageWriteOutcome.Failed).Select(w => o.Registry.Find(w.Question)!));
            var failed = failedQuestions.Select(e => e.GetType().Name).Distinct().ToList();
            return new BookReport(runs, writes, site, failed);
        }
        finally
        {
            try { if (Directory.Exists(figureRoot)) Directory.Delete(figureRoot, recursive: true); }
            catch (IOException) { /* a figure still open elsewhere: the temp folder is the system's to clean */ }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>An experiment's progress, forwarded as it comes (no synchronization context, unlike Progress&lt;T&gt;).</summary>
    private sealed class Relay(Action<(double Fraction, string Status)> report) : IProgress<(double Fraction, string Status)>
    {
        public void Report((double Fraction, string Status) value) => report(value);
    }
}
