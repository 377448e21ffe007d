using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Positions;

/// <summary>
/// Relative position representations (Shaw, Uszkoreit and Vaswani, 2018, eq. 3–5): learned vectors for the
/// clipped distance between query and key, on the key side and on the value side,
/// <code>
///   e_ij = q_i·(k_j + a^K_ij) / √Dh            a^K_ij = w^K[clip(j − i, −k, k)]
///   z_i  = Σ_j α_ij (v_j + a^V_ij)             a^V_ij = w^V[clip(j − i, −k, k)]
/// </code>
/// with w^K, w^V (2k + 1, Dh) shared across heads, one pair per layer (the paper found k ≥ 2 enough for
/// translation; every distance beyond k shares the edge vector, so the scheme runs at any length).
/// Computed without an L×S×Dh tensor: q·w^Kᵀ (B, H, L, 2k+1) is gathered into (B, H, L, S), and α is summed
/// into its 2k + 1 distance buckets before multiplying w^V. Materialises the scores (composed path).
/// Parameters "key" and "value" (2k + 1, Dh), N(0, 0.02²).
/// </summary>
public sealed class ShawRelativePositions : PositionScheme
{
    /// <summary>w^K (2k + 1, Dh).</summary>
    public Var KeyTable { get; }
    /// <summary>w^V (2k + 1, Dh).</summary>
    public Var ValueTable { get; }
    /// <summary>k, the clipping distance.</summary>
    public int MaxDistance { get; }
    /// <summary>Dh.</summary>
    public int HeadDim { get; }

    /// <summary>Creates the two tables from <paramref name="rng"/>.</summary>
    public ShawRelativePositions(int maxDistance, int headDim, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDistance);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentNullException.ThrowIfNull(rng);
        MaxDistance = maxDistance; HeadDim = headDim;
        KeyTable = RegisterParameter("key", Var.Parameter(rng.NormalTensor([2 * maxDistance + 1, headDim], 0f, 0.02f)));
        ValueTable = RegisterParameter("value", Var.Parameter(rng.NormalTensor([2 * maxDistance + 1, headDim], 0f, 0.02f)));
    }

    public override string Name => "Shaw";
    public override bool UsesFusedKernel => false;

    public override void Validate(int modelDim, int heads, int headDim)
    {
        if (headDim != HeadDim) throw new ArgumentException($"Shaw tables of width {HeadDim} cannot serve heads of width {headDim}", nameof(headDim));
    }

    /// <summary>clip(pos(j) − pos(i), −k, k) + k for each (i, j), as (L·S).</summary>
    public int[] Distances(int queryLength, int keyLength, int queryStart, int keyStart)
    {
        var r = new int[queryLength * keyLength];
        for (int i = 0; i < queryLength; i++)
            for (int j = 0; j < keyLength; j++)
                r[i * keyLength + j] = Math.Clamp(keyStart + j - (queryStart + i), -MaxDistance, MaxDistance) + MaxDistance;
        return r;
    }

    public override Var? ScoreBias(Var query, int keyLength, int queryStart, int keyStart)
    {
        ArgumentNullException.ThrowIfNull(query);
        int b = query.Shape[0], h = query.Shape[1], l = query.Shape[2];
        Validate(0, h, query.Shape[3]);
        var perDistance = Var.MatMul(query, KeyTable, transposeB: true) * (1f / MathF.Sqrt(HeadDim));  // (B, H, L, 2k+1)
        var r = Distances(l, keyLength, queryStart, keyStart);
        var index = new int[b * h * l * keyLength];
        for (int bh = 0; bh < b * h; bh++) r.CopyTo(index, bh * r.Length);
        return perDistance.Gather(3, index);                                                            // (B, H, L, S)
    }

    public override Var? ValueTerm(Var probabilities, int queryStart, int keyStart)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        int l = probabilities.Shape[2], s = probabilities.Shape[3];
        var r = Distances(l, s, queryStart, keyStart);
        return Var.MatMul(BucketSum(probabilities, r, 2 * MaxDistance + 1), ValueTable);              // (B, H, L, Dh)
    }

    // w[…, i, c] = Σ_{j : r[i, j] = c} p[…, i, j]: the adjoint of the gather in ScoreBias.
    private static Var BucketSum(Var p, int[] r, int buckets)
    {
        int l = p.Shape[^2], s = p.Shape[^1], rows = p.Length / (l * s);
        var shape = p.Shape.ToArray();
        shape[^1] = buckets;
        var w = Tensor.Zeros(shape);
        var ps = p.Value.AsSpan();
        var ws = w.AsSpan();
        for (int a = 0; a < rows; a++)
            for (int i = 0; i < l; i++)
                for (int j = 0; j < s; j++)
                    ws[(a * l + i) * buckets + r[i * s + j]] += ps[(a * l + i) * s + j];
        return Var.FromOp(w, "bucket_sum", [p], o =>
        {
            // forward: w[a, i, r(i, j)] += p[a, i, j]  ⇒  dp[a, i, j] += dw[a, i, r(i, j)]
            var dw = o.Grad!.AsSpan();
            var dp = p.GradBuffer();
            for (int a = 0; a < rows; a++)
                for (int i = 0; i < l; i++)
                    for (int j = 0; j < s; j++)
                        dp[(a * l + i) * s + j] += dw[(a * l + i) * buckets + r[i * s + j]];
        });
    }
}
