using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// Performer attention, FAVOR+ (Choromanski et al., 2021, "Rethinking Attention with Performers", §2.3–2.4):
/// softmax's kernel exp(q·k/√D) is estimated without bias by positive random features
/// <code>
///   x̂ = x / D^¼,   φ(x̂) = exp(−|x̂|²/2) / √M · [exp(w₁·x̂), …, exp(w_M·x̂)],   E[φ(q̂)·φ(k̂)] = exp(q·k/√D)
/// </code>
/// with w₁ … w_M ~ N(0, I_D); the rows are drawn orthogonal in blocks of D (then rescaled to chi-distributed norms,
/// so each row is still marginally Gaussian), which lowers the variance. The estimate then runs through
/// <see cref="LinearAttention.Attend"/>, causal or not, in O(L·M·D). <see cref="Redraw"/> draws a fresh projection
/// (the paper redraws periodically during training; <see cref="RedrawInterval"/> does it every N training forwards).
/// For numerical range the forward subtracts the row maximum of the query exponents and the maximum over all keys
/// of the key exponents: both are constants that cancel between numerator and denominator.
/// Q (B, H, L, D) · K (B, H, S, D) · V (B, H, S, Dv) → O (B, H, L, Dv); the projection W is (M, D), not trained.
/// Answer: docs/answers/21-linear-attention.md
/// </summary>
public sealed class Performer
{
    private readonly Rng _rng;
    private int _forwards;

    /// <summary>M random features for heads of width D; orthogonal blocks unless <paramref name="orthogonal"/> is false.</summary>
    public Performer(int headDim, int features, Rng rng, bool orthogonal = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(features);
        ArgumentNullException.ThrowIfNull(rng);
        HeadDim = headDim; Features = features; Orthogonal = orthogonal; _rng = rng;
        Projection = Draw(features, headDim, orthogonal, rng);
    }

    /// <summary>D.</summary>
    public int HeadDim { get; }
    /// <summary>M, the number of random features.</summary>
    public int Features { get; }
    /// <summary>Whether the rows of W are drawn in orthogonal blocks.</summary>
    public bool Orthogonal { get; }
    /// <summary>W (M, D): the current random projection.</summary>
    public Tensor Projection { get; private set; }
    /// <summary>Redraw W after this many forwards with gradients recorded (training); 0 = never.</summary>
    public int RedrawInterval { get; set; }

    /// <summary>Draws a fresh projection W from the generator given at construction.</summary>
    public void Redraw() => Projection = Draw(Features, HeadDim, Orthogonal, _rng);

    /// <summary>
    /// M × D Gaussian rows; orthogonal: blocks of D rows are orthonormalised (Gram–Schmidt in double) and each row rescaled
    /// to the norm of an independent N(0, I_D) vector, so every row is marginally N(0, I_D) and rows in a block are orthogonal.
    /// </summary>
    public static Tensor Draw(int features, int headDim, bool orthogonal, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(features);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentNullException.ThrowIfNull(rng);
        var w = new float[features * headDim];
        if (!orthogonal)
        {
            rng.FillNormal(w);
            return Tensor.FromArray(w, features, headDim);
        }
        var block = new double[headDim, headDim];
        for (int start = 0; start < features; start += headDim)
        {
            for (int i = 0; i < headDim; i++)
                for (int j = 0; j < headDim; j++) block[i, j] = rng.NextStandardNormal();
            for (int i = 0; i < headDim; i++)
            {
                // Gram–Schmidt (twice, for accuracy) against the rows above
                for (int pass = 0; pass < 2; pass++)
                    for (int p = 0; p < i; p++)
                    {
                        double dot = 0;
                        for (int j = 0; j < headDim; j++) dot += block[i, j] * block[p, j];
                        for (int j = 0; j < headDim; j++) block[i, j] -= dot * block[p, j];
                    }
                double norm = 0;
                for (int j = 0; j < headDim; j++) norm += block[i, j] * block[i, j];
                norm = Math.Sqrt(norm);
                for (int j = 0; j < headDim; j++) block[i, j] /= norm;
            }
            for (int i = 0; i < Math.Min(headDim, features - start); i++)
            {
                double chi = 0;
                for (int j = 0; j < headDim; j++) { double g = rng.NextStandardNormal(); chi += g * g; }
                chi = Math.Sqrt(chi);
                for (int j = 0; j < headDim; j++) w[(start + i) * headDim + j] = (float)(block[i, j] * chi);
            }
        }
        return Tensor.FromArray(w, features, headDim);
    }

    /// <summary>
    /// The unstabilised positive features of (B, H, N, D) inputs: φ(x / D^¼), (B, H, N, M), so that
    /// φ(q)·φ(k) is an unbiased estimate of exp(q·k/√D).
    /// </summary>
    public Var FeatureMap(Var x) => Features_(x, stabilise: 0);

    // stabilise: 0 none, 1 per row (queries), 2 one constant per (b, h) over all rows (keys)
    private Var Features_(Var x, int stabilise)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4 || x.Dim(3) != HeadDim)
            throw new ArgumentException($"Performer: expected (B, H, N, {HeadDim}) inputs, got {Tensor.FormatShape(x.Shape)}", nameof(x));
        float quarter = MathF.Pow(HeadDim, -0.25f);
        var xs = x * quarter;
        var exponent = Var.MatMul(xs, Var.Constant(Projection), transposeB: true)                     // w·x̂, (B, H, N, M)
                     - (xs * xs).Sum(-1, keepDim: true) * 0.5f;                                      // − |x̂|²/2
        if (stabilise != 0) exponent -= Var.Constant(Maxima(exponent.Value, stabilise == 1));
        return exponent.Exp() * (1f / MathF.Sqrt(Features));
    }

    // Row maxima (B, H, N, 1) or per-(b, h) maxima (B, H, 1, 1) of a (B, H, N, M) tensor; constants, not differentiated.
    private static Tensor Maxima(Tensor e, bool perRow)
    {
        int b = e.Dim(0), h = e.Dim(1), n = e.Dim(2), m = e.Dim(3);
        var s = e.AsSpan();
        var result = perRow ? Tensor.Zeros(b, h, n, 1) : Tensor.Zeros(b, h, 1, 1);
        var r = result.AsSpan();
        for (int bh = 0; bh < b * h; bh++)
        {
            float all = float.NegativeInfinity;
            for (int i = 0; i < n; i++)
            {
                float row = float.NegativeInfinity;
                foreach (var v in s.Slice((bh * n + i) * m, m)) row = Math.Max(row, v);
                if (perRow) r[bh * n + i] = row;
                all = Math.Max(all, row);
            }
            if (!perRow) r[bh] = all;
        }
        return result;
    }

    /// <summary>
    /// FAVOR+ attention: query (B, H, L, D), key (B, H, S, D), value (B, H, S, Dv) → (B, H, L, Dv); causal needs L = S.
    /// Redraws W first when <see cref="RedrawInterval"/> training forwards have run.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree (D must be <see cref="HeadDim"/>) or an input holds NaN or ±∞.</exception>
    public Var Forward(Var query, Var key, Var value, bool causal,
                       LinearAttentionForm form = LinearAttentionForm.Chunkwise, int chunkSize = 64)
    {
        LinearAttention.CheckQkv(query, key, value, causal, "Performer");
        if (query.Dim(3) != HeadDim)
            throw new ArgumentException($"Performer: expected head width D = {HeadDim}, got query {Tensor.FormatShape(query.Shape)}", nameof(query));
        LinearAttention.CheckFinite(query, nameof(query));
        LinearAttention.CheckFinite(key, nameof(key));
        LinearAttention.CheckFinite(value, nameof(value));
        if (Var.IsGradEnabled && RedrawInterval > 0 && ++_forwards % RedrawInterval == 0) Redraw();
        return LinearAttention.Attend(Features_(query, 1), Features_(key, 2), value, causal, form, chunkSize);
    }
}
