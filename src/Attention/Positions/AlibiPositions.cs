using Attention.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Positions;

/// <summary>
/// ALiBi, attention with linear biases (Press, Smith and Lewis, 2022, "Train Short, Test Long"): no position
/// vectors at all; each head h adds a penalty proportional to the distance between query and key,
/// <code>
///   s_ij ← q_i·k_j/√Dh − m_h·|pos(i) − pos(j)|,   m_h = 2^(−8h/H),  h = 1 … H
/// </code>
/// (for H = 8 the slopes are 1/2, 1/4, …, 1/256). When H is not a power of two the paper's code takes the 2^⌊log₂H⌋
/// slopes of the nearest power of two and then every other slope of the next power of two (<see cref="Slopes"/>).
/// Heads with steep slopes look locally, shallow ones far. The bias depends on i − j only, costs no parameters,
/// and keeps growing linearly beyond the trained length, which is why it extrapolates.
/// The fused kernel takes the slopes as <c>AttentionOptions.AlibiSlopes</c> (no L×S tensor); the composed path
/// (attention weights requested, or attention dropout) adds the materialised bias (1, H, L, S) instead.
/// </summary>
public sealed class AlibiPositions : PositionScheme
{
    public override string Name => "ALiBi";

    /// <summary>The slopes m_1 … m_H (Press et al.'s recipe, including the one for H not a power of two).</summary>
    public static float[] Slopes(int heads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        static double[] PowerOfTwo(int n) => Enumerable.Range(1, n).Select(h => Math.Pow(2, -8.0 * h / n)).ToArray();
        int p = 1;
        while (p * 2 <= heads) p *= 2;
        var slopes = PowerOfTwo(p).ToList();
        if (p < heads) slopes.AddRange(PowerOfTwo(2 * p).Where((_, i) => i % 2 == 0).Take(heads - p));
        return slopes.Select(s => (float)s).ToArray();
    }

    public override float[]? AlibiSlopes(int heads) => Slopes(heads);

    /// <summary>−m_h·|pos(i) − pos(j)| as (1, H, L, S): the composed path's form of the kernel option.</summary>
    public static Tensor Bias(int heads, int queryLength, int keyLength, int queryStart, int keyStart)
    {
        var slopes = Slopes(heads);
        var bias = Tensor.Zeros(1, heads, queryLength, keyLength);
        var b = bias.AsSpan();
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < queryLength; i++)
                for (int j = 0; j < keyLength; j++)
                    b[(h * queryLength + i) * keyLength + j] = -slopes[h] * Math.Abs(queryStart + i - (keyStart + j));
        return bias;
    }

    public override Var? ScoreBias(Var query, int keyLength, int queryStart, int keyStart)
    {
        ArgumentNullException.ThrowIfNull(query);
        return Var.Constant(Bias(query.Shape[1], query.Shape[2], keyLength, queryStart, keyStart));
    }
}
