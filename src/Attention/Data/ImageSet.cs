namespace Attention.Data;

/// <summary>
/// Square single-channel images with class labels, in one flat array: what the image classifiers of
/// <see cref="Models.ImageClassification"/> train on. Built from <see cref="MnistDigits"/> or <see cref="ClutteredMnist"/>.
/// </summary>
public sealed class ImageSet
{
    private readonly float[] _pixels;
    private readonly int[] _labels;

    /// <summary>Image side in pixels.</summary>
    public int Size { get; }
    /// <summary>Number of images.</summary>
    public int Count => _labels.Length;
    /// <summary>Number of classes (largest label + 1, at least 1).</summary>
    public int Classes { get; }

    /// <summary>Wraps <paramref name="pixels"/> (Count · size · size, row-major) and <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">The lengths disagree, or a label is negative.</exception>
    public ImageSet(float[] pixels, int[] labels, int size)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (pixels.Length != labels.Length * size * size)
            throw new ArgumentException($"expected {labels.Length} × {size}² = {labels.Length * size * size} pixels for {labels.Length} labels, got {pixels.Length}", nameof(pixels));
        foreach (var l in labels)
            if (l < 0) throw new ArgumentException($"expected labels ≥ 0, got {l}", nameof(labels));
        _pixels = pixels; _labels = labels; Size = size;
        Classes = labels.Length == 0 ? 1 : labels.Max() + 1;
    }

    /// <summary>The label of image <paramref name="index"/>.</summary>
    public int Label(int index) => _labels[Check(index)];

    /// <summary>Image <paramref name="index"/>, Size² floats.</summary>
    public ReadOnlySpan<float> Image(int index) => _pixels.AsSpan(Check(index) * Size * Size, Size * Size);

    /// <summary>The images at <paramref name="indices"/> as one (n, 1, Size, Size) batch, and their labels.</summary>
    public (Tensors.Tensor Images, int[] Labels) Batch(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int area = Size * Size;
        var data = new float[indices.Count * area];
        var labels = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Image(indices[i]).CopyTo(data.AsSpan(i * area));
            labels[i] = _labels[indices[i]];
        }
        return (Tensors.Tensor.FromArray(data, indices.Count, 1, Size, Size), labels);
    }

    /// <summary>The first <paramref name="count"/> images (all when there are fewer).</summary>
    public ImageSet Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int n = Math.Min(count, Count), area = Size * Size;
        return new ImageSet(_pixels[..(n * area)], _labels[..n], Size);
    }

    /// <summary>
    /// <paramref name="count"/> images drawn without replacement in a seeded random order (all of them, shuffled, when there
    /// are fewer). Use it rather than <see cref="Take"/> on sets stored by class, such as the vendored MNIST copy.
    /// </summary>
    public ImageSet Sample(int count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var rng = new Tensors.Rng(seed);
        var order = Enumerable.Range(0, Count).ToArray();
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        int n = Math.Min(count, Count), area = Size * Size;
        var pixels = new float[n * area];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            Image(order[i]).CopyTo(pixels.AsSpan(i * area));
            labels[i] = _labels[order[i]];
        }
        return new ImageSet(pixels, labels, Size);
    }

    /// <summary>MNIST digits as an image set (their side must be square).</summary>
    public static ImageSet From(MnistDigits digits)
    {
        ArgumentNullException.ThrowIfNull(digits);
        if (digits.Rows != digits.Cols) throw new ArgumentException($"expected square digits, got {digits.Rows}×{digits.Cols}", nameof(digits));
        var pixels = new float[digits.Count * digits.Rows * digits.Cols];
        var labels = new int[digits.Count];
        for (int i = 0; i < digits.Count; i++)
        {
            digits.Image(i).CopyTo(pixels.AsSpan(i * digits.Rows * digits.Cols));
            labels[i] = digits.Label(i);
        }
        return new ImageSet(pixels, labels, digits.Rows);
    }

    /// <summary>Cluttered canvases as an image set.</summary>
    public static ImageSet From(ClutteredMnist canvases)
    {
        ArgumentNullException.ThrowIfNull(canvases);
        return new ImageSet(canvases.Pixels.ToArray(), canvases.Labels.ToArray(), canvases.Size);
    }

    private int Check(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"expected an image index in [0, {Count})");
}
