using Attention.Autograd;
using Attention.Kernels;
using Attention.Positions;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>The result of <see cref="MultiHeadAttention.ForwardWithProbabilities"/>.</summary>
/// <param name="Output">(B, L, E).</param>
/// <param name="Probabilities">Per-head attention weights (B, H, L, S), not averaged over heads; masked entries are exactly 0.</param>
public sealed record AttentionResult(Var Output, Var Probabilities);

/// <summary>
/// Multi-head attention as a layer (Vaswani et al., 2017, §3.2.2), with optional grouped key/value
/// heads (Ainslie et al., 2023, GQA; KvHeads = 1 is multi-query attention):
/// <code>
///   Q = x·W_qᵀ (B, L, H·Dh) → (B, H, L, Dh)       K, V = m·W_kᵀ, m·W_vᵀ (B, S, G·Dh) → (B, G, S, Dh)
///   P = softmax(Q·Kᵀ/√Dh + M) (B, H, L, S)         head h reads key/value head h / (H / G)
///   y = concat_h(P·V) · W_oᵀ (B, L, E)
/// </code>
/// Self-attention when the memory m is the input x; cross-attention when m is another sequence
/// (B, S, Ekv). M is −∞ on masked pairs: key padding (keys j ≥ keyLengths[b]) and the causal mask,
/// bottom-right aligned as in <see cref="AttentionOptions.Causal"/> (query i sees keys j ≤ i + S − L).
/// A query row with no visible key gives a zero attention output (and zero probabilities), never NaN.
/// <para>
/// Paths. <see cref="ForwardWithProbabilities"/> (and training with attention dropout) uses the
/// composed autograd graph (scores, MaskedFill −∞, Softmax, ·V), which materialises the (B, H, L, S)
/// probabilities. <see cref="Forward"/> uses the fused kernels: <c>FlashAttention.Forward</c>, and when
/// gradients are recorded one autograd node whose backward is <c>FlashAttention.Backward</c>
/// (Dao, 2023), so neither pass stores L×S. Both paths compute the same function (tested).
/// </para>
/// <para>
/// Positions. An optional <see cref="PositionScheme"/> acts inside self-attention: RoPE rotates q and k before
/// the kernel, ALiBi becomes the kernel's slopes option (a materialised bias on the composed path), and
/// bias schemes (T5, Shaw) add to the materialised scores, Shaw also to the values (composed path). Query i
/// sits at position offset + S − L + i and key j at offset + j. Absolute schemes (sinusoidal, learned) add to
/// the token embeddings, which is the model's job (<see cref="PositionScheme.AddToInput"/>); here they do
/// nothing. Cross-attention (a keyValue memory) ignores the scheme: source and target positions are unrelated.
/// </para>
/// Parameters: q, k, v, o (each a <see cref="Linear"/>); q.weight (H·Dh, E), k.weight and v.weight (G·Dh, Ekv), o.weight (E, H·Dh);
/// a trainable scheme's under "pos" (a scheme shared by several layers is counted once).
/// </summary>
public sealed class MultiHeadAttention : Module
{
    private readonly Rng? _dropoutRng;

    /// <summary>Model width E (input and output of the layer).</summary>
    public int ModelDim { get; }
    /// <summary>Query heads H.</summary>
    public int Heads { get; }
    /// <summary>Key/value heads G (H is a multiple of G).</summary>
    public int KvHeads { get; }
    /// <summary>Per-head width Dh.</summary>
    public int HeadDim { get; }
    /// <summary>Width Ekv of the key/value source.</summary>
    public int KvInputDim { get; }
    /// <summary>Dropout probability on P in training mode (Q34: applied to the attention weights, survivors scaled by 1/(1 − p)).</summary>
    public float AttentionDropout { get; }

    /// <summary>Query projection.</summary>
    public Linear Q { get; }
    /// <summary>Key projection.</summary>
    public Linear K { get; }
    /// <summary>Value projection.</summary>
    public Linear V { get; }
    /// <summary>Output projection.</summary>
    public Linear O { get; }
    /// <summary>The position scheme of self-attention, or null (none: the same as <see cref="NoPositions"/>).</summary>
    public PositionScheme? Positions { get; }
    /// <summary>
    /// A replacement for the softmax core on the <see cref="Forward"/> path (e.g. linear attention, answer 21), or null for
    /// softmax. Needs KvHeads = Heads, no key lengths and no position scheme inside attention (Forward throws otherwise).
    /// </summary>
    public AttentionCore? Core { get; set; }

    /// <summary>Creates the layer; weights drawn from <paramref name="rng"/> (Linear's default init).</summary>
    /// <param name="modelDim">E.</param>
    /// <param name="heads">H.</param>
    /// <param name="rng">Initial weights (and the dropout stream when <paramref name="attentionDropout"/> &gt; 0).</param>
    /// <param name="kvHeads">G, default H; must divide H.</param>
    /// <param name="headDim">Dh, default E / H (then E must be a multiple of H).</param>
    /// <param name="kvInputDim">Ekv for cross-attention, default E.</param>
    /// <param name="bias">Biases on the four projections.</param>
    /// <param name="attentionDropout">Dropout on P during training.</param>
    /// <param name="positions">How self-attention sees positions (see the class remarks); null for none.</param>
    public MultiHeadAttention(int modelDim, int heads, Rng rng, int? kvHeads = null, int? headDim = null,
                              int? kvInputDim = null, bool bias = true, float attentionDropout = 0f,
                              PositionScheme? positions = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentNullException.ThrowIfNull(rng);
        int g = kvHeads ?? heads;
        if (g <= 0 || heads % g != 0)
            throw new ArgumentException($"expected KV heads dividing the {heads} heads, got {g}", nameof(kvHeads));
        if (headDim is null && modelDim % heads != 0)
            throw new ArgumentException($"model width {modelDim} is not a multiple of {heads} heads; pass headDim", nameof(headDim));
        int dh = headDim ?? modelDim / heads;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dh, nameof(headDim));
        int ekv = kvInputDim ?? modelDim;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ekv, nameof(kvInputDim));
        if (!(attentionDropout >= 0f && attentionDropout < 1f))
            throw new ArgumentOutOfRangeException(nameof(attentionDropout), attentionDropout, "expected a dropout probability in [0, 1)");
        ModelDim = modelDim; Heads = heads; KvHeads = g; HeadDim = dh; KvInputDim = ekv; AttentionDropout = attentionDropout;
        Q = RegisterModule("q", new Linear(modelDim, heads * dh, rng, bias));
        K = RegisterModule("k", new Linear(ekv, g * dh, rng, bias));
        V = RegisterModule("v", new Linear(ekv, g * dh, rng, bias));
        O = RegisterModule("o", new Linear(heads * dh, modelDim, rng, bias));
        if (attentionDropout > 0f) _dropoutRng = new Rng(rng.NextUInt64());
        if (positions is not null)
        {
            positions.Validate(modelDim, heads, dh);
            Positions = RegisterModule("pos", positions);
        }
    }

    /// <summary>
    /// query (B, L, E), keyValue (B, S, Ekv) or null for self-attention, keyLengths (B) with values in
    /// [0, S] or null → (B, L, E). Uses the fused path (see the class remarks) unless the position scheme
    /// needs the materialised scores. <paramref name="positionOffset"/> shifts every position of self-attention.
    /// </summary>
    /// <exception cref="ArgumentException">A shape or length does not match (the message names expected and actual).</exception>
    public Var Forward(Var query, Var? keyValue = null, int[]? keyLengths = null, bool causal = false, int positionOffset = 0)
    {
        var (q, k, v, b, l, s) = Project(query, keyValue, keyLengths);
        var scheme = PositionsFor(keyValue, positionOffset);
        if (Core is not null)
        {
            if (KvHeads != Heads || keyLengths is not null || scheme is not null)
                throw new InvalidOperationException($"a custom attention core expects KvHeads = Heads, no key lengths and no position scheme; got KvHeads {KvHeads} of {Heads}, key lengths {(keyLengths is null ? "none" : "given")}, scheme {scheme?.GetType().Name ?? "none"}");
            return Merge(Core(q, k, v, causal), b, l);
        }
        (q, k) = scheme?.TransformQueryKey(q, k, positionOffset + s - l, positionOffset) ?? (q, k);
        bool composed = (Training && AttentionDropout > 0f) || (scheme is not null && !scheme.UsesFusedKernel);
        var heads = composed ? AttendComposed(q, k, v, b, l, s, keyLengths, causal, scheme, positionOffset, out _)
                             : AttendFused(q, k, v, b, l, s, keyLengths, causal, scheme);
        return Merge(heads, b, l);
    }

    /// <summary>As <see cref="Forward"/>, and also returns the per-head probabilities P (B, H, L, S) (composed path).</summary>
    public AttentionResult ForwardWithProbabilities(Var query, Var? keyValue = null, int[]? keyLengths = null, bool causal = false, int positionOffset = 0)
    {
        var (q, k, v, b, l, s) = Project(query, keyValue, keyLengths);
        var scheme = PositionsFor(keyValue, positionOffset);
        (q, k) = scheme?.TransformQueryKey(q, k, positionOffset + s - l, positionOffset) ?? (q, k);
        var heads = AttendComposed(q, k, v, b, l, s, keyLengths, causal, scheme, positionOffset, out var p);
        return new AttentionResult(Merge(heads, b, l), p);
    }

    private PositionScheme? PositionsFor(Var? keyValue, int positionOffset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(positionOffset);
        return keyValue is null ? Positions : null;
    }

    private (Var Q, Var K, Var V, int B, int L, int S) Project(Var query, Var? keyValue, int[]? keyLengths)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Rank != 3 || query.Shape[2] != ModelDim)
            throw new ArgumentException($"MultiHeadAttention expects query of shape (B, L, {ModelDim}), got {Var.Fmt(query.Shape)}", nameof(query));
        int b = query.Shape[0], l = query.Shape[1];
        var memory = keyValue ?? query;
        if (keyValue is null && KvInputDim != ModelDim)
            throw new ArgumentException($"self-attention needs KvInputDim = ModelDim; this layer has KvInputDim {KvInputDim}, ModelDim {ModelDim}: pass keyValue", nameof(keyValue));
        if (memory.Rank != 3 || memory.Shape[0] != b || memory.Shape[2] != KvInputDim)
            throw new ArgumentException($"MultiHeadAttention expects keyValue of shape ({b}, S, {KvInputDim}), got {Var.Fmt(memory.Shape)}", nameof(keyValue));
        int s = memory.Shape[1];
        if (keyLengths is not null)
        {
            if (keyLengths.Length != b)
                throw new ArgumentException($"expected {b} key lengths (one per batch item), got {keyLengths.Length}", nameof(keyLengths));
            for (int i = 0; i < b; i++)
                if ((uint)keyLengths[i] > (uint)s)
                    throw new ArgumentException($"expected key lengths in [0, {s}], got {keyLengths[i]} for batch item {i}", nameof(keyLengths));
        }
        var q = Q.Forward(query).Reshape(b, l, Heads, HeadDim).Permute(0, 2, 1, 3);        // (B, H, L, Dh)
        var k = K.Forward(memory).Reshape(b, s, KvHeads, HeadDim).Permute(0, 2, 1, 3);     // (B, G, S, Dh)
        var v = V.Forward(memory).Reshape(b, s, KvHeads, HeadDim).Permute(0, 2, 1, 3);     // (B, G, S, Dh)
        return (q, k, v, b, l, s);
    }

    private Var Merge(Var heads, int b, int l) =>
        O.Forward(heads.Permute(0, 2, 1, 3).Reshape(b, l, Heads * HeadDim));           // (B, L, H·Dh) → (B, L, E)

    // The fused path: Var.Attention is one FlashAttention.Forward and, with gradients, a backward that calls
    // FlashAttention.Backward (it recomputes P from the saved logSumExp, so L×S never exists and dK, dV come
    // back already summed over the query heads of each GQA group).
    private Var AttendFused(Var q, Var k, Var v, int b, int l, int s, int[]? keyLengths, bool causal, PositionScheme? scheme)
    {
        // ALiBi rides in the kernel (s −= m_h·|i + S − L − j|, with positions shifted alike on both sides, so the offset cancels)
        var options = new AttentionOptions
        {
            Causal = causal, KeyLengths = (int[]?)keyLengths?.Clone(), Scale = 1f / MathF.Sqrt(HeadDim), AlibiSlopes = scheme?.AlibiSlopes(Heads),
        };
        return Var.Attention(q, k, v, options);
    }

    private Var AttendComposed(Var q, Var k, Var v, int b, int l, int s, int[]? keyLengths, bool causal,
                               PositionScheme? scheme, int positionOffset, out Var probabilities)
    {
        if (KvHeads != Heads)
        {
            // GQA: query head h reads key/value head h / group; IndexSelect sums the group's gradients back.
            int group = Heads / KvHeads;
            var map = Enumerable.Range(0, Heads).Select(h => h / group).ToArray();
            k = k.IndexSelect(1, map);
            v = v.IndexSelect(1, map);
        }
        var scores = Var.MatMul(q, k, transposeB: true) * (1f / MathF.Sqrt(HeadDim));   // (B, H, L, S)
        int queryStart = positionOffset + s - l;
        if (scheme?.ScoreBias(q, s, queryStart, positionOffset) is { } positionBias) scores = scores + positionBias;
        var mask = BuildMask(b, l, s, keyLengths, causal);
        if (mask is not null) scores = scores.MaskedFill(mask, float.NegativeInfinity);
        probabilities = scores.Softmax(-1);                                                // rows of −∞ give zeros
        var p = Training && AttentionDropout > 0f ? probabilities.Dropout(AttentionDropout, _dropoutRng!, true) : probabilities;
        var output = Var.MatMul(p, v);                                                     // (B, H, L, Dh)
        if (scheme?.ValueTerm(p, queryStart, positionOffset) is { } valueTerm) output = output + valueTerm;
        return output;
    }

    /// <summary>(B, 1, L, S), 1 where key j is hidden from query i: padding j ≥ keyLengths[b], causal j > i + S − L. Null when nothing is masked.</summary>
    internal static Tensor? BuildMask(int b, int l, int s, int[]? keyLengths, bool causal)
    {
        if (keyLengths is null && !causal) return null;
        var mask = Tensor.Zeros(b, 1, l, s);
        var m = mask.AsSpan();
        for (int n = 0; n < b; n++)
            for (int i = 0; i < l; i++)
            {
                int visible = keyLengths?[n] ?? s;
                if (causal) visible = Math.Min(visible, Math.Max(0, i + s - l + 1));
                m.Slice((n * l + i) * s + visible, s - visible).Fill(1f);
            }
        return mask;
    }
}
