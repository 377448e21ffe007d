using Attention.Tensors;
using Attention.Book;
using Attention.Book.Experiments;

namespace Attention.Tests.Answers;

public class Q14Tests
{
    [Fact]
    public void Q14_Quick_AllChecksHold()
    {
        var result = new Q14_WhyScale().Run(new ExperimentContext { Seed = 1234 });
        Assert.Equal(14, result.Question);
        Assert.NotEmpty(result.Checks);
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
        Assert.True(result.Metrics["entropy_scaled_512"] > 10 * result.Metrics["entropy_unscaled_512"]);
    }

    [Fact]
    public void Q14_JacobianNormFormula_MatchesExplicitMatrix()
    {
        float[] p = [0.5f, 0.25f, 0.125f, 0.125f];
        double explicitSq = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
            {
                double jij = (i == j ? p[i] : 0) - (double)p[i] * p[j];
                explicitSq += jij * jij;
            }
        var (_, top, norm) = Q14_WhyScale.Describe(p);
        Assert.Equal(0.5, top);
        Assert.Equal(Math.Sqrt(explicitSq), norm, 12);
    }

    [Fact]
    public void Q14_QueryGradientNorm_MatchesFiniteDifferences()
    {
        const int s = 7, d = 5;
        var rng = new Rng(3);
        var k = new float[s * d]; var q = new double[d];
        rng.FillNormal(k);
        for (int c = 0; c < d; c++) q[c] = rng.NextDouble() - 0.5;
        double scale = 0.7;
        double[] Softmax(double[] x)
        {
            var z = new double[s];
            for (int j = 0; j < s; j++) for (int c = 0; c < d; c++) z[j] += scale * k[j * d + c] * x[c];
            double m = z.Max(), sum = 0;
            for (int j = 0; j < s; j++) sum += z[j] = Math.Exp(z[j] - m);
            return z.Select(v => v / sum).ToArray();
        }
        double fdSq = 0; const double h = 1e-6;
        for (int c = 0; c < d; c++)
        {
            var plus = (double[])q.Clone(); plus[c] += h; var minus = (double[])q.Clone(); minus[c] -= h;
            var pp = Softmax(plus); var pm = Softmax(minus);
            for (int j = 0; j < s; j++) { double g = (pp[j] - pm[j]) / (2 * h); fdSq += g * g; }
        }
        var p = Softmax(q).Select(v => (float)v).ToArray();
        Assert.Equal(Math.Sqrt(fdSq), Q14_WhyScale.QueryGradientNorm(p, k, d, scale), 5);
    }
}
