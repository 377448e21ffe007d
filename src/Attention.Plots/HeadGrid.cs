using ScottPlot;
using SkiaSharp;

namespace Attention.Plots;

/// <summary>
/// A grid of attention heatmaps, one thumbnail per head: rows are layers (bottom layer first), columns heads,
/// every thumbnail on the same colour scale [0, max] so heads can be compared by eye. Query tokens label the
/// rows of the left column, key tokens the columns of the bottom row; each thumbnail is titled "L{layer} H{head}".
/// </summary>
public static class HeadGrid
{
    /// <summary>
    /// Writes the grid PNG. <paramref name="heads"/>[layer][head] is a (T, T) matrix, row i = query token i's
    /// weights over the keys; <paramref name="tokens"/> has T labels. <paramref name="max"/> fixes the top of the
    /// colour scale (default 1, the largest possible weight).
    /// </summary>
    public static void Write(string path, IReadOnlyList<IReadOnlyList<float[,]>> heads, IReadOnlyList<string> tokens, string title, double max = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(heads);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(title);
        if (heads.Count == 0 || heads[0].Count == 0) throw new ArgumentException("Head grid needs at least one layer with one head; got none.", nameof(heads));
        int layers = heads.Count, perLayer = heads[0].Count, t = tokens.Count;
        if (t == 0) throw new ArgumentException("Head grid needs at least one token label; got none.", nameof(tokens));
        if (!(max > 0)) throw new ArgumentOutOfRangeException(nameof(max), max, "expected a positive top of the colour scale");
        for (int l = 0; l < layers; l++)
        {
            if (heads[l].Count != perLayer)
                throw new ArgumentException($"Head grid expects {perLayer} heads in every layer; layer {l} has {heads[l].Count}.", nameof(heads));
            foreach (var m in heads[l])
                if (m.GetLength(0) != t || m.GetLength(1) != t)
                    throw new ArgumentException($"Head grid expects {t}×{t} matrices (one row and column per token); layer {l} has {m.GetLength(0)}×{m.GetLength(1)}.", nameof(heads));
        }
        BundledFont.EnsureRegistered();

        var labels = tokens.Select(s => s.Length <= 10 ? s : s[..9] + "…").ToArray();
        int longest = labels.Max(s => s.Length);
        int cell = Math.Clamp(150 / t, 4, 14);
        int data = cell * t;
        const int titleBand = 40, pad = 6, panelTitle = 18;
        int labelRoom = 14 + 7 * longest;
        int width = labelRoom + perLayer * (data + pad) + pad;
        int height = titleBand + layers * (data + panelTitle + pad) + labelRoom;

        using var surface = SKSurface.Create(new SKImageInfo(width, height))
            ?? throw new InvalidOperationException($"Skia could not create a {width}×{height} surface.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        var typeface = TitleTypeface();
        using var small = new SKFont(typeface ?? SKTypeface.Default, 11);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < perLayer; h++)
            {
                bool left = h == 0, bottom = l == layers - 1;
                int x0 = left ? 0 : labelRoom + h * (data + pad);
                int y0 = titleBand + l * (data + panelTitle + pad);
                int w = (left ? labelRoom : 0) + data + pad;
                int hgt = panelTitle + data + pad + (bottom ? labelRoom : 0);
                var plot = Panel(heads[l][h], left ? labels : null, bottom ? labels : null, max);
                plot.Layout.Fixed(new PixelPadding(left ? labelRoom : 0, pad, bottom ? labelRoom : pad, panelTitle));
                // each panel renders alone (Plot.Render clears the whole canvas it is given), then is pasted in place
                using var bitmap = SKBitmap.Decode(plot.GetImageBytes(w, hgt, ImageFormat.Png));
                canvas.DrawBitmap(bitmap, x0, y0);
                // the panel's name above its data area, drawn here (ScottPlot leaves no room for a title in so small a panel)
                canvas.DrawText($"L{l} H{h}", x0 + (left ? labelRoom : 0) + data / 2f, y0 + panelTitle - 5, SKTextAlign.Center, small, ink);
            }
        using (var font = new SKFont(SKTypeface.Default, 18))
        using (var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true })
        {
            if (typeface is not null) font.Typeface = typeface;
            canvas.DrawText(title, 10, 26, SKTextAlign.Left, font, paint);
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        png.SaveTo(file);
    }

    private static Plot Panel(float[,] values, string[]? rowLabels, string[]? columnLabels, double max)
    {
        int t = values.GetLength(0);
        var cells = new double[t, t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) cells[i, j] = values[i, j];
        var plot = new Plot();
        plot.Font.Set(BundledFont.Name);
        plot.FigureBackground.Color = Colors.White;
        var heatmap = plot.Add.Heatmap(cells);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, max);
        plot.HideGrid();
        plot.Axes.Margins(0, 0);
        plot.Axes.InvertY();
        plot.Axes.Color(Color.FromHex("#808080"));
        var centres = Enumerable.Range(0, t).Select(i => (double)i).ToArray();
        var blank = new string[t];
        Array.Fill(blank, "");
        plot.Axes.Left.SetTicks(centres, rowLabels ?? blank);
        plot.Axes.Bottom.SetTicks(centres, columnLabels ?? blank);
        foreach (var axis in new IAxis[] { plot.Axes.Left, plot.Axes.Bottom })
        {
            axis.TickLabelStyle.FontSize = 10;
            axis.TickLabelStyle.ForeColor = Colors.Black;
            axis.MajorTickStyle.Length = rowLabels is null && columnLabels is null ? 0 : 2;
        }
        plot.Axes.Bottom.TickLabelStyle.Rotation = -90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        return plot;
    }

    // the bundled DejaVu Sans, through ScottPlot's resolver chain (so a bare machine still draws the title)
    private static SKTypeface? TitleTypeface()
    {
        foreach (var resolver in ScottPlot.Fonts.FontResolvers)
        {
            var face = resolver.CreateTypeface(BundledFont.Name, false, false);
            if (face is not null) return face;
        }
        return null;
    }
}
