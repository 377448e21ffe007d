using Attention.Data;

namespace Attention.Interpret;

/// <summary>
/// Read-outs of image attention used by the vision answers: how class-specific a set of channel gates is, and how much of a
/// spatial map falls inside a ground-truth box.
/// </summary>
public static class VisionProbes
{
    /// <summary>
    /// The between-class share of the variance of channel gates: with gates g (n, C) and labels y, per channel c the total
    /// variance V_c = mean_i (g_ic − ḡ_c)² splits into within-class and between-class parts, B_c = Σ_k (n_k / n)(ḡ_kc − ḡ_c)².
    /// Returns Σ_c B_c / Σ_c V_c in [0, 1]: 0 when every class gets the same mean gates (class-agnostic), 1 when the gates
    /// are constant inside each class and differ only between classes. 0 when no gate varies across images at all (constant
    /// gates are as class-agnostic as gates can be; a bottleneck whose ReLU units are all dead gives exactly that); NaN for no images.
    /// </summary>
    /// <exception cref="ArgumentException">gates is not labels.Length × channels long, or a label is negative.</exception>
    public static double BetweenClassShare(ReadOnlySpan<float> gates, IReadOnlyList<int> labels, int channels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        int n = labels.Count;
        if (gates.Length != n * channels)
            throw new ArgumentException($"expected {n} × {channels} = {n * channels} gates, got {gates.Length}", nameof(gates));
        if (n == 0) return double.NaN;
        int classes = labels.Max() + 1;
        if (labels.Any(l => l < 0)) throw new ArgumentException("expected labels ≥ 0", nameof(labels));
        var count = new int[classes];
        foreach (var l in labels) count[l]++;
        double between = 0, total = 0;
        for (int c = 0; c < channels; c++)
        {
            double mean = 0;
            var classSum = new double[classes];
            for (int i = 0; i < n; i++) { double g = gates[i * channels + c]; mean += g; classSum[labels[i]] += g; }
            mean /= n;
            for (int i = 0; i < n; i++) { double d = gates[i * channels + c] - mean; total += d * d / n; }
            for (int k = 0; k < classes; k++)
                if (count[k] > 0) { double d = classSum[k] / count[k] - mean; between += (double)count[k] / n * d * d; }
        }
        return total > 0 ? between / total : 0;
    }

    /// <summary>The spread of gates across images: per channel the standard deviation over the n images, averaged over
    /// the channels. 0 means the gates are constant per channel, i.e. not input-dependent at all.</summary>
    public static double AcrossImageSpread(ReadOnlySpan<float> gates, int images, int channels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(images);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        if (gates.Length != images * channels)
            throw new ArgumentException($"expected {images} × {channels} = {images * channels} gates, got {gates.Length}", nameof(gates));
        double sum = 0;
        for (int c = 0; c < channels; c++)
        {
            double mean = 0, sq = 0;
            for (int i = 0; i < images; i++) mean += gates[i * channels + c];
            mean /= images;
            for (int i = 0; i < images; i++) { double d = gates[i * channels + c] - mean; sq += d * d; }
            sum += Math.Sqrt(sq / images);
        }
        return sum / channels;
    }

    /// <summary>
    /// The share of a non-negative map's mass inside <paramref name="box"/>, after the map (rows × cols, covering the whole
    /// canvas of side <paramref name="canvas"/>) is mapped back to canvas pixels: map cell (i, j) covers canvas rows
    /// [i·canvas/rows, (i+1)·canvas/rows). A uniform map gives box.Area / canvas², the chance level.
    /// </summary>
    /// <exception cref="ArgumentException">map is not rows·cols long, holds a negative value, or the canvas is not a multiple of rows and cols.</exception>
    public static double MassInBox(ReadOnlySpan<float> map, int rows, int cols, PixelBox box, int canvas)
    {
        if (rows <= 0 || cols <= 0 || map.Length != rows * cols)
            throw new ArgumentException($"expected a map of {rows}×{cols} = {rows * cols} values, got {map.Length}", nameof(map));
        if (canvas % rows != 0 || canvas % cols != 0)
            throw new ArgumentException($"expected a canvas side ({canvas}) that is a multiple of the map's {rows}×{cols}", nameof(canvas));
        int sr = canvas / rows, sc = canvas / cols;
        double inside = 0, all = 0;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double v = map[i * cols + j];
                if (v < 0) throw new ArgumentException($"expected a non-negative map, found {v} at ({i}, {j})", nameof(map));
                int hits = 0;
                for (int r = i * sr; r < (i + 1) * sr; r++)
                    for (int c = j * sc; c < (j + 1) * sc; c++) if (box.Contains(r, c)) hits++;
                inside += v * hits; all += v * sr * sc;
            }
        return all > 0 ? inside / all : double.NaN;
    }
}
