using System.Numerics.Tensors;
using Attention.Autograd;
using Attention.Kernels;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>
/// 2-D convolution (cross-correlation, as every deep-learning library computes it) by im2col + GEMM
/// (Chellapilla et al., 2006): each image's receptive fields are unrolled into a matrix
/// cols (C·kh·kw, Ho·Wo), and the layer is one product W (O, C·kh·kw) · cols per image.
/// <code>
///   y[b, o, i, j] = bias[o] + Σ_{c, u, v} W[o, c, u, v] · x[b, c, i·s + u − p, j·s + v − p]   (zero outside)
///   x (B, C, H, W) → y (B, O, Ho, Wo),  Ho = ⌊(H + 2p − kh) / s⌋ + 1,  Wo likewise
/// </code>
/// Backward: dW += dY·colsᵀ, dcols = Wᵀ·dY scattered back by col2im, dbias += Σ dY; cols are
/// recomputed in the backward rather than kept (B·C·kh·kw·Ho·Wo floats).
/// Weights ~ U(−1/√fanIn, 1/√fanIn), fanIn = C·kh·kw, as PyTorch.
/// </summary>
public sealed class Conv2d : Module, ILayer
{
    /// <summary>Input channels C.</summary>
    public int InChannels { get; }
    /// <summary>Output channels O.</summary>
    public int OutChannels { get; }
    /// <summary>(kh, kw).</summary>
    public (int H, int W) Kernel { get; }
    /// <summary>Stride s (both axes).</summary>
    public int Stride { get; }
    /// <summary>Zero padding p (both axes).</summary>
    public int Padding { get; }
    /// <summary>(O, C, kh, kw).</summary>
    public Var Weight { get; }
    /// <summary>(O) or null.</summary>
    public Var? Bias { get; }

    /// <summary>Creates the layer; weights from <paramref name="rng"/>.</summary>
    public Conv2d(int inChannels, int outChannels, int kernelSize, Rng rng, int stride = 1, int padding = 0, bool bias = true)
        : this(inChannels, outChannels, (kernelSize, kernelSize), rng, stride, padding, bias) { }

    /// <summary>Creates the layer with a rectangular kernel.</summary>
    public Conv2d(int inChannels, int outChannels, (int H, int W) kernel, Rng rng, int stride = 1, int padding = 0, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel.H, nameof(kernel));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel.W, nameof(kernel));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        ArgumentNullException.ThrowIfNull(rng);
        InChannels = inChannels; OutChannels = outChannels; Kernel = kernel; Stride = stride; Padding = padding;
        float bound = 1f / MathF.Sqrt(inChannels * kernel.H * kernel.W);
        Weight = RegisterParameter("weight", Var.Parameter(rng.UniformTensor([outChannels, inChannels, kernel.H, kernel.W], -bound, bound)));
        if (bias) Bias = RegisterParameter("bias", Var.Parameter(rng.UniformTensor([outChannels], -bound, bound)));
    }

    /// <summary>x (B, C, H, W) → (B, O, Ho, Wo).</summary>
    /// <exception cref="ArgumentException">x is not (B, C, H, W) with C = InChannels, or the padded image is smaller than the kernel.</exception>
    public Var Forward(Var x) => Conv2dOp(x, Weight, Bias, Stride, Padding);

    /// <summary>The convolution as a function: x (B, C, H, W), weight (O, C, kh, kw), bias (O) or null.</summary>
    public static Var Conv2dOp(Var x, Var weight, Var? bias, int stride = 1, int padding = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        if (weight.Rank != 4) throw new ArgumentException($"Conv2d expects a weight of shape (O, C, kh, kw), got {Var.Fmt(weight.Shape)}", nameof(weight));
        int o = weight.Shape[0], c = weight.Shape[1], kh = weight.Shape[2], kw = weight.Shape[3];
        if (x.Rank != 4 || x.Shape[1] != c)
            throw new ArgumentException($"Conv2d expects input of shape (B, {c}, H, W), got {Var.Fmt(x.Shape)}", nameof(x));
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != o))
            throw new ArgumentException($"Conv2d expects a bias of shape ({o}), got {Var.Fmt(bias.Shape)}", nameof(bias));
        var g = new Geometry(x.Shape[0], c, x.Shape[2], x.Shape[3], kh, kw, stride, padding);
        int b = g.B, ckk = c * kh * kw, hw = g.Ho * g.Wo;
        var y = Tensor.Zeros(b, o, g.Ho, g.Wo);
        var cols = new float[ckk * hw];
        var xs = x.Value.AsSpan(); var ys = y.AsSpan(); var ws = weight.Value.AsSpan();
        for (int n = 0; n < b; n++)
        {
            g.Im2Col(xs.Slice(n * g.ImageSize, g.ImageSize), cols);
            var yn = ys.Slice(n * o * hw, o * hw);
            Gemm.Multiply(false, false, o, hw, ckk, 1f, ws, ckk, cols, hw, 0f, yn, hw);
            if (bias is not null)
                for (int k = 0; k < o; k++) TensorPrimitives.Add(yn.Slice(k * hw, hw), bias.Value.AsSpan()[k], yn.Slice(k * hw, hw));
        }
        Var[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Var.FromOp(y, "conv2d", inputs, node =>
        {
            var dy = node.Grad!.AsSpan();
            var col = new float[ckk * hw];
            var dcols = x.RequiresGrad ? new float[ckk * hw] : null;
            for (int n = 0; n < b; n++)
            {
                var dyn = dy.Slice(n * o * hw, o * hw);
                if (weight.RequiresGrad)
                {
                    // forward: Y = W·cols  ⇒  dW += dY·colsᵀ
                    g.Im2Col(x.Value.AsSpan().Slice(n * g.ImageSize, g.ImageSize), col);
                    Gemm.Multiply(false, true, o, ckk, hw, 1f, dyn, hw, col, hw, 1f, weight.GradBuffer(), ckk);
                }
                if (dcols is not null)
                {
                    // ⇒ dcols = Wᵀ·dY, and each column entry came from one input pixel: scatter-add it back
                    Gemm.Multiply(true, false, ckk, hw, o, 1f, weight.Value.AsSpan(), ckk, dyn, hw, 0f, dcols, hw);
                    g.Col2ImAdd(dcols, x.GradBuffer().Slice(n * g.ImageSize, g.ImageSize));
                }
                if (bias is not null && bias.RequiresGrad)
                {
                    var db = bias.GradBuffer();
                    for (int k = 0; k < o; k++) db[k] += TensorPrimitives.Sum(dyn.Slice(k * hw, hw));
                }
            }
        });
    }

    private readonly record struct Geometry
    {
        public readonly int B, C, H, W, Kh, Kw, S, P, Ho, Wo;
        public int ImageSize => C * H * W;

        public Geometry(int b, int c, int h, int w, int kh, int kw, int s, int p)
        {
            (B, C, H, W, Kh, Kw, S, P) = (b, c, h, w, kh, kw, s, p);
            if (h + 2 * p < kh || w + 2 * p < kw)
                throw new ArgumentException($"Conv2d: the padded input {h + 2 * p}×{w + 2 * p} is smaller than the kernel {kh}×{kw}");
            Ho = (h + 2 * p - kh) / s + 1;
            Wo = (w + 2 * p - kw) / s + 1;
        }

        // cols[(c·kh + u)·kw + v, i·Wo + j] = x[c, i·s + u − p, j·s + v − p], 0 outside the image
        public void Im2Col(ReadOnlySpan<float> x, Span<float> cols)
        {
            int hw = Ho * Wo;
            for (int c = 0; c < C; c++)
                for (int u = 0; u < Kh; u++)
                    for (int v = 0; v < Kw; v++)
                    {
                        var row = cols.Slice(((c * Kh + u) * Kw + v) * hw, hw);
                        for (int i = 0; i < Ho; i++)
                        {
                            int r = i * S + u - P;
                            var dst = row.Slice(i * Wo, Wo);
                            if ((uint)r >= (uint)H) { dst.Clear(); continue; }
                            var src = x.Slice((c * H + r) * W, W);
                            for (int j = 0; j < Wo; j++)
                            {
                                int q = j * S + v - P;
                                dst[j] = (uint)q < (uint)W ? src[q] : 0f;
                            }
                        }
                    }
        }

        public void Col2ImAdd(ReadOnlySpan<float> cols, Span<float> dx)
        {
            int hw = Ho * Wo;
            for (int c = 0; c < C; c++)
                for (int u = 0; u < Kh; u++)
                    for (int v = 0; v < Kw; v++)
                    {
                        var row = cols.Slice(((c * Kh + u) * Kw + v) * hw, hw);
                        for (int i = 0; i < Ho; i++)
                        {
                            int r = i * S + u - P;
                            if ((uint)r >= (uint)H) continue;
                            var dst = dx.Slice((c * H + r) * W, W);
                            for (int j = 0; j < Wo; j++)
                            {
                                int q = j * S + v - P;
                                if ((uint)q < (uint)W) dst[q] += row[i * Wo + j];
                            }
                        }
                    }
        }
    }
}

/// <summary>
/// 2-D max pooling: y[b, c, i, j] = max over the k×k window at (i·s − p, j·s − p) of x (padding never wins).
/// x (B, C, H, W) → (B, C, Ho, Wo), Ho = ⌊(H + 2p − k)/s⌋ + 1. The gradient goes to the first maximum of each window.
/// </summary>
public sealed class MaxPool2d : Module, ILayer
{
    /// <summary>Window k.</summary>
    public int KernelSize { get; }
    /// <summary>Stride s (default k).</summary>
    public int Stride { get; }
    /// <summary>Padding p (at most k/2).</summary>
    public int Padding { get; }

    /// <summary>Creates the layer.</summary>
    public MaxPool2d(int kernelSize, int? stride = null, int padding = 0)
    {
        (KernelSize, Stride, Padding) = Pooling.Check(kernelSize, stride, padding);
    }

    /// <summary>x (B, C, H, W) → (B, C, Ho, Wo).</summary>
    public Var Forward(Var x)
    {
        var (b, c, h, w, ho, wo) = Pooling.Shape(x, KernelSize, Stride, Padding, "MaxPool2d");
        var y = Tensor.Zeros(b, c, ho, wo);
        var arg = new int[y.Length];
        var xs = x.Value.AsSpan(); var ys = y.AsSpan();
        for (int plane = 0; plane < b * c; plane++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    float best = float.NegativeInfinity; int at = -1;
                    for (int u = 0; u < KernelSize; u++)
                    {
                        int r = i * Stride + u - Padding;
                        if ((uint)r >= (uint)h) continue;
                        for (int v = 0; v < KernelSize; v++)
                        {
                            int q = j * Stride + v - Padding;
                            if ((uint)q >= (uint)w) continue;
                            int idx = (plane * h + r) * w + q;
                            if (at < 0 || xs[idx] > best) { best = xs[idx]; at = idx; }
                        }
                    }
                    int o = (plane * ho + i) * wo + j;
                    ys[o] = best; arg[o] = at;
                }
        return Var.FromOp(y, "max_pool2d", [x], node =>
        {
            // forward: y[o] = x[arg[o]]  ⇒  dx[arg[o]] += dy[o]
            var dy = node.Grad!.AsSpan(); var dx = x.GradBuffer();
            for (int o = 0; o < arg.Length; o++) dx[arg[o]] += dy[o];
        });
    }
}

/// <summary>
/// 2-D average pooling without padding: y[b, c, i, j] = mean of the k×k window at (i·s, j·s).
/// x (B, C, H, W) → (B, C, Ho, Wo), Ho = ⌊(H − k)/s⌋ + 1.
/// </summary>
public sealed class AvgPool2d : Module, ILayer
{
    /// <summary>Window k.</summary>
    public int KernelSize { get; }
    /// <summary>Stride s (default k).</summary>
    public int Stride { get; }

    /// <summary>Creates the layer.</summary>
    public AvgPool2d(int kernelSize, int? stride = null)
    {
        (KernelSize, Stride, _) = Pooling.Check(kernelSize, stride, 0);
    }

    /// <summary>x (B, C, H, W) → (B, C, Ho, Wo).</summary>
    public Var Forward(Var x)
    {
        var (b, c, h, w, ho, wo) = Pooling.Shape(x, KernelSize, Stride, 0, "AvgPool2d");
        int k = KernelSize, s = Stride;
        float inv = 1f / (k * k);
        var y = Tensor.Zeros(b, c, ho, wo);
        var xs = x.Value.AsSpan(); var ys = y.AsSpan();
        for (int plane = 0; plane < b * c; plane++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    float sum = 0f;
                    for (int u = 0; u < k; u++) sum += TensorPrimitives.Sum(xs.Slice((plane * h + i * s + u) * w + j * s, k));
                    ys[(plane * ho + i) * wo + j] = sum * inv;
                }
        return Var.FromOp(y, "avg_pool2d", [x], node =>
        {
            // forward: y = mean of the window  ⇒  every window element gets dy / k²
            var dy = node.Grad!.AsSpan(); var dx = x.GradBuffer();
            for (int plane = 0; plane < b * c; plane++)
                for (int i = 0; i < ho; i++)
                    for (int j = 0; j < wo; j++)
                    {
                        float g = dy[(plane * ho + i) * wo + j] * inv;
                        for (int u = 0; u < k; u++)
                        {
                            var d = dx.Slice((plane * h + i * s + u) * w + j * s, k);
                            TensorPrimitives.Add(d, g, d);
                        }
                    }
        });
    }
}

internal static class Pooling
{
    public static (int, int, int) Check(int kernelSize, int? stride, int padding)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernelSize);
        int s = stride ?? kernelSize;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(s, nameof(stride));
        if (padding < 0 || padding > kernelSize / 2)
            throw new ArgumentOutOfRangeException(nameof(padding), padding, $"expected padding in [0, {kernelSize / 2}] for a window of {kernelSize}");
        return (kernelSize, s, padding);
    }

    public static (int B, int C, int H, int W, int Ho, int Wo) Shape(Var x, int k, int s, int p, string layer)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4)
            throw new ArgumentException($"{layer} expects input of shape (B, C, H, W), got {Var.Fmt(x.Shape)}", nameof(x));
        int h = x.Shape[2], w = x.Shape[3];
        if (h + 2 * p < k || w + 2 * p < k)
            throw new ArgumentException($"{layer}: input {Var.Fmt(x.Shape)} (padding {p}) is smaller than the {k}×{k} window", nameof(x));
        return (x.Shape[0], x.Shape[1], h, w, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    }
}
