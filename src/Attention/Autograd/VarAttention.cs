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
        => Attention(query, key, value, null, options);

    /// <summary>
    /// Attention with learned sink logits (<see cref="AttentionOptions.SinkLogits"/>): <paramref name="sinkLogits"/> (H) holds
    /// one extra logit per query head that joins every row's softmax denominator with a zero value vector, and it is trained:
    /// with P_sink = e^(sink[h] − logSumExp[b, h, i]) and Δ[b, h, i] = Σ_d dO·O (= Σⱼ P[i, j]·dP[i, j]),
    /// <code>
    ///   ∂O[i]/∂sink = −P_sink · O[i]   so   dSink[h] = −Σ_{b, i} P_sink[b, h, i] · Δ[b, h, i]
    /// </code>
    /// (a row that sees no key has O = 0, so it adds nothing). The options' own SinkLogits, if any, are replaced.
    /// </summary>
    /// <exception cref="ArgumentException">As the overload without sinks, or sinkLogits is not a vector of length H.</exception>
    public static Var Attention(Var query, Var key, Var value, Var? sinkLogits, AttentionOptions? options = null)
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
        if (sinkLogits is not null)
        {
            if (sinkLogits.Shape.Length != 1 || sinkLogits.Shape[0] != h)
                throw new ArgumentException($"sinkLogits must be ({h}), one per query head; got {Tensor.FormatShape(sinkLogits.Shape)}", nameof(sinkLogits));
            options = options with { SinkLogits = sinkLogits.Value.AsSpan().ToArray() };
        }

        var output = Tensor.Zeros(b, h, l, d);
        var lse = new float[b * h * l];
        FlashAttention.Forward(query.Value.AsSpan(), key.Value.AsSpan(), value.Value.AsSpan(), output.AsSpan(), shape, options, lse);

        Var[] parents = sinkLogits is null ? [query, key, value] : [query, key, value, sinkLogits];
        return Make(output, "attention", parents, o =>
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
            if (sinkLogits is { RequiresGrad: true })
            {
                var g = sinkLogits.GradBuffer();
                var sinks = options.SinkLogits!;
                var dO = o.Grad!.AsSpan();
                var outSpan = output.AsSpan();
                for (int bh = 0; bh < b * h; bh++)
                {
                    int head = bh % h;
                    if (float.IsNegativeInfinity(sinks[head])) continue;
                    double sum = 0;
                    for (int i = 0; i < l; i++)
                    {
                        int row = bh * l + i;
                        double delta = TensorPrimitives.Dot(dO.Slice(row * d, d), outSpan.Slice(row * d, d));
                        sum += Math.Exp(sinks[head] - (double)lse[row]) * delta;
                    }
                    g[head] -= (float)sum;
                }
            }
        });
    }
}
