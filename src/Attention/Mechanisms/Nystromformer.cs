using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>
/// Nyström attention (Xiong et al., 2021, "Nyströmformer", §3): m landmarks — the means of m contiguous segments of
/// the queries and of the keys — and the Nyström approximation of the softmax matrix
/// <code>
///   Q̃, K̃ = segment means of Q, K (B, H, m, D)
///   F̃ = softmax(Q·K̃ᵀ/√D) (L × m),   Ã = softmax(Q̃·K̃ᵀ/√D) (m × m),   B̃ = softmax(Q̃·Kᵀ/√D) (m × n)
///   O = F̃ · Ã⁺ · (B̃ · V)
/// </code>
/// where Ã⁺, the Moore–Penrose pseudo-inverse, comes from the iteration the paper takes from Razavi et al. (2014):
/// Z₀ = Ãᵀ / (‖Ã‖₁‖Ã‖∞), Z ← ¼·Z·(13I − ÃZ(15I − ÃZ(7I − ÃZ))) — matrix products only, differentiable, 6 steps by default.
/// Cost O(n·m·D + m³) per head. Not causal (landmarks average over future tokens). The paper's extra depth-wise
/// convolution skip on V is left out: this is the attention approximation alone.
/// Q (B, H, n, D) · K (B, H, n, D) · V (B, H, n, Dv) → O (B, H, n, Dv), n ≥ m.
/// Answer: docs/answers/21-linear-attention.md
/// </summary>
public sealed class Nystromformer
{
    /// <summary>m landmarks and the number of pseudo-inverse iterations.</summary>
    public Nystromformer(int landmarks, int iterations = 6)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(landmarks);
        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        Landmarks = landmarks; Iterations = iterations;
    }

    /// <summary>m.</summary>
    public int Landmarks { get; }
    /// <summary>Steps of the pseudo-inverse iteration.</summary>
    public int Iterations { get; }

    /// <summary>query (B, H, n, D), key (B, H, n, D), value (B, H, n, Dv) → (B, H, n, Dv); n ≥ <see cref="Landmarks"/>.</summary>
    /// <exception cref="ArgumentException">Shapes disagree, L ≠ n, fewer tokens than landmarks, or an input holds NaN or ±∞.</exception>
    public Var Forward(Var query, Var key, Var value)
    {
        LinearAttention.CheckQkv(query, key, value, causal: false, "Nystromformer");
        int n = key.Dim(2), d = query.Dim(3);
        if (query.Dim(2) != n)
            throw new ArgumentException($"Nystromformer: expected as many queries as keys (self-attention), got L = {query.Dim(2)}, n = {n}", nameof(query));
        if (n < Landmarks)
            throw new ArgumentException($"Nystromformer: expected at least {Landmarks} tokens (one per landmark), got {n}", nameof(key));
        LinearAttention.CheckFinite(query, nameof(query));
        LinearAttention.CheckFinite(key, nameof(key));
        LinearAttention.CheckFinite(value, nameof(value));
        float quarter = MathF.Pow(d, -0.25f);
        var q = query * quarter;                                                    // q·k/√D = (q/D^¼)·(k/D^¼)
        var k = key * quarter;
        var means = Var.Constant(SegmentMeans(n, Landmarks));                       // (m, n)
        var qTilde = Var.MatMul(means, q);                                          // (B, H, m, D)
        var kTilde = Var.MatMul(means, k);
        var f = Var.MatMul(q, kTilde, transposeB: true).Softmax(-1);                // (B, H, n, m)
        var a = Var.MatMul(qTilde, kTilde, transposeB: true).Softmax(-1);           // (B, H, m, m)
        var b = Var.MatMul(qTilde, k, transposeB: true).Softmax(-1);                // (B, H, m, n)
        var bv = Var.MatMul(b, value);                                              // (B, H, m, Dv)
        return Var.MatMul(f, Var.MatMul(PseudoInverse(a, Iterations), bv));
    }

    /// <summary>
    /// (m, n) averaging matrix: row i is 1/|segment i| on the tokens of segment i = [⌊i·n/m⌋, ⌊(i+1)·n/m⌋), so segments
    /// differ in length by at most one when m does not divide n.
    /// </summary>
    public static Tensor SegmentMeans(int length, int landmarks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(landmarks);
        if (length < landmarks) throw new ArgumentException($"expected at least {landmarks} tokens for {landmarks} landmarks, got {length}", nameof(length));
        var p = Tensor.Zeros(landmarks, length);
        var s = p.AsSpan();
        for (int i = 0; i < landmarks; i++)
        {
            int from = (int)((long)i * length / landmarks), to = (int)((long)(i + 1) * length / landmarks);
            s.Slice(i * length + from, to - from).Fill(1f / (to - from));
        }
        return p;
    }

    /// <summary>
    /// The iterative Moore–Penrose pseudo-inverse of square matrices a (…, m, m) (Razavi et al., 2014, as used by
    /// Nyströmformer): Z₀ = aᵀ/(‖a‖₁·‖a‖∞) per matrix, then Z ← ¼·Z·(13I − aZ(15I − aZ(7I − aZ))), which converges
    /// (third order) to a⁺. Every step is a matrix product, so the result is differentiable in a.
    /// </summary>
    /// <exception cref="ArgumentException">a is not a stack of square matrices.</exception>
    public static Var PseudoInverse(Var a, int iterations)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        if (a.Rank < 2 || a.Dim(-1 + a.Rank) != a.Dim(a.Rank - 2))
            throw new ArgumentException($"PseudoInverse: expected square matrices (…, m, m), got {Tensor.FormatShape(a.Shape)}", nameof(a));
        int m = a.Dim(a.Rank - 1);
        // ‖a‖₁ = largest column sum, ‖a‖∞ = largest row sum (of absolute values; softmax rows are positive already)
        var abs = (a * a + 1e-30f).Sqrt();
        var norm1 = abs.Sum(-2).Max(-1, keepDim: true).Unsqueeze(-1);             // (…, 1, 1)
        var normInf = abs.Sum(-1).Max(-1, keepDim: true).Unsqueeze(-1);
        var z = a.Transpose(-2, -1) / (norm1 * normInf);
        var eye = Tensor.Zeros(m, m);
        for (int i = 0; i < m; i++) eye[i, i] = 1f;
        Var I(float c) => Var.Constant(Scaled(eye, c));
        for (int t = 0; t < iterations; t++)
        {
            var az = Var.MatMul(a, z);
            z = Var.MatMul(z, I(13f) - Var.MatMul(az, I(15f) - Var.MatMul(az, I(7f) - az))) * 0.25f;
        }
        return z;
    }

    private static Tensor Scaled(Tensor t, float c)
    {
        var r = t.Clone();
        var s = r.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] *= c;
        return r;
    }
}
