using Attention.Autograd;
using Attention.Kernels;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alternatives;

/// <summary>
/// FNet's token mixing (Lee-Thorp, Ainslie, Eckstein and Ontañón, 2022, "FNet: Mixing Tokens with Fourier Transforms"):
/// a 2-D discrete Fourier transform over the sequence and hidden axes, keeping the real part, with no parameters:
/// <code>
///   y = Re( F_T · x · F_E )  =  C_T·x·C_E − S_T·x·S_E          C[j, k] = cos(2πjk/n), S[j, k] = sin(2πjk/n)
/// </code>
/// x, y (B, T, E). It is not causal — every output mixes every position, future included — so it cannot drive a
/// left-to-right language model or decode token by token (<see cref="NewState"/> throws); FNet was an encoder.
/// <see cref="ViaFft"/> computes it with <see cref="Fft"/> (powers of two), <see cref="Forward"/> with the real
/// matrices above (any size; autograd: the map is symmetric, so its backward is the same map applied to dy).
/// </summary>
public sealed class FNetMixer : SequenceMixer
{
    private readonly Dictionary<int, (Tensor C, Tensor S)> _matrices = new();

    public override string Name => "FNet";
    public override bool IsCausal => false;

    /// <summary>Creates the (parameter-free) mixer for width E.</summary>
    public FNetMixer(int dim) : base(dim) { }

    /// <summary>The real and imaginary parts of the n-point DFT matrix: (cos, sin)(2πjk/n).</summary>
    public static (Tensor C, Tensor S) DftMatrices(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        var c = Tensor.Zeros(n, n); var s = Tensor.Zeros(n, n);
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++)
            {
                double a = 2 * Math.PI * ((long)j * k % n) / n;
                c.AsSpan()[j * n + k] = (float)Math.Cos(a);
                s.AsSpan()[j * n + k] = (float)Math.Sin(a);
            }
        return (c, s);
    }

    private (Var C, Var S) Matrices(int n)
    {
        if (!_matrices.TryGetValue(n, out var m)) _matrices[n] = m = DftMatrices(n);
        return (Var.Constant(m.C), Var.Constant(m.S));
    }

    public override Var Forward(Var x)
    {
        CheckSequence(x);
        var (ct, st) = Matrices(x.Shape[1]);
        var (ce, se) = Matrices(Dim);
        return Var.MatMul(Var.MatMul(ct, x), ce) - Var.MatMul(Var.MatMul(st, x), se);
    }

    /// <summary>Re(FFT over E, then over T) of x (B, T, E) → y; T and E must be powers of two.</summary>
    /// <exception cref="ArgumentException">Wrong lengths, or T or E not a power of two.</exception>
    public static void ViaFft(ReadOnlySpan<float> x, Span<float> y, int batch, int time, int dim)
    {
        if (x.Length != batch * time * dim || y.Length != x.Length)
            throw new ArgumentException($"expected x and y of {batch}×{time}×{dim} values, got {x.Length} and {y.Length}");
        var re = new float[time * dim];
        var im = new float[time * dim];
        var cr = new float[time]; var ci = new float[time];
        for (int b = 0; b < batch; b++)
        {
            x.Slice(b * time * dim, time * dim).CopyTo(re);
            Array.Clear(im);
            for (int t = 0; t < time; t++) Fft.Transform(re.AsSpan(t * dim, dim), im.AsSpan(t * dim, dim));
            for (int e = 0; e < dim; e++)
            {
                for (int t = 0; t < time; t++) { cr[t] = re[t * dim + e]; ci[t] = im[t * dim + e]; }
                Fft.Transform(cr, ci);
                for (int t = 0; t < time; t++) y[(b * time + t) * dim + e] = cr[t];
            }
        }
    }

    public override MixerState NewState() =>
        throw new NotSupportedException("FNet mixes every position with every other (it is not causal), so it cannot decode token by token");

    public override void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y) =>
        throw new NotSupportedException("FNet mixes every position with every other (it is not causal), so it cannot decode token by token");

    public override long StateFloats(int context) => (long)context * Dim;
}
