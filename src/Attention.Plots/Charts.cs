using ScottPlot;

namespace Attention.Plots;

/// <summary>One line (or set of points) of a line or scatter chart: X and Y of equal length.</summary>
public sealed record Series(string Label, double[] X, double[] Y);

/// <summary>One group of bars in a bar chart: one value per category.</summary>
public sealed record BarSeries(string Label, double[] Values);

/// <summary>
/// PNG charts for the answer pages, drawn with ScottPlot and the embedded DejaVu Sans font
/// (<see cref="BundledFont"/>) so text renders on any machine. Every method creates the folder of
/// <c>path</c> if needed and overwrites the file.
/// </summary>
public static class Charts
{
    // Axis frames and grids are grey so that black is left to text: the plots tests find the
    // title by looking for black pixels, and readers see data, not scaffolding, first.
    private static readonly Color FrameColor = Color.FromHex("#808080");
    private static readonly Color GridColor = Color.FromHex("#e6e6e6");

    /// <summary>
    /// Writes a heatmap PNG of <paramref name="values"/> (rows × columns) with row 0 at the top,
    /// column 0 at the left, the viridis colour map and a colour bar. NaN cells are drawn light grey.
    /// Labels, when given, must have one entry per row / column; long label lists are thinned.
    /// </summary>
    public static void Heatmap(string path, float[,] values, string title,
                               IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null,
                               string? xLabel = null, string? yLabel = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(title);
        int rows = values.GetLength(0), cols = values.GetLength(1);
        if (rows == 0 || cols == 0)
            throw new ArgumentException($"Heatmap needs at least one row and one column; got {rows}×{cols}.", nameof(values));
        if (rowLabels is not null && rowLabels.Count != rows)
            throw new ArgumentException($"Heatmap has {rows} rows but {rowLabels.Count} row labels.", nameof(rowLabels));
        if (columnLabels is not null && columnLabels.Count != cols)
            throw new ArgumentException($"Heatmap has {cols} columns but {columnLabels.Count} column labels.", nameof(columnLabels));

        var data = new double[rows, cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                data[r, c] = values[r, c];

        var plot = NewPlot(title, xLabel, yLabel);
        var heatmap = plot.Add.Heatmap(data);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.NaNCellColor = Color.FromHex("#d0d0d0");
        // ScottPlot centres cell (r, c) on (x = c, y = r) and draws row 0 at the top once the Y axis is
        // inverted (the plots tests pin both by reading pixels back)
        var colourBar = plot.Add.ColorBar(heatmap);
        colourBar.Axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { TargetTickCount = 6 };
        plot.HideGrid();
        plot.Axes.Margins(0, 0);
        plot.Axes.InvertY();

        plot.Axes.Bottom.SetTicks(Centres(cols, out var colIndex), TickTexts(colIndex, columnLabels));
        plot.Axes.Left.SetTicks(Centres(rows, out var rowIndex), TickTexts(rowIndex, rowLabels));
        int longestColumnLabel = columnLabels?.Max(l => l.Length) ?? 3;
        if (longestColumnLabel > 3 && colIndex.Length > 6)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -60;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plot.Axes.Bottom.MinimumSize = 20 + 6.5f * Math.Min(longestColumnLabel, 24);
        }

        // square-ish cells, the larger side of the data area about 520 px
        double cell = Math.Clamp(520.0 / Math.Max(rows, cols), 4, 48);
        int width = (int)Math.Max(360, cols * cell + 260);
        int height = (int)Math.Max(300, rows * cell + 170);
        Save(plot, path, width, height);
    }

    /// <summary>
    /// Writes a line chart PNG, one line with markers per series and a legend to the right of the data. With <paramref name="logX"/> or
    /// <paramref name="logY"/> that axis is base-10 logarithmic; points that are not positive there are dropped.
    /// </summary>
    public static void Lines(string path, string title, string xLabel, string yLabel,
                             IReadOnlyList<Series> series, bool logX = false, bool logY = false)
        => XY(path, title, xLabel, yLabel, series, logX, logY, connect: true);

    /// <summary>Writes a scatter chart PNG (markers only, no connecting lines); otherwise as <see cref="Lines"/>.</summary>
    public static void Scatter(string path, string title, string xLabel, string yLabel,
                               IReadOnlyList<Series> series, bool logX = false, bool logY = false)
        => XY(path, title, xLabel, yLabel, series, logX, logY, connect: false);

    /// <summary>
    /// Writes a grouped bar chart PNG: one group of bars per category, one bar per series in each group,
    /// and a legend when there is more than one series. Values may be negative.
    /// </summary>
    public static void Bars(string path, string title, string yLabel,
                            IReadOnlyList<string> categories, IReadOnlyList<BarSeries> series)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentNullException.ThrowIfNull(series);
        if (categories.Count == 0) throw new ArgumentException("Bar chart needs at least one category; got none.", nameof(categories));
        if (series.Count == 0) throw new ArgumentException("Bar chart needs at least one series; got none.", nameof(series));
        foreach (var s in series)
            if (s.Values.Length != categories.Count)
                throw new ArgumentException($"Bar series '{s.Label}' has {s.Values.Length} values; expected one per category ({categories.Count}).", nameof(series));

        var plot = NewPlot(title, null, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        double groupWidth = 0.8, barWidth = groupWidth / series.Count;
        var bars = new List<Bar>();
        for (int si = 0; si < series.Count; si++)
        {
            var colour = palette.GetColor(si);
            for (int ci = 0; ci < categories.Count; ci++)
            {
                bars.Add(new Bar
                {
                    Position = ci - groupWidth / 2 + barWidth * (si + 0.5),
                    Value = series[si].Values[ci],
                    Size = barWidth * 0.92,
                    FillColor = colour,
                    LineWidth = 0,
                });
            }
            if (series.Count > 1)
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = series[si].Label, FillColor = colour });
        }
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, categories.Count).Select(i => (double)i).ToArray(), categories.ToArray());
        if (categories.Max(c => c.Length) > 8 && categories.Count > 4)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
            plot.Axes.Bottom.MinimumSize = 20 + 6 * Math.Min(categories.Max(c => c.Length), 30);
        }
        plot.Axes.Margins(bottom: 0);
        plot.HideGrid();
        plot.Grid.YAxisStyle.MajorLineStyle.Width = 1;
        plot.Grid.YAxisStyle.MajorLineStyle.Color = GridColor;
        int width = Math.Max(480, 70 * categories.Count * Math.Max(1, series.Count / 2) + 160);
        if (series.Count > 1) plot.ShowLegend(Edge.Right);
        Save(plot, path, series.Count > 1 ? width + LegendWidth(series.Select(s => s.Label)) : width, 420);
    }

    private static void XY(string path, string title, string xLabel, string yLabel,
                           IReadOnlyList<Series> series, bool logX, bool logY, bool connect)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(series);
        if (series.Count == 0) throw new ArgumentException("Chart needs at least one series; got none.", nameof(series));
        foreach (var s in series)
        {
            ArgumentNullException.ThrowIfNull(s, nameof(series));
            if (s.X.Length != s.Y.Length)
                throw new ArgumentException($"Series '{s.Label}' has {s.X.Length} x values and {s.Y.Length} y values; expected equal lengths.", nameof(series));
        }

        var plot = NewPlot(title, xLabel, yLabel);
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var xs = new List<double>(s.X.Length);
            var ys = new List<double>(s.Y.Length);
            for (int k = 0; k < s.X.Length; k++)
            {
                double x = s.X[k], y = s.Y[k];
                if ((logX && !(x > 0)) || (logY && !(y > 0)) || !double.IsFinite(x) || !double.IsFinite(y)) continue;
                xs.Add(logX ? Math.Log10(x) : x);
                ys.Add(logY ? Math.Log10(y) : y);
            }
            var scatter = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), palette.GetColor(i));
            scatter.LegendText = s.Label;
            scatter.LineWidth = connect ? 2 : 0;
            scatter.MarkerSize = connect ? (xs.Count <= 40 ? 5 : 0) : 6;
        }
        if (logX) plot.Axes.Bottom.TickGenerator = LogTicks();
        if (logY) plot.Axes.Left.TickGenerator = LogTicks();
        // the legend sits outside the data area, on the right, so it never hides a line
        bool legend = series.Count > 1 || !string.IsNullOrEmpty(series[0].Label);
        if (legend) plot.ShowLegend(Edge.Right);
        Save(plot, path, legend ? 640 + LegendWidth(series.Select(s => s.Label)) : 640, 440);
    }

    // room for a legend on the right: swatch, padding and about 7 px per character of the longest label
    private static int LegendWidth(IEnumerable<string> labels) => 60 + 7 * Math.Min(40, labels.Select(l => l?.Length ?? 0).DefaultIfEmpty(0).Max());

    private static Plot NewPlot(string title, string? xLabel, string? yLabel)
    {
        BundledFont.EnsureRegistered();
        var plot = new Plot();
        plot.Font.Set(BundledFont.Name);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        plot.Axes.Color(FrameColor);
        // keep text black even though the frame is grey
        foreach (var axis in plot.Axes.GetAxes())
        {
            axis.Label.ForeColor = Colors.Black;
            axis.TickLabelStyle.ForeColor = Colors.Black;
        }
        plot.Grid.MajorLineColor = GridColor;
        if (!string.IsNullOrEmpty(title))
        {
            plot.Title(title);
            plot.Axes.Title.Label.ForeColor = Colors.Black;
        }
        if (!string.IsNullOrEmpty(xLabel)) plot.XLabel(xLabel);
        if (!string.IsNullOrEmpty(yLabel)) plot.YLabel(yLabel);
        return plot;
    }

    private static void Save(Plot plot, string path, int width, int height)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        plot.SavePng(path, width, height);
    }

    // Tick positions at cell centres (integers, see Heatmap); with more than 40 cells only every k-th is labelled.
    private static double[] Centres(int count, out int[] index)
    {
        int step = count <= 40 ? 1 : (int)Math.Ceiling(count / 30.0);
        index = Enumerable.Range(0, count).Where(i => i % step == 0).ToArray();
        return index.Select(i => (double)i).ToArray();
    }

    private static string[] TickTexts(int[] index, IReadOnlyList<string>? labels)
        => index.Select(i => labels is null ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : Shorten(labels[i], 24)).ToArray();

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static ScottPlot.TickGenerators.NumericAutomatic LogTicks() => new()
    {
        MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        IntegerTicksOnly = true,
        LabelFormatter = FormatPowerOfTen,
    };

    /// <summary>Formats the label of a log-axis tick at log10 value <paramref name="exponent"/>: 0.01, 1, 1000, 1e6.</summary>
    public static string FormatPowerOfTen(double exponent)
    {
        int k = (int)Math.Round(exponent);
        if (k is >= -3 and <= 4) return Math.Pow(10, k).ToString("0.####", System.Globalization.CultureInfo.InvariantCulture);
        return "1e" + k.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
