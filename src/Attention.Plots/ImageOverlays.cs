using ScottPlot;

namespace Attention.Plots;

/// <summary>One panel of <see cref="ImageOverlays.Write"/>: a greyscale image, a heat grid drawn over it, a caption and an
/// optional box (rows [Top, Bottom), columns [Left, Right) in image pixels) outlined on top.</summary>
public sealed record OverlayPanel(float[,] Image, float[,] Heat, string Caption, (int Top, int Left, int Bottom, int Right)? Box = null);

/// <summary>
/// A grid of images with an attention map laid over each (the heat grid is stretched over the whole image, one block per
/// cell, so a 7×7 patch map lands on its 4×4-pixel patches of a 28×28 digit). Each heat grid is scaled to its own
/// [min, max] and drawn with the inferno colour map at half opacity over the greyscale image.
/// </summary>
public static class ImageOverlays
{
    /// <summary>Writes the PNG. All images must share one size; heat grids may be any size.</summary>
    /// <exception cref="ArgumentException">No panels, images of different sizes, or an empty heat grid.</exception>
    public static void Write(string path, string title, IReadOnlyList<OverlayPanel> panels, int columns = 5, double heatOpacity = 0.55)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("expected at least one panel, got none", nameof(panels));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        int h = panels[0].Image.GetLength(0), w = panels[0].Image.GetLength(1);
        foreach (var p in panels)
        {
            if (p.Image.GetLength(0) != h || p.Image.GetLength(1) != w)
                throw new ArgumentException($"expected every image {h}×{w}, got {p.Image.GetLength(0)}×{p.Image.GetLength(1)}", nameof(panels));
            if (p.Heat.Length == 0) throw new ArgumentException("expected a non-empty heat grid", nameof(panels));
        }
        BundledFont.EnsureRegistered();
        var plot = new Plot();
        plot.Font.Set(BundledFont.Name);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        if (!string.IsNullOrEmpty(title))
        {
            plot.Title(title);
            plot.Axes.Title.Label.ForeColor = Colors.Black;
        }
        double gap = Math.Max(2, w * 0.12), captionRoom = Math.Max(4, h * 0.22);
        int rows = (panels.Count + columns - 1) / columns;
        for (int k = 0; k < panels.Count; k++)
        {
            var p = panels[k];
            int row = k / columns, col = k % columns;
            // y grows upwards in the plot: panel rows are laid out from the top down
            double left = col * (w + gap), top = (rows - row) * (h + gap + captionRoom), bottom = top - h;
            var image = plot.Add.Heatmap(ToDouble(p.Image, normalise: false));
            image.Colormap = new ScottPlot.Colormaps.Grayscale();
            image.ManualRange = new ScottPlot.Range(0, 1);
            image.Extent = new CoordinateRect(left, left + w, bottom, top);
            var heat = plot.Add.Heatmap(ToDouble(p.Heat, normalise: true));
            heat.Colormap = new ScottPlot.Colormaps.Inferno();
            heat.Opacity = heatOpacity;
            heat.Extent = new CoordinateRect(left, left + w, bottom, top);
            if (p.Box is { } b)
            {
                var rect = plot.Add.Rectangle(left + b.Left, left + b.Right, top - b.Bottom, top - b.Top);
                rect.FillStyle.Color = Colors.Transparent;
                rect.LineStyle.Color = Colors.Cyan;
                rect.LineStyle.Width = 1.5f;
            }
            var text = plot.Add.Text(p.Caption, left + w / 2.0, bottom - 1);
            text.LabelFontColor = Colors.Black;
            text.LabelFontSize = 12;
            text.LabelAlignment = Alignment.UpperCenter;
        }
        plot.HideGrid();
        // hide the axes but keep the title panel (Axes.Frameless would drop the title too)
        plot.Axes.Left.IsVisible = false; plot.Axes.Right.IsVisible = false;
        plot.Axes.Bottom.IsVisible = false; plot.Axes.Top.IsVisible = false;
        // the lowest panel row starts at y = h + gap + captionRoom - h = gap + captionRoom; its caption sits below that
        plot.Axes.SetLimits(-gap / 2, columns * (w + gap) - gap / 2, gap / 2, rows * (h + gap + captionRoom) + gap / 2);
        int cell = Math.Clamp(160 / Math.Max(h, w), 2, 8);
        int width = (int)(columns * (w + gap) * cell) + 40, height = (int)(rows * (h + gap + captionRoom) * cell) + 70;
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        plot.SavePng(path, width, height);
    }

    // row 0 of the data is the top row of the picture; ScottPlot's heatmap puts row 0 at the top of its extent
    private static double[,] ToDouble(float[,] values, bool normalise)
    {
        int r = values.GetLength(0), c = values.GetLength(1);
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (var v in values) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        double span = hi > lo ? hi - lo : 1;
        var d = new double[r, c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) d[i, j] = normalise ? (values[i, j] - lo) / span : values[i, j];
        return d;
    }
}
