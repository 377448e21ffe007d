using Attention.Kernels;
using Attention.Tensors;

namespace Attention.Tests.Kernels;

public class FftTests
{
    private static (double[] Re, double[] Im) NaiveDft(float[] re, float[] im)
    {
        int n = re.Length;
        var outRe = new double[n]; var outIm = new double[n];
        for (int k = 0; k < n; k++)
            for (int t = 0; t < n; t++)
            {
                double a = -2 * Math.PI * ((long)k * t % n) / n;
                outRe[k] += re[t] * Math.Cos(a) - im[t] * Math.Sin(a);
                outIm[k] += re[t] * Math.Sin(a) + im[t] * Math.Cos(a);
            }
        return (outRe, outIm);
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(4)] [InlineData(8)] [InlineData(64)] [InlineData(512)] [InlineData(1024)]
    public void Fft_MatchesNaiveDftInDouble(int n)
    {
        var rng = new Rng((ulong)n);
        float[] re = rng.NormalArray(n), im = rng.NormalArray(n);
        var (eRe, eIm) = NaiveDft(re, im);
        double scale = re.Sum(Math.Abs) + im.Sum(Math.Abs);
        Fft.Transform(re, im);
        for (int k = 0; k < n; k++)
        {
            Assert.True(Math.Abs(re[k] - eRe[k]) <= 1e-5 * scale, $"re[{k}]: expected {eRe[k]}, got {re[k]}");
            Assert.True(Math.Abs(im[k] - eIm[k]) <= 1e-5 * scale, $"im[{k}]: expected {eIm[k]}, got {im[k]}");
        }
    }

    [Fact]
    public void InverseFft_UndoesFft_AndPowerSpectrumObeysParseval()
    {
        var rng = new Rng(3);
        float[] x = rng.NormalArray(256), re = (float[])x.Clone(), im = new float[256];
        Fft.Transform(re, im);
        Fft.Transform(re, im, inverse: true);
        for (int i = 0; i < x.Length; i++) { Assert.True(Math.Abs(x[i] - re[i]) <= 1e-5f, $"x[{i}]"); Assert.True(Math.Abs(im[i]) <= 1e-5f, $"im[{i}]"); }
        // Σ|x|² = (1/N)·Σ_k |X_k|², with the one-sided spectrum counting bins 1 … N/2−1 twice
        var p = Fft.PowerSpectrum(x);
        double twoSided = p[0] + p[^1] + 2 * p[1..^1].Sum(v => (double)v);
        Assert.Equal(x.Sum(v => (double)v * v), twoSided / x.Length, 2);
    }

    [Fact]
    public void Fft_RejectsLengthsThatAreNotPowersOfTwo_NamingTheLength()
    {
        Assert.Contains("got 12", Assert.Throws<ArgumentException>(() => Fft.Transform(new float[12], new float[12])).Message);
        Assert.Throws<ArgumentException>(() => Fft.Transform(new float[8], new float[4]));
    }
}
