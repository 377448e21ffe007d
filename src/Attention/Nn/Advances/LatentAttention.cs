using Attention.Autograd;
using Attention.Kernels;
using Attention.Positions;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn.Advances;

/// <summary>
/// Multi-head latent attention, MLA (DeepSeek-AI, 2024, "DeepSeek-V2", §2.1): keys and values are rebuilt from one
/// low-rank latent per token, and RoPE rides on a separate, decoupled part of the key that all heads share, so the
/// cache per token and layer is only d_c + d_R numbers:
/// <code>
///   c_t = RMSNorm(W_DKV·x_t)  (d_c)                      latent, cached
///   k^C_{t,h} = W_UK,h·c_t,  v_{t,h} = W_UV,h·c_t  (d_h)   content keys and values, rebuilt from c_t
///   k^R_t = RoPE(W_KR·x_t)  (d_R, one for all heads)       decoupled RoPE key, cached
///   [q^C_{t,h}; q^R_{t,h}] = W_Q·x_t,  q^R ← RoPE(q^R)
///   s_{ij,h} = (q^C_{i,h}·k^C_{j,h} + q^R_{i,h}·k^R_j) / √(d_h + d_R),   o_{i,h} = Σ_j softmax_j(s)·v_{j,h}
///   y_i = W_O·concat_h(o_{i,h})
/// </code>
/// Absorbed form for decoding (<see cref="DecodeAbsorbed"/>): q^C·(W_UK,h·c_j) = (W_UK,hᵀ·q^C)·c_j, and
/// Σ_j p_j·W_UV,h·c_j = W_UV,h·(Σ_j p_j·c_j), so a decoder attends directly over the cached latents and never
/// rebuilds per-head keys or values. RoPE is why the positional part must be decoupled: a rotation between q^C and
/// W_UK would depend on the key's position and could not be absorbed. (DeepSeek-V2 also compresses the queries;
/// this layer projects them directly, as DeepSeek-V2-Lite does.)
/// Training runs the explicit form on the fused kernel (v padded with d_R zeros so q, k and v have one width).
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public sealed class LatentAttention : Module, ISelfAttentionLayer
{
    /// <inheritdoc/>
    public int ModelDim { get; }
    /// <summary>Heads H.</summary>
    public int Heads { get; }
    /// <summary>Content width per head d_h.</summary>
    public int HeadDim { get; }
    /// <summary>Latent width d_c.</summary>
    public int LatentDim { get; }
    /// <summary>Decoupled RoPE width d_R (even).</summary>
    public int RopeDim { get; }
    /// <summary>The rotation of q^R and k^R.</summary>
    public RotaryPositions Rope { get; }
    /// <summary>E → d_c (no bias, so the latent is linear in x).</summary>
    public Linear DownKv { get; }
    /// <summary>Norm of the latent (d_c).</summary>
    public RmsNorm LatentNorm { get; }
    /// <summary>d_c → H·d_h (no bias: absorbed into the queries).</summary>
    public Linear UpKey { get; }
    /// <summary>d_c → H·d_h (no bias: absorbed into the output).</summary>
    public Linear UpValue { get; }
    /// <summary>E → d_R.</summary>
    public Linear RopeKey { get; }
    /// <summary>E → H·(d_h + d_R).</summary>
    public Linear Q { get; }
    /// <summary>H·d_h → E.</summary>
    public Linear O { get; }

    /// <inheritdoc/>
    public int KvCacheElementsPerToken => LatentDim + RopeDim;

    /// <summary>Creates the layer.</summary>
    /// <exception cref="ArgumentException">A non-positive size, or an odd d_R.</exception>
    public LatentAttention(int modelDim, int heads, int headDim, int latentDim, int ropeDim, Rng rng, RotaryPositions? rope = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(latentDim);
        if (ropeDim <= 0 || ropeDim % 2 != 0) throw new ArgumentException($"expected an even positive RoPE width d_R, got {ropeDim}", nameof(ropeDim));
        ModelDim = modelDim; Heads = heads; HeadDim = headDim; LatentDim = latentDim; RopeDim = ropeDim;
        Rope = rope ?? new RotaryPositions();
        DownKv = RegisterModule("kv_down", new Linear(modelDim, latentDim, rng, bias: false));
        LatentNorm = RegisterModule("kv_norm", new RmsNorm(latentDim));
        UpKey = RegisterModule("k_up", new Linear(latentDim, heads * headDim, rng, bias: false));
        UpValue = RegisterModule("v_up", new Linear(latentDim, heads * headDim, rng, bias: false));
        RopeKey = RegisterModule("k_rope", new Linear(modelDim, ropeDim, rng, bias: false));
        Q = RegisterModule("q", new Linear(modelDim, heads * (headDim + ropeDim), rng));
        O = RegisterModule("o", new Linear(heads * headDim, modelDim, rng));
    }

    private float Scale => 1f / MathF.Sqrt(HeadDim + RopeDim);

    /// <summary>What a decoder caches for x (B, L, E): latents (B, L, d_c) and RoPE keys (B, L, d_R) at positions offset….</summary>
    public (Var Latent, Var RopeKey) Cache(Var x, int positionOffset = 0)
    {
        var (b, l) = SelfAttentionChecks.Input(x, ModelDim, nameof(LatentAttention));
        var c = LatentNorm.Forward(DownKv.Forward(x));                                   // (B, L, d_c)
        var kr = Rope.Apply(RopeKey.Forward(x), positionOffset);                          // (B, L, d_R): axis −2 is time
        return (c, kr);
    }

    /// <inheritdoc/>
    public Var Forward(Var x, bool causal, int positionOffset = 0)
    {
        var (b, l) = SelfAttentionChecks.Input(x, ModelDim, nameof(LatentAttention));
        ArgumentOutOfRangeException.ThrowIfNegative(positionOffset);
        int h = Heads, dh = HeadDim, dr = RopeDim;
        var (c, kr) = Cache(x, positionOffset);
        var kc = SelfAttentionChecks.SplitHeads(UpKey.Forward(c), b, l, h, dh);           // (B, H, L, d_h)
        var v = SelfAttentionChecks.SplitHeads(UpValue.Forward(c), b, l, h, dh);          // (B, H, L, d_h)
        var krHeads = kr.Reshape(b, 1, l, dr).IndexSelect(1, new int[h]);                 // (B, H, L, d_R), shared by heads
        var q = SelfAttentionChecks.SplitHeads(Q.Forward(x), b, l, h, dh + dr);           // (B, H, L, d_h + d_R)
        var qc = q.Slice(3, 0, dh);
        var qr = Rope.Apply(q.Slice(3, dh, dr), positionOffset);
        var query = Var.Concat([qc, qr], 3);
        var key = Var.Concat([kc, krHeads], 3);
        var value = Var.Concat([v, Var.Constant(Tensor.Zeros(b, h, l, dr))], 3);         // pad to the q/k width
        var options = new AttentionOptions { Causal = causal, Scale = Scale };
        var heads = Var.Attention(query, key, value, options).Slice(3, 0, dh);            // (B, H, L, d_h)
        return O.Forward(SelfAttentionChecks.MergeHeads(heads, b, l));
    }

    /// <summary>
    /// One decoding step in the absorbed form, straight from the cache: the new token x_t (E) at position
    /// <paramref name="position"/> attends to cached latents (S, d_c) and RoPE keys (S, d_R) — the cache must already
    /// hold the new token's own entries as its last row (S = position + 1 when decoding from position 0). → y_t (E).
    /// Per head: q̃ = W_UK,hᵀ·q^C (d_c); s_j = (q̃·c_j + q^R·k^R_j)·scale; ĉ = Σ_j softmax(s)_j·c_j; o_h = W_UV,h·ĉ.
    /// No per-head key or value is ever formed (float32 arithmetic, like a real decoder).
    /// </summary>
    /// <exception cref="ArgumentException">Lengths that do not match d_c, d_R or E.</exception>
    public float[] DecodeAbsorbed(ReadOnlySpan<float> x, ReadOnlySpan<float> latents, ReadOnlySpan<float> ropeKeys, int position)
    {
        int h = Heads, dh = HeadDim, dr = RopeDim, dc = LatentDim;
        if (x.Length != ModelDim) throw new ArgumentException($"expected x of length E = {ModelDim}, got {x.Length}", nameof(x));
        if (latents.Length == 0 || latents.Length % dc != 0)
            throw new ArgumentException($"expected latents of length S·d_c (d_c = {dc}, S ≥ 1), got {latents.Length}", nameof(latents));
        int s = latents.Length / dc;
        if (ropeKeys.Length != s * dr)
            throw new ArgumentException($"expected RoPE keys of length S·d_R = {s * dr}, got {ropeKeys.Length}", nameof(ropeKeys));
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        // the query: [q^C; q^R] = W_Q·x + b, then RoPE on q^R at the token's position
        Tensor qAll;
        using (Var.NoGrad())
        {
            var xv = Var.Constant(Tensor.FromArray(x.ToArray(), 1, ModelDim));
            var q = Q.Forward(xv).Reshape(1, h, dh + dr);                                  // (1, H, d_h + d_R)
            var qr = Rope.Apply(q.Slice(2, dh, dr).Reshape(h, 1, dr), position).Reshape(1, h, dr);
            qAll = Var.Concat([q.Slice(2, 0, dh), qr], 2).Value.Contiguous();
        }
        var qs = qAll.AsSpan();
        var wuk = UpKey.Weight.Value.Contiguous().AsSpan();                               // (H·d_h, d_c)
        var wuv = UpValue.Weight.Value.Contiguous().AsSpan();                             // (H·d_h, d_c)
        var o = new float[h * dh];
        var qTilde = new float[dc];
        var scores = new float[s];
        var cHat = new float[dc];
        float scale = Scale;
        for (int head = 0; head < h; head++)
        {
            var qc = qs.Slice(head * (dh + dr), dh);
            var qr = qs.Slice(head * (dh + dr) + dh, dr);
            // absorb W_UK into the query: q̃ = W_UK,hᵀ·q^C
            Array.Clear(qTilde);
            for (int d = 0; d < dh; d++)
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(wuk.Slice((head * dh + d) * dc, dc), qc[d], qTilde, qTilde);
            float max = float.NegativeInfinity;
            for (int j = 0; j < s; j++)
            {
                scores[j] = scale * (System.Numerics.Tensors.TensorPrimitives.Dot(qTilde, latents.Slice(j * dc, dc))
                                     + System.Numerics.Tensors.TensorPrimitives.Dot(qr, ropeKeys.Slice(j * dr, dr)));
                max = Math.Max(max, scores[j]);
            }
            float sum = 0;
            for (int j = 0; j < s; j++) { scores[j] = MathF.Exp(scores[j] - max); sum += scores[j]; }
            // attend over latents: ĉ = Σ p_j c_j, then absorb W_UV: o_h = W_UV,h·ĉ
            Array.Clear(cHat);
            for (int j = 0; j < s; j++)
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(latents.Slice(j * dc, dc), scores[j] / sum, cHat, cHat);
            for (int d = 0; d < dh; d++)
                o[head * dh + d] = System.Numerics.Tensors.TensorPrimitives.Dot(wuv.Slice((head * dh + d) * dc, dc), cHat);
        }
        using (Var.NoGrad())
            return O.Forward(Var.Constant(Tensor.FromArray(o, 1, h * dh))).Value.ToArray();
    }
}
