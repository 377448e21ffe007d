using Attention.Plots;
using Attention.Seq2Seq;

namespace Attention.Book.Experiments;

/// <summary>
/// Q18 · The attention bottleneck and how to address it. The bottleneck of a plain encoder–decoder is the single
/// context vector; three remedies are measured on G2P (CMU dictionary) at the same training budget: a wider model
/// without attention (2× hidden size), a bidirectional encoder, and attention (Bahdanau), each reported overall and on
/// long words. A copy task trained on lengths 3–12 shows the same decay by length.
/// Page: docs/answers/18-attention-bottleneck.md
/// </summary>
public sealed class Q18_AttentionBottleneck : Experiment
{
    public override int Question => 18;
    public override string Title => "The attention bottleneck and how to address it";

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        var result = new ExperimentResult { Question = Question };
        string[] keys = full ? ["none-uni", "none", "none-wide", "bahdanau-uni", "bahdanau-budget"] : ["none", "none-wide", "bahdanau-budget"];
        var models = new List<TrainedG2P>();
        for (int i = 0; i < keys.Length; i++)
        {
            int k = i;
            models.Add(G2PModels.Get(keys[i], full, context.Seed, (f, s) => context.Report((full ? 0.7 : 0.95) * (k + f) / keys.Length, s)));
        }
        const int longWord = Q03_Bahdanau.LongWord;
        var table = new Table($"G2P test split ({models[0].Test.Count} words): remedies for the fixed-size context (same step budget; a run that hits its time cap stops early and says so in the steps column)",
            "model", "parameters", "steps × batch", "PER", "WER", $"PER on ≥ {longWord} letters", $"PER on ≤ 6 letters", "long / short PER");
        foreach (var m in models)
        {
            var (pl, _, _) = m.ByLength(longWord, 40);
            var (ps, _, _) = m.ByLength(1, 6);
            table.AddRow(m.Variant.Label, m.Model.ParameterCount, $"{m.Report.Steps} × {m.Variant.Training.BatchSize}", Q03_Bahdanau.Pct(m.TestPer), Q03_Bahdanau.Pct(m.TestWer), Q03_Bahdanau.Pct(pl), Q03_Bahdanau.Pct(ps), ps > 0 ? pl / ps : double.PositiveInfinity);
            result.Metrics[$"per_{m.Variant.Key.Replace('-', '_')}"] = m.TestPer;
            result.Metrics[$"per_long_{m.Variant.Key.Replace('-', '_')}"] = pl;
            result.Metrics[$"parameters_{m.Variant.Key.Replace('-', '_')}"] = m.Model.ParameterCount;
        }
        result.Tables.Add(table);
        var none = models.First(m => m.Variant.Key == "none");
        var wide = models.First(m => m.Variant.Key == "none-wide");
        var att = models.First(m => m.Variant.Key is "bahdanau" or "bahdanau-budget");
        double longNone = none.ByLength(longWord, 40).Per, longWide = wide.ByLength(longWord, 40).Per, longAtt = att.ByLength(longWord, 40).Per;
        result.Check("Attention lowers long-word PER more than doubling the hidden size of the model without attention",
            longAtt < longWide, $"{Q03_Bahdanau.Pct(longAtt)} (attention, {att.Model.ParameterCount:N0} parameters) vs {Q03_Bahdanau.Pct(longWide)} (2× wider, {wide.Model.ParameterCount:N0})");
        result.Check("Without attention, long words have a higher PER than short ones (the bottleneck grows with length)",
            longNone > none.ByLength(1, 6).Per, $"{Q03_Bahdanau.Pct(longNone)} vs {Q03_Bahdanau.Pct(none.ByLength(1, 6).Per)}");

        // The copy task is the same decay at a finer grain; the quick setting leaves it out to stay within its time budget
        // (question 2 runs the reversal version of it in both settings).
        if (full)
        {
            var sweep = Q02_WhatAttentionSolves.LengthSweep(full, context.Seed, reverse: false, (f, s) => context.Report(0.7 + 0.3 * f, s));
            var copy = new Table($"Copy task: exact-match accuracy by length (trained on {Q02_WhatAttentionSolves.TrainMin}–{Q02_WhatAttentionSolves.TrainMax}, {sweep.Steps} steps × {sweep.Batch})",
                "length", sweep.Labels[0], sweep.Labels[1]);
            for (int i = 0; i < sweep.Lengths.Length; i++) copy.AddRow(sweep.Lengths[i], Q03_Bahdanau.Pct(sweep.Accuracy[0][i]), Q03_Bahdanau.Pct(sweep.Accuracy[1][i]));
            result.Tables.Add(copy);
            int at = Array.IndexOf(sweep.Lengths, Q02_WhatAttentionSolves.TrainMax);
            result.Metrics["copy_accuracy_at_train_max_no_attention"] = sweep.Accuracy[0][at];
            result.Metrics["copy_accuracy_at_train_max_attention"] = sweep.Accuracy[1][at];
            result.Check($"Copy task at length {Q02_WhatAttentionSolves.TrainMax}: attention is more accurate than no attention",
                sweep.Accuracy[1][at] > sweep.Accuracy[0][at], $"{Q03_Bahdanau.Pct(sweep.Accuracy[1][at])} vs {Q03_Bahdanau.Pct(sweep.Accuracy[0][at])}");
        }
        string path = context.FigurePath("q18-per-by-length.png");
        var xs = G2PModels.LengthBuckets.Select(b => (double)(b.Min + Math.Min(b.Max, 14)) / 2).ToArray();
        Charts.Lines(path, "G2P: phoneme error rate by word length", "letters (bucket centre)", "PER",
            models.Select(m => new Series(m.Variant.Label, xs, G2PModels.LengthBuckets.Select(b => m.ByLength(b.Min, b.Max).Per).ToArray())).ToList());
        result.Figures.Add(new Figure(path, "PER by word length for each remedy."));
        context.Report(1, "done");
        return result;
    }
}
