using Attention.Tensors;

namespace Attention.Data;

/// <summary>A batch of <see cref="MqarTask"/> sequences: inputs and targets (B·T, row-major), targets −100 where not scored.</summary>
public sealed record MqarBatch(int[] Inputs, int[] Targets, int Batch, int Length, int Pairs);

/// <summary>
/// Multi-query associative recall, MQAR (Arora et al., 2023, "Zoology: Measuring and Improving Recall in Efficient
/// Language Models", §3): a sequence first lists P key–value pairs, then asks for the values of the keys again, in a
/// random order; the model must output each key's value right after seeing the key:
/// <code>
///   k₁ v₁ k₂ v₂ … k_P v_P  0 0 … 0  k_σ(1) v_σ(1) k_σ(2) v_σ(2) …        (length T; 0 = filler)
///   targets:               scored only at the positions of the queried keys (the next token is its value)
/// </code>
/// Keys are ids 1…K, values K+1…K+V, distinct keys per sequence, values drawn with replacement. Every query needs the
/// model to have kept the pair from earlier in the sequence: attention can look it up; a model with a fixed-size state
/// must have compressed all P pairs into it, so its accuracy falls once P outgrows the state — the "recall gap" Zoology measures.
/// </summary>
public sealed class MqarTask
{
    /// <summary>The filler token id.</summary>
    public const int Filler = 0;

    /// <summary>Number of key ids K.</summary>
    public int Keys { get; }
    /// <summary>Number of value ids V.</summary>
    public int Values { get; }
    /// <summary>Sequence length T.</summary>
    public int Length { get; }
    /// <summary>Vocabulary size 1 + K + V.</summary>
    public int Vocab => 1 + Keys + Values;

    /// <summary>Creates the task.</summary>
    public MqarTask(int keys, int values, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keys);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(values);
        if (length < 4) throw new ArgumentOutOfRangeException(nameof(length), length, "expected a sequence length of at least 4");
        Keys = keys; Values = values; Length = length;
    }

    /// <summary>The largest P that fits: 4P ≤ T and P ≤ K.</summary>
    public int MaxPairs => Math.Min(Keys, Length / 4);

    /// <summary><paramref name="batch"/> sequences of <paramref name="pairs"/> pairs, drawn from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">pairs outside 1 … <see cref="MaxPairs"/>, or batch ≤ 0.</exception>
    public MqarBatch Sample(int batch, int pairs, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        if (pairs < 1 || pairs > MaxPairs)
            throw new ArgumentOutOfRangeException(nameof(pairs), pairs, $"expected 1 … {MaxPairs} pairs for length {Length} and {Keys} keys");
        int t = Length;
        var x = new int[batch * t];
        var y = new int[batch * t];
        Array.Fill(y, -100);
        var keyPool = Enumerable.Range(1, Keys).ToArray();
        var keys = new int[pairs]; var vals = new int[pairs]; var order = new int[pairs];
        for (int b = 0; b < batch; b++)
        {
            // distinct keys: a partial Fisher–Yates shuffle
            for (int i = 0; i < pairs; i++)
            {
                int j = i + rng.NextInt(Keys - i);
                (keyPool[i], keyPool[j]) = (keyPool[j], keyPool[i]);
                keys[i] = keyPool[i];
                vals[i] = 1 + Keys + rng.NextInt(Values);
            }
            for (int i = 0; i < pairs; i++) order[i] = i;
            for (int i = pairs - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
            int row = b * t;
            for (int i = 0; i < pairs; i++) { x[row + 2 * i] = keys[i]; x[row + 2 * i + 1] = vals[i]; }
            int q0 = t - 2 * pairs;
            for (int i = 0; i < pairs; i++)
            {
                int p = q0 + 2 * i;
                x[row + p] = keys[order[i]];
                x[row + p + 1] = vals[order[i]];
                y[row + p] = vals[order[i]];
            }
        }
        return new MqarBatch(x, y, batch, t, pairs);
    }
}
