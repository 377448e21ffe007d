using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// Efficient Channel Attention (ECA; Wang, Wu, Zhu, Li, Zuo and Hu, CVPR 2020): SE without the bottleneck. The
/// excitation is a 1-D convolution of width k across neighbouring channels of the pooled vector, so a gate depends on
/// its channel and k − 1 neighbours and the module has only k parameters.
/// <code>
///   z_c = (1/HW) Σ_{i,j} x_c(i, j)                       (B, C)
///   s_c = σ( Σ_{t=0}^{k−1} w_t · z_{c + t − (k−1)/2} )     z = 0 outside [0, C); no bias
///   y_c = s_c · x_c
///   k = ψ(C) = |log₂(C)/γ + b/γ| rounded to the nearest odd number above, γ = 2, b = 1   (the paper's rule)
/// </code>
/// Answer: docs/answers/26-squeeze-and-excitation.md
/// </summary>
public sealed class EfficientChannelAttention : Module, ILayer
{
    /// <summary>Channels C.</summary>
    public int Channels { get; }
    /// <summary>Odd kernel width k.</summary>
    public int KernelSize { get; }
    /// <summary>The k weights of the channel convolution.</summary>
    public Var Weight { get; }
    /// <summary>The gates s (B, C) of the last <see cref="Forward"/>, or null before the first.</summary>
    public Tensor? LastGates { get; private set; }

    /// <summary>The paper's adaptive kernel width: t = ⌊|log₂(C)/γ + b/γ|⌋, k = t when t is odd, else t + 1.</summary>
    public static int KernelSizeFor(int channels, double gamma = 2, double b = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        if (!(gamma > 0)) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "expected γ > 0");
        int t = (int)Math.Abs(Math.Log2(channels) / gamma + b / gamma);
        return t % 2 == 1 ? t : t + 1;
    }

    /// <summary>Creates the module; <paramref name="kernelSize"/> (odd) defaults to <see cref="KernelSizeFor"/>(C).</summary>
    public EfficientChannelAttention(int channels, Rng rng, int? kernelSize = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentNullException.ThrowIfNull(rng);
        int k = kernelSize ?? KernelSizeFor(channels);
        if (k < 1 || k % 2 == 0) throw new ArgumentOutOfRangeException(nameof(kernelSize), k, "expected an odd kernel width ≥ 1");
        Channels = channels; KernelSize = k;
        float bound = 1f / MathF.Sqrt(k);
        Weight = RegisterParameter("weight", Var.Parameter(rng.UniformTensor([k], -bound, bound)));
    }

    /// <summary>The gates s (B, C) for x (B, C, H, W).</summary>
    public Var Gates(Var x)
    {
        var (b, _, _) = ImageAttention.CheckImage(x, Channels, "EfficientChannelAttention");
        var z = ImageAttention.AveragePool(x);
        int p = (KernelSize - 1) / 2;
        var padded = p == 0 ? z : Var.Concat([Var.Constant(Tensor.Zeros(b, p)), z, Var.Constant(Tensor.Zeros(b, p))], 1);
        Var? sum = null;
        for (int t = 0; t < KernelSize; t++)
        {
            var term = padded.Slice(1, t, Channels) * Weight.Slice(0, t, 1);
            sum = sum is null ? term : sum + term;
        }
        return sum!.Sigmoid();
    }

    /// <summary>x (B, C, H, W) → s ⊙ x.</summary>
    public Var Forward(Var x)
    {
        var s = Gates(x);
        LastGates = s.Value.Clone();
        return x * s.Reshape(x.Shape[0], Channels, 1, 1);
    }
}
