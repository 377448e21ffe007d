using Attention.Nn;
using Attention.Positions;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Advances;

/// <summary>
/// Float64 building blocks for the answer-48 layers, written loop by loop from the papers' formulas and the layers'
/// weights (never from the layers' code paths). Activations are (B, L, n) row-major double arrays.
/// </summary>
internal static class AdvancesReference
{
    public static double[] ToDouble(Tensor t) => t.ToArray().Select(v => (double)v).ToArray();

    /// <summary>x (rows, in) · Wᵀ + b → (rows, out).</summary>
    public static double[] Linear(Linear lin, double[] x)
    {
        int i = lin.InFeatures, o = lin.OutFeatures, rows = x.Length / i;
        var w = lin.Weight.Value; var bias = lin.Bias?.Value;
        var y = new double[rows * o];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < o; c++)
            {
                double acc = bias is null ? 0 : bias[c];
                for (int k = 0; k < i; k++) acc += x[r * i + k] * w[c, k];
                y[r * o + c] = acc;
            }
        return y;
    }

    /// <summary>γ ⊙ v / √(mean(v²) + ε) for every contiguous group of width gain.Length.</summary>
    public static double[] RmsNorm(double[] x, float[] gain, double eps)
    {
        int d = gain.Length;
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / d; r++)
        {
            double ms = 0;
            for (int c = 0; c < d; c++) ms += x[r * d + c] * x[r * d + c];
            double inv = 1 / Math.Sqrt(ms / d + eps);
            for (int c = 0; c < d; c++) y[r * d + c] = x[r * d + c] * inv * gain[c];
        }
        return y;
    }

    /// <summary>RoPE (rotate-half pairs i, i + d/2) of one vector at position m, in double, angles from the scheme.</summary>
    public static double[] Rope(RotaryPositions rope, ReadOnlySpan<double> v, int m)
    {
        int d = v.Length, half = d / 2;
        var y = new double[d];
        for (int i = 0; i < half; i++)
        {
            double a = rope.Angle(m, i, d), c = Math.Cos(a), s = Math.Sin(a);
            y[i] = v[i] * c - v[i + half] * s;
            y[i + half] = v[i] * s + v[i + half] * c;
        }
        return y;
    }

    /// <summary>Row-wise softmax of logits over visible entries (−∞ = hidden) with an optional extra sink logit.</summary>
    public static double[] Softmax(double[] logits, double sink = double.NegativeInfinity)
    {
        double max = Math.Max(sink, logits.Max());
        if (double.IsNegativeInfinity(max)) return new double[logits.Length];
        double sum = Math.Exp(sink - max);
        foreach (var s in logits) sum += Math.Exp(s - max);
        return logits.Select(s => Math.Exp(s - max) / sum).ToArray();
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static void AssertClose(double[] expected, float[] actual, double atol = 1e-5, double rtol = 1e-4, string what = "output")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(expected[i] - actual[i]);
            Assert.True(err <= atol + rtol * Math.Abs(expected[i]), $"{what}[{i}]: expected {expected[i]:G8}, got {actual[i]:G8} (|diff| {err:G3})");
        }
    }
}
