using Attention.Autograd;
using Attention.Nn;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Seq2Seq;

/// <summary>A decoded output: tokens (no BOS/EOS), the attention weights (tokens × the item's real source length), and the sum of log-probabilities (EOS included).</summary>
public sealed record Hypothesis(int[] Tokens, float[,] Weights, double LogProb);

/// <summary>
/// A model that <see cref="Decoding"/> can decode step by step: a recurrent <see cref="Seq2SeqModel"/> or the
/// Transformer of <c>Attention.Models</c>. <see cref="Start"/> encodes the sources once; the session then takes one
/// token per row per step.
/// </summary>
public interface IStepDecoder
{
    /// <summary>Encodes a padded batch of sources and returns a decoding session with one row per source.</summary>
    IDecoderSession Start(PaddedBatch source);
}

/// <summary>
/// One incremental decoding run. Row r of a step belongs to source <c>SourceOf[r]</c>; beam search reorders rows
/// with <see cref="Reorder"/> (rows may repeat), so a session keeps its per-row state (a recurrent state, a KV cache)
/// and reads its per-source state (encoder memory) through the row's source.
/// </summary>
public interface IDecoderSession
{
    /// <summary>Rows now decoded.</summary>
    int Rows { get; }
    /// <summary>Padded source length S.</summary>
    int SourceLength { get; }
    /// <summary>The most steps the session can take (a Transformer's position table and KV cache); decoding stops there.</summary>
    int MaxSteps { get; }
    /// <summary>
    /// Feeds the previous token of each row (BOS first) and returns the log-probabilities of the next token
    /// (Rows, V) and attention weights over the source (Rows, S) for display and alignment.
    /// </summary>
    (Tensor LogProbs, Tensor Weights) Step(int[] previous);
    /// <summary>Keeps rows <paramref name="rows"/> (indices into the current rows, with repeats) for the next step.</summary>
    void Reorder(int[] rows);
}

/// <summary>Greedy and beam-search decoding of any <see cref="IStepDecoder"/> (no gradient is recorded).</summary>
public static class Decoding
{
    /// <summary>Greedy decoding of a batch: at each step the most probable token, until EOS or <paramref name="maxLength"/> tokens.</summary>
    public static IReadOnlyList<Hypothesis> Greedy(IStepDecoder model, IReadOnlyList<int[]> sources, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        using var _ = Var.NoGrad();
        var batch = PaddedBatch.Pad(sources, Vocabulary.Pad);
        var session = model.Start(batch);
        int b = batch.Batch, s = batch.Time;
        var tokens = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var rows = Enumerable.Range(0, b).Select(_ => new List<float[]>()).ToArray();
        var logProb = new double[b];
        var done = new bool[b];
        var previous = Enumerable.Repeat(Vocabulary.Bos, b).ToArray();
        for (int t = 0; t < Math.Min(maxLength, session.MaxSteps) && done.Contains(false); t++)
        {
            var (logProbs, weights) = session.Step(previous);
            var logp = logProbs.AsSpan();
            var w = weights.AsSpan();
            int v = logp.Length / b;
            for (int i = 0; i < b; i++)
            {
                if (done[i]) { previous[i] = Vocabulary.Pad; continue; }
                var row = logp.Slice(i * v, v);
                int best = Vocabulary.Eos;                                   // PAD and BOS are never emitted
                for (int k = Vocabulary.Eos + 1; k < v; k++) if (row[k] > row[best]) best = k;
                logProb[i] += row[best];
                previous[i] = best;
                if (best == Vocabulary.Eos) { done[i] = true; continue; }
                tokens[i].Add(best);
                rows[i].Add(w.Slice(i * s, batch.Lengths[i]).ToArray());
            }
        }
        return Enumerable.Range(0, b).Select(i => new Hypothesis(tokens[i].ToArray(), ToMatrix(rows[i], batch.Lengths[i]), logProb[i])).ToList();
    }

    /// <summary>
    /// Beam search for one source: keep the <paramref name="width"/> best prefixes by total log-probability; a prefix
    /// ending in EOS is finished. Stops when no live prefix can beat the best finished one (log-probabilities only
    /// fall, so the search is exact for the kept beam) or after <paramref name="maxLength"/> tokens. Width 1 is greedy.
    /// </summary>
    public static Hypothesis Beam(IStepDecoder model, int[] source, int width, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        using var _ = Var.NoGrad();
        var session = model.Start(PaddedBatch.Pad([source], Vocabulary.Pad));
        int s = source.Length;
        var beams = new List<(List<int> Tokens, List<float[]> Rows, double Score)> { ([], [], 0.0) };
        (List<int> Tokens, List<float[]> Rows, double Score)? best = null;
        for (int t = 0; t < Math.Min(maxLength, session.MaxSteps) && beams.Count > 0; t++)
        {
            var previous = beams.Select(h => h.Tokens.Count == 0 ? Vocabulary.Bos : h.Tokens[^1]).ToArray();
            var (logProbs, weights) = session.Step(previous);
            var logp = logProbs.AsSpan();
            var w = weights.AsSpan();
            int v = logp.Length / beams.Count;
            var candidates = new List<(int Beam, int Token, double Score)>();
            for (int k = 0; k < beams.Count; k++)
                for (int tok = 0; tok < v; tok++)
                    if (tok != Vocabulary.Pad && tok != Vocabulary.Bos) candidates.Add((k, tok, beams[k].Score + logp[k * v + tok]));
            var top = candidates.OrderByDescending(c => c.Score).ThenBy(c => c.Beam).ThenBy(c => c.Token).Take(width).ToList();
            var alive = new List<(List<int> Tokens, List<float[]> Rows, double Score)>();
            var parents = new List<int>();
            foreach (var (k, tok, score) in top)
            {
                if (tok == Vocabulary.Eos)
                {
                    if (best is null || score > best.Value.Score) best = (beams[k].Tokens, beams[k].Rows, score);
                    continue;
                }
                alive.Add(([.. beams[k].Tokens, tok], [.. beams[k].Rows, w.Slice(k * s, s).ToArray()], score));
                parents.Add(k);
            }
            // Log-probabilities only fall: a live prefix at or below the best finished score can never win.
            for (int i = alive.Count - 1; i >= 0; i--)
                if (best is not null && alive[i].Score <= best.Value.Score) { alive.RemoveAt(i); parents.RemoveAt(i); }
            beams = alive;
            if (alive.Count == 0) break;
            session.Reorder(parents.ToArray());
        }
        var result = best ?? (beams.Count > 0 ? beams.MaxBy(h => h.Score) : ([], [], 0.0));
        return new Hypothesis(result.Tokens.ToArray(), ToMatrix(result.Rows, s), result.Score);
    }

    private static float[,] ToMatrix(List<float[]> rows, int source)
    {
        var m = new float[rows.Count, source];
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < source; j++) m[i, j] = rows[i][j];
        return m;
    }
}
