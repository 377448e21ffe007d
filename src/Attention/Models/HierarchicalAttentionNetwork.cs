using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>How a <see cref="HierarchicalAttentionNetwork"/> turns its word encodings into one document vector.</summary>
public enum DocumentReadout
{
    /// <summary>Yang et al.'s HAN: word attention per verse → verse BiGRU → verse attention.</summary>
    Hierarchical,
    /// <summary>One context attention over all the words of the chapter at once (no verse level).</summary>
    FlatAttention,
    /// <summary>The mean of all the word encodings of the chapter.</summary>
    MeanPooling,
}

/// <summary>What <see cref="HierarchicalAttentionNetwork.Forward"/> returns.</summary>
/// <param name="Logits">(B, classes).</param>
/// <param name="WordWeights">Hierarchical: α_word (B, S, W), each real verse's row sums to 1. Flat: (B, S, W), summing to 1
/// over the whole chapter. Mean pooling: null.</param>
/// <param name="VerseWeights">Hierarchical: α_verse (B, S), summing to 1 over the real verses; else null.</param>
public sealed record HanOutput(Var Logits, Var? WordWeights, Var? VerseWeights);

/// <summary>
/// The hierarchical attention network (Yang et al., 2016, §2) with a Bible chapter as the document and verses as its
/// sentences:
/// <code>
///   x_it = E w_it                                  word embeddings                      (verses, W, E)
///   h_it = BiGRU_word(x_i·)_t                      word encoder, one verse at a time    (verses, W, 2H)
///   s_i  = Σ_t α_it h_it,  α_i = ContextAttention_word(h_i·)   verse vectors           (B, S, 2H)
///   h_i  = BiGRU_verse(s_·)_i                      verse encoder across the chapter     (B, S, 2H)
///   v    = Σ_i α_i h_i,    α = ContextAttention_verse(h_·)     chapter vector          (B, 2H)
///   p    = softmax(W_c v + b_c)
/// </code>
/// The two baselines of <see cref="DocumentReadout"/> keep the same word encoder (each verse read by the BiGRU on its
/// own) and replace everything above it: one attention over all words of the chapter, or their mean. So a comparison
/// of the three isolates what the verse level adds. Padding verses (beyond a chapter's count) are never run through
/// the word encoder; padding words and verses get zero weight.
/// </summary>
public sealed class HierarchicalAttentionNetwork : Module
{
    private readonly Gru? _verseEncoder;
    private readonly ContextAttention? _wordAttention, _verseAttention;

    /// <summary>The readout above the word encoder.</summary>
    public DocumentReadout Readout { get; }
    /// <summary>Word embeddings (V, E).</summary>
    public Embedding Words { get; }
    /// <summary>The word BiGRU.</summary>
    public Gru WordEncoder { get; }
    /// <summary>2H → classes.</summary>
    public Linear Classifier { get; }
    /// <summary>Number of classes.</summary>
    public int Classes { get; }

    /// <param name="vocabulary">V, the embedding rows.</param>
    /// <param name="embedding">E.</param>
    /// <param name="hidden">H per GRU direction (encodings are 2H wide); the attention width is 2H too.</param>
    /// <param name="classes">Output classes.</param>
    /// <param name="readout">Hierarchical (HAN) or a flat baseline.</param>
    /// <param name="rng">Initial weights.</param>
    public HierarchicalAttentionNetwork(int vocabulary, int embedding, int hidden, int classes, DocumentReadout readout, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabulary);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embedding);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "expected at least 2 classes");
        ArgumentNullException.ThrowIfNull(rng);
        if (!Enum.IsDefined(readout)) throw new ArgumentOutOfRangeException(nameof(readout), readout, "expected a DocumentReadout value");
        Readout = readout; Classes = classes;
        Words = RegisterModule("words", new Embedding(vocabulary, embedding, rng, paddingIndex: WordVocabulary.Pad));
        var w = Words.Weight.Value.AsSpan();
        for (int i = 0; i < w.Length; i++) w[i] *= 0.3f;    // N(0, 0.09) rows: tanh/σ gates start unsaturated
        WordEncoder = RegisterModule("word_encoder", new Gru(embedding, hidden, rng, bidirectional: true));
        if (readout != DocumentReadout.MeanPooling)
            _wordAttention = RegisterModule("word_attention", new ContextAttention(2 * hidden, 2 * hidden, rng));
        if (readout == DocumentReadout.Hierarchical)
        {
            _verseEncoder = RegisterModule("verse_encoder", new Gru(2 * hidden, hidden, rng, bidirectional: true));
            _verseAttention = RegisterModule("verse_attention", new ContextAttention(2 * hidden, 2 * hidden, rng));
        }
        Classifier = RegisterModule("classifier", new Linear(2 * hidden, classes, rng));
    }

    /// <summary>Logits (B, classes) for a batch of chapters, with the attention weights of the readout.</summary>
    /// <exception cref="ArgumentException">The batch's arrays disagree with its shape.</exception>
    public HanOutput Forward(ChapterBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int b = batch.Count, s = batch.MaxVerses, w = batch.MaxWords;
        if (batch.Words.Length != b * s * w || batch.VerseLengths.Length != b * s)
            throw new ArgumentException($"HierarchicalAttentionNetwork: expected {b}·{s}·{w} word ids and {b}·{s} verse lengths, got {batch.Words.Length} and {batch.VerseLengths.Length}", nameof(batch));
        int d = 2 * WordEncoder.HiddenSize;

        // the real verses only, in (chapter, verse) order; slot[i·S + v] = their row, or n for a padding verse
        var real = new List<int>();
        var slot = new int[b * s];
        for (int i = 0; i < b; i++)
            for (int v = 0; v < s; v++)
            {
                bool isReal = v < batch.VerseCounts[i];
                slot[i * s + v] = isReal ? real.Count : -1;
                if (isReal) real.Add(i * s + v);
            }
        int n = real.Count;
        for (int k = 0; k < slot.Length; k++) if (slot[k] < 0) slot[k] = n;
        var ids = new int[n * w];
        var lengths = new int[n];
        for (int r = 0; r < n; r++)
        {
            Array.Copy(batch.Words, real[r] * w, ids, r * w, w);
            lengths[r] = batch.VerseLengths[real[r]];
        }

        // word encoder: each verse on its own
        var x = Words.Forward(ids, n, w);                                          // (n, W, E)
        var (hw, _) = WordEncoder.Forward(x, lengths);                             // (n, W, 2H), zero beyond each length

        Var document;
        Var? wordWeights = null, verseWeights = null;
        if (Readout == DocumentReadout.Hierarchical)
        {
            var (sv, alphaWord) = _wordAttention!.Forward(hw, lengths);            // (n, 2H), (n, W)
            var verses = Scatter(sv, slot, d).Reshape(b, s, d);                    // (B, S, 2H), zero rows for padding
            wordWeights = Scatter(alphaWord, slot, w).Reshape(b, s, w);
            var (hs, _) = _verseEncoder!.Forward(verses, batch.VerseCounts);       // (B, S, 2H)
            (document, verseWeights) = _verseAttention!.Forward(hs, batch.VerseCounts);
        }
        else
        {
            var all = Scatter(hw.Reshape(n, w * d), slot, w * d).Reshape(b, s * w, d);   // (B, S·W, 2H)
            var valid = new bool[b * s * w];
            for (int k = 0; k < b * s; k++)
                for (int t = 0; t < batch.VerseLengths[k]; t++) valid[k * w + t] = true;
            if (Readout == DocumentReadout.FlatAttention)
            {
                var r = _wordAttention!.Forward(all, valid);
                document = r.Output;
                wordWeights = r.Weights.Reshape(b, s, w);
            }
            else
            {
                var mean = new float[b * s * w];
                for (int i = 0; i < b; i++)
                {
                    int count = 0;
                    for (int k = i * s * w; k < (i + 1) * s * w; k++) count += valid[k] ? 1 : 0;
                    for (int k = i * s * w; k < (i + 1) * s * w; k++) mean[k] = valid[k] ? 1f / count : 0f;
                }
                document = Var.Constant(Tensor.FromArray(mean, b, 1, s * w)).MatMul(all).Reshape(b, d);
            }
        }
        return new HanOutput(Classifier.Forward(document), wordWeights, verseWeights);
    }

    /// <summary>rows (n, F) → (slot.Length, F) with row k = rows[slot[k]], and zeros where slot[k] = n.</summary>
    private static Var Scatter(Var rows, int[] slot, int f)
    {
        var padded = Var.Concat([rows, Var.Constant(Tensor.Zeros(1, f))], 0);    // (n + 1, F)
        return padded.IndexSelect(0, slot);
    }
}
