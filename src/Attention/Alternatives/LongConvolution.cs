using Attention.Autograd;
using Attention.Kernels;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// Causal depthwise convolution, the workhorse of S4D's convolution form, Hyena's long filters and Mamba's short
/// convolution: every channel c has its own filter k[c, 0..K−1] and
/// <code>
///   y[b, t, c] = Σ_{l = 0}^{min(t, K−1)} k[c, l] · u[b, t − l, c]        u, y (B, T, C), k (C, K), K ≤ T allowed or not
/// </code>
/// Two forms of the same sum: <see cref="Direct"/> (O(B·T·K·C), best for short filters) and <see cref="ViaFft"/>
/// (zero-pad to n ≥ T + K − 1, multiply the spectra, O(B·C·n log n); what Hyena uses, Poli et al., 2023, §3.3).
/// <see cref="Apply"/> joins the autograd graph; its backward is two correlations, done the same two ways.
/// </summary>
public static class LongConvolution
{
    private static void Check(int uLength, int kLength, int yLength, int batch, int time, int channels, int kernel)
    {
        if (batch < 1 || time < 1 || channels < 1 || kernel < 1)
            throw new ArgumentException($"expected B, T, C, K ≥ 1, got {batch}, {time}, {channels}, {kernel}");
        if (uLength != batch * time * channels)
            throw new ArgumentException($"expected u of {batch}×{time}×{channels} = {batch * time * channels} values, got {uLength}");
        if (kLength != channels * kernel)
            throw new ArgumentException($"expected k of {channels}×{kernel} = {channels * kernel} values, got {kLength}");
        if (yLength != batch * time * channels)
            throw new ArgumentException($"expected y of {batch}×{time}×{channels} = {batch * time * channels} values, got {yLength}");
    }

    /// <summary>The sum as written, O(B·T·K·C). u (B, T, C), k (C, K) → y (B, T, C) (overwritten).</summary>
    public static void Direct(ReadOnlySpan<float> u, ReadOnlySpan<float> k, Span<float> y, int batch, int time, int channels, int kernel)
    {
        Check(u.Length, k.Length, y.Length, batch, time, channels, kernel);
        y.Clear();
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
            {
                var yt = y.Slice((b * time + t) * channels, channels);
                int lmax = Math.Min(t, kernel - 1);
                for (int l = 0; l <= lmax; l++)
                {
                    var us = u.Slice((b * time + t - l) * channels, channels);
                    for (int c = 0; c < channels; c++) yt[c] += k[c * kernel + l] * us[c];
                }
            }
    }

    /// <summary>Smallest power of two ≥ T + K − 1: circular convolution of that length has no wrap-around in the first T outputs.</summary>
    public static int FftLength(int time, int kernel) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(time + kernel - 1));

    /// <summary>The same sum by FFT: y = IFFT(FFT(u)·FFT(k)) per (b, c), first T outputs. u (B, T, C), k (C, K) → y (B, T, C).</summary>
    public static void ViaFft(ReadOnlySpan<float> u, ReadOnlySpan<float> k, Span<float> y, int batch, int time, int channels, int kernel)
    {
        Check(u.Length, k.Length, y.Length, batch, time, channels, kernel);
        int n = FftLength(time, kernel);
        var kr = new float[channels * n];
        var ki = new float[channels * n];
        for (int c = 0; c < channels; c++)
        {
            for (int l = 0; l < kernel; l++) kr[c * n + l] = k[c * kernel + l];
            Fft.Transform(kr.AsSpan(c * n, n), ki.AsSpan(c * n, n));
        }
        var re = new float[n];
        var im = new float[n];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            {
                Array.Clear(re); Array.Clear(im);
                for (int t = 0; t < time; t++) re[t] = u[(b * time + t) * channels + c];
                Fft.Transform(re, im);
                MultiplySpectra(re, im, kr.AsSpan(c * n, n), ki.AsSpan(c * n, n), conjugate: false);
                Fft.Transform(re, im, inverse: true);
                for (int t = 0; t < time; t++) y[(b * time + t) * channels + c] = re[t];
            }
    }

    // (re + i·im) ← (re + i·im)·(br ± i·bi)
    private static void MultiplySpectra(Span<float> re, Span<float> im, ReadOnlySpan<float> br, ReadOnlySpan<float> bi, bool conjugate)
    {
        float sign = conjugate ? -1f : 1f;
        for (int f = 0; f < re.Length; f++)
        {
            float a = re[f], b = im[f], c = br[f], d = sign * bi[f];
            re[f] = a * c - b * d;
            im[f] = a * d + b * c;
        }
    }

    /// <summary>
    /// Backward of the convolution, accumulating (+=): du[b, s, c] += Σ_l k[c, l]·dy[b, s + l, c] and
    /// dk[c, l] += Σ_b Σ_t dy[b, t, c]·u[b, t − l, c]. Either span may be empty to skip that gradient.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> u, ReadOnlySpan<float> k, ReadOnlySpan<float> dy, Span<float> du, Span<float> dk,
                                int batch, int time, int channels, int kernel, bool useFft)
    {
        Check(u.Length, k.Length, dy.Length, batch, time, channels, kernel);
        if (!du.IsEmpty && du.Length != u.Length) throw new ArgumentException($"expected du of {u.Length} values, got {du.Length}", nameof(du));
        if (!dk.IsEmpty && dk.Length != k.Length) throw new ArgumentException($"expected dk of {k.Length} values, got {dk.Length}", nameof(dk));
        if (!useFft)
        {
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < time; t++)
                {
                    var g = dy.Slice((b * time + t) * channels, channels);
                    int lmax = Math.Min(t, kernel - 1);
                    for (int l = 0; l <= lmax; l++)
                    {
                        int s = (b * time + t - l) * channels;
                        for (int c = 0; c < channels; c++)
                        {
                            // forward: y[t] += k[l]·u[t − l]
                            if (!du.IsEmpty) du[s + c] += k[c * kernel + l] * g[c];
                            if (!dk.IsEmpty) dk[c * kernel + l] += g[c] * u[s + c];
                        }
                    }
                }
            return;
        }
        // correlations by FFT: IFFT(FFT(dy)·conj(FFT(x)))[j] = Σ_m x[m]·dy[m + j] (no wrap for n ≥ T + K − 1)
        int n = FftLength(time, kernel);
        var kr = new float[channels * n];
        var ki = new float[channels * n];
        for (int c = 0; c < channels; c++)
        {
            for (int l = 0; l < kernel; l++) kr[c * n + l] = k[c * kernel + l];
            Fft.Transform(kr.AsSpan(c * n, n), ki.AsSpan(c * n, n));
        }
        var accR = new double[channels * n];
        var accI = new double[channels * n];
        var gr = new float[n]; var gi = new float[n];
        var ur = new float[n]; var ui = new float[n];
        var tr = new float[n]; var ti = new float[n];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            {
                Array.Clear(gr); Array.Clear(gi);
                for (int t = 0; t < time; t++) gr[t] = dy[(b * time + t) * channels + c];
                Fft.Transform(gr, gi);
                if (!du.IsEmpty)
                {
                    gr.CopyTo(tr, 0); gi.CopyTo(ti, 0);
                    MultiplySpectra(tr, ti, kr.AsSpan(c * n, n), ki.AsSpan(c * n, n), conjugate: true);
                    Fft.Transform(tr, ti, inverse: true);
                    for (int s = 0; s < time; s++) du[(b * time + s) * channels + c] += tr[s];
                }
                if (!dk.IsEmpty)
                {
                    Array.Clear(ur); Array.Clear(ui);
                    for (int t = 0; t < time; t++) ur[t] = u[(b * time + t) * channels + c];
                    Fft.Transform(ur, ui);
                    for (int f = 0; f < n; f++)
                    {
                        // dy·conj(u)
                        accR[c * n + f] += (double)gr[f] * ur[f] + (double)gi[f] * ui[f];
                        accI[c * n + f] += (double)gi[f] * ur[f] - (double)gr[f] * ui[f];
                    }
                }
            }
        if (!dk.IsEmpty)
            for (int c = 0; c < channels; c++)
            {
                for (int f = 0; f < n; f++) { tr[f] = (float)accR[c * n + f]; ti[f] = (float)accI[c * n + f]; }
                Fft.Transform(tr, ti, inverse: true);
                for (int l = 0; l < kernel && l < n; l++) dk[c * kernel + l] += l < time ? tr[l] : 0f;
            }
    }

    /// <summary>
    /// The convolution as an autograd op: u (B, T, C), k (C, K) → y (B, T, C). <paramref name="useFft"/> null picks the
    /// FFT when the filter is long (K ≥ 32), the direct sum otherwise; both passes use the same choice.
    /// </summary>
    /// <exception cref="ArgumentException">u is not rank 3, or k is not (C, K).</exception>
    public static Var Apply(Var u, Var k, bool? useFft = null)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(k);
        if (u.Rank != 3) throw new ArgumentException($"expected u of shape (B, T, C), got {Var.Fmt(u.Shape)}", nameof(u));
        int batch = u.Shape[0], time = u.Shape[1], channels = u.Shape[2];
        if (k.Rank != 2 || k.Shape[0] != channels)
            throw new ArgumentException($"expected k of shape ({channels}, K), got {Var.Fmt(k.Shape)}", nameof(k));
        int kernel = k.Shape[1];
        bool fft = useFft ?? kernel >= 32;
        var y = Tensor.Zeros(batch, time, channels);
        if (fft) ViaFft(u.Value.AsSpan(), k.Value.AsSpan(), y.AsSpan(), batch, time, channels, kernel);
        else Direct(u.Value.AsSpan(), k.Value.AsSpan(), y.AsSpan(), batch, time, channels, kernel);
        return Var.FromOp(y, "long_conv", [u, k], o =>
        {
            var du = u.RequiresGrad ? u.GradBuffer() : default;
            var dk = k.RequiresGrad ? k.GradBuffer() : default;
            Backward(u.Value.AsSpan(), k.Value.AsSpan(), o.Grad!.AsSpan(), du, dk, batch, time, channels, kernel, fft);
        });
    }
}
