using Attention.Models;
using Attention.Tensors;

namespace Attention.Interpret;

/// <summary>One layer's attention inputs for a batch: query, key, value (B, H, T, D), as the model computed them.</summary>
public sealed record LayerAttentionInputs(int Layer, Tensor Query, Tensor Key, Tensor Value);

/// <summary>
/// Real queries, keys and values from a pretrained encoder (all-MiniLM-L6-v2), for testing attention approximations on
/// the inputs a trained model actually produces rather than on random Gaussians. Short sentences are packed into
/// windows of a fixed token count so that every row of a batch is real text (no padding) and the length is under control.
/// </summary>
public static class AttentionInputs
{
    /// <summary>
    /// Joins consecutive <paramref name="sentences"/> (separated by spaces) into texts of at least
    /// <paramref name="tokens"/> − 2 word pieces each ([CLS] and [SEP] make up the rest); the leftover tail that cannot fill
    /// a window is dropped.
    /// </summary>
    public static List<string> Pack(BertModel model, IReadOnlyList<string> sentences, int tokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sentences);
        if (tokens < 3) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "expected a window of at least 3 tokens");
        var texts = new List<string>();
        var current = new List<string>();
        int pieces = 0;
        foreach (var s in sentences)
        {
            current.Add(s.Trim());
            pieces += model.Tokenizer.Tokenize(s).Count;
            if (pieces >= tokens - 2)
            {
                texts.Add(string.Join(' ', current));
                current.Clear();
                pieces = 0;
            }
        }
        return texts;
    }

    /// <summary>
    /// Runs <paramref name="texts"/>, each of which must fill <paramref name="tokens"/> tokens (see <see cref="Pack"/>), and
    /// returns every layer's query, key and value (B, H, T, D) with T = tokens.
    /// </summary>
    /// <exception cref="ArgumentException">A text is shorter than <paramref name="tokens"/> tokens.</exception>
    public static List<LayerAttentionInputs> Capture(BertModel model, IReadOnlyList<string> texts, int tokens, int? maxThreads = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0) throw new ArgumentException("expected at least one text", nameof(texts));
        var batch = model.Tokenize(texts, tokens);
        for (int i = 0; i < batch.Batch; i++)
            if (batch.Lengths[i] != tokens)
                throw new ArgumentException($"expected every text to fill {tokens} tokens, text {i} has {batch.Lengths[i]}", nameof(texts));
        var layers = new List<LayerAttentionInputs>();
        model.Forward(batch, new BertRunOptions
        {
            MaxThreads = maxThreads,
            QueryKeyValue = (l, q, k, v) => layers.Add(new LayerAttentionInputs(l, q.Clone(), k.Clone(), v.Clone())),
        });
        return layers;
    }
}
