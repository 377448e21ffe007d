using Attention.Autograd;
using Attention.Nn;

namespace Attention.Positions;

/// <summary>
/// How a Transformer learns where each token sits. A scheme acts at one or more of four places, and
/// <see cref="MultiHeadAttention"/> calls each hook at its place:
/// <code>
///   input     x ← x + PE(p)                                   absolute: sinusoidal, learned (the model calls AddToInput)
///   q, k      q_m ← R(m)·q_m, k_n ← R(n)·k_n                   rotary (RoPE), before the kernel
///   scores    s_mn ← q_m·k_n/√Dh + b(m, n)                     ALiBi (kernel option), T5 bias, Shaw key term
///   values    o_m ← Σ_n P_mn (v_n + a^V(n − m))                Shaw value term
/// </code>
/// Positions: query i of L sits at <c>start + S − L + i</c> and key j of S at <c>start + j</c> (bottom-right
/// aligned like the causal mask, so a KV-cache step and a full pass agree); <c>start</c> is the position
/// offset the caller passes (0 by default). A scheme that needs neither a score bias nor a value term keeps
/// the fused FlashAttention path (<see cref="UsesFusedKernel"/>); T5 and Shaw materialise the (B, H, L, S)
/// scores. Trainable schemes are <see cref="Module"/>s: register one per layer (Shaw) or share one across
/// layers (T5), parameters shared by several layers are counted once.
/// Answers: docs/answers/44-position-aware-attention.md, docs/answers/45-relative-positions.md
/// </summary>
public abstract class PositionScheme : Module
{
    /// <summary>A short name for tables ("RoPE", "ALiBi", …).</summary>
    public abstract string Name { get; }

    /// <summary>True when the scheme adds vectors to the token embeddings (<see cref="AddToInput"/> does something).</summary>
    public virtual bool IsAbsolute => false;

    /// <summary>True when attention can run on the fused kernel: no materialised score bias and no value term.</summary>
    public virtual bool UsesFusedKernel => true;

    /// <summary>x (B, T, E) → x + PE(start … start + T − 1). Identity unless the scheme is absolute.</summary>
    public virtual Var AddToInput(Var x, int start = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x;
    }

    /// <summary>q (B, H, L, Dh) and k (B, G, S, Dh) with their first positions → the transformed pair. Identity unless rotary.</summary>
    public virtual (Var Query, Var Key) TransformQueryKey(Var query, Var key, int queryStart, int keyStart) => (query, key);

    /// <summary>Per-head ALiBi slopes for the kernel's <c>AttentionOptions.AlibiSlopes</c>, or null.</summary>
    public virtual float[]? AlibiSlopes(int heads) => null;

    /// <summary>
    /// An additive score bias broadcastable to (B, H, L, S), already on the scale of q·k/√Dh, or null.
    /// query (B, H, L, Dh) is given for content-dependent terms (Shaw's q·a^K).
    /// </summary>
    public virtual Var? ScoreBias(Var query, int keyLength, int queryStart, int keyStart) => null;

    /// <summary>The value-side term Σ_j P_ij·a^V(j − i) (B, H, L, Dh) added to P·V, or null. p (B, H, L, S).</summary>
    public virtual Var? ValueTerm(Var probabilities, int queryStart, int keyStart) => null;

    /// <summary>Throws unless the width suits the scheme (e.g. RoPE needs an even head width).</summary>
    public virtual void Validate(int modelDim, int heads, int headDim) { }

    public override string ToString() => Name;
}
