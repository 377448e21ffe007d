using Attention.Autograd;
using Attention.Tensors;

namespace Attention.Positions;

/// <summary>
/// T5's bucketed relative position bias (Raffel et al., 2020, §2.1; the bucket function of Mesh TensorFlow's
/// <c>_relative_position_bucket</c>): one learned scalar per head and bucket of the relative position
/// r = pos(key) − pos(query), added to the scores and shared by all layers,
/// <code>
///   s_ij ← q_i·k_j/√Dh + w[bucket(r_ij), h]
///   bidirectional: N ← N/2;  offset = N if r &gt; 0 else 0;  n = |r|
///   causal:        offset = 0;  n = max(−r, 0)               (keys ahead of the query all share bucket 0)
///   max_exact = N/2
///   bucket = offset + n                                                                  if n &lt; max_exact
///          = offset + min(N − 1, max_exact + ⌊ln(n/max_exact) / ln(D/max_exact) · (N − max_exact)⌋)   otherwise
/// </code>
/// with N = <see cref="NumBuckets"/> (32 in T5) and D = <see cref="MaxDistance"/> (128): small distances get a bucket
/// each, larger ones log-spaced buckets, and every distance ≥ D shares the last bucket — so the bias is constant
/// beyond D and the model runs at any length. The bias materialises (1, H, L, S), so attention takes the
/// composed path. Parameter "weight" (NumBuckets, H), initialised to zero (no position preference at first).
/// </summary>
public sealed class T5RelativeBias : PositionScheme
{
    /// <summary>w (NumBuckets, H).</summary>
    public Var Weight { get; }
    /// <summary>N, the bucket count (both directions together when bidirectional).</summary>
    public int NumBuckets { get; }
    /// <summary>D, the distance from which all distances share one bucket.</summary>
    public int MaxDistance { get; }
    /// <summary>True for an encoder (keys on both sides), false for a causal decoder.</summary>
    public bool Bidirectional { get; }
    /// <summary>H.</summary>
    public int Heads { get; }

    /// <summary>Creates the bias table (zeros).</summary>
    public T5RelativeBias(int heads, bool bidirectional, int numBuckets = 32, int maxDistance = 128)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        int exact = bidirectional ? numBuckets / 4 : numBuckets / 2;
        if (exact < 1) throw new ArgumentOutOfRangeException(nameof(numBuckets), numBuckets, $"expected at least {(bidirectional ? 4 : 2)} buckets");
        if (maxDistance <= exact) throw new ArgumentOutOfRangeException(nameof(maxDistance), maxDistance, $"expected a max distance above the {exact} exact buckets");
        Heads = heads; Bidirectional = bidirectional; NumBuckets = numBuckets; MaxDistance = maxDistance;
        Weight = RegisterParameter("weight", Var.Parameter(Tensor.Zeros(numBuckets, heads)));
    }

    public override string Name => "T5 bias";
    public override bool UsesFusedKernel => false;

    public override void Validate(int modelDim, int heads, int headDim)
    {
        if (heads != Heads) throw new ArgumentException($"a T5 bias of {Heads} heads cannot serve an attention of {heads} heads", nameof(heads));
    }

    /// <summary>The bucket of relative position <paramref name="relativePosition"/> = pos(key) − pos(query).</summary>
    public static int Bucket(int relativePosition, bool bidirectional, int numBuckets = 32, int maxDistance = 128)
    {
        int offset = 0, n;
        if (bidirectional)
        {
            numBuckets /= 2;
            if (relativePosition > 0) offset = numBuckets;
            n = Math.Abs(relativePosition);
        }
        else n = Math.Max(-relativePosition, 0);
        int maxExact = numBuckets / 2;
        if (n < maxExact) return offset + n;
        int large = maxExact + (int)(Math.Log((double)n / maxExact) / Math.Log((double)maxDistance / maxExact) * (numBuckets - maxExact));
        return offset + Math.Min(large, numBuckets - 1);
    }

    /// <summary>The bucket ids (L·S) for queries at queryStart … and keys at keyStart ….</summary>
    public int[] Buckets(int queryLength, int keyLength, int queryStart, int keyStart)
    {
        var ids = new int[queryLength * keyLength];
        for (int i = 0; i < queryLength; i++)
            for (int j = 0; j < keyLength; j++)
                ids[i * keyLength + j] = Bucket(keyStart + j - (queryStart + i), Bidirectional, NumBuckets, MaxDistance);
        return ids;
    }

    public override Var? ScoreBias(Var query, int keyLength, int queryStart, int keyStart)
    {
        ArgumentNullException.ThrowIfNull(query);
        int h = query.Shape[1], l = query.Shape[2];
        Validate(0, h, 0);
        var ids = Buckets(l, keyLength, queryStart, keyStart);
        return Var.Embedding(Weight, ids, l, keyLength)     // (L, S, H)
                  .Permute(2, 0, 1).Reshape(1, h, l, keyLength);
    }
}
