namespace Attention.Data;

/// <summary>A digit's ink box on the canvas: rows [Top, Bottom) and columns [Left, Right).</summary>
public readonly record struct PixelBox(int Top, int Left, int Bottom, int Right)
{
    /// <summary>Rows × columns inside the box.</summary>
    public int Area => (Bottom - Top) * (Right - Left);

    /// <summary>True when pixel (row, col) lies inside the box.</summary>
    public bool Contains(int row, int col) => row >= Top && row < Bottom && col >= Left && col < Right;
}

/// <summary>
/// "Cluttered MNIST" in the manner of Mnih et al. (2014, RAM) and Jaderberg et al. (2015, STN): each real digit is cropped to
/// its ink, pasted at a random place on a larger empty canvas, and the canvas receives clutter, small square fragments cut
/// from other digits at random places (pixels combine by max). The digit's ink box is kept as ground truth, so a spatial
/// attention map can be scored by how much of its mass falls inside the box. Fragments are placed outside the digit's box
/// when a free place is found in a few tries (so clutter does not hide the digit), otherwise anywhere.
/// Everything is drawn from the seed: the same digits and seed give the same canvases on every machine.
/// </summary>
public sealed class ClutteredMnist
{
    private readonly float[] _images;
    private readonly int[] _labels;
    private readonly PixelBox[] _boxes;

    /// <summary>Canvas side in pixels.</summary>
    public int Size { get; }
    /// <summary>Number of canvases.</summary>
    public int Count => _labels.Length;
    /// <summary>All canvases, Count × Size × Size floats in [0, 1], row-major.</summary>
    public ReadOnlySpan<float> Pixels => _images;

    private ClutteredMnist(float[] images, int[] labels, PixelBox[] boxes, int size)
    {
        _images = images; _labels = labels; _boxes = boxes; Size = size;
    }

    /// <summary>The label (0–9) of canvas <paramref name="index"/>.</summary>
    public int Label(int index) => _labels[Check(index)];

    /// <summary>The digit's ink box on canvas <paramref name="index"/>.</summary>
    public PixelBox Box(int index) => _boxes[Check(index)];

    /// <summary>Canvas <paramref name="index"/>, Size·Size floats, row-major.</summary>
    public ReadOnlySpan<float> Image(int index) => _images.AsSpan(Check(index) * Size * Size, Size * Size);

    /// <summary>The labels of all canvases.</summary>
    public IReadOnlyList<int> Labels => _labels;

    private int Check(int index) =>
        (uint)index < (uint)Count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"expected a canvas index in [0, {Count})");

    /// <summary>
    /// One canvas per digit of <paramref name="digits"/>, in order. Fragments are cut from other digits of the same set.
    /// </summary>
    /// <param name="digits">The source digits (at least two, so clutter can come from another digit).</param>
    /// <param name="canvas">Canvas side; at least the digits' side.</param>
    /// <param name="fragments">Clutter fragments per canvas (0 for a plain translated digit).</param>
    /// <param name="fragmentSize">Side of a fragment, in [2, digit side].</param>
    /// <param name="seed">Seed of every placement and fragment choice.</param>
    /// <exception cref="ArgumentException">Fewer than two digits, or a size out of range (the message names it).</exception>
    public static ClutteredMnist Build(MnistDigits digits, int canvas = 40, int fragments = 4, int fragmentSize = 8, ulong seed = 2015)
    {
        ArgumentNullException.ThrowIfNull(digits);
        if (digits.Count < 2) throw new ArgumentException($"expected at least 2 digits (clutter comes from other digits), got {digits.Count}", nameof(digits));
        int side = Math.Max(digits.Rows, digits.Cols);
        if (canvas < side) throw new ArgumentOutOfRangeException(nameof(canvas), canvas, $"expected a canvas of at least the digit side {side}");
        ArgumentOutOfRangeException.ThrowIfNegative(fragments);
        if (fragmentSize < 2 || fragmentSize > Math.Min(digits.Rows, digits.Cols))
            throw new ArgumentOutOfRangeException(nameof(fragmentSize), fragmentSize, $"expected a fragment side in [2, {Math.Min(digits.Rows, digits.Cols)}]");
        var rng = new Tensors.Rng(seed);
        int n = digits.Count, area = canvas * canvas, rows = digits.Rows, cols = digits.Cols;
        var images = new float[n * area];
        var labels = new int[n];
        var boxes = new PixelBox[n];
        for (int i = 0; i < n; i++)
        {
            var img = images.AsSpan(i * area, area);
            var src = digits.Image(i);
            var (top, left, bottom, right) = InkBox(src, rows, cols);
            int h = bottom - top, w = right - left;
            int r0 = rng.NextInt(canvas - h + 1), c0 = rng.NextInt(canvas - w + 1);
            for (int r = 0; r < h; r++)
                for (int c = 0; c < w; c++) img[(r0 + r) * canvas + c0 + c] = src[(top + r) * cols + left + c];
            var box = new PixelBox(r0, c0, r0 + h, c0 + w);
            for (int f = 0; f < fragments; f++)
            {
                int other = rng.NextInt(n - 1);
                if (other >= i) other++;
                var donor = digits.Image(other);
                // a window of the donor with some ink in it (a few tries)
                int fr = 0, fc = 0;
                for (int t = 0; t < 10; t++)
                {
                    fr = rng.NextInt(rows - fragmentSize + 1); fc = rng.NextInt(cols - fragmentSize + 1);
                    double ink = 0;
                    for (int r = 0; r < fragmentSize; r++)
                        for (int c = 0; c < fragmentSize; c++) ink += donor[(fr + r) * cols + fc + c];
                    if (ink >= 0.1 * fragmentSize * fragmentSize) break;
                }
                int pr = 0, pc = 0;
                for (int t = 0; t < 20; t++)
                {
                    pr = rng.NextInt(canvas - fragmentSize + 1); pc = rng.NextInt(canvas - fragmentSize + 1);
                    bool overlaps = pr < box.Bottom && pr + fragmentSize > box.Top && pc < box.Right && pc + fragmentSize > box.Left;
                    if (!overlaps) break;
                }
                for (int r = 0; r < fragmentSize; r++)
                    for (int c = 0; c < fragmentSize; c++)
                    {
                        ref float p = ref img[(pr + r) * canvas + pc + c];
                        p = Math.Max(p, donor[(fr + r) * cols + fc + c]);
                    }
            }
            labels[i] = digits.Label(i);
            boxes[i] = box;
        }
        return new ClutteredMnist(images, labels, boxes, canvas);
    }

    /// <summary>The smallest box holding every pixel above 0 (the whole image when it is blank).</summary>
    public static (int Top, int Left, int Bottom, int Right) InkBox(ReadOnlySpan<float> image, int rows, int cols)
    {
        if (image.Length != rows * cols) throw new ArgumentException($"expected {rows}×{cols} = {rows * cols} pixels, got {image.Length}", nameof(image));
        int top = rows, left = cols, bottom = -1, right = -1;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (image[r * cols + c] > 0)
                {
                    top = Math.Min(top, r); bottom = Math.Max(bottom, r);
                    left = Math.Min(left, c); right = Math.Max(right, c);
                }
        return bottom < 0 ? (0, 0, rows, cols) : (top, left, bottom + 1, right + 1);
    }
}
