using Attention.Autograd;
using Attention.Kernels;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>
/// Streaming generation with a trained <see cref="CharLm"/>, one token at a time, each layer's keys and values held in a
/// <see cref="RollingKvCache"/>: the first <c>sinkTokens</c> tokens and the last <c>window</c> (StreamingLLM, Xiao et al.,
/// 2023; sinkTokens = 0 is plain window attention with a rolling buffer, a window longer than the stream is the full KV
/// cache). Memory stays constant however long the stream runs. Positions are those inside the cache, so only schemes
/// that need no absolute position work: ALiBi (distances inside the cache, as StreamingLLM assigns them) and NoPE.
/// With a window that holds every token, <see cref="Step"/> gives the same logits as <see cref="CharLm.Forward"/> on the
/// whole prefix (tested).
/// <para>Per token and layer: LN₁ → q, k, v (one row each, (H, Dh)) → append k, v → attend q over the cache → o·W_oᵀ,
/// residual, then the MLP branch, as in the pre-LN <see cref="Nn.TransformerBlock"/>.</para>
/// </summary>
public sealed class CharLmStream
{
    private readonly CharLm _model;
    private readonly RollingKvCache[] _caches;
    private readonly AttentionOptions _options;

    /// <exception cref="ArgumentException">A position scheme other than ALiBi or none, or a post-LN block.</exception>
    /// <exception cref="ArgumentOutOfRangeException">sinkTokens below 0 or window below 1.</exception>
    public CharLmStream(CharLm model, int sinkTokens, int window)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Kind is not (PositionKind.Alibi or PositionKind.None))
            throw new ArgumentException($"expected a CharLm with ALiBi or no positions (positions inside a rolling cache), got {model.Kind}", nameof(model));
        if (model.Blocks.Any(b => !b.PreNorm))
            throw new ArgumentException("expected pre-LN blocks", nameof(model));
        _model = model;
        var attention = model.Blocks[0].Attention;
        _caches = model.Blocks.Select(b => new RollingKvCache(b.Attention.KvHeads, b.Attention.HeadDim, sinkTokens, window)).ToArray();
        _options = new AttentionOptions
        {
            Scale = 1f / MathF.Sqrt(attention.HeadDim),
            AlibiSlopes = attention.Positions?.AlibiSlopes(attention.Heads),
        };
    }

    /// <summary>Tokens held per layer now.</summary>
    public int Count => _caches[0].Count;

    /// <summary>Tokens fed so far.</summary>
    public long Seen => _caches[0].Seen;

    /// <summary>Key and value floats held now, all layers (what must stay in memory between steps).</summary>
    public long HeldFloats => _caches.Sum(c => 2L * c.Count * c.KvHeads * c.HeadDim);

    /// <summary>Floats allocated for the caches' buffers, all layers (constant for the life of the stream).</summary>
    public long BufferFloats => _caches.Sum(c => (long)c.Keys.Length + c.Values.Length);

    /// <summary>Feeds one token; returns the logits (V) that score the next one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A token id outside the vocabulary.</exception>
    public float[] Step(int token)
    {
        if ((uint)token >= (uint)_model.Config.Vocab)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"expected a token id in [0, {_model.Config.Vocab})");
        using var _ = Var.NoGrad();
        var x = _model.Tokens.Forward([token], 1, 1);                                     // (1, 1, E)
        for (int l = 0; l < _caches.Length; l++)
        {
            var block = _model.Blocks[l];
            var attention = block.Attention;
            var h = block.Ln1.Forward(x);
            var q = attention.Q.Forward(h).Value.ToArray();                               // (H·Dh)
            var k = attention.K.Forward(h).Value.ToArray();                               // (G·Dh)
            var v = attention.V.Forward(h).Value.ToArray();
            _caches[l].Append(k, v);
            var o = new float[q.Length];
            _caches[l].Attend(q, o, attention.Heads, _options);
            x = x + attention.O.Forward(Var.Constant(Tensor.FromArray(o, 1, 1, o.Length)));
            x = x + block.Fc2.Forward(block.Fc1.Forward(block.Ln2.Forward(x)).Gelu());
        }
        return _model.Head.Forward(_model.Final.Forward(x)).Value.ToArray();
    }
}
