using Attention.Autograd;

namespace Attention.Mechanisms;

/// <summary>Shared argument checks of the image attention modules (SE, ECA, CBAM, non-local).</summary>
internal static class ImageAttention
{
    /// <summary>Checks x is (B, C, H, W) with C = <paramref name="channels"/>; returns (B, H, W).</summary>
    public static (int B, int H, int W) CheckImage(Var x, int channels, string layer)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4 || x.Shape[1] != channels)
            throw new ArgumentException($"{layer} expects input of shape (B, {channels}, H, W), got {Var.Fmt(x.Shape)}", nameof(x));
        return (x.Shape[0], x.Shape[2], x.Shape[3]);
    }

    /// <summary>Global average pooling (B, C, H, W) → (B, C).</summary>
    public static Var AveragePool(Var x) => x.Mean([2, 3]);

    /// <summary>Global max pooling (B, C, H, W) → (B, C).</summary>
    public static Var MaxPool(Var x) => x.Reshape(x.Shape[0], x.Shape[1], x.Shape[2] * x.Shape[3]).Max(2);
}
