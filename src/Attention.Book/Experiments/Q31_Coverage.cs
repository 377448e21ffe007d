using Attention.Alignments;
using Attention.Plots;
using Attention.Seq2Seq;

namespace Attention.Book.Experiments;

/// <summary>
/// Q31 · Coverage: does keeping track of what has been attended reduce over- and under-translation? T-Perm with
/// fertility, trained on 1–3 clauses and tested on longer sentences (3–4 clauses), where a plain attention decoder
/// starts to repeat and skip source words. Compares Bahdanau attention, Tu et al. (2016)'s coverage vector in the
/// score, See et al. (2017)'s coverage loss, and both. Counts, per test sentence, the source words the free-running
/// decoder never attends (argmax) and those it attends more often than their fertility.
/// Page: docs/answers/31-coverage.md
/// </summary>
public sealed class Q31_Coverage : Experiment
{
    public override int Question => 31;
    public override string Title => "Coverage against repeated and skipped source words";

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        bool full = context.Full;
        int steps = full ? 500 : 80, train = full ? 4000 : 600, test = full ? 200 : 30;
        const float lambda = 1f;
        ulong seed = (ulong)context.Seed;
        var task = AlignmentLab.Perm(train, test, seed, 1, 3, 3, 4);
        (string Name, AttentionKind Kind, bool Loss)[] variants = full
            ? [("Bahdanau", AttentionKind.Bahdanau, false), ("Bahdanau + coverage loss (See)", AttentionKind.Bahdanau, true),
               ("coverage score (Tu)", AttentionKind.Coverage, false), ("coverage score + loss", AttentionKind.Coverage, true)]
            : [("Bahdanau", AttentionKind.Bahdanau, false), ("Bahdanau + coverage loss (See)", AttentionKind.Bahdanau, true)];
        var table = new Table($"T-Perm trained on 1–3 clauses ({train} pairs, {steps} steps), tested on {test} sentences of 3–4 clauses",
            "model", "exact match", "skipped / sentence", "repeated / sentence", "output too long", "output too short", "AER", "coverage loss (test)");
        var skipped = new double[variants.Length]; var repeated = new double[variants.Length]; var covLoss = new double[variants.Length];
        for (int v = 0; v < variants.Length; v++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            int at = v;
            var (name, kind, withLoss) = variants[v];
            Func<Seq2SeqOutput, Seq2SeqBatch, Autograd.Var?>? extra = withLoss ? (o, b) => Regularisers.Coverage(o.Weights, b.TargetLengths) * lambda : null;
            var (model, _) = AlignmentLab.Train(task, kind, steps, seed + 7, extraLoss: extra,
                progress: (f, s) => context.Report((at + 0.9 * f) / variants.Length, $"{name}: {s}"));
            var score = AlignmentLab.Evaluate(model, task, maxLength: 120);
            var stats = AlignmentLab.WeightStats(model, task);
            skipped[v] = score.SkippedPerSentence; repeated[v] = score.RepeatedPerSentence; covLoss[v] = stats.Coverage;
            table.AddRow(name, score.Accuracy, score.SkippedPerSentence, score.RepeatedPerSentence, score.OverlongFraction, score.ShortFraction, score.AerArgmax, stats.Coverage);
            string key = (kind == AttentionKind.Coverage ? "tu" : "bahdanau") + (withLoss ? "_loss" : "");
            result.Metrics[$"skipped_{key}"] = skipped[v];
            result.Metrics[$"repeated_{key}"] = repeated[v];
            result.Metrics[$"accuracy_{key}"] = score.Accuracy;
            result.Metrics[$"coverage_loss_{key}"] = stats.Coverage;
            result.Metrics[$"aer_{key}"] = score.AerArgmax;
            if (v == 0 || v == 1)
            {
                var example = task.Test.OrderByDescending(e => e.Source.Length).First();
                var weights = AlignmentLab.Weights(model, task, example);
                var path = context.FigurePath($"q31-{(withLoss ? "coverage-loss" : "plain")}.png");
                Charts.Heatmap(path, weights, $"{name}: the longest test sentence (teacher-forced)", example.Target, example.Source, "source", "target");
                result.Figures.Add(new Figure(path, $"{name}: attention on the longest test sentence.") { Heatmap = weights, RowLabels = example.Target, ColumnLabels = example.Source });
            }
        }
        result.Tables.Add(table);
        result.Check("training with the coverage loss lowers the test coverage loss (less attention spent twice on the same words)",
            covLoss[1] < covLoss[0], $"{covLoss[1]:F3} vs {covLoss[0]:F3}");
        result.Check("the plain model does skip or repeat source words on the longer test sentences", skipped[0] + repeated[0] > 0,
            $"{skipped[0]:F2} skipped, {repeated[0]:F2} repeated per sentence");
        result.Notes.Add($"Skipped: a source word with a gold link that no output step attends to most; repeated: attended most by more output steps than its fertility (1 or 2). λ = {lambda} for the coverage loss.");
        return result;
    }
}
