using ScottPlot;

namespace Attention.Plots;

/// <summary>
/// The speech answer's figure: a log-mel spectrogram with, below it on the same time axis, the attention of every
/// output token over the encoder steps, and the gold word boundaries drawn through both (answer 29).
/// </summary>
public static class SpeechCharts
{
    /// <summary>
    /// Writes the PNG. <paramref name="spectrogram"/> is (bands × frames), band 0 the lowest (drawn at the bottom);
    /// <paramref name="attention"/> is (outputs × steps), step k covering frames [k·reduction, (k+1)·reduction);
    /// <paramref name="words"/> are the gold word spans in seconds, <paramref name="wordLabels"/> their text, and
    /// <paramref name="outputLabels"/> one label per attention row. Frame t is drawn at t·<paramref name="secondsPerFrame"/>.
    /// </summary>
    public static void SpectrogramWithAttention(string path, string title, float[,] spectrogram, float[,] attention, int reduction,
                                                double secondsPerFrame, IReadOnlyList<(double Start, double End)> words,
                                                IReadOnlyList<string> wordLabels, IReadOnlyList<string> outputLabels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(spectrogram);
        ArgumentNullException.ThrowIfNull(attention);
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(wordLabels);
        ArgumentNullException.ThrowIfNull(outputLabels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(reduction);
        if (!(secondsPerFrame > 0)) throw new ArgumentOutOfRangeException(nameof(secondsPerFrame), secondsPerFrame, "expected a positive frame period");
        int bands = spectrogram.GetLength(0), frames = spectrogram.GetLength(1), outputs = attention.GetLength(0), steps = attention.GetLength(1);
        if (bands == 0 || frames == 0 || outputs == 0 || steps == 0)
            throw new ArgumentException($"expected a non-empty spectrogram and attention, got {bands}×{frames} and {outputs}×{steps}");
        if (outputLabels.Count != outputs)
            throw new ArgumentException($"expected {outputs} output labels (one per attention row), got {outputLabels.Count}", nameof(outputLabels));
        if (wordLabels.Count != words.Count)
            throw new ArgumentException($"expected {words.Count} word labels (one per word), got {wordLabels.Count}", nameof(wordLabels));
        BundledFont.EnsureRegistered();

        var plot = new Plot();
        plot.Font.Set(BundledFont.Name);
        plot.FigureBackground.Color = Colors.White;
        plot.Title(title);
        plot.XLabel("time (s)");
        plot.HideGrid();
        plot.Axes.Color(Color.FromHex("#808080"));

        // attention rows fill y ∈ [0, outputs), row 0 at the top; the spectrogram sits above them, a little taller
        double gap = 0.4, specHeight = Math.Max(3, outputs), specBottom = outputs + gap, specTop = specBottom + specHeight;
        double end = frames * secondsPerFrame, stepSeconds = reduction * secondsPerFrame;

        // ScottPlot draws heatmap row 0 at the top of its rectangle: put the highest band in row 0
        var spec = new double[bands, frames];
        for (int b = 0; b < bands; b++)
            for (int t = 0; t < frames; t++) spec[bands - 1 - b, t] = spectrogram[b, t];
        var specMap = plot.Add.Heatmap(spec);
        specMap.Colormap = new ScottPlot.Colormaps.Grayscale();
        specMap.Rectangle = new CoordinateRect(0, end, specBottom, specTop);

        var att = new double[outputs, steps];
        for (int i = 0; i < outputs; i++)
            for (int k = 0; k < steps; k++) att[i, k] = attention[i, k];
        var attMap = plot.Add.Heatmap(att);
        attMap.Colormap = new ScottPlot.Colormaps.Viridis();
        double top = att.Cast<double>().Max();
        attMap.ManualRange = new ScottPlot.Range(0, top > 0 ? top : 1);
        attMap.Rectangle = new CoordinateRect(0, steps * stepSeconds, 0, outputs);

        var boundary = Color.FromHex("#e4572e");
        for (int w = 0; w < words.Count; w++)
        {
            foreach (var x in new[] { words[w].Start, words[w].End })
            {
                var line = plot.Add.Line(x, 0, x, specTop);
                line.Color = boundary;
                line.LineWidth = 1.5f;
                line.LinePattern = LinePattern.Dashed;
            }
            var label = plot.Add.Text(wordLabels[w], (words[w].Start + words[w].End) / 2, specTop + 0.15);
            label.LabelFontColor = Colors.Black;
            label.LabelFontSize = 13;
            label.LabelAlignment = Alignment.LowerCenter;
        }

        plot.Axes.SetLimits(0, Math.Max(end, steps * stepSeconds), 0, specTop + 1.2);
        var ticks = new List<(double, string)>();
        for (int i = 0; i < outputs; i++) ticks.Add((outputs - i - 0.5, outputLabels[i]));
        ticks.Add(((specBottom + specTop) / 2, "log-mel"));
        plot.Axes.Left.SetTicks(ticks.Select(t => t.Item1).ToArray(), ticks.Select(t => t.Item2).ToArray());
        plot.Axes.Left.Label.Text = "output";

        int width = (int)Math.Clamp(200 + 260 * end, 640, 1600);
        int height = (int)(160 + 34 * (specTop + 1.2));
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        plot.SavePng(path, width, height);
    }
}
