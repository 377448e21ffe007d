using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// Linformer attention (Wang et al., 2020, "Linformer: Self-Attention with Linear Complexity", §4): keys and values
/// are projected along the sequence axis to a fixed length k by learned matrices E, F (k, n) before ordinary softmax
/// attention, so the score matrix is L × k instead of L × n:
/// <code>
///   K̄ = E·K (B, H, k, D),   V̄ = F·V (B, H, k, Dv),   O = softmax(Q·K̄ᵀ/√D)·V̄
/// </code>
/// E and F are parameters (one pair per layer, shared by the heads — the paper's head-wise sharing; pass
/// <c>shareKeyValue</c> for E = F). A sequence shorter than <see cref="MaxLength"/> uses the first n columns,
/// the same as zero-padding it. Not causal: every projected key mixes all positions, future ones included.
/// Initial E, F ~ N(0, 1/k), a random Johnson–Lindenstrauss projection (the paper's argument for why a small k
/// suffices); training then fits them.
/// Q (B, H, L, D) · K (B, H, n, D) · V (B, H, n, Dv) → O (B, H, L, Dv), n ≤ MaxLength.
/// Answer: docs/answers/21-linear-attention.md
/// </summary>
public sealed class Linformer : Module
{
    /// <summary>Projections of length k for sequences of up to <paramref name="maxLength"/> tokens; E, F drawn from <paramref name="rng"/>.</summary>
    public Linformer(int maxLength, int projectedLength, Rng rng, bool shareKeyValue = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(projectedLength);
        ArgumentNullException.ThrowIfNull(rng);
        MaxLength = maxLength; ProjectedLength = projectedLength;
        float std = 1f / MathF.Sqrt(projectedLength);
        KeyProjection = RegisterParameter("e", Var.Parameter(rng.NormalTensor([projectedLength, maxLength], 0f, std)));
        ValueProjection = shareKeyValue ? KeyProjection
            : RegisterParameter("f", Var.Parameter(rng.NormalTensor([projectedLength, maxLength], 0f, std)));
    }

    /// <summary>n, the longest sequence the projections cover.</summary>
    public int MaxLength { get; }
    /// <summary>k, the projected length.</summary>
    public int ProjectedLength { get; }
    /// <summary>E (k, n).</summary>
    public Var KeyProjection { get; }
    /// <summary>F (k, n); the same Var as E when shared.</summary>
    public Var ValueProjection { get; }

    /// <summary>query (B, H, L, D), key (B, H, n, D), value (B, H, n, Dv) → (B, H, L, Dv), n ≤ <see cref="MaxLength"/>.</summary>
    /// <exception cref="ArgumentException">Shapes disagree, n exceeds MaxLength, or an input holds NaN or ±∞.</exception>
    public Var Forward(Var query, Var key, Var value)
    {
        LinearAttention.CheckQkv(query, key, value, causal: false, "Linformer");
        int n = key.Dim(2), d = query.Dim(3);
        if (n > MaxLength)
            throw new ArgumentException($"Linformer: expected at most {MaxLength} keys (the projections' length), got {n}", nameof(key));
        LinearAttention.CheckFinite(query, nameof(query));
        LinearAttention.CheckFinite(key, nameof(key));
        LinearAttention.CheckFinite(value, nameof(value));
        var e = n == MaxLength ? KeyProjection : KeyProjection.Slice(1, 0, n);
        var f = n == MaxLength ? ValueProjection : ValueProjection.Slice(1, 0, n);
        var keys = Var.MatMul(e, key);                                                     // (B, H, k, D)
        var values = Var.MatMul(f, value);                                                 // (B, H, k, Dv)
        var p = (Var.MatMul(query, keys, transposeB: true) * (1f / MathF.Sqrt(d))).Softmax(-1);   // (B, H, L, k)
        return Var.MatMul(p, values);
    }
}
