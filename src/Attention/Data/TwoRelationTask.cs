using Attention.Tensors;

namespace Attention.Data;

/// <summary>One batch of <see cref="TwoRelationTask"/>, every array (B, T) row-major.</summary>
/// <param name="Symbols">Symbol ids in [0, V).</param>
/// <param name="Marks">1 at the row's one marked position, 0 elsewhere (the input's second, "type" embedding).</param>
/// <param name="Previous">Target of relation 1: Symbols[b, t − 1]; -100 (ignored) at t = 0.</param>
/// <param name="Marked">Target of relation 2: the symbol at the row's marked position, at every t.</param>
/// <param name="Batch">B.</param>
/// <param name="Time">T.</param>
/// <param name="MarkedPositions">Per row, the marked position m.</param>
public sealed record TwoRelationBatch(int[] Symbols, int[] Marks, int[] Previous, int[] Marked, int Batch, int Time, int[] MarkedPositions);

/// <summary>
/// A task that needs two relations at once at every position (our design, for answer 12): a row is T symbols drawn
/// uniformly from V, one position m of which carries a mark. At every position t the model must output two symbols,
/// <code>
///   previous[t] = x[t − 1]          a fixed-offset (positional) relation
///   marked[t]   = x[m]              a content relation: the one key whose mark matches
/// </code>
/// The input is embedded as symbol + mark + position (a sum, as BERT sums token, segment and position), so the
/// mark is a tag on the key, not a different symbol. One softmax head returns one convex combination of value
/// vectors: to serve both relations it must average x[t − 1] and x[m], and an average of two embeddings from the
/// same table does not say which symbol came from which relation (a linear readout sees α·v(a) + (1 − α)·v(b)).
/// Two heads can each read one position and write to different subspaces through W_O.
/// Answer: docs/answers/12-multi-head-attention.md
/// </summary>
public static class TwoRelationTask
{
    /// <summary>The ignore index of previous[0].</summary>
    public const int Ignore = -100;

    /// <summary>Draws <paramref name="batch"/> rows of <paramref name="time"/> symbols from <paramref name="vocab"/>, one marked position each.</summary>
    public static TwoRelationBatch Sample(int batch, int time, int vocab, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentNullException.ThrowIfNull(rng);
        if (time < 2) throw new ArgumentOutOfRangeException(nameof(time), time, "expected at least 2 positions (one has a previous token)");
        if (vocab < 2) throw new ArgumentOutOfRangeException(nameof(vocab), vocab, "expected at least 2 symbols");
        int n = batch * time;
        var symbols = new int[n];
        var marks = new int[n];
        var previous = new int[n];
        var marked = new int[n];
        var positions = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            int o = b * time;
            for (int t = 0; t < time; t++) symbols[o + t] = rng.NextInt(vocab);
            int m = rng.NextInt(time);
            positions[b] = m;
            marks[o + m] = 1;
            for (int t = 0; t < time; t++)
            {
                previous[o + t] = t == 0 ? Ignore : symbols[o + t - 1];
                marked[o + t] = symbols[o + m];
            }
        }
        return new TwoRelationBatch(symbols, marks, previous, marked, batch, time, positions);
    }
}
