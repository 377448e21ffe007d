using Attention.Tensors;

namespace Attention.Data;

/// <summary>One batch of <see cref="RepeatedTokensTask"/>: inputs and next-token targets, both (B, T) row-major.</summary>
/// <param name="Inputs">Token ids (B·T).</param>
/// <param name="Targets">Targets[b, i] = Inputs[b, i + 1]; the last position has no next token and holds -100 (ignored by CrossEntropy).</param>
/// <param name="Batch">B.</param>
/// <param name="Time">T.</param>
/// <param name="Starts">Per row, the position s of the first copy's first token.</param>
/// <param name="Halves">Per row, the copy length n (the second copy starts at s + n).</param>
public sealed record RepeatedTokensBatch(int[] Inputs, int[] Targets, int Batch, int Time, int[] Starts, int[] Halves)
{
    /// <summary>
    /// True where row <paramref name="b"/>'s next token at query <paramref name="i"/> is predictable from context:
    /// inside the second copy, i = s + n + k for k = 0..n−2 (its last token has no successor in the copy).
    /// </summary>
    public bool InSecondCopy(int b, int i) => i >= Starts[b] + Halves[b] && i <= Starts[b] + 2 * Halves[b] - 2;

    /// <summary>True where the next token is a fresh random draw: queries 0..s + n − 2 (filler and first copy).</summary>
    public bool BeforeSecondCopy(int b, int i) => i >= 0 && i <= Starts[b] + Halves[b] - 2;
}

/// <summary>
/// The induction-head task (Olsson et al., 2022, "In-context Learning and Induction Heads"; Elhage et al., 2021):
/// random tokens, then the same tokens again, trained as next-token prediction. A sequence of length T is
/// <code>
///   [BOS, f₁ … f_F, t₀ t₁ … t₍ₙ₋₁₎, t₀ t₁ … t₍ₙ₋₁₎]      1 + F + 2n = T, n drawn per row in [minHalf, maxHalf]
///                    ↑ s = 1 + F         ↑ s + n
/// </code>
/// The filler f and the first copy are unpredictable (every token a fresh draw); the second copy is predictable from
/// context alone: at query i = s + n + k the current token t_k occurred before at s + k, and the next token is the one
/// that followed it there (t₍ₖ₊₁₎ at s + k + 1). A model that solves it has learned "find the previous occurrence of
/// my token and copy what came after it" — the induction mechanism. Because n (and so the distance between the
/// copies) changes from row to row, a fixed positional look-back cannot solve it.
/// All 1 + F + n − 1 drawn tokens of a row are different (drawn without replacement from 1..Vocab−1), so each token
/// of the second copy has exactly one earlier occurrence and the induction target is unambiguous. 0 is BOS.
/// Answer: docs/answers/11-self-attention.md
/// </summary>
public static class RepeatedTokensTask
{
    /// <summary>The beginning-of-sequence token.</summary>
    public const int Bos = 0;

    /// <summary>The ignore index of the last position's target.</summary>
    public const int Ignore = -100;

    /// <summary>
    /// Draws <paramref name="batch"/> rows of length <paramref name="time"/>, copy length n uniform in
    /// [<paramref name="minHalf"/>, <paramref name="maxHalf"/>], tokens from 1..<paramref name="vocab"/>−1.
    /// Needs 2·maxHalf ≤ time − 1 and time − 1 − minHalf ≤ vocab − 1 (every filler and first-copy token distinct).
    /// </summary>
    public static RepeatedTokensBatch Sample(int batch, int time, int minHalf, int maxHalf, int vocab, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentNullException.ThrowIfNull(rng);
        if (minHalf < 2 || maxHalf < minHalf)
            throw new ArgumentException($"expected 2 ≤ minHalf ≤ maxHalf, got minHalf {minHalf}, maxHalf {maxHalf}", nameof(minHalf));
        if (2 * maxHalf > time - 1)
            throw new ArgumentException($"expected 2·maxHalf ≤ time − 1 = {time - 1} (BOS and two copies), got maxHalf {maxHalf}", nameof(maxHalf));
        if (time - 1 - minHalf > vocab - 1)
            throw new ArgumentException($"expected at most {vocab - 1} distinct tokens (vocab {vocab} minus BOS) for filler and first copy; " +
                                        $"time {time} with minHalf {minHalf} needs {time - 1 - minHalf}", nameof(vocab));
        var inputs = new int[batch * time];
        var targets = new int[batch * time];
        var starts = new int[batch];
        var halves = new int[batch];
        var pool = new int[vocab - 1];
        for (int b = 0; b < batch; b++)
        {
            int n = minHalf + rng.NextInt(maxHalf - minHalf + 1);
            int filler = time - 1 - 2 * n;
            int s = 1 + filler;
            var row = inputs.AsSpan(b * time, time);
            row[0] = Bos;
            // partial Fisher–Yates: the first filler + n entries of the pool are a uniform draw without replacement
            for (int i = 0; i < pool.Length; i++) pool[i] = i + 1;
            for (int k = 0; k < filler + n; k++)
            {
                int j = k + rng.NextInt(pool.Length - k);
                (pool[k], pool[j]) = (pool[j], pool[k]);
                row[1 + k] = pool[k];
            }
            row.Slice(s, n).CopyTo(row.Slice(s + n, n));
            var target = targets.AsSpan(b * time, time);
            row[1..].CopyTo(target);
            target[^1] = Ignore;
            starts[b] = s; halves[b] = n;
        }
        return new RepeatedTokensBatch(inputs, targets, batch, time, starts, halves);
    }
}
