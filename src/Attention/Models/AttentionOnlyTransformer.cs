using System.Globalization;
using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>
/// An attention-only Transformer (Elhage et al., 2021, "A Mathematical Framework for Transformer Circuits"):
/// embeddings, a stack of multi-head self-attention layers in residual branches, and a linear readout — no MLPs,
/// so everything the model computes between positions is done by attention heads and can be read off them.
/// <code>
///   x₀ = E_tok[ids] + E_type[types] + E_pos[0..T)                      (B, T, E)    E_type only when types &gt; 0
///   xₗ = xₗ₋₁ + MHAₗ(N(xₗ₋₁))                                          N = LayerNorm (preNorm) or identity
///   logits = U · F(x_L)                                                (B, T, outputs)   F = LayerNorm (finalNorm) or identity
/// </code>
/// Positions are a learned absolute table (one row per position up to <see cref="MaxLength"/>). Every layer is a
/// <see cref="MultiHeadAttention"/> with H heads of E/H, so its parameter count, 4E² + 4E, does not depend on H.
/// Answers: docs/answers/11-self-attention.md (2 layers, induction heads), docs/answers/12-multi-head-attention.md.
/// </summary>
public sealed class AttentionOnlyTransformer : Module
{
    private readonly MultiHeadAttention[] _layers;
    private readonly LayerNorm[]? _norms;

    /// <summary>Token vocabulary.</summary>
    public int Vocab { get; }
    /// <summary>Longest input (rows of the position table).</summary>
    public int MaxLength { get; }
    /// <summary>Model width E.</summary>
    public int Dim { get; }
    /// <summary>Readout width.</summary>
    public int Outputs { get; }
    /// <summary>Number of input types (0: no type embedding).</summary>
    public int Types { get; }

    public Embedding Tokens { get; }
    public Embedding? TypeEmbedding { get; }
    public Embedding Positions { get; }
    /// <summary>The attention layers, bottom first.</summary>
    public IReadOnlyList<MultiHeadAttention> Layers => _layers;
    public LayerNorm? Final { get; }
    public Linear Readout { get; }

    /// <summary>Creates the model; weights from <paramref name="rng"/>.</summary>
    /// <param name="vocab">Token ids in [0, vocab).</param>
    /// <param name="maxLength">Longest sequence.</param>
    /// <param name="dim">E (a multiple of <paramref name="heads"/>).</param>
    /// <param name="heads">H per layer.</param>
    /// <param name="layers">Attention layers.</param>
    /// <param name="outputs">Readout width (the vocabulary for a language model).</param>
    /// <param name="rng">Initial weights.</param>
    /// <param name="types">Number of type ids added as a second embedding (0 = none).</param>
    /// <param name="preNorm">LayerNorm before each attention (GPT-2's pre-LN); off, the layer reads the raw residual stream.</param>
    /// <param name="finalNorm">LayerNorm before the readout.</param>
    /// <param name="embeddingScale">Standard deviation of the initial token, type and position embeddings.</param>
    public AttentionOnlyTransformer(int vocab, int maxLength, int dim, int heads, int layers, int outputs, Rng rng,
                                    int types = 0, bool preNorm = true, bool finalNorm = true, float embeddingScale = 1f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocab);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputs);
        ArgumentOutOfRangeException.ThrowIfNegative(types);
        ArgumentNullException.ThrowIfNull(rng);
        if (dim % heads != 0) throw new ArgumentException($"expected a width that is a multiple of the {heads} heads, got {dim}", nameof(dim));
        if (!(embeddingScale > 0f)) throw new ArgumentOutOfRangeException(nameof(embeddingScale), embeddingScale, "expected a positive embedding scale");
        Vocab = vocab; MaxLength = maxLength; Dim = dim; Outputs = outputs; Types = types;
        Tokens = RegisterModule("tok", new Embedding(vocab, dim, rng));
        if (types > 0) TypeEmbedding = RegisterModule("type", new Embedding(types, dim, rng));
        Positions = RegisterModule("pos", new Embedding(maxLength, dim, rng));
        foreach (var table in new[] { Tokens, TypeEmbedding, Positions })
            if (table is not null && embeddingScale != 1f)
                foreach (ref var w in table.Weight.Value.AsSpan()) w *= embeddingScale;
        _layers = new MultiHeadAttention[layers];
        if (preNorm) _norms = new LayerNorm[layers];
        for (int l = 0; l < layers; l++)
        {
            if (_norms is not null) _norms[l] = RegisterModule($"ln{l}", new LayerNorm(dim));
            _layers[l] = RegisterModule($"attn{l}", new MultiHeadAttention(dim, heads, rng));
        }
        if (finalNorm) Final = RegisterModule("ln_f", new LayerNorm(dim));
        Readout = RegisterModule("readout", new Linear(dim, outputs, rng));
    }

    /// <summary>
    /// ids (B·T, row-major) → logits (B, T, outputs). <paramref name="types"/> (B·T) is required when the model has a
    /// type embedding. With <paramref name="probabilities"/>, each layer's P (B, H, T, T) is appended and the attention
    /// runs on the composed path; otherwise on the fused FlashAttention path (same function).
    /// </summary>
    public Var Forward(int[] ids, int batch, int time, bool causal, int[]? types = null, List<Var>? probabilities = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (batch <= 0 || time <= 0 || ids.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} token ids (B, T > 0), got {ids.Length}", nameof(ids));
        if (time > MaxLength) throw new ArgumentException($"expected at most {MaxLength} positions, got {time}", nameof(time));
        if (TypeEmbedding is not null && (types is null || types.Length != ids.Length))
            throw new ArgumentException($"this model embeds types: expected {ids.Length} type ids, got {types?.Length.ToString(CultureInfo.InvariantCulture) ?? "none"}", nameof(types));
        if (TypeEmbedding is null && types is not null)
            throw new ArgumentException("this model has no type embedding (types = 0) but type ids were given", nameof(types));
        var x = Tokens.Forward(ids, batch, time) + Positions.Forward(Enumerable.Range(0, time).ToArray());   // (B, T, E)
        if (TypeEmbedding is not null) x = x + TypeEmbedding.Forward(types!, batch, time);
        for (int l = 0; l < _layers.Length; l++)
        {
            var input = _norms is null ? x : _norms[l].Forward(x);
            if (probabilities is null) { x = x + _layers[l].Forward(input, causal: causal); continue; }
            var attention = _layers[l].ForwardWithProbabilities(input, causal: causal);
            probabilities.Add(attention.Probabilities);
            x = x + attention.Output;
        }
        return Readout.Forward(Final is null ? x : Final.Forward(x));                                          // (B, T, outputs)
    }
}
