using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Attention.Kernels;
using Attention.Tensors;

namespace Attention.Autograd;

public sealed partial class Var
{
    /// <summary>
    /// Scaled dot-product attention as one fused op: softmax(Q·Kᵀ·scale + M)·V with the masks of
    /// <paramref name="options"/>, computed by <c>FlashAttention.Forward</c> and differentiated by
    /// <see cref="FlashAttention.Backward"/>, so neither pass materialises the L×S matrix; only the output
    /// and the row log-sum-exp (B, H, L) are kept for backward.
    /// query (B, H, L, D), key and value (B, Hkv, S, D) with H a multiple of Hkv → (B, H, L, D).
    /// </summary>
    /// <exception cref="ArgumentException">An input is not rank 4, or the batch, head or width sizes disagree.</exception>
    public static Var Attention(Var query, Var key, Var value, AttentionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        options ??= AttentionOptions.Default;
        if (query.Shape.Length != 4 || key.Shape.Length != 4 || value.Shape.Length != 4)
            throw new ArgumentException($"attention expects rank-4 query (B, H, L, D), key and value (B, Hkv, S, D); got {Tensor.FormatShape(query.Shape)}, {Tensor.FormatShape(key.Shape)}, {Tensor.FormatShape(value.Shape)}");
        if (!key.Shape.SequenceEqual(value.Shape))
            throw new ArgumentException($"key and value must have the same shape (B, Hkv, S, D); got {Tensor.FormatShape(key.Shape)} and {Tensor.FormatShape(value.Shape)}", nameof(value));
        int b = query.Shape[0], h = query.Shape[1], l = query.Shape[2], d = query.Shape[3];
        if (key.Shape[0] != b || key.Shape[3] != d)
            throw new ArgumentException($"key must be ({b}, Hkv, S, {d}) to match query {Tensor.FormatShape(query.Shape)}; got {Tensor.FormatShape(key.Shape)}", nameof(key));
        var shape = new AttentionShape(b, h, key.Shape[1], l, key.Shape[2], d);   // the kernel checks H % Hkv

        var output = Tensor.Zeros(b, h, l, d);
        var lse = new float[b * h * l];
        FlashAttention.Forward(query.Value.AsSpan(), key.Value.AsSpan(), value.Value.AsSpan(), output.AsSpan(), shape, options, lse);

        return Make(output, "attention", [query, key, value], o =>
        {
            // in the forward pass this was O = softmax(Q·Kᵀ·scale + M)·V; the kernel recomputes P from lse
            var dq = new float[query.Value.Length];
            var dk = new float[key.Value.Length];
            var dv = new float[value.Value.Length];
            FlashAttention.Backward(query.Value.AsSpan(), key.Value.AsSpan(), value.Value.AsSpan(), output.AsSpan(), lse,
                                    o.Grad!.AsSpan(), dq, dk, dv, shape, options);
            if (query.RequiresGrad) { var g = query.GradBuffer(); TensorPrimitives.Add(g, dq, g); }
            if (key.RequiresGrad) { var g = key.GradBuffer(); TensorPrimitives.Add(g, dk, g); }
            if (value.RequiresGrad) { var g = value.GradBuffer(); TensorPrimitives.Add(g, dv, g); }
        });
    }
}
