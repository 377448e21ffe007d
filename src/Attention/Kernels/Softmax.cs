namespace Attention.Kernels;

/// <summary>Row-wise softmax and log-softmax.</summary>
public static class Softmax
{
    /// <summary>y[r, :] = softmax(x[r, :]) for rows × cols row-major. Placeholder until the SIMD kernel lands.
    /// A row of all −∞ gives zeros.</summary>
    public static void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols); var yr = y.Slice(r * cols, cols);
            float max = float.NegativeInfinity;
            foreach (var v in xr) max = Math.Max(max, v);
            if (float.IsNegativeInfinity(max)) { yr.Clear(); continue; }
            float sum = 0;
            for (int j = 0; j < cols; j++) { yr[j] = MathF.Exp(xr[j] - max); sum += yr[j]; }
            for (int j = 0; j < cols; j++) yr[j] /= sum;
        }
    }

    /// <summary>y[r, :] = log softmax(x[r, :]). Placeholder.</summary>
    public static void LogRows(ReadOnlySpan<float> x, Span<float> y, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols); var yr = y.Slice(r * cols, cols);
            float max = float.NegativeInfinity;
            foreach (var v in xr) max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in xr) sum += Math.Exp(v - max);
            float lse = max + (float)Math.Log(sum);
            for (int j = 0; j < cols; j++) yr[j] = xr[j] - lse;
        }
    }
}
