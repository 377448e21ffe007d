namespace Attention.Plots;

/// <summary>One line of a line chart.</summary>
public sealed record Series(string Label, double[] X, double[] Y);

/// <summary>PNG charts for the answer pages (ScottPlot with a bundled font, so text never vanishes).</summary>
public static class Charts
{
    /// <summary>Writes a heatmap PNG; row 0 at the top; labels optional (one per row / column).</summary>
    public static void Heatmap(string path, float[,] values, string title,
                               IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null,
                               string? xLabel = null, string? yLabel = null)
        { } // placeholder: writes nothing until the plots work lands

    /// <summary>Writes a line chart PNG with one line per series; log axes optional.</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel,
                             IReadOnlyList<Series> series, bool logX = false, bool logY = false)
        { } // placeholder: writes nothing until the plots work lands
}
