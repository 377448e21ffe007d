using Attention.Autograd;
using Attention.Models;
using Attention.Tensors;

namespace Attention.Interpret;

/// <summary>One sentence's attention in every layer, cropped to its real tokens.</summary>
/// <param name="Text">The sentence.</param>
/// <param name="Tokens">Its n tokens, [CLS] … [SEP].</param>
/// <param name="Layers">Per layer, (H, n, n) row-major probabilities (rows: queries, columns: keys).</param>
/// <param name="Heads">H.</param>
public sealed record SentenceAttention(string Text, string[] Tokens, float[][] Layers, int Heads)
{
    public int Length => Tokens.Length;

    /// <summary>One head's (n, n) matrix.</summary>
    public float[,] Head(int layer, int head)
    {
        int n = Length;
        var m = new float[n, n];
        var p = Layers[layer];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m[i, j] = p[(head * n + i) * n + j];
        return m;
    }

    /// <summary>Each layer's head average (n, n), bottom layer first.</summary>
    public List<double[,]> HeadAverages() => Layers.Select(p => AttentionRollout.HeadAverage(p, Heads, Length, Length)).ToList();

    /// <summary>The kinds of the tokens.</summary>
    public TokenKind[] Kinds() => Tokens.Select(HeadStatistics.KindOf).ToArray();
}

/// <summary>
/// Helpers that run a <see cref="BertModel"/> for the interpretation experiments: attention per sentence, head
/// statistics over a corpus, and token importance by attention, rollout, flow and integrated gradients for the
/// mean-pooled sentence embedding (all-MiniLM-L6-v2's output, Reimers &amp; Gurevych 2019, §3).
/// </summary>
public static class ModelProbe
{
    /// <summary>Runs the sentences in batches of <paramref name="batchSize"/> and returns each one's attention, padding cut away.</summary>
    public static List<SentenceAttention> Attend(BertModel model, IReadOnlyList<string> texts, int batchSize = 16, int? maxThreads = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var result = new List<SentenceAttention>(texts.Count);
        int h = model.Config.Heads;
        for (int start = 0; start < texts.Count; start += batchSize)
        {
            var chunk = texts.Skip(start).Take(batchSize).ToList();
            var batch = model.Tokenize(chunk);
            var output = model.Forward(batch, new BertRunOptions { RecordAttention = true, MaxThreads = maxThreads });
            int t = batch.Length;
            for (int b = 0; b < chunk.Count; b++)
            {
                int n = batch.Lengths[b];
                var layers = new float[model.Config.Layers][];
                for (int l = 0; l < layers.Length; l++)
                {
                    var p = output.Attention![l].AsSpan();                  // (B, H, T, T)
                    var crop = new float[h * n * n];
                    for (int k = 0; k < h; k++)
                        for (int i = 0; i < n; i++)
                            p.Slice(((b * h + k) * t + i) * t, n).CopyTo(crop.AsSpan((k * n + i) * n, n));
                    layers[l] = crop;
                }
                result.Add(new SentenceAttention(chunk[b], batch.Tokens[b].Take(n).ToArray(), layers, h));
            }
        }
        return result;
    }

    /// <summary>Clark et al. (2019) statistics of every head over <paramref name="sentences"/>.</summary>
    public static HeadStatistics Statistics(IReadOnlyList<SentenceAttention> sentences, int layers, int heads)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        var stats = new HeadStatistics(layers, heads);
        foreach (var s in sentences)
        {
            var kinds = s.Kinds();
            for (int l = 0; l < layers; l++) stats.Add(l, s.Layers[l], s.Length, kinds);
        }
        return stats;
    }

    /// <summary>Mean-pooling output weights, 1/n on every token: the node that all-MiniLM-L6-v2's embedding reads.</summary>
    public static double[] MeanPool(int n) => Enumerable.Repeat(1.0 / n, n).ToArray();

    /// <summary>Raw last-layer attention seen from the pooled output: column means of the last layer's head average (n).</summary>
    public static double[] LastLayerImportance(SentenceAttention s)
    {
        var a = s.HeadAverages()[^1];
        int n = s.Length;
        var r = new double[n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) r[j] += a[i, j] / n;
        return r;
    }

    /// <summary>Rollout from the pooled output node (n).</summary>
    public static double[] RolloutImportance(SentenceAttention s) => AttentionRollout.Rollout(s.HeadAverages(), MeanPool(s.Length));

    /// <summary>Max-flow from each input token to the pooled output node (n).</summary>
    public static double[] FlowImportance(SentenceAttention s) => AttentionRollout.Flow(s.HeadAverages(), MeanPool(s.Length));

    /// <summary>
    /// f(x) = cos(embedding of <paramref name="text"/> with word embeddings x, embedding of <paramref name="other"/>): the
    /// similarity a retrieval system ranks by. Returns the function over a batch (N, n, Hidden) → (N), the sentence's
    /// own word embeddings (n, Hidden) and its tokens. The embeddings are unit vectors, so the dot product is the cosine.
    /// </summary>
    public static (Func<Var, Var> F, Tensor Input, string[] Tokens) SimilarityFunction(BertModel model, string text, string other)
    {
        ArgumentNullException.ThrowIfNull(model);
        var target = model.Embed([other])[0];
        var batch = model.Tokenize([text]);
        var input = model.WordEmbeddings(batch).Value;                                  // (1, n, Hd)
        int n = batch.Length, hd = model.Config.Hidden;
        var targetVar = Var.Constant(Tensor.FromArray(target, 1, hd));
        Var F(Var x)
        {
            int count = x.Dim(0);
            var repeated = Repeat(batch, count);
            var e = model.ForwardFromEmbeddings(x, repeated);                             // (N, Hd)
            return (e * targetVar).Sum(1);                                                // (N)
        }
        return (F, input.Reshape(n, hd), batch.Tokens[0]);
    }

    private static BertBatch Repeat(BertBatch one, int count)
    {
        if (count == 1) return one;
        int t = one.Length;
        int[] Tile(int[] a) { var r = new int[count * a.Length]; for (int c = 0; c < count; c++) a.CopyTo(r, c * a.Length); return r; }
        return new BertBatch(Enumerable.Repeat(one.Texts[0], count).ToArray(), count, t, Tile(one.Ids), Tile(one.Mask), Tile(one.TypeIds),
                             Enumerable.Repeat(one.Lengths[0], count).ToArray(), Enumerable.Repeat(one.Tokens[0], count).ToArray());
    }
}
