using Attention.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Positions;

/// <summary>
/// Fixed sinusoidal absolute positions (Vaswani et al., 2017, §3.5), added to the token embeddings:
/// <code>
///   PE(p, 2i)     = sin(p · ω_i)        ω_i = base^(−2i/E),  base = 10000,  i = 0 … E/2 − 1
///   PE(p, 2i + 1) = cos(p · ω_i)
/// </code>
/// Each pair (sin, cos) is a point on a circle turning at frequency ω_i, so moving k positions is one fixed
/// rotation per pair, whatever p is: PE(p + k) = M_k · PE(p) with M_k block-diagonal,
/// M_k = diag( [cos kω_i, sin kω_i; −sin kω_i, cos kω_i] ) (<see cref="ShiftMatrix"/>). That is why the paper
/// hoped the model "could easily learn to attend by relative positions". No parameters; the fused kernel is used.
/// </summary>
public sealed class SinusoidalPositions : PositionScheme
{
    /// <summary>The wavelength base (10000 in the paper).</summary>
    public double Base { get; }

    /// <summary>Creates the scheme.</summary>
    public SinusoidalPositions(double @base = 10000)
    {
        if (!(@base > 1)) throw new ArgumentOutOfRangeException(nameof(@base), @base, "expected a base above 1");
        Base = @base;
    }

    public override string Name => "sinusoidal";
    public override bool IsAbsolute => true;

    /// <summary>PE for positions start … start + count − 1, row-major (count, dim); dim even. Computed in double, stored as float.</summary>
    public static float[] Table(int count, int dim, int start = 0, double @base = 10000)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        if (dim <= 0 || dim % 2 != 0) throw new ArgumentException($"expected a positive even width, got {dim}", nameof(dim));
        var pe = new float[count * dim];
        for (int i = 0; i < dim / 2; i++)
        {
            double omega = Math.Pow(@base, -2.0 * i / dim);
            for (int p = 0; p < count; p++)
            {
                double angle = (start + p) * omega;
                pe[p * dim + 2 * i] = (float)Math.Sin(angle);
                pe[p * dim + 2 * i + 1] = (float)Math.Cos(angle);
            }
        }
        return pe;
    }

    /// <summary>The (dim, dim) matrix M_k with PE(p + k) = M_k · PE(p) for every p, row-major, in double.</summary>
    public static double[] ShiftMatrix(int k, int dim, double @base = 10000)
    {
        if (dim <= 0 || dim % 2 != 0) throw new ArgumentException($"expected a positive even width, got {dim}", nameof(dim));
        var m = new double[dim * dim];
        for (int i = 0; i < dim / 2; i++)
        {
            double a = k * Math.Pow(@base, -2.0 * i / dim), c = Math.Cos(a), s = Math.Sin(a);
            int r = 2 * i;
            // sin(p+k)ω = sin pω cos kω + cos pω sin kω;  cos(p+k)ω = −sin pω sin kω + cos pω cos kω
            m[r * dim + r] = c; m[r * dim + r + 1] = s;
            m[(r + 1) * dim + r] = -s; m[(r + 1) * dim + r + 1] = c;
        }
        return m;
    }

    public override void Validate(int modelDim, int heads, int headDim)
    {
        if (modelDim % 2 != 0) throw new ArgumentException($"sinusoidal positions need an even model width, got {modelDim}", nameof(modelDim));
    }

    public override Var AddToInput(Var x, int start = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3) throw new ArgumentException($"expected x of shape (B, T, E), got {Var.Fmt(x.Shape)}", nameof(x));
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        int t = x.Shape[1], e = x.Shape[2];
        Validate(e, 1, e);
        return x + Var.Constant(Tensor.FromArray(Table(t, e, start, Base), 1, t, e));
    }
}
