using System.Diagnostics;
using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>Options of <see cref="TransformerTrainer.Train"/>.</summary>
public sealed record TransformerTrainOptions
{
    /// <summary>Optimizer steps: the budget (training is step-budgeted, so results do not depend on machine load).</summary>
    public int Steps { get; init; } = 1000;
    /// <summary>Padded source + target tokens per batch (batches are cut from length-sorted pairs).</summary>
    public int TokensPerBatch { get; init; } = 4096;
    /// <summary>Peak learning rate, reached after <see cref="WarmupSteps"/>; cosine decay to <see cref="MinLearningRate"/> at the last step.</summary>
    public float PeakLearningRate { get; init; } = 1e-3f;
    /// <summary>Linear warm-up steps.</summary>
    public int WarmupSteps { get; init; } = 400;
    /// <summary>Floor of the cosine decay.</summary>
    public float MinLearningRate { get; init; } = 1e-5f;
    /// <summary>Label smoothing ε of the cross-entropy (Szegedy et al., 2016; 0.1 in Vaswani et al., 2017).</summary>
    public float LabelSmoothing { get; init; } = 0.1f;
    /// <summary>Adam's β₂ (0.98 in Vaswani et al., 2017).</summary>
    public float Beta2 { get; init; } = 0.98f;
    /// <summary>Global gradient-norm clip.</summary>
    public float ClipNorm { get; init; } = 1f;
    /// <summary>Batch order and dropout-independent shuffling seed.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Progress: (fraction done, status line).</summary>
    public Action<double, string>? Progress { get; init; }
}

/// <summary>
/// Trains a <see cref="Transformer"/> by label-smoothed token cross-entropy under teacher forcing: Adam (β₂ 0.98),
/// linear warm-up then cosine decay, global-norm clipping, batches of about <see cref="TransformerTrainOptions.TokensPerBatch"/>
/// padded tokens cut from length-sorted pairs and shuffled each epoch, a fixed step budget.
/// </summary>
public static class TransformerTrainer
{
    /// <summary>Trains on (source, target) pairs (targets without BOS/EOS).</summary>
    public static TrainReport Train(Transformer model, IReadOnlyList<(int[] Source, int[] Target)> data, TransformerTrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        if (data.Count == 0) throw new ArgumentException("expected training pairs, got none", nameof(data));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.TokensPerBatch);
        int longest = data.Max(p => Math.Max(p.Source.Length, p.Target.Length + 1));
        if (longest > model.Config.MaxLength)
            throw new ArgumentException($"expected pairs of at most {model.Config.MaxLength} tokens (the model's MaxLength), got {longest}", nameof(data));
        model.Train();
        var parameters = model.Parameters();
        var adam = new Adam(parameters, options.PeakLearningRate, beta2: options.Beta2, epsilon: 1e-9f);
        var schedule = new WarmupCosineSchedule(options.PeakLearningRate, Math.Min(options.WarmupSteps, options.Steps - 1), Math.Max(options.Steps, 1 + Math.Min(options.WarmupSteps, options.Steps - 1)),
                                                Math.Min(options.MinLearningRate, options.PeakLearningRate));
        var rng = new Rng(options.Seed);
        IReadOnlyList<int[]> batches = [];
        int cursor = 0;
        var clock = Stopwatch.StartNew();
        var losses = new List<double>();
        var progress = new TrainingProgress(options.Steps, TextWriter.Null, "tokens");
        for (int step = 0; step < options.Steps; step++)
        {
            if (cursor >= batches.Count) { batches = TokenBatches(data, options.TokensPerBatch, rng); cursor = 0; }
            var idx = batches[cursor++];
            var batch = Seq2SeqBatch.Create(idx.Select(i => data[i]).ToList());
            adam.LearningRate = schedule.At(step + 1);
            adam.ZeroGrad();
            var logits = model.Forward(batch.Source, batch.DecoderInput);
            var loss = Var.CrossEntropy(logits, batch.Targets, Seq2SeqBatch.Ignore, options.LabelSmoothing);
            double ce = loss.Item();
            loss.Backward();
            GradClip.ByGlobalNorm(parameters, options.ClipNorm);
            adam.Step();
            progress.Step(ce, batch.TargetLengths.Sum());
            losses.Add(ce);
            if (options.Progress is not null && (step % 25 == 0 || step == options.Steps - 1))
                options.Progress((step + 1.0) / options.Steps, $"step {step + 1}/{options.Steps}, loss {progress.SmoothedLoss:0.###}");
        }
        model.Eval();
        return new TrainReport(options.Steps, clock.Elapsed.TotalSeconds, progress.SmoothedLoss, losses);
    }

    /// <summary>
    /// Token-budget batches: pairs sorted by (source, target) length with seeded random ties, cut so that
    /// count × (longest source + longest target + 1) ≤ <paramref name="tokens"/> (at least one pair each), batch order shuffled.
    /// </summary>
    public static IReadOnlyList<int[]> TokenBatches(IReadOnlyList<(int[] Source, int[] Target)> data, int tokens, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        ArgumentNullException.ThrowIfNull(rng);
        var order = Batching.Permutation(data.Count, rng)
            .OrderBy(i => data[i].Source.Length).ThenBy(i => data[i].Target.Length).ToArray();
        var batches = new List<int[]>();
        var current = new List<int>();
        int maxSource = 0, maxTarget = 0;
        foreach (var i in order)
        {
            int ms = Math.Max(maxSource, data[i].Source.Length), mt = Math.Max(maxTarget, data[i].Target.Length + 1);
            if (current.Count > 0 && (current.Count + 1) * (ms + mt) > tokens)
            {
                batches.Add(current.ToArray()); current.Clear();
                ms = data[i].Source.Length; mt = data[i].Target.Length + 1;
            }
            current.Add(i); maxSource = ms; maxTarget = mt;
        }
        if (current.Count > 0) batches.Add(current.ToArray());
        var shuffle = Batching.Permutation(batches.Count, rng);
        return shuffle.Select(k => batches[k]).ToList();
    }
}
