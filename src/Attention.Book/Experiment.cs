namespace Attention.Book;

/// <summary>
/// One answer's evidence: a seeded run that measures or trains something and returns the
/// numbers, tables, figures and checked claims that the page `docs/answers/NN-slug.md` shows.
/// Subclasses are named <c>QNN_Slug</c> and live in <c>Experiments/</c>.
/// </summary>
public abstract class Experiment
{
    /// <summary>The question number, 1..50 (the NN of the page and class).</summary>
    public abstract int Question { get; }

    /// <summary>A one-line title (the question, shortened).</summary>
    public abstract string Title { get; }

    /// <summary>Runs the experiment. Quick by default (seconds); <see cref="ExperimentContext.Full"/> for the published numbers.</summary>
    public abstract ExperimentResult Run(ExperimentContext context);
}

/// <summary>What an experiment is given: its setting, seed, where to write figures, and how to report progress.</summary>
public sealed class ExperimentContext
{
    /// <summary>The long setting used for the published pages (<c>--full</c>).</summary>
    public bool Full { get; init; }

    /// <summary>The seed every random draw in the run derives from.</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>Folder for figures (PNG). Created by the runner before <see cref="Experiment.Run"/>.</summary>
    public string FigureDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "attn-figures");

    /// <summary>Progress in [0, 1] with a short status text; may be ignored.</summary>
    public IProgress<(double Fraction, string Status)>? Progress { get; init; }

    public CancellationToken Cancellation { get; init; }

    /// <summary>
    /// Free text the user passed with <c>attn show N --input TEXT</c> (alias <c>--word</c>), e.g. the word whose
    /// alignment question 3 draws; null when none was given. Experiments that take no input ignore it.
    /// </summary>
    public string? Input { get; init; }

    /// <summary>Reports progress if anyone listens.</summary>
    public void Report(double fraction, string status) => Progress?.Report((Math.Clamp(fraction, 0, 1), status));

    /// <summary>A path for a figure file inside <see cref="FigureDirectory"/>, e.g. <c>FigurePath("q14-entropy.png")</c>.</summary>
    public string FigurePath(string fileName)
    {
        Directory.CreateDirectory(FigureDirectory);
        return Path.Combine(FigureDirectory, fileName);
    }
}

/// <summary>Everything an experiment found. Metric names are stable keys (snake_case): outside checks read them.</summary>
public sealed class ExperimentResult
{
    public int Question { get; init; }
    public Dictionary<string, double> Metrics { get; } = new();
    public List<Check> Checks { get; } = new();
    public List<Table> Tables { get; } = new();
    public List<Figure> Figures { get; } = new();
    /// <summary>Free notes shown under the tables (machine, time taken, caveats).</summary>
    public List<string> Notes { get; } = new();

    /// <summary>Records a claim and whether the run supports it. <paramref name="timing"/> marks claims that rest on
    /// wall-clock measurements: they are reported everywhere but the tests do not fail on them (machines are noisy).</summary>
    public ExperimentResult Check(string claim, bool holds, string? detail = null, bool timing = false)
    {
        Checks.Add(new Check(claim, holds, detail, timing));
        return this;
    }
}

/// <summary>A claim the experiment tests, e.g. "flash matches the float64 reference within 1e-5".
/// <see cref="Timing"/> claims depend on wall-clock time and are not asserted by tests.</summary>
public sealed record Check(string Claim, bool Holds, string? Detail = null, bool Timing = false);

/// <summary>A table of already formatted cells.</summary>
public sealed class Table
{
    public Table(string title, params string[] columns)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(title);
        if (columns.Length == 0) throw new ArgumentException("A table needs at least one column.", nameof(columns));
        Title = title;
        Columns = columns;
    }

    public string Title { get; }
    public IReadOnlyList<string> Columns { get; }
    public List<string[]> Rows { get; } = new();

    /// <summary>Adds a row; each cell is formatted with <see cref="Format"/>.</summary>
    public Table AddRow(params object[] cells)
    {
        if (cells.Length != Columns.Count)
            throw new ArgumentException($"Table '{Title}' has {Columns.Count} columns; the row has {cells.Length} cells.", nameof(cells));
        Rows.Add(cells.Select(Format).ToArray());
        return this;
    }

    /// <summary>Formats a cell: doubles with up to 4 significant digits, everything else with ToString.</summary>
    public static string Format(object cell) => cell switch
    {
        double d => FormatNumber(d),
        float f => FormatNumber(f),
        _ => Convert.ToString(cell, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    public static string FormatNumber(double d)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsPositiveInfinity(d)) return "∞";
        if (double.IsNegativeInfinity(d)) return "−∞";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e7) return d.ToString("0", System.Globalization.CultureInfo.InvariantCulture);
        var a = Math.Abs(d);
        if (a != 0 && (a < 1e-3 || a >= 1e7)) return d.ToString("0.###e+0", System.Globalization.CultureInfo.InvariantCulture);
        return d.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// A figure: a PNG written under <see cref="ExperimentContext.FigureDirectory"/>, and, for heatmaps,
/// the matrix itself so the terminal can draw it too.
/// </summary>
public sealed record Figure(string Path, string Caption)
{
    /// <summary>An HTML figure (an interactive view): linked from the page rather than shown as an image.</summary>
    public bool IsInteractive => System.IO.Path.GetExtension(Path).Equals(".html", StringComparison.OrdinalIgnoreCase);

    /// <summary>The heatmap values (rows × columns), if the figure is a heatmap; drawn in the terminal by <c>attn show</c>.</summary>
    public float[,]? Heatmap { get; init; }
    public IReadOnlyList<string>? RowLabels { get; init; }
    public IReadOnlyList<string>? ColumnLabels { get; init; }
}
