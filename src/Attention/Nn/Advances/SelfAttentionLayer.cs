using Attention.Autograd;

namespace Attention.Nn.Advances;

/// <summary>
/// A self-attention layer that a <see cref="Attention.Models.VariantCharLm"/> block can hold: x (B, L, E) → (B, L, E).
/// Every recent variant of answer 48 implements it (<see cref="SoftmaxAttention"/> with its options,
/// <see cref="SigmoidAttention"/>, <see cref="DifferentialAttention"/>, <see cref="LatentAttention"/>), so one model
/// can switch between them and the KV-cache size is reported the same way for all.
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public interface ISelfAttentionLayer
{
    /// <summary>Model width E.</summary>
    int ModelDim { get; }

    /// <summary>Numbers a decoder caches per token and per layer to attend to that token later (keys and values,
    /// or MLA's latent and shared RoPE key).</summary>
    int KvCacheElementsPerToken { get; }

    /// <summary>x (B, L, E) → (B, L, E); causal mask on request; positions start at <paramref name="positionOffset"/>.</summary>
    Var Forward(Var x, bool causal, int positionOffset = 0);
}

/// <summary>Shape checks shared by the layers of this folder.</summary>
internal static class SelfAttentionChecks
{
    public static (int B, int L) Input(Var x, int modelDim, string layer)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != modelDim)
            throw new ArgumentException($"{layer} expects x of shape (B, L, {modelDim}), got {Var.Fmt(x.Shape)}", nameof(x));
        return (x.Shape[0], x.Shape[1]);
    }

    /// <summary>(B, L, H·D) → (B, H, L, D).</summary>
    public static Var SplitHeads(Var y, int b, int l, int heads, int dim) => y.Reshape(b, l, heads, dim).Permute(0, 2, 1, 3);

    /// <summary>(B, H, L, D) → (B, L, H·D).</summary>
    public static Var MergeHeads(Var y, int b, int l) => y.Permute(0, 2, 1, 3).Reshape(b, l, y.Shape[1] * y.Shape[3]);
}
