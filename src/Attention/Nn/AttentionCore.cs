using Attention.Autograd;

namespace Attention.Nn;

/// <summary>
/// A replacement for the per-head core softmax(Q·Kᵀ/√Dh + M)·V of <see cref="MultiHeadAttention"/>:
/// query (B, H, L, Dh), key and value (B, H, S, Dh) → (B, H, L, Dh), causal when asked. The projections around it
/// stay the layer's, so a model with a different core has exactly the same parameters (answer 21 swaps in
/// <see cref="Attention.Mechanisms.LinearAttention"/> this way).
/// </summary>
public delegate Var AttentionCore(Var query, Var key, Var value, bool causal);
