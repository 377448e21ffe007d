using System.Diagnostics;
using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Seq2Seq;

/// <summary>A training batch: padded sources, decoder inputs BOS y_1…y_n, targets y_1…y_n EOS (−100 on padding), target lengths n + 1.</summary>
public sealed record Seq2SeqBatch(PaddedBatch Source, PaddedBatch DecoderInput, int[] Targets, int[] TargetLengths)
{
    /// <summary>Ignored target id (padding) for <see cref="Var.CrossEntropy"/>.</summary>
    public const int Ignore = -100;

    /// <summary>Builds the batch from (source ids, target ids) pairs without BOS/EOS.</summary>
    /// <exception cref="ArgumentException">No pairs, or an empty source.</exception>
    public static Seq2SeqBatch Create(IReadOnlyList<(int[] Source, int[] Target)> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count == 0) throw new ArgumentException("expected at least one pair, got none", nameof(pairs));
        foreach (var (src, tgt) in pairs)
        {
            ArgumentNullException.ThrowIfNull(src, nameof(pairs));
            ArgumentNullException.ThrowIfNull(tgt, nameof(pairs));
            if (src.Length == 0) throw new ArgumentException("expected non-empty sources, got an empty one", nameof(pairs));
        }
        var source = PaddedBatch.Pad(pairs.Select(p => p.Source).ToList(), Vocabulary.Pad);
        var input = PaddedBatch.Pad(pairs.Select(p => (int[])[Vocabulary.Bos, .. p.Target]).ToList(), Vocabulary.Pad);
        var output = PaddedBatch.Pad(pairs.Select(p => (int[])[.. p.Target, Vocabulary.Eos]).ToList(), Vocabulary.Pad);
        return new Seq2SeqBatch(source, input, output.TargetsIgnoringPadding(Ignore), output.Lengths);
    }
}

/// <summary>Options of <see cref="Seq2SeqTrainer.Train"/>.</summary>
public sealed record TrainOptions
{
    /// <summary>Adam steps (the fixed budget).</summary>
    public int Steps { get; init; } = 1000;
    /// <summary>Pairs per batch.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Peak learning rate; it decays linearly to 10% over the last <see cref="DecayFraction"/> of the steps.</summary>
    public float LearningRate { get; init; } = 3e-3f;
    /// <summary>Fraction of steps with decay.</summary>
    public double DecayFraction { get; init; } = 0.4;
    /// <summary>Global gradient-norm clip.</summary>
    public float ClipNorm { get; init; } = 1f;
    /// <summary>Shuffling seed.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Stop early when this much wall time has passed (null = run all steps); the learning-rate decay then follows the time used.</summary>
    public TimeSpan? TimeBudget { get; init; }
    /// <summary>An extra loss added to the cross-entropy (a regulariser on the weights, a coverage loss), or null.</summary>
    public Func<Seq2SeqOutput, Seq2SeqBatch, Var?>? ExtraLoss { get; init; }
    /// <summary>Progress: (fraction done, status line).</summary>
    public Action<double, string>? Progress { get; init; }
}

/// <summary>What a training run did.</summary>
public sealed record TrainReport(int Steps, double Seconds, double FinalLoss, IReadOnlyList<double> Losses);

/// <summary>
/// Adam training of a <see cref="Seq2SeqModel"/> by token-level cross-entropy under teacher forcing: batches bucketed
/// by source length (little padding), reshuffled each epoch, global-norm gradient clipping, a fixed step budget.
/// </summary>
public static class Seq2SeqTrainer
{
    /// <summary>Trains on (source, target) pairs; returns steps, time and the smoothed loss.</summary>
    public static TrainReport Train(Seq2SeqModel model, IReadOnlyList<(int[] Source, int[] Target)> data, TrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (data.Count == 0) throw new ArgumentException("expected training pairs, got none", nameof(data));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize);
        model.Train();
        var parameters = model.Parameters();
        var adam = new Adam(parameters, options.LearningRate);
        var rng = new Rng(options.Seed);
        var lengths = data.Select(p => p.Source.Length * 64 + Math.Min(63, p.Target.Length)).ToList();
        IReadOnlyList<int[]> batches = [];
        int cursor = 0;
        var clock = Stopwatch.StartNew();
        var losses = new List<double>();
        var progress = new TrainingProgress(options.Steps, TextWriter.Null, "ex");
        int step = 0;
        for (; step < options.Steps; step++)
        {
            if (options.TimeBudget is TimeSpan budget && clock.Elapsed > budget) break;
            if (cursor >= batches.Count) { batches = Batching.BucketByLength(lengths, options.BatchSize, rng); cursor = 0; }
            var idx = batches[cursor++];
            var batch = Seq2SeqBatch.Create(idx.Select(i => data[i]).ToList());
            // The schedule follows whichever runs out first, the steps or the time budget, so a run cut by time still decays.
            double frac = (double)step / options.Steps, decayStart = 1 - options.DecayFraction;
            if (options.TimeBudget is TimeSpan tb) frac = Math.Max(frac, clock.Elapsed / tb);
            adam.LearningRate = options.LearningRate * (float)(frac < decayStart ? 1 : Math.Max(0.1, 1 - 0.9 * (frac - decayStart) / options.DecayFraction));
            adam.ZeroGrad();
            var output = model.Forward(batch.Source, batch.DecoderInput);
            var loss = Var.CrossEntropy(output.Logits, batch.Targets, Seq2SeqBatch.Ignore);
            double ce = loss.Item();
            if (options.ExtraLoss?.Invoke(output, batch) is Var extra) loss += extra;
            loss.Backward();
            GradClip.ByGlobalNorm(parameters, options.ClipNorm);
            adam.Step();
            progress.Step(ce, idx.Length);
            losses.Add(ce);
            if (options.Progress is not null && (step % 25 == 0 || step == options.Steps - 1))
                options.Progress((step + 1.0) / options.Steps, $"step {step + 1}/{options.Steps}, loss {progress.SmoothedLoss:0.###}");
        }
        model.Eval();
        return new TrainReport(step, clock.Elapsed.TotalSeconds, progress.SmoothedLoss, losses);
    }

    /// <summary>(PER, WER) of greedy decoding on pairs, in batches of 256 sorted by length.</summary>
    public static (double Per, double Wer, IReadOnlyList<int[]> Outputs) Evaluate(IStepDecoder model, IReadOnlyList<(int[] Source, int[] Target)> data, int maxLength = 30)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var outputs = new int[data.Count][];
        var order = Enumerable.Range(0, data.Count).OrderBy(i => data[i].Source.Length).ToArray();
        foreach (var chunk in order.Chunk(256))
        {
            var hyps = Decoding.Greedy(model, chunk.Select(i => data[i].Source).ToList(), maxLength);
            for (int k = 0; k < chunk.Length; k++) outputs[chunk[k]] = hyps[k].Tokens;
        }
        var (per, wer) = SequenceMetrics.ErrorRates<int>(data.Select(p => (IReadOnlyList<int>)p.Target).ToList(), outputs.Select(o => (IReadOnlyList<int>)o).ToList());
        return (per, wer, outputs);
    }
}
