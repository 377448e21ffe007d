using Attention.Autograd;
using Attention.Kernels;
using Attention.Positions;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn.Advances;

/// <summary>The switches of <see cref="SoftmaxAttention"/>; they compose (defaults: plain multi-head attention).</summary>
public sealed record SoftmaxAttentionOptions
{
    /// <summary>Key/value heads G (null = H). 1 is multi-query attention (Shazeer, 2019), 1 &lt; G &lt; H grouped-query
    /// attention (Ainslie et al., 2023): query head h reads key/value head h / (H / G), so the KV cache shrinks H/G×.</summary>
    public int? KvHeads { get; init; }

    /// <summary>&gt; 0: logits s → c·tanh(s / c) inside the kernel (Gemma 2's attention soft-cap); 0 = off.</summary>
    public float SoftCap { get; init; }

    /// <summary>QK-norm: RMS-normalise every query and key head vector (learned gain per coordinate, shared by the
    /// heads) before RoPE and the dot product, so |q·k| ≤ Dh·max γ_q·max γ_k cannot drift up during training
    /// (Henry et al., 2020; Dehghani et al., 2023).</summary>
    public bool QkNorm { get; init; }

    /// <summary>Gated attention: each head's output is multiplied by σ(x·w_h + b_h), a scalar gate per head and token
    /// computed from the layer's input (the head-wise gate of Qiu et al., 2025).</summary>
    public bool OutputGate { get; init; }

    /// <summary>Learned attention sinks: one trained logit per head joins every softmax denominator with a zero value,
    /// so a head can put weight "nowhere" (<see cref="AttentionOptions.SinkLogits"/>).</summary>
    public bool LearnedSinks { get; init; }
}

/// <summary>
/// Softmax self-attention with the switches of recent models (<see cref="SoftmaxAttentionOptions"/>), on the fused
/// FlashAttention kernels forward and backward:
/// <code>
///   q = x·W_qᵀ (B, H, L, Dh)   k, v = x·W_kᵀ, x·W_vᵀ (B, G, L, Dh)
///   [QK-norm] q ← γ_q ⊙ q / rms(q),  k ← γ_k ⊙ k / rms(k)        [RoPE] q, k rotated by position
///   s = q·k/√Dh → [soft-cap] c·tanh(s/c) → causal mask → softmax over keys [+ sink logit z_h in the denominator]
///   o_h = P·v   [gate] o_h ← σ(x·w_h + b_h)·o_h        y = concat_h(o_h)·W_oᵀ
/// </code>
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public sealed class SoftmaxAttention : Module, ISelfAttentionLayer
{
    /// <inheritdoc/>
    public int ModelDim { get; }
    /// <summary>Query heads H.</summary>
    public int Heads { get; }
    /// <summary>Key/value heads G.</summary>
    public int KvHeads { get; }
    /// <summary>Per-head width Dh.</summary>
    public int HeadDim { get; }
    /// <summary>The switches.</summary>
    public SoftmaxAttentionOptions Options { get; }
    /// <summary>RoPE applied to q and k, or null.</summary>
    public RotaryPositions? Rope { get; }

    /// <summary>Projections.</summary>
    public Linear Q { get; }
    /// <summary>E → G·Dh.</summary>
    public Linear K { get; }
    /// <summary>E → G·Dh.</summary>
    public Linear V { get; }
    /// <summary>H·Dh → E.</summary>
    public Linear O { get; }
    /// <summary>E → H gate logits (with <see cref="SoftmaxAttentionOptions.OutputGate"/>), or null.</summary>
    public Linear? Gate { get; }
    /// <summary>QK-norm gains (Dh), or null.</summary>
    public Var? QueryGain { get; }
    /// <summary>QK-norm gains (Dh), or null.</summary>
    public Var? KeyGain { get; }
    /// <summary>Sink logits (H), or null.</summary>
    public Var? Sinks { get; }

    /// <inheritdoc/>
    public int KvCacheElementsPerToken => 2 * KvHeads * HeadDim;

    /// <summary>Evaluation only: keys and values pass through int8 quantisation (<see cref="KvQuantization"/>: keys per
    /// channel over the sequence, values per token) before attention — what an int8 KV cache would return to a decoder.
    /// Settable, so a model trained in float32 can be evaluated both ways; ignored in training mode.</summary>
    public bool QuantizeKvInt8 { get; set; }

    /// <summary>Creates the layer; E must be a multiple of H, and H of G.</summary>
    /// <exception cref="ArgumentException">Widths or head counts that do not divide.</exception>
    public SoftmaxAttention(int modelDim, int heads, Rng rng, SoftmaxAttentionOptions? options = null, RotaryPositions? rope = null)
    {
        ArgumentNullException.ThrowIfNull(rng);
        options ??= new SoftmaxAttentionOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        if (modelDim % heads != 0)
            throw new ArgumentException($"expected a model width divisible by the {heads} heads, got {modelDim}", nameof(heads));
        int g = options.KvHeads ?? heads;
        if (g <= 0 || heads % g != 0)
            throw new ArgumentException($"expected KV heads dividing the {heads} heads, got {g}", nameof(options));
        if (!(options.SoftCap >= 0) || !float.IsFinite(options.SoftCap))
            throw new ArgumentException($"expected a finite soft-cap ≥ 0 (0 = off), got {options.SoftCap}", nameof(options));
        ModelDim = modelDim; Heads = heads; KvHeads = g; HeadDim = modelDim / heads; Options = options;
        rope?.Validate(modelDim, heads, HeadDim);
        Rope = rope;
        Q = RegisterModule("q", new Linear(modelDim, heads * HeadDim, rng));
        K = RegisterModule("k", new Linear(modelDim, g * HeadDim, rng));
        V = RegisterModule("v", new Linear(modelDim, g * HeadDim, rng));
        O = RegisterModule("o", new Linear(heads * HeadDim, modelDim, rng));
        if (options.QkNorm)
        {
            QueryGain = RegisterParameter("q_norm", Var.Parameter(Tensor.Ones(HeadDim)));
            KeyGain = RegisterParameter("k_norm", Var.Parameter(Tensor.Ones(HeadDim)));
        }
        if (options.OutputGate) Gate = RegisterModule("gate", new Linear(modelDim, heads, rng));
        if (options.LearnedSinks) Sinks = RegisterParameter("sinks", Var.Parameter(Tensor.Zeros(heads)));
    }

    /// <inheritdoc/>
    public Var Forward(Var x, bool causal, int positionOffset = 0)
    {
        var (b, l) = SelfAttentionChecks.Input(x, ModelDim, nameof(SoftmaxAttention));
        ArgumentOutOfRangeException.ThrowIfNegative(positionOffset);
        var q = SelfAttentionChecks.SplitHeads(Q.Forward(x), b, l, Heads, HeadDim);     // (B, H, L, Dh)
        var k = SelfAttentionChecks.SplitHeads(K.Forward(x), b, l, KvHeads, HeadDim);   // (B, G, L, Dh)
        var v = SelfAttentionChecks.SplitHeads(V.Forward(x), b, l, KvHeads, HeadDim);   // (B, G, L, Dh)
        if (Options.QkNorm) { q = q.RmsNorm(QueryGain); k = k.RmsNorm(KeyGain); }
        if (Rope is not null) { q = Rope.Apply(q, positionOffset); k = Rope.Apply(k, positionOffset); }
        if (QuantizeKvInt8 && !Training)
        {
            k = Var.Constant(KvQuantization.RoundTrip(k.Value, KvQuantization.Axis.PerChannel));
            v = Var.Constant(KvQuantization.RoundTrip(v.Value, KvQuantization.Axis.PerToken));
        }
        var options = new AttentionOptions { Causal = causal, Scale = 1f / MathF.Sqrt(HeadDim), SoftCap = Options.SoftCap };
        var heads = Var.Attention(q, k, v, Sinks, options);                               // (B, H, L, Dh)
        if (Gate is not null)
        {
            var gate = Gate.Forward(x).Sigmoid().Permute(0, 2, 1).Reshape(b, Heads, l, 1);  // (B, H, L, 1)
            heads = heads * gate;
        }
        return O.Forward(SelfAttentionChecks.MergeHeads(heads, b, l));
    }
}
