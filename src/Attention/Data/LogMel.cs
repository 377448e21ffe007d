using Attention.Kernels;

namespace Attention.Data;

/// <summary>
/// Log-mel spectrogram, the usual input of speech models (e.g. Chan et al., 2016, listen-attend-spell): frames of
/// <see cref="WindowMs"/> every <see cref="HopMs"/>, a Hann window, the power spectrum by <see cref="Fft"/> (zero-padded
/// to a power of two), <see cref="Bands"/> triangular filters evenly spaced on the mel scale
/// m = 2595·log₁₀(1 + f/700) between 0 Hz and the Nyquist frequency, then log(energy + 1e-6).
/// Frame t covers samples [t·hop, t·hop + window); a signal shorter than one window gives one zero-padded frame.
/// </summary>
public sealed class LogMel
{
    private readonly float[] _window;
    private readonly float[][] _filters;   // per band: weights over the FFT bins
    private readonly int[] _firstBin;

    /// <summary>Samples per second of the input.</summary>
    public int SampleRate { get; }
    /// <summary>Mel bands per frame.</summary>
    public int Bands { get; }
    /// <summary>Window length in ms.</summary>
    public double WindowMs { get; }
    /// <summary>Hop between frames in ms.</summary>
    public double HopMs { get; }
    /// <summary>Window length in samples.</summary>
    public int Window => _window.Length;
    /// <summary>Hop in samples.</summary>
    public int Hop { get; }
    /// <summary>FFT length (the window rounded up to a power of two).</summary>
    public int FftSize { get; }

    /// <exception cref="ArgumentOutOfRangeException">A non-positive size, or a window shorter than two samples.</exception>
    public LogMel(int sampleRate, int bands = 40, double windowMs = 25, double hopMs = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bands);
        if (!(hopMs > 0)) throw new ArgumentOutOfRangeException(nameof(hopMs), hopMs, "expected a positive hop");
        int window = (int)Math.Round(windowMs * sampleRate / 1000);
        if (window < 2) throw new ArgumentOutOfRangeException(nameof(windowMs), windowMs, $"expected a window of at least 2 samples at {sampleRate} Hz");
        (SampleRate, Bands, WindowMs, HopMs) = (sampleRate, bands, windowMs, hopMs);
        Hop = Math.Max(1, (int)Math.Round(hopMs * sampleRate / 1000));
        FftSize = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)window);
        _window = new float[window];
        for (int i = 0; i < window; i++) _window[i] = (float)(0.5 - 0.5 * Math.Cos(2 * Math.PI * i / (window - 1)));
        // band b rises from mel point b to b+1 and falls to b+2; points evenly spaced in mel from 0 to Nyquist
        double Mel(double f) => 2595 * Math.Log10(1 + f / 700);
        double Hz(double m) => 700 * (Math.Pow(10, m / 2595) - 1);
        double top = Mel(sampleRate / 2.0);
        var points = Enumerable.Range(0, bands + 2).Select(i => Hz(top * i / (bands + 1))).ToArray();
        int bins = FftSize / 2 + 1;
        _filters = new float[bands][];
        _firstBin = new int[bands];
        for (int b = 0; b < bands; b++)
        {
            var w = new float[bins];
            for (int k = 0; k < bins; k++)
            {
                double f = (double)k * sampleRate / FftSize;
                double up = (f - points[b]) / (points[b + 1] - points[b]), down = (points[b + 2] - f) / (points[b + 2] - points[b + 1]);
                w[k] = (float)Math.Max(0, Math.Min(up, down));
            }
            _firstBin[b] = Array.FindIndex(w, x => x > 0) is int i and >= 0 ? i : 0;
            _filters[b] = w;
        }
    }

    /// <summary>Number of frames for <paramref name="samples"/> samples: 1 + (samples − window) / hop, at least 1.</summary>
    public int Frames(int samples) => samples <= Window ? 1 : 1 + (samples - Window) / Hop;

    /// <summary>The frame whose window starts at or before <paramref name="sample"/> and is the last to do so.</summary>
    public int FrameOf(int sample) => sample >= 0 ? sample / Hop : throw new ArgumentOutOfRangeException(nameof(sample), sample, "expected a sample index ≥ 0");

    /// <summary>Log-mel features (frames, bands), row-major.</summary>
    public float[] Compute(ReadOnlySpan<float> samples)
    {
        int frames = Frames(samples.Length);
        var features = new float[frames * Bands];
        var re = new float[FftSize];
        var im = new float[FftSize];
        for (int t = 0; t < frames; t++)
        {
            Array.Clear(re); Array.Clear(im);
            int start = t * Hop, n = Math.Min(Window, samples.Length - start);
            for (int i = 0; i < n; i++) re[i] = samples[start + i] * _window[i];
            Fft.Transform(re, im);
            for (int b = 0; b < Bands; b++)
            {
                var w = _filters[b];
                double energy = 0;
                for (int k = _firstBin[b]; k < w.Length && (w[k] > 0 || k == _firstBin[b]); k++) energy += w[k] * (re[k] * re[k] + im[k] * im[k]);
                features[t * Bands + b] = (float)Math.Log(energy + 1e-6);
            }
        }
        return features;
    }
}
