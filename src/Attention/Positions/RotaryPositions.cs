using Attention.Autograd;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Positions;

/// <summary>Which coordinates of a head vector RoPE rotates together.</summary>
public enum RotaryConvention
{
    /// <summary>Pairs (x_i, x_{i + Dh/2}), i &lt; Dh/2 — GPT-NeoX, LLaMA in Hugging Face ("rotate_half").</summary>
    RotateHalf,
    /// <summary>Pairs (x_{2i}, x_{2i+1}) — the RoFormer paper, GPT-J, Meta's original LLaMA code.</summary>
    Interleaved,
}

/// <summary>
/// Rotary position embedding, RoPE (Su et al., 2021, RoFormer, eq. 14–16): each pair (a, b) of a query or key
/// head vector at position m is turned by the angle m·θ_i,
/// <code>
///   (a, b) ← (a·cos mθ_i − b·sin mθ_i,  a·sin mθ_i + b·cos mθ_i),   θ_i = base^(−2i/Dh),  i = 0 … Dh/2 − 1
/// </code>
/// so q_m·k_n = Re Σ_i q̃_i conj(k̃_i) e^{i(m−n)θ_i} depends on the positions only through m − n: attention
/// logits are relative although each vector is rotated by its absolute position. Values are not rotated.
/// Applied to q and k before the fused kernel (no bias, no L×S tensor). Two extensions beyond the trained length:
/// <list type="bullet">
/// <item>position interpolation (Chen et al., 2023): positions m → m / s with s = <see cref="InterpolationFactor"/>,
///   so a context s× longer maps into the trained angle range (the paper fine-tunes briefly afterwards);</item>
/// <item>NTK-aware scaling (bloc97, 2023, a Reddit/LocalLLaMA post; unverified beyond that): base → base·α^(Dh/(Dh−2)),
///   which stretches low frequencies (long wavelengths) about α× while leaving the highest nearly unchanged.</item>
/// </list>
/// No parameters. The backward of a rotation is the rotation by −mθ_i.
/// </summary>
public sealed class RotaryPositions : PositionScheme
{
    /// <summary>θ's base (10000 in the paper; LLaMA 3 uses 500000).</summary>
    public double Base { get; }
    /// <summary>The pairing of coordinates.</summary>
    public RotaryConvention Convention { get; }
    /// <summary>s of position interpolation: positions are divided by s (1 = off). Settable, so a model trained
    /// without it can be evaluated with it (all layers share the scheme).</summary>
    public double InterpolationFactor
    {
        get => _interpolation;
        set => _interpolation = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(InterpolationFactor), value, "expected an interpolation factor ≥ 1");
    }
    /// <summary>α of NTK-aware scaling (1 = off); settable like <see cref="InterpolationFactor"/>.</summary>
    public double NtkAlpha
    {
        get => _ntk;
        set => _ntk = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(NtkAlpha), value, "expected an NTK α ≥ 1");
    }
    private double _interpolation = 1, _ntk = 1;

    /// <summary>Creates the scheme.</summary>
    public RotaryPositions(double @base = 10000, RotaryConvention convention = RotaryConvention.RotateHalf,
                           double interpolationFactor = 1, double ntkAlpha = 1)
    {
        if (!(@base > 1)) throw new ArgumentOutOfRangeException(nameof(@base), @base, "expected a base above 1");
        if (!Enum.IsDefined(convention)) throw new ArgumentOutOfRangeException(nameof(convention), convention, "expected RotateHalf or Interleaved");
        Base = @base; Convention = convention;
        InterpolationFactor = interpolationFactor; NtkAlpha = ntkAlpha;
    }

    public override string Name => InterpolationFactor != 1 ? $"RoPE (PI ×{InterpolationFactor:0.##})"
                                 : NtkAlpha != 1 ? $"RoPE (NTK α={NtkAlpha:0.##})" : "RoPE";

    public override void Validate(int modelDim, int heads, int headDim)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"RoPE rotates pairs: expected an even head width, got {headDim}", nameof(headDim));
    }

    /// <summary>The effective base after NTK scaling for head width <paramref name="headDim"/>.</summary>
    public double EffectiveBase(int headDim) => NtkAlpha == 1 ? Base : Base * Math.Pow(NtkAlpha, headDim / (headDim - 2.0));

    /// <summary>The angle m·θ_i (in double) for position <paramref name="position"/> and pair <paramref name="pair"/> of a head of width <paramref name="headDim"/>.</summary>
    public double Angle(double position, int pair, int headDim) =>
        position / InterpolationFactor * Math.Pow(EffectiveBase(headDim), -2.0 * pair / headDim);

    public override (Var Query, Var Key) TransformQueryKey(Var query, Var key, int queryStart, int keyStart) =>
        (Apply(query, queryStart), Apply(key, keyStart));

    /// <summary>x (…, T, Dh) with positions start … start + T − 1 on axis −2 → the rotated x (same shape).</summary>
    public Var Apply(Var x, int start = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2) throw new ArgumentException($"expected x of shape (…, T, Dh), got {Var.Fmt(x.Shape)}", nameof(x));
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        int t = x.Shape[^2], d = x.Shape[^1];
        Validate(d, 1, d);
        var (cos, sin) = Tables(start, t, d);
        var y = Tensor.Zeros(x.Shape.ToArray());
        Rotate(x.Value.AsSpan(), y.AsSpan(), t, d, cos, sin, inverse: false);
        return Var.FromOp(y, "rope", [x], o =>
        {
            // forward: y = R(mθ)·x, R orthogonal  ⇒  dx += R(−mθ)·dy
            var dx = new float[x.Length];
            Rotate(o.Grad!.AsSpan(), dx, t, d, cos, sin, inverse: true);
            var g = x.GradBuffer();
            System.Numerics.Tensors.TensorPrimitives.Add(g, dx, g);
        });
    }

    private (float[] Cos, float[] Sin) Tables(int start, int t, int d)
    {
        int half = d / 2;
        var cos = new float[t * half];
        var sin = new float[t * half];
        for (int m = 0; m < t; m++)
            for (int i = 0; i < half; i++)
            {
                double a = Angle(start + m, i, d);
                cos[m * half + i] = (float)Math.Cos(a);
                sin[m * half + i] = (float)Math.Sin(a);
            }
        return (cos, sin);
    }

    private void Rotate(ReadOnlySpan<float> x, Span<float> y, int t, int d, float[] cos, float[] sin, bool inverse)
    {
        int half = d / 2, rows = x.Length / d;
        for (int r = 0; r < rows; r++)
        {
            int m = r % t;
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            for (int i = 0; i < half; i++)
            {
                float c = cos[m * half + i], s = inverse ? -sin[m * half + i] : sin[m * half + i];
                int ia = Convention == RotaryConvention.RotateHalf ? i : 2 * i;
                int ib = Convention == RotaryConvention.RotateHalf ? i + half : 2 * i + 1;
                float a = xr[ia], b = xr[ib];
                yr[ia] = a * c - b * s;
                yr[ib] = a * s + b * c;
            }
        }
    }
}
