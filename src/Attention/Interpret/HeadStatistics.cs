namespace Attention.Interpret;

/// <summary>What each token is, for the per-head statistics: the special tokens, punctuation, or a word piece.</summary>
public enum TokenKind { Word, Cls, Sep, Punctuation }

/// <summary>One head's averages over every (real) query token it saw.</summary>
/// <param name="Layer">Layer, 0-based from the bottom.</param>
/// <param name="Head">Head within the layer, 0-based.</param>
/// <param name="Entropy">Mean entropy of a query's attention row, in nats (ln T for uniform attention).</param>
/// <param name="ToCls">Mean weight on the [CLS] token.</param>
/// <param name="ToSep">Mean weight on [SEP].</param>
/// <param name="ToPunctuation">Mean total weight on punctuation tokens (full stops, commas, …).</param>
/// <param name="ToPrevious">Mean weight on the token just before the query (queries at position 0 excluded).</param>
/// <param name="ToNext">Mean weight on the token just after the query (the last query excluded).</param>
/// <param name="ToSelf">Mean weight on the query's own token.</param>
/// <param name="Rows">How many query rows were averaged.</param>
public sealed record HeadStatistic(int Layer, int Head, double Entropy, double ToCls, double ToSep, double ToPunctuation,
                                   double ToPrevious, double ToNext, double ToSelf, long Rows);

/// <summary>
/// Per-head attention statistics after Clark et al. (2019), "What Does BERT Look At? An Analysis of BERT's
/// Attention", BlackboxNLP: §3 (attention to [CLS], [SEP], punctuation; to the previous and next token, their
/// "broad attention" entropy in §3.3). Feed it each sentence's probabilities, layer by layer, and read the
/// per-head means; every average runs over real query tokens of every sentence (padding rows and columns
/// excluded), weighted equally per token as in the paper.
/// </summary>
public sealed class HeadStatistics
{
    private readonly int _layers, _heads;
    // per head: entropy, cls, sep, punct, self sums and row count; previous and next have their own counts
    private readonly double[,] _entropy, _cls, _sep, _punct, _prev, _next, _self;
    private readonly long[,] _rows, _prevRows, _nextRows;

    public HeadStatistics(int layers, int heads)
    {
        if (layers <= 0 || heads <= 0) throw new ArgumentException($"expected layers and heads > 0, got {layers} and {heads}");
        (_layers, _heads) = (layers, heads);
        _entropy = new double[layers, heads]; _cls = new double[layers, heads]; _sep = new double[layers, heads];
        _punct = new double[layers, heads]; _prev = new double[layers, heads]; _next = new double[layers, heads];
        _self = new double[layers, heads];
        _rows = new long[layers, heads]; _prevRows = new long[layers, heads]; _nextRows = new long[layers, heads];
    }

    /// <summary>Sentences added so far (counted on layer 0).</summary>
    public int Sentences { get; private set; }

    /// <summary>
    /// Adds one sentence's attention in one layer: <paramref name="probabilities"/> (H, T, T) row-major for a batch
    /// row padded to <paramref name="time"/>, of which the first <paramref name="kinds"/>.Count tokens are real.
    /// </summary>
    public void Add(int layer, ReadOnlySpan<float> probabilities, int time, IReadOnlyList<TokenKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        if ((uint)layer >= (uint)_layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"expected a layer in [0, {_layers})");
        if (time <= 0 || probabilities.Length != _heads * time * time)
            throw new ArgumentException($"expected {_heads}×{time}×{time} probabilities, got {probabilities.Length}", nameof(probabilities));
        int n = kinds.Count;
        if (n == 0 || n > time) throw new ArgumentException($"expected 1..{time} token kinds, got {n}", nameof(kinds));
        if (layer == 0) Sentences++;
        for (int h = 0; h < _heads; h++)
            for (int i = 0; i < n; i++)
            {
                var row = probabilities.Slice((h * time + i) * time, n);
                double entropy = 0, cls = 0, sep = 0, punct = 0;
                for (int j = 0; j < n; j++)
                {
                    double p = row[j];
                    if (p > 0) entropy -= p * Math.Log(p);
                    switch (kinds[j])
                    {
                        case TokenKind.Cls: cls += p; break;
                        case TokenKind.Sep: sep += p; break;
                        case TokenKind.Punctuation: punct += p; break;
                    }
                }
                _entropy[layer, h] += entropy; _cls[layer, h] += cls; _sep[layer, h] += sep; _punct[layer, h] += punct;
                _self[layer, h] += row[i];
                _rows[layer, h]++;
                if (i > 0) { _prev[layer, h] += row[i - 1]; _prevRows[layer, h]++; }
                if (i + 1 < n) { _next[layer, h] += row[i + 1]; _nextRows[layer, h]++; }
            }
    }

    /// <summary>The averages of one head.</summary>
    public HeadStatistic Get(int layer, int head)
    {
        if ((uint)layer >= (uint)_layers || (uint)head >= (uint)_heads)
            throw new ArgumentOutOfRangeException(nameof(layer), $"expected layer < {_layers} and head < {_heads}, got {layer}, {head}");
        long r = Math.Max(1, _rows[layer, head]);
        return new HeadStatistic(layer, head, _entropy[layer, head] / r, _cls[layer, head] / r, _sep[layer, head] / r, _punct[layer, head] / r,
                                 _prev[layer, head] / Math.Max(1, _prevRows[layer, head]), _next[layer, head] / Math.Max(1, _nextRows[layer, head]),
                                 _self[layer, head] / r, _rows[layer, head]);
    }

    /// <summary>All heads, layer by layer.</summary>
    public IReadOnlyList<HeadStatistic> All()
    {
        var all = new List<HeadStatistic>(_layers * _heads);
        for (int l = 0; l < _layers; l++)
            for (int h = 0; h < _heads; h++) all.Add(Get(l, h));
        return all;
    }

    /// <summary>The kind of a BERT token string: "[CLS]", "[SEP]", a token made only of punctuation, or a word piece.</summary>
    public static TokenKind KindOf(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token == "[CLS]") return TokenKind.Cls;
        if (token == "[SEP]") return TokenKind.Sep;
        if (token.Length > 0 && token.All(c => char.IsPunctuation(c) || char.IsSymbol(c))) return TokenKind.Punctuation;
        return TokenKind.Word;
    }
}
