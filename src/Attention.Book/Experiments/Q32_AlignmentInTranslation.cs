using Attention.Alignments;
using Attention.Plots;
using Attention.Seq2Seq;

namespace Attention.Book.Experiments;

/// <summary>
/// Q32 · Alignment in translation: does attention learn the word alignment? Trains small encoder–decoders with several
/// attention mechanisms on T-Date (characters, Sure/Possible gold) and T-Perm (words, reordering, fertility), reads a
/// hard alignment off the teacher-forced weights (argmax per target, and α ≥ 0.3) and scores it by AER (Och &amp; Ney,
/// 2003) against the gold, next to IBM Model 1 (Brown et al., 1993) trained by EM on the same pairs.
/// Page: docs/answers/32-alignment-in-translation.md
/// </summary>
public sealed class Q32_AlignmentInTranslation : Experiment
{
    public override int Question => 32;
    public override string Title => "Alignment in translation: attention vs IBM Model 1 (AER)";

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        bool full = context.Full;
        AttentionKind[] kinds = full
            ? [AttentionKind.Bahdanau, AttentionKind.LuongDot, AttentionKind.LuongGeneral, AttentionKind.LocationAware]
            : [AttentionKind.LuongGeneral];
        int steps = full ? 400 : 120, train = full ? 4000 : 800, test = full ? 400 : 80;
        ulong seed = (ulong)context.Seed;
        var tasks = new[] { AlignmentLab.Date(train, test, seed), AlignmentLab.Perm(train, test, seed + 1) };
        int total = tasks.Length * kinds.Length, done = 0;
        var aer = new Dictionary<(string, string), double>();
        var ibmAer = new Dictionary<string, double>();
        bool ibmMonotone = true;
        foreach (var task in tasks)
        {
            var table = new Table($"{task.Name}: {train} training pairs, {steps} Adam steps (batch 32), {test} test pairs",
                "aligner", "exact match", "AER argmax", "AER α ≥ 0.3", "precision", "recall");
            var ibm = AlignmentLab.IbmModel1Aer(task, 15);
            for (int k = 1; k < ibm.LogLikelihood.Length; k++) ibmMonotone &= ibm.LogLikelihood[k] >= ibm.LogLikelihood[k - 1] - 1e-6;
            ibmAer[task.Name] = ibm.Aer;
            table.AddRow("IBM Model 1 (15 EM iterations, Viterbi)", "—", ibm.Aer, "—", ibm.Precision, ibm.Recall);
            result.Metrics[$"aer_ibm1_{Key(task.Name)}"] = ibm.Aer;
            Seq2SeqModel? shown = null;
            foreach (var kind in kinds)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                int at = done++;
                var (model, report) = AlignmentLab.Train(task, kind, steps, seed + 7,
                    progress: (f, s) => context.Report((at + f) / total, $"{task.Name} {kind}: {s}"));
                var score = AlignmentLab.Evaluate(model, task);
                aer[(task.Name, kind.ToString())] = score.AerArgmax;
                table.AddRow(kind.ToString(), score.Accuracy, score.AerArgmax, score.AerThreshold, score.Precision, score.Recall);
                string key = $"{Key(task.Name)}_{kind.ToString().ToLowerInvariant()}";
                result.Metrics[$"aer_{key}"] = score.AerArgmax;
                result.Metrics[$"aer_threshold_{key}"] = score.AerThreshold;
                result.Metrics[$"accuracy_{key}"] = score.Accuracy;
                result.Metrics[$"train_seconds_{key}"] = report.Seconds;
                shown ??= model;
            }
            result.Tables.Add(table);

            // heatmaps of one test sentence: the gold, and the first mechanism's weights
            var example = task.Test.OrderByDescending(e => e.Source.Length).Skip(task.Test.Count / 3).First();
            var weights = AlignmentLab.Weights(shown!, task, example);
            string slug = Key(task.Name);
            var path = context.FigurePath($"q32-{slug}-attention.png");
            Charts.Heatmap(path, weights, $"{task.Name}: {kinds[0]} attention (teacher-forced)", example.Target, example.Source, "source", "target");
            result.Figures.Add(new Figure(path, $"{task.Name}: {kinds[0]} attention weights for one test pair (rows: output, columns: input).")
            { Heatmap = weights, RowLabels = example.Target, ColumnLabels = example.Source });
            var gold = AlignmentLab.GoldMatrix(example);
            var goldPath = context.FigurePath($"q32-{slug}-gold.png");
            Charts.Heatmap(goldPath, gold, $"{task.Name}: gold alignment (1 Sure, 0.5 Possible)", example.Target, example.Source, "source", "target");
            result.Figures.Add(new Figure(goldPath, $"{task.Name}: the gold alignment of the same pair (1 = Sure, 0.5 = Possible).")
            { Heatmap = gold, RowLabels = example.Target, ColumnLabels = example.Source });
        }

        // The Transformer's cross-attention, head by head (answer 16 asks how well it aligns).
        int tSteps = full ? 1500 : 250;
        var bestHead = new Dictionary<string, double>();
        foreach (var task in tasks)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var heads = AlignmentLab.TransformerHeads(task, tSteps, seed + 11,
                progress: (f, s) => context.Report(0.9 + 0.05 * f, $"{task.Name} Transformer: {s}"));
            int layers = heads.HeadAer.GetLength(0), h = heads.HeadAer.GetLength(1);
            var columns = new List<string> { "decoder layer" };
            for (int j = 0; j < h; j++) columns.Add($"head {j + 1}");
            columns.Add("mean of heads");
            var table = new Table($"{task.Name}: AER (argmax) of each cross-attention head of a Transformer (d 64, {h} heads, 2+2 layers, {tSteps} steps; " +
                                  $"exact match {heads.Accuracy:P1}); the best recurrent model's AER on the same test pairs is {kinds.Min(k => aer[(task.Name, k.ToString())]):F3}",
                columns.ToArray());
            for (int l = 0; l < layers; l++)
            {
                var row = new List<object> { l + 1 };
                for (int j = 0; j < h; j++) row.Add(heads.HeadAer[l, j]);
                row.Add(heads.LayerMeanAer[l]);
                table.AddRow(row.ToArray());
            }
            result.Tables.Add(table);
            string key = Key(task.Name);
            double best = heads.HeadAer.Cast<double>().Min(), worst = heads.HeadAer.Cast<double>().Max();
            bestHead[task.Name] = best;
            result.Metrics[$"aer_{key}_transformer_best_head"] = best;
            result.Metrics[$"aer_{key}_transformer_worst_head"] = worst;
            result.Metrics[$"accuracy_{key}_transformer"] = heads.Accuracy;
        }

        string date = "T-Date", perm = "T-Perm";
        double bestDate = kinds.Min(k => aer[(date, k.ToString())]), bestPerm = kinds.Min(k => aer[(perm, k.ToString())]);
        result.Check("IBM Model 1's EM log-likelihood never decreases (both tasks)", ibmMonotone);
        result.Check("on T-Date the best attention model has a lower AER than IBM Model 1 (Model 1 has no notion of position and cannot tell the year's 0 from the month's)",
            bestDate < ibmAer[date], $"{bestDate:F3} vs {ibmAer[date]:F3}");
        result.Check("every attention model is far from chance on T-Perm (AER below 0.6)", kinds.All(k => aer[(perm, k.ToString())] < 0.6),
            string.Join(", ", kinds.Select(k => $"{k}: {aer[(perm, k.ToString())]:F3}")));
        result.Notes.Add("AER = 1 − (|A∩S| + |A∩P|)/(|A| + |S|); A from the weights of teacher-forced decoding of the reference, one row per reference token (EOS excluded).");
        result.Notes.Add("Model: embeddings 24, bidirectional GRU encoder 2×48, GRU decoder 64, attention width 32; Adam 3e-3 with linear decay, clip 1.");
        return result;
    }

    public static string Key(string taskName) => taskName.Replace("T-", "").ToLowerInvariant();
}
