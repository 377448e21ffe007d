namespace Attention.Tests.Reference;

/// <summary>Float64 softmax references: the textbook formula with max subtraction, one row at a time.</summary>
public static class NaiveSoftmax
{
    public static double[] Row(ReadOnlySpan<float> x)
    {
        var y = new double[x.Length];
        double max = double.NegativeInfinity;
        foreach (var v in x) max = Math.Max(max, v);
        if (double.IsNegativeInfinity(max)) return y;
        double sum = 0;
        for (int i = 0; i < x.Length; i++) { y[i] = Math.Exp(x[i] - max); sum += y[i]; }
        for (int i = 0; i < x.Length; i++) y[i] /= sum;
        return y;
    }

    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (var v in x) max = Math.Max(max, v);
        if (double.IsNegativeInfinity(max)) return double.NegativeInfinity;
        double sum = 0;
        foreach (var v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }

    public static double[] LogRow(ReadOnlySpan<float> x)
    {
        double lse = LogSumExp(x);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = double.IsNegativeInfinity(lse) ? double.NegativeInfinity : x[i] - lse;
        return y;
    }
}
