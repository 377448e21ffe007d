using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>
/// Weight initialisers, in place, from a seeded <see cref="Rng"/>. Fans follow PyTorch: a weight of
/// shape (out, in, k₁, k₂, …) has fanIn = in·k₁·k₂·… and fanOut = out·k₁·k₂·….
/// Xavier/Glorot (Glorot and Bengio, 2010) keeps activation and gradient variance equal across tanh
/// layers: Var(w) = 2/(fanIn + fanOut). Kaiming/He (He et al., 2015) keeps the forward variance
/// under ReLU: Var(w) = 2/fanIn (gain² / fanIn in general).
/// </summary>
public static class Init
{
    /// <summary>(fanIn, fanOut) of a weight of rank ≥ 2 laid out (out, in, kernel…).</summary>
    /// <exception cref="ArgumentException">Rank below 2.</exception>
    public static (int FanIn, int FanOut) Fans(Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank < 2)
            throw new ArgumentException($"expected a weight of shape (out, in, …), got {Tensor.FormatShape(weight.Shape)}", nameof(weight));
        int receptive = 1;
        for (int i = 2; i < weight.Rank; i++) receptive *= weight.Shape[i];
        return (weight.Shape[1] * receptive, weight.Shape[0] * receptive);
    }

    /// <summary>U(−a, a) with a = gain·√(6 / (fanIn + fanOut)).</summary>
    public static Tensor XavierUniform(Tensor weight, Rng rng, float gain = 1f)
    {
        var (fi, fo) = Fans(weight);
        float a = gain * MathF.Sqrt(6f / Math.Max(1, fi + fo));
        Fill(weight, rng, -a, a);
        return weight;
    }

    /// <summary>N(0, σ²) with σ = gain·√(2 / (fanIn + fanOut)).</summary>
    public static Tensor XavierNormal(Tensor weight, Rng rng, float gain = 1f)
    {
        var (fi, fo) = Fans(weight);
        Normal(weight, rng, gain * MathF.Sqrt(2f / Math.Max(1, fi + fo)));
        return weight;
    }

    /// <summary>U(−b, b) with b = gain·√(3 / fanIn); gain √2 (the default) suits ReLU.
    /// PyTorch's Linear default is gain = 1/√3, i.e. b = 1/√fanIn (see <see cref="Linear"/>).</summary>
    public static Tensor KaimingUniform(Tensor weight, Rng rng, float gain = 1.41421356f)
    {
        var (fi, _) = Fans(weight);
        float b = gain * MathF.Sqrt(3f / Math.Max(1, fi));
        Fill(weight, rng, -b, b);
        return weight;
    }

    /// <summary>N(0, σ²) with σ = gain / √fanIn; gain √2 (the default) suits ReLU.</summary>
    public static Tensor KaimingNormal(Tensor weight, Rng rng, float gain = 1.41421356f)
    {
        var (fi, _) = Fans(weight);
        Normal(weight, rng, gain / MathF.Sqrt(Math.Max(1, fi)));
        return weight;
    }

    /// <summary>U(low, high) in place.</summary>
    public static Tensor Uniform(Tensor tensor, Rng rng, float low, float high)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!(low <= high)) throw new ArgumentException($"expected low ≤ high, got [{low}, {high}]");
        Fill(tensor, rng, low, high);
        return tensor;
    }

    private static void Fill(Tensor t, Rng rng, float lo, float hi)
    {
        ArgumentNullException.ThrowIfNull(rng);
        rng.FillUniform(t, lo, hi);
    }

    private static void Normal(Tensor t, Rng rng, float std)
    {
        ArgumentNullException.ThrowIfNull(rng);
        rng.FillNormal(t, 0f, std);
    }
}
