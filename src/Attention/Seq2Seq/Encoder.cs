using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Seq2Seq;

/// <summary>Which recurrent cell a layer uses.</summary>
public enum RecurrentKind { Gru, Lstm }

/// <summary>
/// Embedding + GRU or LSTM (uni- or bidirectional, one or more layers) over a padded batch of token ids.
/// ids (B, S) with lengths (B) → states (B, S, E), E = dirs·H (zero on padding), and a summary (B, E): the final
/// state of the top layer's forward direction (after the item's last real token) ‖ the reverse direction's final
/// state (after reading back to position 0) — the fixed-length vector a no-attention decoder gets.
/// </summary>
public sealed class Encoder : Module
{
    private readonly Embedding _embedding;
    private readonly Gru? _gru;
    private readonly Lstm? _lstm;

    /// <summary>Hidden width per direction.</summary>
    public int HiddenSize { get; }
    /// <summary>Two directions.</summary>
    public bool Bidirectional { get; }
    /// <summary>Output width E = dirs·H.</summary>
    public int OutputSize => (Bidirectional ? 2 : 1) * HiddenSize;
    /// <summary>Stacked layers.</summary>
    public int Layers { get; }

    /// <summary>Creates the encoder.</summary>
    public Encoder(int vocabulary, int embedding, int hidden, Rng rng, RecurrentKind kind = RecurrentKind.Gru, bool bidirectional = true, int layers = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabulary);
        HiddenSize = hidden; Bidirectional = bidirectional; Layers = layers;
        _embedding = RegisterModule("embedding", new Embedding(vocabulary, embedding, rng, paddingIndex: Vocabulary.Pad));
        if (kind == RecurrentKind.Gru) _gru = RegisterModule("rnn", new Gru(embedding, hidden, rng, layers, bidirectional));
        else _lstm = RegisterModule("rnn", new Lstm(embedding, hidden, rng, layers, bidirectional));
    }

    /// <summary>ids (B·S row-major), lengths (B) → (states (B, S, E), summary (B, E)).</summary>
    public (Var States, Var Summary) Forward(int[] ids, int[] lengths, int batch, int source)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(lengths);
        if (ids.Length != batch * source)
            throw new ArgumentException($"expected {batch}·{source} = {batch * source} ids, got {ids.Length}", nameof(ids));
        var x = _embedding.Forward(ids, batch, source);
        var (states, hidden) = _gru is not null ? _gru.Forward(x, lengths) : Drop(_lstm!.Forward(x, lengths));
        int dirs = Bidirectional ? 2 : 1, top = (Layers - 1) * dirs;
        var summary = Bidirectional
            ? Var.Concat([hidden.Slice(0, top, 1).Reshape(batch, HiddenSize), hidden.Slice(0, top + 1, 1).Reshape(batch, HiddenSize)], 1)
            : hidden.Slice(0, top, 1).Reshape(batch, HiddenSize);
        return (states, summary);
    }

    private static (Var, Var) Drop((Var Output, Var Hidden, Var Cell) r) => (r.Output, r.Hidden);
}
