using Attention.Tensors;

namespace Attention.Data;

/// <summary>
/// One strip: a grey image of height 28 and width 28·<see cref="Cells"/>, made of <see cref="Cells"/> square cells side by
/// side; <see cref="Digits"/>.Length real MNIST digits fill some of the cells, in reading order, the other cells are blank.
/// The gold location of digit k is its cell, <see cref="CellOf"/>[k] (the answers measure attention mass there).
/// </summary>
/// <param name="Pixels">(28, 28·Cells) row-major, values in [0, 1].</param>
/// <param name="Digits">The labels of the digits, left to right (the caption).</param>
/// <param name="CellOf">CellOf[k]: the cell (0-based, left to right) that holds digit k; strictly increasing.</param>
/// <param name="Sources">Sources[k]: the index of digit k in the <see cref="MnistDigits"/> it was drawn from.</param>
/// <param name="Cells">Number of cells of the strip.</param>
public sealed record MnistStrip(float[] Pixels, int[] Digits, int[] CellOf, int[] Sources, int Cells)
{
    /// <summary>Image height (one cell, 28).</summary>
    public const int Height = 28;
    /// <summary>Width of one cell (28).</summary>
    public const int CellWidth = 28;
    /// <summary>Image width, 28·Cells.</summary>
    public int Width => Cells * CellWidth;
    /// <summary>The digit (label) in cell <paramref name="cell"/>, or −1 when the cell is blank.</summary>
    public int DigitInCell(int cell)
    {
        if ((uint)cell >= (uint)Cells) throw new ArgumentOutOfRangeException(nameof(cell), cell, $"expected a cell in [0, {Cells})");
        int k = Array.IndexOf(CellOf, cell);
        return k < 0 ? -1 : Digits[k];
    }
}

/// <summary>How <see cref="MnistStrips.Generate"/> lays digits out.</summary>
public sealed record MnistStripOptions
{
    /// <summary>Cells per strip (default 5): the image is 28 × 28·Cells.</summary>
    public int Cells { get; init; } = 5;
    /// <summary>Fewest digits per strip (default 3).</summary>
    public int MinDigits { get; init; } = 3;
    /// <summary>Most digits per strip (default 5; at most <see cref="Cells"/>).</summary>
    public int MaxDigits { get; init; } = 5;
    /// <summary>True (default): the digits occupy a random, ordered subset of the cells, so blank cells can sit between them
    /// and the reader must find the next digit. False: they fill cells 0 … n−1 and the rest is blank.</summary>
    public bool Gaps { get; init; } = true;
    /// <summary>True: no label occurs twice in a strip (so "the 5" names one cell). Default false.</summary>
    public bool DistinctLabels { get; init; }
}

/// <summary>
/// MNIST strips (our task, for the vision answers 27 and 43): 3–5 real handwritten digits side by side in 28 × 28 cells,
/// seeded, with every digit's cell as the gold location. A captioner should read the digits left to right and look at
/// each digit's cell while it writes that digit; a question answerer should look at the cells the question is about.
/// Draw training strips from <see cref="Mnist.Split"/>'s train part and test strips from its test part, so no test
/// handwriting was seen in training. Answers: docs/answers/27-attention-in-image-captioning.md, docs/answers/43-co-attention.md
/// </summary>
public static class MnistStrips
{
    /// <summary>
    /// <paramref name="count"/> strips from <paramref name="digits"/>, every random choice from <paramref name="rng"/> (same seed,
    /// same strips): the number of digits uniform in [MinDigits, MaxDigits], the cells (a uniform ordered subset when
    /// <see cref="MnistStripOptions.Gaps"/>), and each digit image uniform over <paramref name="digits"/> (with distinct
    /// labels when asked). Each digit is copied unchanged into its cell.
    /// </summary>
    /// <exception cref="ArgumentException">Options out of range (MinDigits &lt; 1, MaxDigits &gt; Cells, MinDigits &gt; MaxDigits,
    /// distinct labels with more than 10 digits), or digits not 28 × 28.</exception>
    public static List<MnistStrip> Generate(MnistDigits digits, int count, Rng rng, MnistStripOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(digits);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var o = options ?? new MnistStripOptions();
        Check(o, digits);
        // by label, for distinct-label draws
        var byLabel = Enumerable.Range(0, 10).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < digits.Count; i++) byLabel[digits.Label(i)].Add(i);
        var present = Enumerable.Range(0, 10).Where(l => byLabel[l].Count > 0).ToArray();
        if (o.DistinctLabels && present.Length < o.MaxDigits)
            throw new ArgumentException($"expected at least {o.MaxDigits} distinct labels among the digits for distinct-label strips, found {present.Length}", nameof(digits));
        var strips = new List<MnistStrip>(count);
        for (int s = 0; s < count; s++)
        {
            int n = o.MinDigits + rng.NextInt(o.MaxDigits - o.MinDigits + 1);
            var cells = o.Gaps ? Choose(o.Cells, n, rng) : Enumerable.Range(0, n).ToArray();
            var sources = new int[n];
            if (o.DistinctLabels)
            {
                var labels = Choose(present.Length, n, rng).Select(i => present[i]).ToArray();
                Shuffle(labels, rng);
                for (int k = 0; k < n; k++) sources[k] = byLabel[labels[k]][rng.NextInt(byLabel[labels[k]].Count)];
            }
            else
                for (int k = 0; k < n; k++) sources[k] = rng.NextInt(digits.Count);
            strips.Add(Compose(digits, sources, cells, o.Cells));
        }
        return strips;
    }

    /// <summary>A strip with digit <paramref name="sources"/>[k] of <paramref name="digits"/> in cell <paramref name="cells"/>[k].</summary>
    /// <exception cref="ArgumentException">Lengths differ, a cell is out of range or cells are not strictly increasing.</exception>
    public static MnistStrip Compose(MnistDigits digits, int[] sources, int[] cells, int cellCount)
    {
        ArgumentNullException.ThrowIfNull(digits);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(cells);
        if (digits.Rows != MnistStrip.Height || digits.Cols != MnistStrip.CellWidth)
            throw new ArgumentException($"expected 28 × 28 digits, got {digits.Rows} × {digits.Cols}", nameof(digits));
        if (sources.Length != cells.Length)
            throw new ArgumentException($"expected one cell per digit, got {sources.Length} digits and {cells.Length} cells", nameof(cells));
        for (int k = 0; k < cells.Length; k++)
            if (cells[k] < 0 || cells[k] >= cellCount || (k > 0 && cells[k] <= cells[k - 1]))
                throw new ArgumentException($"expected strictly increasing cells in [0, {cellCount}), got [{string.Join(", ", cells)}]", nameof(cells));
        int width = cellCount * MnistStrip.CellWidth;
        var pixels = new float[MnistStrip.Height * width];
        var labels = new int[sources.Length];
        for (int k = 0; k < sources.Length; k++)
        {
            var image = digits.Pixels(sources[k]);
            labels[k] = digits.Label(sources[k]);
            for (int r = 0; r < MnistStrip.Height; r++)
                for (int c = 0; c < MnistStrip.CellWidth; c++)
                    pixels[r * width + cells[k] * MnistStrip.CellWidth + c] = image[r * MnistStrip.CellWidth + c] / 255f;
        }
        return new MnistStrip(pixels, labels, (int[])cells.Clone(), (int[])sources.Clone(), cellCount);
    }

    /// <summary>The strips' pixels as one (B, 1, 28, 28·Cells) batch, for a convolutional encoder.</summary>
    /// <exception cref="ArgumentException">No strips, or strips of different widths.</exception>
    public static Tensor Batch(IReadOnlyList<MnistStrip> strips)
    {
        ArgumentNullException.ThrowIfNull(strips);
        if (strips.Count == 0) throw new ArgumentException("expected at least one strip, got none", nameof(strips));
        int cells = strips[0].Cells, size = MnistStrip.Height * cells * MnistStrip.CellWidth;
        var data = new float[strips.Count * size];
        for (int i = 0; i < strips.Count; i++)
        {
            if (strips[i].Cells != cells)
                throw new ArgumentException($"expected strips of {cells} cells, strip {i} has {strips[i].Cells}", nameof(strips));
            strips[i].Pixels.CopyTo(data, i * size);
        }
        return Tensor.FromArray(data, strips.Count, 1, MnistStrip.Height, cells * MnistStrip.CellWidth);
    }

    /// <summary>
    /// The share of a horizontal window [<paramref name="start"/>, <paramref name="start"/> + <paramref name="width"/>) of pixel
    /// columns that lies inside cell <paramref name="cell"/>: how much of a feature location's receptive field covers that cell.
    /// Attention mass "in a cell" is Σ_l α_l · share(l, cell) — each location's weight spread evenly over its window.
    /// </summary>
    public static double WindowShareInCell(int start, int width, int cell)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        int lo = Math.Max(start, cell * MnistStrip.CellWidth), hi = Math.Min(start + width, (cell + 1) * MnistStrip.CellWidth);
        return Math.Max(0, hi - lo) / (double)width;
    }

    private static void Check(MnistStripOptions o, MnistDigits digits)
    {
        if (o.Cells < 1) throw new ArgumentException($"expected at least one cell, got {o.Cells}", nameof(o));
        if (o.MinDigits < 1 || o.MinDigits > o.MaxDigits || o.MaxDigits > o.Cells)
            throw new ArgumentException($"expected 1 ≤ MinDigits ≤ MaxDigits ≤ Cells, got {o.MinDigits}, {o.MaxDigits}, {o.Cells}", nameof(o));
        if (o.DistinctLabels && o.MaxDigits > 10)
            throw new ArgumentException($"expected at most 10 digits per strip with distinct labels, got MaxDigits = {o.MaxDigits}", nameof(o));
        if (digits.Count == 0) throw new ArgumentException("expected at least one digit to draw from, got none", nameof(digits));
        if (digits.Rows != MnistStrip.Height || digits.Cols != MnistStrip.CellWidth)
            throw new ArgumentException($"expected 28 × 28 digits, got {digits.Rows} × {digits.Cols}", nameof(digits));
    }

    // k of n indices, sorted (a uniform k-subset)
    private static int[] Choose(int n, int k, Rng rng)
    {
        var all = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < k; i++) { int j = i + rng.NextInt(n - i); (all[i], all[j]) = (all[j], all[i]); }
        var picked = all[..k];
        Array.Sort(picked);
        return picked;
    }

    private static void Shuffle(int[] xs, Rng rng)
    {
        for (int i = xs.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (xs[i], xs[j]) = (xs[j], xs[i]); }
    }
}
