using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>
/// The feature grid of an <see cref="MnistStrip"/> for the strip answers (27, 43): a one-row grid of L windows, each a
/// full-height 28 × 28 window of the strip at horizontal offset l·stride, encoded by a two-layer patch MLP written as a
/// convolution (Conv2d with a 28 × 28 kernel and stride s is that MLP's first layer applied to every window), plus a
/// learned position embedding per window:
/// <code>
///   a_l = ReLU(W₂ ReLU(Conv_{28×28, stride s}(x)_l) + b₂) + P_l          x (B, 1, 28, 28·Cells) → a (B, L, D)
///   L = (28·Cells − 28) / s + 1        (stride 7, 5 cells: 17 windows; 4 of every 7 lie inside one cell)
/// </code>
/// The position embedding is our addition (Xu et al.'s CNN grid carries position only implicitly): a caption in reading
/// order and questions about "left of" need to know where a window is. Not a general CNN (the shared one lives with the
/// vision answers); it keeps the grid small so the decoders train on two cores.
/// </summary>
internal sealed class StripWindowEncoder : Module
{
    private readonly Conv2d _window;
    private readonly Linear _mix;
    private readonly Var _position;

    public int Cells { get; }
    public int Stride { get; }
    public int Width { get; }
    public int Locations { get; }

    public StripWindowEncoder(int cells, int stride, int width, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cells);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        if (stride < 1 || stride > MnistStrip.CellWidth || MnistStrip.CellWidth % stride != 0)
            throw new ArgumentOutOfRangeException(nameof(stride), stride, "expected a window stride that divides 28 (1, 2, 4, 7, 14 or 28)");
        Cells = cells; Stride = stride; Width = width;
        Locations = (cells * MnistStrip.CellWidth - MnistStrip.CellWidth) / stride + 1;
        _window = RegisterModule("window", new Conv2d(1, width, (MnistStrip.Height, MnistStrip.CellWidth), rng, stride));
        _mix = RegisterModule("mix", new Linear(width, width, rng));
        _position = RegisterParameter("position", Var.Parameter(rng.NormalTensor([Locations, width], 0f, 0.1f)));
    }

    /// <summary>pixels (B, 1, 28, 28·Cells) → annotation vectors (B, L, D).</summary>
    public Var Forward(Var pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        int w = Cells * MnistStrip.CellWidth;
        if (pixels.Rank != 4 || pixels.Shape[1] != 1 || pixels.Shape[2] != MnistStrip.Height || pixels.Shape[3] != w)
            throw new ArgumentException($"expected strip pixels of shape (B, 1, 28, {w}), got {Var.Fmt(pixels.Shape)}", nameof(pixels));
        int b = pixels.Shape[0];
        var windows = _window.Forward(pixels).Reshape(b, Width, Locations).Transpose(1, 2).Relu();    // (B, L, D)
        return _mix.Forward(windows).Relu() + _position;
    }

    /// <summary>The first pixel column of window l.</summary>
    public int WindowStart(int location) => location * Stride;

    /// <summary>Σ_l weights[l] · (share of window l inside <paramref name="cell"/>): attention mass in that cell.</summary>
    public double MassInCell(ReadOnlySpan<float> weights, int cell)
    {
        double mass = 0;
        for (int l = 0; l < Locations; l++) mass += weights[l] * MnistStrips.WindowShareInCell(WindowStart(l), MnistStrip.CellWidth, cell);
        return mass;
    }

    /// <summary>Attention over windows spread evenly over each window's pixel columns: (28·Cells) column masses summing to Σ weights.</summary>
    public float[] ColumnMass(ReadOnlySpan<float> weights)
    {
        var columns = new float[Cells * MnistStrip.CellWidth];
        for (int l = 0; l < Locations; l++)
            for (int c = 0; c < MnistStrip.CellWidth; c++) columns[WindowStart(l) + c] += weights[l] / MnistStrip.CellWidth;
        return columns;
    }
}
