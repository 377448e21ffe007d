using Attention.Tensors;

namespace Attention.Seq2Seq;

/// <summary>
/// Synthetic sequence tasks with a known answer and a known alignment: copy (y_t = x_t, gold source position t) and
/// reversal (y_t = x_{S−1−t}, gold S−1−t). Symbols are ids 4 … 4 + symbols − 1 (after the reserved ids of <see cref="Vocabulary"/>).
/// </summary>
public static class SyntheticTasks
{
    /// <summary>count pairs with lengths uniform in [minLength, maxLength]; reversed targets when <paramref name="reverse"/>.</summary>
    public static List<(int[] Source, int[] Target)> Generate(int count, int minLength, int maxLength, int symbols, bool reverse, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, minLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(symbols);
        ArgumentNullException.ThrowIfNull(rng);
        var result = new List<(int[], int[])>(count);
        for (int i = 0; i < count; i++)
        {
            int n = minLength + rng.NextInt(maxLength - minLength + 1);
            var x = new int[n];
            for (int j = 0; j < n; j++) x[j] = Vocabulary.Unk + 1 + rng.NextInt(symbols);
            var y = (int[])x.Clone();
            if (reverse) Array.Reverse(y);
            result.Add((x, y));
        }
        return result;
    }

    /// <summary>Vocabulary size (reserved ids included) for <paramref name="symbols"/> symbols.</summary>
    public static int VocabularySize(int symbols) => Vocabulary.Unk + 1 + symbols;
}
