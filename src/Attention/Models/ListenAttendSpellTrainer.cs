using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>Options of <see cref="ListenAttendSpellTrainer.Train"/>.</summary>
public sealed record LasTrainOptions
{
    /// <summary>Adam steps (the fixed budget; nothing depends on wall time).</summary>
    public int Steps { get; init; } = 400;
    /// <summary>Utterances per batch.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Peak learning rate; it decays linearly to 10% over the last <see cref="DecayFraction"/> of the steps.</summary>
    public float LearningRate { get; init; } = 3e-3f;
    /// <summary>Fraction of steps with decay.</summary>
    public double DecayFraction { get; init; } = 0.4;
    /// <summary>Global gradient-norm clip.</summary>
    public float ClipNorm { get; init; } = 1f;
    /// <summary>Shuffling seed.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Progress: (fraction done, status line).</summary>
    public Action<double, string>? Progress { get; init; }
}

/// <summary>What a listen-attend-spell training run did: steps, per-step cross-entropy.</summary>
public sealed record LasTrainReport(int Steps, double Seconds, IReadOnlyList<double> Losses);

/// <summary>
/// Adam training of a <see cref="ListenAttendSpell"/> model by token cross-entropy under teacher forcing: batches
/// bucketed by frame count (little padding), reshuffled each epoch, global-norm clipping, a fixed step budget; and the
/// scores the speech answer reports (digit error rate by edit distance, exact-string accuracy).
/// </summary>
public static class ListenAttendSpellTrainer
{
    /// <summary>Trains on <paramref name="data"/>; the model is left in evaluation mode.</summary>
    public static LasTrainReport Train(ListenAttendSpell model, IReadOnlyList<LasExample> data, LasTrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (data.Count == 0) throw new ArgumentException("expected training examples, got none", nameof(data));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize);
        model.Train();
        var parameters = model.Parameters();
        var adam = new Adam(parameters, options.LearningRate);
        var rng = new Rng(options.Seed);
        var lengths = data.Select(e => e.Frames).ToList();
        IReadOnlyList<int[]> batches = [];
        int cursor = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var losses = new List<double>();
        for (int step = 0; step < options.Steps; step++)
        {
            if (cursor >= batches.Count) { batches = Batching.BucketByLength(lengths, options.BatchSize, rng); cursor = 0; }
            var batch = batches[cursor++].Select(i => data[i]).ToList();
            double frac = (double)step / options.Steps, decayStart = 1 - options.DecayFraction;
            adam.LearningRate = options.LearningRate * (float)(frac < decayStart ? 1 : Math.Max(0.1, 1 - 0.9 * (frac - decayStart) / options.DecayFraction));
            adam.ZeroGrad();
            var output = model.Forward(batch);
            var loss = Var.CrossEntropy(output.Logits, ListenAttendSpell.Targets(batch));
            loss.Backward();
            GradClip.ByGlobalNorm(parameters, options.ClipNorm);
            adam.Step();
            losses.Add(loss.Item());
            if (options.Progress is not null && (step % 20 == 0 || step == options.Steps - 1))
                options.Progress((step + 1.0) / options.Steps, $"step {step + 1}/{options.Steps}, loss {losses.TakeLast(20).Average():0.###}");
        }
        model.Eval();
        return new LasTrainReport(options.Steps, clock.Elapsed.TotalSeconds, losses);
    }

    /// <summary>
    /// Greedy transcriptions of <paramref name="data"/> in batches of <paramref name="batchSize"/>, in the order given; with
    /// <paramref name="forceLength"/>, EOS is blocked until each output is as long as its reference (see <see cref="ListenAttendSpell.Greedy"/>).
    /// </summary>
    public static IReadOnlyList<LasHypothesis> Transcribe(ListenAttendSpell model, IReadOnlyList<LasExample> data, int maxLength, int batchSize = 32, bool forceLength = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var result = new LasHypothesis[data.Count];
        var order = Enumerable.Range(0, data.Count).OrderBy(i => data[i].Frames).ToArray();
        foreach (var chunk in order.Chunk(batchSize))
        {
            var hyps = model.Greedy(chunk.Select(i => data[i]).ToList(), maxLength, forceLength ? chunk.Select(i => data[i].Tokens.Length).ToArray() : null);
            for (int k = 0; k < chunk.Length; k++) result[chunk[k]] = hyps[k];
        }
        return result;
    }

    /// <summary>(token error rate = Σ edit distance / Σ reference length, exact-string accuracy) of hypotheses against the examples' tokens.</summary>
    public static (double ErrorRate, double Exact) Score(IReadOnlyList<LasExample> data, IReadOnlyList<LasHypothesis> hypotheses)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(hypotheses);
        var (per, wer) = SequenceMetrics.ErrorRates<int>(data.Select(e => (IReadOnlyList<int>)e.Tokens).ToList(),
                                                         hypotheses.Select(h => (IReadOnlyList<int>)h.Tokens).ToList());
        return (per, 1 - wer);
    }
}
