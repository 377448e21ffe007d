using System.Diagnostics;
using Attention.Alignments;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>A gold-aligned task as the seq2seq library sees it: vocabularies, id pairs and the gold alignments.</summary>
public sealed record AlignedTask(string Name, Vocabulary Source, Vocabulary Target, IReadOnlyList<AlignedExample> Train, IReadOnlyList<AlignedExample> Test)
{
    public List<(int[] Source, int[] Target)> TrainPairs => Train.Select(Encode).ToList();
    public List<(int[] Source, int[] Target)> TestPairs => Test.Select(Encode).ToList();
    public (int[] Source, int[] Target) Encode(AlignedExample e) => (Source.Encode(e.Source), Target.Encode(e.Target));
}

/// <summary>What <see cref="AlignmentLab.Evaluate"/> measured on a test set.</summary>
public sealed record AlignmentScore(double Accuracy, double AerArgmax, double AerThreshold, double Precision, double Recall,
                                    double SkippedPerSentence, double RepeatedPerSentence, double OverlongFraction, double ShortFraction);

/// <summary>
/// The shared bench of the alignment answers (28, 31, 32, 33): builds T-Date / T-Perm, trains a small
/// <see cref="Seq2SeqModel"/> with a chosen mechanism and extra loss, and measures exact-match accuracy (greedy
/// decoding), AER of the teacher-forced attention against the gold alignment (argmax and thresholded), and the
/// skipped / repeated source positions of the free-running decoder.
/// </summary>
public static class AlignmentLab
{
    /// <summary>The small model all four answers use (2 cores): embeddings 24, bi-GRU 2×48, decoder GRU 64, Da = 32.
    /// Luong's dot score needs the decoder width to equal the encoder's (96); every other mechanism uses 64.</summary>
    public static Seq2SeqConfig Config(AlignedTask task, AttentionKind kind) =>
        new(task.Source.Count, task.Target.Count)
        {
            Embedding = 24, EncoderHidden = 48, DecoderHidden = kind == AttentionKind.LuongDot ? 96 : 64, AttentionSize = 32, Attention = kind, MaxSource = 64,
        };

    public static AlignedTask Date(int train, int test, ulong seed)
    {
        var tr = DateTask.Generate(train, new Rng(seed));
        var te = DateTask.Generate(test, new Rng(seed + 1_000_003));
        return Build("T-Date", tr, te);
    }

    public static AlignedTask Perm(int train, int test, ulong seed, int minClauses = 1, int maxClauses = 2, int testMinClauses = 1, int testMaxClauses = 2)
    {
        var tr = ReorderTask.Generate(train, new Rng(seed), minClauses, maxClauses);
        var te = ReorderTask.Generate(test, new Rng(seed + 1_000_003), testMinClauses, testMaxClauses);
        return Build("T-Perm", tr, te);
    }

    private static AlignedTask Build(string name, List<AlignedExample> train, List<AlignedExample> test)
    {
        var all = train.Concat(test).ToList();
        var source = new Vocabulary(all.SelectMany(e => e.Source).Distinct().Order(StringComparer.Ordinal));
        var target = new Vocabulary(all.SelectMany(e => e.Target).Distinct().Order(StringComparer.Ordinal));
        return new AlignedTask(name, source, target, train, test);
    }

    /// <summary>Trains a model; <paramref name="attention"/> overrides the mechanism (e.g. a <see cref="HardAttention"/> wrapper).</summary>
    public static (Seq2SeqModel Model, TrainReport Report) Train(AlignedTask task, AttentionKind kind, int steps, ulong seed,
        Func<int, int, Rng, IDecoderAttention>? attention = null, Func<Seq2SeqOutput, Seq2SeqBatch, Var?>? extraLoss = null,
        Action<double, string>? progress = null, int batchSize = 32)
    {
        var model = new Seq2SeqModel(Config(task, kind), new Rng(seed), attention);
        var report = Seq2SeqTrainer.Train(model, task.TrainPairs, new TrainOptions
        {
            Steps = steps, BatchSize = batchSize, LearningRate = 3e-3f, Seed = seed + 17, ExtraLoss = extraLoss, Progress = progress,
        });
        return (model, report);
    }

    /// <summary>Gold alignments of the items of a batch, in the trainer's order (it keeps the order of the pairs it is given).</summary>
    public static Func<Seq2SeqOutput, Seq2SeqBatch, Var?> WithGold(AlignedTask task, Func<Seq2SeqOutput, Seq2SeqBatch, IReadOnlyList<GoldAlignment>, Var?> loss)
    {
        // the trainer builds batches from pairs; map a batch back to its examples by the source ids
        var bySource = new Dictionary<string, GoldAlignment>();
        foreach (var e in task.Train) bySource.TryAdd(string.Join(',', task.Source.Encode(e.Source)) + "|" + string.Join(',', task.Target.Encode(e.Target)), e.Gold);
        return (output, batch) =>
        {
            var gold = new List<GoldAlignment>(batch.Source.Batch);
            for (int b = 0; b < batch.Source.Batch; b++)
            {
                var src = batch.Source.Ids.AsSpan(b * batch.Source.Time, batch.Source.Lengths[b]).ToArray();
                var tgt = batch.DecoderInput.Ids.AsSpan(b * batch.DecoderInput.Time + 1, batch.DecoderInput.Lengths[b] - 1).ToArray();
                gold.Add(bySource[string.Join(',', src) + "|" + string.Join(',', tgt)]);
            }
            return loss(output, batch, gold);
        };
    }

    /// <summary>
    /// Measures a trained model on the test set: exact-match accuracy of greedy decoding; AER (argmax, and links with
    /// α ≥ <paramref name="threshold"/>) of the teacher-forced weights over the reference target positions; and, from
    /// the greedy decoder's own weights, source positions never attended (argmax) and positions attended (argmax) more
    /// often than their gold fertility, per sentence.
    /// </summary>
    public static AlignmentScore Evaluate(Seq2SeqModel model, AlignedTask task, float threshold = 0.3f, int maxLength = 80)
    {
        model.Eval();
        var pairs = task.TestPairs;
        int n = pairs.Count, right = 0, overlong = 0, shorter = 0;
        AerCounts argmax = default, thresholded = default;
        long skipped = 0, repeated = 0;
        foreach (var chunk in Enumerable.Range(0, n).Chunk(128))
        {
            using var _ = Var.NoGrad();
            var batch = Seq2SeqBatch.Create(chunk.Select(i => pairs[i]).ToList());
            var output = model.Forward(batch.Source, batch.DecoderInput);
            int s = batch.Source.Time;
            for (int k = 0; k < chunk.Length; k++)
            {
                var ex = task.Test[chunk[k]];
                int t = ex.Target.Length;
                var rows = new float[t * s];
                for (int step = 0; step < t; step++)
                    output.Steps[step].Weights.Value.AsSpan().Slice(k * s, s).CopyTo(rows.AsSpan(step * s, s));
                argmax += Aer.Count(Aer.Argmax(rows, t, s, ex.Source.Length), ex.Gold);
                thresholded += Aer.Count(Aer.Threshold(rows, t, s, ex.Source.Length, threshold), ex.Gold);
            }
            var hyps = Decoding.Greedy(model, chunk.Select(i => pairs[i].Source).ToList(), maxLength);
            for (int k = 0; k < chunk.Length; k++)
            {
                var (src, tgt) = pairs[chunk[k]];
                var h = hyps[k];
                if (h.Tokens.SequenceEqual(tgt)) right++;
                if (h.Tokens.Length > tgt.Length) overlong++;
                if (h.Tokens.Length < tgt.Length) shorter++;
                var fertility = new int[src.Length];
                foreach (var l in task.Test[chunk[k]].Gold.Sure) fertility[l.Source]++;
                var hits = new int[src.Length];
                for (int r = 0; r < h.Weights.GetLength(0); r++)
                {
                    int best = 0;
                    for (int j = 1; j < src.Length; j++) if (h.Weights[r, j] > h.Weights[r, best]) best = j;
                    hits[best]++;
                }
                for (int j = 0; j < src.Length; j++)
                {
                    if (fertility[j] == 0) continue;                              // unaligned source (commas, weekday) may be skipped
                    if (hits[j] == 0) skipped++;
                    else if (hits[j] > fertility[j]) repeated++;
                }
            }
        }
        return new AlignmentScore((double)right / n, argmax.Aer, thresholded.Aer, argmax.Precision, argmax.Recall,
                                  (double)skipped / n, (double)repeated / n, (double)overlong / n, (double)shorter / n);
    }

    /// <summary>What <see cref="TransformerHeads"/> measured: exact match of greedy decoding, AER (argmax) of every decoder
    /// layer's cross-attention heads [layer, head] and of each layer's head average, on the test set.</summary>
    public sealed record HeadAerScore(Transformer Model, TrainReport Report, double Accuracy, double[,] HeadAer, double[] LayerMeanAer);

    /// <summary>
    /// Trains a small encoder–decoder <see cref="Transformer"/> (d 64, 4 heads, 2+2 layers, FFN 256, pre-LN, no dropout) on
    /// the task and scores each cross-attention head on its own: the teacher-forced weights of head h in decoder layer l,
    /// read as an alignment (argmax per reference token), against the gold — the per-head reading of Garg et al. (2019).
    /// </summary>
    public static HeadAerScore TransformerHeads(AlignedTask task, int steps, ulong seed, Action<double, string>? progress = null)
    {
        var config = new TransformerConfig(task.Source.Count, task.Target.Count)
        {
            ModelDim = 64, Heads = 4, EncoderLayers = 2, DecoderLayers = 2, FeedForwardDim = 256, Dropout = 0f, MaxLength = 64,
        };
        var model = new Transformer(config, new Rng(seed));
        var report = TransformerTrainer.Train(model, task.TrainPairs, new TransformerTrainOptions
        {
            Steps = steps, TokensPerBatch = 1024, PeakLearningRate = 3e-3f, WarmupSteps = Math.Min(100, steps / 5), LabelSmoothing = 0f,
            Seed = seed + 17, Progress = progress,
        });
        model.Eval();
        var pairs = task.TestPairs;
        int layers = config.DecoderLayers, heads = config.Heads, right = 0;
        var counts = new AerCounts[layers, heads];
        var meanCounts = new AerCounts[layers];
        foreach (var chunk in Enumerable.Range(0, pairs.Count).Chunk(128))
        {
            using var _ = Var.NoGrad();
            var batch = Seq2SeqBatch.Create(chunk.Select(i => pairs[i]).ToList());
            var (_, cross) = model.ForwardWithCrossWeights(batch.Source, batch.DecoderInput);
            int s = batch.Source.Time, tt = batch.DecoderInput.Time;
            for (int l = 0; l < layers; l++)
            {
                var w = cross[l].Value.Contiguous().AsSpan();                      // (B, H, T, S)
                for (int k = 0; k < chunk.Length; k++)
                {
                    var ex = task.Test[chunk[k]];
                    int t = ex.Target.Length;
                    var mean = new float[t * s];
                    for (int h = 0; h < heads; h++)
                    {
                        var rows = w.Slice(((k * heads + h) * tt) * s, t * s).ToArray();
                        counts[l, h] += Aer.Count(Aer.Argmax(rows, t, s, ex.Source.Length), ex.Gold);
                        for (int i = 0; i < rows.Length; i++) mean[i] += rows[i] / heads;
                    }
                    meanCounts[l] += Aer.Count(Aer.Argmax(mean, t, s, ex.Source.Length), ex.Gold);
                }
            }
            var hyps = Decoding.Greedy(model, chunk.Select(i => pairs[i].Source).ToList(), config.MaxLength);
            for (int k = 0; k < chunk.Length; k++) if (hyps[k].Tokens.SequenceEqual(pairs[chunk[k]].Target)) right++;
        }
        var headAer = new double[layers, heads];
        for (int l = 0; l < layers; l++) for (int h = 0; h < heads; h++) headAer[l, h] = counts[l, h].Aer;
        return new HeadAerScore(model, report, (double)right / pairs.Count, headAer, meanCounts.Select(c => c.Aer).ToArray());
    }

    /// <summary>Teacher-forced mean attention entropy (nats) and See et al. coverage loss on the test set.</summary>
    public static (double Entropy, double Coverage) WeightStats(Seq2SeqModel model, AlignedTask task)
    {
        model.Eval();
        var pairs = task.TestPairs;
        double entropy = 0, coverage = 0; int n = 0;
        foreach (var chunk in pairs.Chunk(128))
        {
            using var _ = Var.NoGrad();
            var batch = Seq2SeqBatch.Create(chunk);
            var output = model.Forward(batch.Source, batch.DecoderInput);
            entropy += Regularisers.Entropy(output.Weights, batch.TargetLengths).Item() * chunk.Length;
            coverage += Regularisers.Coverage(output.Weights, batch.TargetLengths).Item() * chunk.Length;
            n += chunk.Length;
        }
        return (entropy / n, coverage / n);
    }

    /// <summary>IBM Model 1 trained by EM on the training pairs (target given source, as the decoder), then AER of its Viterbi alignment on the test set.</summary>
    public static (double Aer, double Precision, double Recall, double[] LogLikelihood) IbmModel1Aer(AlignedTask task, int iterations)
    {
        var model = new IbmModel1(task.Source.Count, task.Target.Count);
        var trace = model.Train(task.TrainPairs, iterations);
        AerCounts counts = default;
        foreach (var ex in task.Test)
        {
            var (src, tgt) = task.Encode(ex);
            counts += Aer.Count(model.Viterbi(src, tgt), ex.Gold);
        }
        return (counts.Aer, counts.Precision, counts.Recall, trace);
    }

    /// <summary>Teacher-forced weights of one example as a matrix (target × source) for a heatmap.</summary>
    public static float[,] Weights(Seq2SeqModel model, AlignedTask task, AlignedExample example)
    {
        model.Eval();
        using var _ = Var.NoGrad();
        var batch = Seq2SeqBatch.Create([task.Encode(example)]);
        var output = model.Forward(batch.Source, batch.DecoderInput);
        int t = example.Target.Length, s = example.Source.Length;
        var m = new float[t, s];
        for (int r = 0; r < t; r++)
        {
            var row = output.Steps[r].Weights.Value.AsSpan();
            for (int j = 0; j < s; j++) m[r, j] = row[j];
        }
        return m;
    }

    /// <summary>The gold alignment as a matrix (target × source): 1 for Sure, 0.5 for Possible-only links.</summary>
    public static float[,] GoldMatrix(AlignedExample example)
    {
        var m = new float[example.Target.Length, example.Source.Length];
        foreach (var l in example.Gold.Possible) m[l.Target, l.Source] = 0.5f;
        foreach (var l in example.Gold.Sure) m[l.Target, l.Source] = 1f;
        return m;
    }

    /// <summary>
    /// Gradient noise of a model on one fixed batch: <paramref name="draws"/> forward/backward passes (each with fresh
    /// sampling for hard attention), loss = cross-entropy + <paramref name="extraLoss"/>; returns E‖g − ḡ‖² / ‖ḡ‖² over
    /// all parameters (0 for a deterministic model) and the mean seconds per pass.
    /// </summary>
    public static (double RelativeVariance, double SecondsPerPass) GradientNoise(Seq2SeqModel model, Seq2SeqBatch batch, int draws,
        Func<Seq2SeqOutput, Seq2SeqBatch, Var?>? extraLoss = null)
    {
        model.Train();
        var parameters = model.Parameters();
        int total = parameters.Sum(p => p.Length);
        var grads = new double[draws][];
        var clock = Stopwatch.StartNew();
        for (int d = 0; d < draws; d++)
        {
            foreach (var p in parameters) p.ZeroGrad();
            var output = model.Forward(batch.Source, batch.DecoderInput);
            var loss = Var.CrossEntropy(output.Logits, batch.Targets, Seq2SeqBatch.Ignore);
            if (extraLoss?.Invoke(output, batch) is Var extra) loss += extra;
            loss.Backward();
            var g = new double[total];
            int o = 0;
            foreach (var p in parameters)
            {
                if (p.Grad is Tensor gt) { var span = gt.Contiguous().AsSpan(); for (int i = 0; i < span.Length; i++) g[o + i] = span[i]; }
                o += p.Length;
            }
            grads[d] = g;
        }
        double seconds = clock.Elapsed.TotalSeconds / draws;
        foreach (var p in parameters) p.ZeroGrad();
        model.Eval();
        var mean = new double[total];
        foreach (var g in grads) for (int i = 0; i < total; i++) mean[i] += g[i] / draws;
        double meanNorm = mean.Sum(x => x * x), spread = 0;
        foreach (var g in grads) for (int i = 0; i < total; i++) spread += (g[i] - mean[i]) * (g[i] - mean[i]) / draws;
        return (meanNorm == 0 ? 0 : spread / meanNorm, seconds);
    }

    /// <summary>
    /// The REINFORCE term for <see cref="HardAttentionMode.Reinforce"/>: reward R_b = log p(reference | source) of item b
    /// under the sampled alignments, baseline = a moving average of the batch-mean reward (decay 0.9), as in Xu et al. (2015, §4.1).
    /// </summary>
    public static Func<Seq2SeqOutput, Seq2SeqBatch, Var?> ReinforceTerm()
    {
        double? baseline = null;
        return (output, batch) =>
        {
            int b = batch.Source.Batch, t = batch.DecoderInput.Time, v = output.Logits.Shape[2];
            Tensor logp;
            using (Var.NoGrad()) logp = output.Logits.Detach().LogSoftmax(-1).Value;
            var lp = logp.Contiguous().AsSpan();
            var rewards = new double[b];
            for (int i = 0; i < b; i++)
                for (int s = 0; s < t; s++)
                {
                    int y = batch.Targets[i * t + s];
                    if (y != Seq2SeqBatch.Ignore) rewards[i] += lp[(i * t + s) * v + y];
                }
            double mean = rewards.Average();
            double used = baseline ?? mean;
            baseline = baseline is null ? mean : 0.9 * baseline.Value + 0.1 * mean;
            var logProbs = output.Steps.Select(s => s.SampleLogProb ?? throw new InvalidOperationException("expected REINFORCE hard attention steps")).ToList();
            return HardAttention.ReinforceLoss(logProbs, rewards, used, batch.TargetLengths);
        };
    }
}
