namespace Attention.Kernels;

/// <summary>
/// The discrete Fourier transform X[k] = Σₙ x[n]·e^(−2πi·kn/N) by the iterative radix-2 Cooley–Tukey algorithm
/// (Cooley and Tukey, 1965): a bit-reversal permutation, then log₂N passes of butterflies, O(N log N) against the
/// naive sum's O(N²). N must be a power of two. Twiddles are computed in double per pass (e^(−2πi·j/len) directly,
/// not by repeated multiplication), so the error stays at a few float ulps of Σ|x| for the lengths used here.
/// Used for audio features (log-mel spectrograms, answer 29) and FFT long convolutions.
/// </summary>
public static class Fft
{
    /// <summary>In place: (re, im) ← DFT(re + i·im), or the inverse DFT (with the 1/N) when <paramref name="inverse"/>.</summary>
    /// <exception cref="ArgumentException">The lengths differ or are not a power of two.</exception>
    public static void Transform(Span<float> re, Span<float> im, bool inverse = false)
    {
        int n = re.Length;
        if (im.Length != n) throw new ArgumentException($"expected re and im of the same length, got {n} and {im.Length}", nameof(im));
        if (n == 0 || (n & (n - 1)) != 0) throw new ArgumentException($"expected a power-of-two length, got {n}", nameof(re));
        // bit-reversal permutation
        for (int i = 1, j = 0; i < n; i++)
        {
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) j ^= bit;
            j |= bit;
            if (i < j) { (re[i], re[j]) = (re[j], re[i]); (im[i], im[j]) = (im[j], im[i]); }
        }
        double sign = inverse ? 1 : -1;
        for (int len = 2; len <= n; len <<= 1)
        {
            int half = len >> 1;
            for (int j = 0; j < half; j++)
            {
                double angle = sign * 2 * Math.PI * j / len;
                float wr = (float)Math.Cos(angle), wi = (float)Math.Sin(angle);
                for (int start = 0; start < n; start += len)
                {
                    int a = start + j, b = a + half;
                    float tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr; im[b] = im[a] - ti;
                    re[a] += tr; im[a] += ti;
                }
            }
        }
        if (inverse)
        {
            float scale = 1f / n;
            for (int i = 0; i < n; i++) { re[i] *= scale; im[i] *= scale; }
        }
    }

    /// <summary>|X[k]|² for k = 0 … N/2 of a real signal x (N a power of two): the one-sided power spectrum.</summary>
    public static float[] PowerSpectrum(ReadOnlySpan<float> x)
    {
        var re = x.ToArray();
        var im = new float[re.Length];
        Transform(re, im);
        var power = new float[re.Length / 2 + 1];
        for (int k = 0; k < power.Length; k++) power[k] = re[k] * re[k] + im[k] * im[k];
        return power;
    }
}
