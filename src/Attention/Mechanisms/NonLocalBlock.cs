using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// Non-local block (Wang, Girshick, Gupta and He, CVPR 2018), embedded-Gaussian form: self-attention over the positions
/// of a feature map, wrapped in a residual connection so that it can be inserted into a pretrained or plain CNN.
/// <code>
///   x (B, C, H, W) read as N = H·W positions x_i ∈ ℝ^C
///   θ_i = W_θ x_i,  φ_j = W_φ x_j,  g_j = W_g x_j                  1×1 convolutions C → C' (C' = C/2 in the paper)
///   f_ij = softmax_j(θ_iᵀ φ_j)                                      (B, N, N): every position sees every other
///   y_i = Σ_j f_ij g_j,   z_i = W_z y_i + x_i                        W_z: C' → C
/// </code>
/// The paper initialises the last layer (a BatchNorm there) to zero so the block starts as the identity; here W_z and its
/// bias start at zero unless <c>zeroInit</c> is false. Cost O(N²C') time and O(N²) memory per image. The attention of the
/// last call is kept in <see cref="LastAttention"/> (B, N, N).
/// Answer: docs/answers/24-attention-in-vision.md
/// </summary>
public sealed class NonLocalBlock : Module, ILayer
{
    /// <summary>Channels C.</summary>
    public int Channels { get; }
    /// <summary>Embedding width C'.</summary>
    public int InnerChannels { get; }
    /// <summary>W_θ.</summary>
    public Linear Theta { get; }
    /// <summary>W_φ.</summary>
    public Linear Phi { get; }
    /// <summary>W_g.</summary>
    public Linear G { get; }
    /// <summary>W_z.</summary>
    public Linear Z { get; }
    /// <summary>f (B, N, N) of the last <see cref="Forward"/>, or null.</summary>
    public Tensor? LastAttention { get; private set; }

    /// <summary>Creates the block; C' defaults to max(1, C / 2).</summary>
    public NonLocalBlock(int channels, Rng rng, int? innerChannels = null, bool zeroInit = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentNullException.ThrowIfNull(rng);
        int inner = innerChannels ?? Math.Max(1, channels / 2);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inner, nameof(innerChannels));
        Channels = channels; InnerChannels = inner;
        Theta = RegisterModule("theta", new Linear(channels, inner, rng));
        Phi = RegisterModule("phi", new Linear(channels, inner, rng));
        G = RegisterModule("g", new Linear(channels, inner, rng));
        Z = RegisterModule("z", new Linear(inner, channels, rng));
        if (zeroInit)
        {
            Z.Weight.Value.AsSpan().Clear();
            Z.Bias!.Value.AsSpan().Clear();
        }
    }

    /// <summary>x (B, C, H, W) → z (B, C, H, W).</summary>
    public Var Forward(Var x)
    {
        var (b, h, w) = ImageAttention.CheckImage(x, Channels, "NonLocalBlock");
        int n = h * w;
        var positions = x.Reshape(b, Channels, n).Transpose(1, 2);          // (B, N, C)
        var theta = Theta.Forward(positions);
        var phi = Phi.Forward(positions);
        var g = G.Forward(positions);
        var f = theta.MatMul(phi, transposeB: true).Softmax(-1);             // (B, N, N)
        LastAttention = f.Value.Clone();
        var y = f.MatMul(g);                                                 // (B, N, C')
        var z = Z.Forward(y).Transpose(1, 2).Reshape(b, Channels, h, w);
        return z + x;
    }
}
