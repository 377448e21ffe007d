using Attention.Plots;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q02 · What problem does attention solve in encoder–decoder models? The fixed-length context: a decoder that sees
/// the source only through one vector loses accuracy as the source grows. Measured twice: (1) on a reversal task
/// trained on lengths ≤ <see cref="TrainMax"/> and tested on lengths up to <see cref="TestMax"/> (exact-match accuracy
/// by length, no attention vs Bahdanau attention at equal parameter count), (2) on G2P by word length (the shared
/// models of Q03).
/// Page: docs/answers/02-what-attention-solves.md
/// </summary>
public sealed class Q02_WhatAttentionSolves : Experiment
{
    public override int Question => 2;
    public override string Title => "What attention solves in encoder–decoder models";

    public const int Symbols = 10, TrainMin = 3, TrainMax = 12, TestMax = 20;

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        var result = new ExperimentResult { Question = Question };
        var sweep = LengthSweep(full, context.Seed, reverse: true, (f, s) => context.Report(0.6 * f, s));
        var table = new Table($"Reversal task: exact-match accuracy by source length (trained on lengths {TrainMin}–{TrainMax}; {sweep.TestPerLength} test sequences per length)",
            "length", "no attention", "Bahdanau attention", "in training range");
        for (int i = 0; i < sweep.Lengths.Length; i++)
            table.AddRow(sweep.Lengths[i], Q03_Bahdanau.Pct(sweep.Accuracy[0][i]), Q03_Bahdanau.Pct(sweep.Accuracy[1][i]), sweep.Lengths[i] <= TrainMax ? "yes" : "no");
        result.Tables.Add(table);
        var setup = new Table("Reversal models", "model", "parameters", "training steps × batch", "training time (s)");
        for (int m = 0; m < 2; m++) setup.AddRow(sweep.Labels[m], sweep.Parameters[m], $"{sweep.Steps} × {sweep.Batch}", sweep.Seconds[m]);
        result.Tables.Add(setup);

        double Mean(int m, Func<int, bool> keep) => sweep.Lengths.Select((l, i) => (l, i)).Where(p => keep(p.l)).Average(p => sweep.Accuracy[m][p.i]);
        double noneShort = Mean(0, l => l <= 5), noneLong = Mean(0, l => l >= TrainMax - 2 && l <= TrainMax);
        double attShort = Mean(1, l => l <= 5), attLong = Mean(1, l => l >= TrainMax - 2 && l <= TrainMax);
        double noneBeyond = Mean(0, l => l > TrainMax), attBeyond = Mean(1, l => l > TrainMax);
        result.Metrics["reverse_accuracy_short_no_attention"] = noneShort;
        result.Metrics["reverse_accuracy_long_no_attention"] = noneLong;
        result.Metrics["reverse_accuracy_short_attention"] = attShort;
        result.Metrics["reverse_accuracy_long_attention"] = attLong;
        result.Metrics["reverse_accuracy_beyond_no_attention"] = noneBeyond;
        result.Metrics["reverse_accuracy_beyond_attention"] = attBeyond;
        result.Check($"Without attention, accuracy falls with length inside the training range (lengths ≤ 5 vs {TrainMax - 2}–{TrainMax})",
            noneLong < noneShort, $"{Q03_Bahdanau.Pct(noneShort)} → {Q03_Bahdanau.Pct(noneLong)}");
        result.Check($"With attention, accuracy on lengths {TrainMax - 2}–{TrainMax} is higher than without",
            attLong > noneLong, $"{Q03_Bahdanau.Pct(attLong)} vs {Q03_Bahdanau.Pct(noneLong)}");
        result.Check($"Beyond the training lengths (> {TrainMax}) the model without attention is worse than the one with it",
            noneBeyond <= attBeyond, $"{Q03_Bahdanau.Pct(noneBeyond)} vs {Q03_Bahdanau.Pct(attBeyond)}");
        string path = context.FigurePath("q02-reversal-accuracy-by-length.png");
        Charts.Lines(path, "Reversal: exact-match accuracy by source length", "source length", "accuracy",
            [new Series(sweep.Labels[0], sweep.Lengths.Select(l => (double)l).ToArray(), sweep.Accuracy[0]),
             new Series(sweep.Labels[1], sweep.Lengths.Select(l => (double)l).ToArray(), sweep.Accuracy[1])]);
        result.Figures.Add(new Figure(path, $"Reversal accuracy by length; training lengths {TrainMin}–{TrainMax}."));

        // G2P by word length, from the shared models.
        var none = G2PModels.Get("none", full, context.Seed, (f, s) => context.Report(0.6 + 0.2 * f, s));
        var bahdanau = G2PModels.Get("bahdanau-budget", full, context.Seed, (f, s) => context.Report(0.8 + 0.2 * f, s));
        var g2p = new Table($"G2P (CMU dictionary, {bahdanau.Test.Count} test words): PER by word length", "letters", "words", "no attention", "Bahdanau", "no attention / Bahdanau");
        foreach (var b in G2PModels.LengthBuckets)
        {
            var (wn, _, count) = none.ByLength(b.Min, b.Max);
            var (wb, _, _) = bahdanau.ByLength(b.Min, b.Max);
            if (count == 0) continue;
            g2p.AddRow(G2PModels.BucketLabel(b), count, Q03_Bahdanau.Pct(wn), Q03_Bahdanau.Pct(wb), wb > 0 ? wn / wb : double.PositiveInfinity);
        }
        result.Tables.Add(g2p);
        result.Metrics["g2p_wer_no_attention"] = none.TestWer;
        result.Metrics["g2p_wer_bahdanau"] = bahdanau.TestWer;
        context.Report(1, "done");
        return result;
    }

    /// <summary>Accuracy-by-length of a no-attention and a Bahdanau model (equal parameters) trained on a copy or reversal task.</summary>
    public sealed record Sweep(int[] Lengths, double[][] Accuracy, string[] Labels, long[] Parameters, double[] Seconds, int Steps, int Batch, int TestPerLength, Seq2SeqModel[] Models);

    /// <summary>Trains both models on lengths TrainMin–TrainMax and measures exact-match accuracy for lengths TrainMin–TestMax.</summary>
    public static Sweep LengthSweep(bool full, int seed, bool reverse, Action<double, string>? progress,
                                    AttentionKind[]? kinds = null, string[]? labels = null)
    {
        kinds ??= [AttentionKind.None, AttentionKind.Bahdanau];
        labels ??= ["no attention", "Bahdanau attention"];
        int steps = full ? G2PModels.FullSteps(800) : 200, batch = full ? 64 : 48, perLength = full ? 200 : 30, h = full ? 128 : 64;
        var baseConfig = new Seq2SeqConfig(SyntheticTasks.VocabularySize(Symbols), SyntheticTasks.VocabularySize(Symbols))
        {
            Embedding = 32, EncoderHidden = h / 2, DecoderHidden = h, AttentionSize = h / 2, MaxSource = TestMax, LocalHalfWidth = 2,
        };
        var attentive = baseConfig with { Attention = AttentionKind.Bahdanau };
        var train = SyntheticTasks.Generate(steps * batch, TrainMin, TrainMax, Symbols, reverse, new Rng((ulong)seed));
        int testMax = full ? TestMax : TrainMax + 4;
        int[] lengths = Enumerable.Range(TrainMin, testMax - TrainMin + 1).ToArray();
        var models = new Seq2SeqModel[kinds.Length];
        var acc = new double[kinds.Length][];
        var parameters = new long[kinds.Length];
        var seconds = new double[kinds.Length];
        for (int m = 0; m < kinds.Length; m++)
        {
            var config = kinds[m] == AttentionKind.None ? G2PModels.MatchParameters(baseConfig with { Attention = AttentionKind.None }, attentive) : baseConfig with { Attention = kinds[m] };
            var model = models[m] = new Seq2SeqModel(config, new Rng((ulong)seed + 31));
            parameters[m] = model.ParameterCount;
            int mm = m;
            var report = Seq2SeqTrainer.Train(model, train, new TrainOptions
            {
                Steps = steps, BatchSize = batch, LearningRate = 5e-3f, Seed = (ulong)seed,
                Progress = progress is null ? null : (f, s) => progress((mm + f) / kinds.Length, $"{labels[mm]}: {s}"),
            });
            seconds[m] = report.Seconds;
            acc[m] = new double[lengths.Length];
            for (int i = 0; i < lengths.Length; i++)
            {
                var test = SyntheticTasks.Generate(perLength, lengths[i], lengths[i], Symbols, reverse, new Rng((ulong)(seed * 1000 + lengths[i])));
                var (_, wer, _) = Seq2SeqTrainer.Evaluate(model, test, TestMax + 5);
                acc[m][i] = 1 - wer;
            }
        }
        return new Sweep(lengths, acc, labels, parameters, seconds, steps, batch, perLength, models);
    }
}
