namespace Attention.Tests.Reference;

/// <summary>Float64 GELU reference: x·Φ(x) = ½x·(1 + erf(x/√2)), with erf from its series, not from an approximation.</summary>
public static class NaiveGelu
{
    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>erf by its Taylor series for |x| ≤ 3 and the continued fraction of erfc beyond, in double.</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        if (z <= 3)
        {
            double sum = 0, term = z;
            for (int n = 0; n < 200; n++)
            {
                sum += term / (2 * n + 1);
                term *= -z * z / (n + 1);
            }
            return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * sum;
        }
        // erfc(z) = exp(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
        double f = z;
        for (int k = 60; k >= 1; k--) f = z + k / 2.0 / f;
        double erfc = Math.Exp(-z * z) / Math.Sqrt(Math.PI) / f;
        return Math.Sign(x) * (1 - erfc);
    }
}
