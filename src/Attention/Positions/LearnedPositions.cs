using Attention.Autograd;
using Attention.Tensors;

namespace Attention.Positions;

/// <summary>
/// Learned absolute positions (Gehring et al., 2017; BERT, GPT-2): one trainable vector per position,
/// added to the token embeddings, x_p ← x_p + P[p], P (MaxPositions, E) drawn from N(0, 0.02²).
/// Vaswani et al. (2017, Table 3 row E) found it on par with sinusoids. It has no vector for a position it
/// was never given, so a model with MaxPositions = 128 cannot run on position 128 at all
/// (<see cref="AddToInput"/> throws), and rarely-trained late positions are poorly learned.
/// Parameter "weight" (MaxPositions, E).
/// </summary>
public sealed class LearnedPositions : PositionScheme
{
    /// <summary>P (MaxPositions, E).</summary>
    public Var Weight { get; }
    /// <summary>Positions with a vector.</summary>
    public int MaxPositions { get; }
    /// <summary>E.</summary>
    public int Dim { get; }

    /// <summary>Creates the table, N(0, 0.02²) from <paramref name="rng"/>.</summary>
    public LearnedPositions(int maxPositions, int dim, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPositions);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentNullException.ThrowIfNull(rng);
        MaxPositions = maxPositions; Dim = dim;
        Weight = RegisterParameter("weight", Var.Parameter(rng.NormalTensor([maxPositions, dim], 0f, 0.02f)));
    }

    public override string Name => "learned";
    public override bool IsAbsolute => true;

    public override void Validate(int modelDim, int heads, int headDim)
    {
        if (modelDim != Dim) throw new ArgumentException($"learned positions of width {Dim} cannot serve a model of width {modelDim}", nameof(modelDim));
    }

    /// <exception cref="ArgumentException">Positions beyond MaxPositions − 1 (the table has no row for them).</exception>
    public override Var AddToInput(Var x, int start = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Dim) throw new ArgumentException($"expected x of shape (B, T, {Dim}), got {Var.Fmt(x.Shape)}", nameof(x));
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        int t = x.Shape[1];
        if (start + t > MaxPositions)
            throw new ArgumentException($"learned positions cover 0 … {MaxPositions - 1}; positions {start} … {start + t - 1} were asked for", nameof(x));
        var ids = Enumerable.Range(start, t).ToArray();
        return x + Var.Embedding(Weight, ids, 1, t);
    }
}
