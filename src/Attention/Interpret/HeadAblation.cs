using Attention.Nn;

namespace Attention.Interpret;

/// <summary>
/// Head ablation (Michel et al., 2019, "Are Sixteen Heads Really Better than One?", §2: a head's output multiplied
/// by a gate ξ_h ∈ {0, 1}): zeroes what chosen heads of one <see cref="MultiHeadAttention"/> write to the output,
/// y = Σ_h W_O^h · head_h → Σ_{h ∉ ablated} W_O^h · head_h, by zeroing head h's columns of W_O (E, H·Dh), the
/// columns h·Dh … (h+1)·Dh − 1. Queries, keys, values and every other head are untouched. Dispose restores the
/// weights bit for bit:
/// <code>
///   using (HeadAblation.Zero(layer, 2)) { accuracyWithoutHead2 = Evaluate(model); }
/// </code>
/// Not thread-safe: the layer's weights are changed in place while the scope is open.
/// Answer: docs/answers/12-multi-head-attention.md
/// </summary>
public sealed class HeadAblation : IDisposable
{
    private readonly MultiHeadAttention _layer;
    private readonly int[] _heads;
    private readonly float[] _saved;
    private bool _disposed;

    private HeadAblation(MultiHeadAttention layer, int[] heads)
    {
        _layer = layer;
        _heads = heads;
        int e = layer.ModelDim, hd = layer.HeadDim, width = layer.Heads * hd;
        var w = layer.O.Weight.Value.AsSpan();                         // (E, H·Dh)
        _saved = new float[heads.Length * e * hd];
        int at = 0;
        foreach (int h in heads)
            for (int r = 0; r < e; r++)
            {
                var cols = w.Slice(r * width + h * hd, hd);
                cols.CopyTo(_saved.AsSpan(at, hd));
                cols.Clear();
                at += hd;
            }
    }

    /// <summary>Zeroes the output of <paramref name="heads"/> (0-based, distinct, each &lt; H) until the returned scope is disposed.</summary>
    /// <exception cref="ArgumentException">No head, a repeated head, or one outside [0, H).</exception>
    public static HeadAblation Zero(MultiHeadAttention layer, params int[] heads)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(heads);
        if (heads.Length == 0) throw new ArgumentException("expected at least one head to ablate, got none", nameof(heads));
        foreach (int h in heads)
            if ((uint)h >= (uint)layer.Heads)
                throw new ArgumentException($"expected heads in [0, {layer.Heads}), got {h}", nameof(heads));
        if (heads.Distinct().Count() != heads.Length)
            throw new ArgumentException($"expected distinct heads, got [{string.Join(", ", heads)}]", nameof(heads));
        return new HeadAblation(layer, (int[])heads.Clone());
    }

    /// <summary>Restores the saved columns of W_O.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int e = _layer.ModelDim, hd = _layer.HeadDim, width = _layer.Heads * hd;
        var w = _layer.O.Weight.Value.AsSpan();
        int at = 0;
        foreach (int h in _heads)
            for (int r = 0; r < e; r++)
            {
                _saved.AsSpan(at, hd).CopyTo(w.Slice(r * width + h * hd, hd));
                at += hd;
            }
    }
}
