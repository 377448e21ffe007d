using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Attention.Plots;

/// <summary>
/// A heatmap for the terminal: each cell is two block characters coloured on the viridis ramp
/// (shade characters ░▒▓█ when the console has no colour), row labels on the left, column labels
/// written vertically above, and a scale line with the minimum and maximum below. Readable up to
/// about 40 × 40; larger matrices are averaged down to fit the width the console offers.
/// </summary>
public sealed class TerminalHeatmap : IRenderable
{
    // viridis, sampled at 9 stops (from the matplotlib colour map definition)
    private static readonly (byte R, byte G, byte B)[] Ramp =
    [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ];
    private const string Shades = " ░▒▓█";
    private const int MaxLabelWidth = 12;

    private readonly float[,] _values;
    private readonly IReadOnlyList<string> _rowLabels;
    private readonly IReadOnlyList<string> _columnLabels;
    private readonly string? _title;

    /// <summary>Creates the renderable; labels optional (default: indices), one per row / column when given.</summary>
    public TerminalHeatmap(float[,] values, IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        int rows = values.GetLength(0), cols = values.GetLength(1);
        if (rows == 0 || cols == 0)
            throw new ArgumentException($"Terminal heatmap needs at least one row and one column; got {rows}×{cols}.", nameof(values));
        if (rowLabels is not null && rowLabels.Count != rows)
            throw new ArgumentException($"Terminal heatmap has {rows} rows but {rowLabels.Count} row labels.", nameof(rowLabels));
        if (columnLabels is not null && columnLabels.Count != cols)
            throw new ArgumentException($"Terminal heatmap has {cols} columns but {columnLabels.Count} column labels.", nameof(columnLabels));
        _values = values;
        _rowLabels = rowLabels ?? Enumerable.Range(0, rows).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        _columnLabels = columnLabels ?? Enumerable.Range(0, cols).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        _title = title;
    }

    /// <summary>Shorthand: the renderable for <paramref name="values"/>, to pass to <c>IAnsiConsole.Write</c>.</summary>
    public static IRenderable Render(float[,] values, IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null, string? title = null)
        => new TerminalHeatmap(values, rowLabels, columnLabels, title);

    /// <inheritdoc />
    public Measurement Measure(RenderOptions options, int maxWidth)
    {
        var layout = Layout(maxWidth);
        int width = Math.Min(maxWidth, layout.LabelWidth + 1 + 2 * layout.Cols);
        return new Measurement(Math.Min(width, maxWidth), Math.Min(width, maxWidth));
    }

    /// <inheritdoc />
    public IEnumerable<Segment> Render(RenderOptions options, int maxWidth)
    {
        var (grid, rowLabels, colLabels, labelWidth, rows, cols) = Layout(maxWidth);
        bool colour = options.ColorSystem != ColorSystem.NoColors;
        var (min, max) = Range(grid);
        var segments = new List<Segment>();

        if (!string.IsNullOrEmpty(_title))
        {
            segments.Add(new Segment(_title, new Style(decoration: Decoration.Bold)));
            segments.Add(Segment.LineBreak);
        }

        // column labels, one character per line, each centred over its two-character cell
        int labelLines = Math.Min(colLabels.Max(l => l.Length), 6);
        for (int line = 0; line < labelLines; line++)
        {
            var text = new System.Text.StringBuilder(new string(' ', labelWidth + 1));
            foreach (var label in colLabels)
            {
                int offset = labelLines - Math.Min(label.Length, labelLines);  // bottom-align short labels
                int at = line - offset;
                text.Append(at >= 0 && at < label.Length ? label[at] : ' ').Append(' ');
            }
            segments.Add(new Segment(text.ToString().TrimEnd(), new Style(Color.Grey)));
            segments.Add(Segment.LineBreak);
        }

        for (int r = 0; r < rows; r++)
        {
            segments.Add(new Segment(rowLabels[r].PadLeft(labelWidth) + " ", new Style(Color.Grey)));
            for (int c = 0; c < cols; c++)
            {
                double v = grid[r, c];
                if (double.IsNaN(v)) { segments.Add(new Segment("··", new Style(Color.Grey))); continue; }
                double t = max > min ? (v - min) / (max - min) : 0.5;
                if (colour)
                {
                    var (cr, cg, cb) = Colour(t);
                    segments.Add(new Segment("██", new Style(new Color(cr, cg, cb))));
                }
                else
                {
                    char ch = Shades[(int)Math.Round(t * (Shades.Length - 1))];
                    segments.Add(new Segment(new string(ch, 2)));
                }
            }
            segments.Add(Segment.LineBreak);
        }

        // scale: min, a small ramp, max
        segments.Add(new Segment(new string(' ', labelWidth + 1) + Table(min) + " ", new Style(Color.Grey)));
        for (int i = 0; i < 8; i++)
        {
            double t = i / 7.0;
            if (colour) { var (cr, cg, cb) = Colour(t); segments.Add(new Segment("█", new Style(new Color(cr, cg, cb)))); }
            else segments.Add(new Segment(Shades[(int)Math.Round(t * (Shades.Length - 1))].ToString()));
        }
        segments.Add(new Segment(" " + Table(max), new Style(Color.Grey)));
        if (rows != _values.GetLength(0) || cols != _values.GetLength(1))
            segments.Add(new Segment($"  ({_values.GetLength(0)}×{_values.GetLength(1)} shown as {rows}×{cols} block means)", new Style(Color.Grey)));
        segments.Add(Segment.LineBreak);
        return segments;
    }

    private static string Table(double v) => v.ToString("G3", CultureInfo.InvariantCulture);

    /// <summary>The viridis colour at t in [0, 1] (linear between the stops).</summary>
    public static (byte R, byte G, byte B) Colour(double t)
    {
        t = Math.Clamp(double.IsNaN(t) ? 0 : t, 0, 1) * (Ramp.Length - 1);
        int i = Math.Min((int)t, Ramp.Length - 2);
        double f = t - i;
        var (a, b) = (Ramp[i], Ramp[i + 1]);
        return ((byte)Math.Round(a.R + (b.R - a.R) * f), (byte)Math.Round(a.G + (b.G - a.G) * f), (byte)Math.Round(a.B + (b.B - a.B) * f));
    }

    private static (double Min, double Max) Range(double[,] grid)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in grid)
        {
            if (!double.IsFinite(v)) continue;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        return double.IsInfinity(min) ? (0, 0) : (min, max);
    }

    // Fits the matrix into maxWidth: labels get up to 12 characters, each cell two; when too wide or too
    // tall (over 60 rows) the matrix is averaged over blocks.
    private (double[,] Grid, string[] RowLabels, string[] ColLabels, int LabelWidth, int Rows, int Cols) Layout(int maxWidth)
    {
        int rows = _values.GetLength(0), cols = _values.GetLength(1);
        int labelWidth = Math.Min(MaxLabelWidth, _rowLabels.Max(l => l.Length));
        int fitCols = Math.Max(1, (maxWidth - labelWidth - 1) / 2);
        int colStep = (int)Math.Ceiling(cols / (double)Math.Min(fitCols, cols));
        int rowStep = (int)Math.Ceiling(rows / (double)Math.Min(60, rows));
        int outRows = (rows + rowStep - 1) / rowStep, outCols = (cols + colStep - 1) / colStep;
        var grid = new double[outRows, outCols];
        for (int r = 0; r < outRows; r++)
            for (int c = 0; c < outCols; c++)
            {
                double sum = 0; int n = 0;
                for (int i = r * rowStep; i < Math.Min(rows, (r + 1) * rowStep); i++)
                    for (int j = c * colStep; j < Math.Min(cols, (c + 1) * colStep); j++)
                        if (!float.IsNaN(_values[i, j])) { sum += _values[i, j]; n++; }
                grid[r, c] = n == 0 ? double.NaN : sum / n;
            }
        string Clip(string s) => s.Length <= labelWidth ? s : s[..(labelWidth - 1)] + "…";
        var rowLabels = Enumerable.Range(0, outRows).Select(r => Clip(_rowLabels[r * rowStep])).ToArray();
        var colLabels = Enumerable.Range(0, outCols).Select(c => _columnLabels[c * colStep]).ToArray();
        return (grid, rowLabels, colLabels, labelWidth, outRows, outCols);
    }
}
