using Attention.Autograd;
using Attention.Plots;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q10 · Global vs local attention (Luong et al., 2015). On G2P, where alignments are near the diagonal: global
/// (general score), local-m (window around p_t = t) and local-p (predicted centre). On a reversal task, where the
/// gold source position of output t is S−1−t: local-m's window is in the wrong place for most t, while local-p can
/// learn to predict the centre — measured by the correlation of p_t with the gold position and a scatter plot.
/// Page: docs/answers/10-global-vs-local-attention.md
/// </summary>
public sealed class Q10_GlobalVsLocal : Experiment
{
    public override int Question => 10;
    public override string Title => "Global vs local attention";

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        var result = new ExperimentResult { Question = Question };
        // Quick: global and local-m only on G2P (local-p is measured on reversal, where it matters); full: all three.
        string[] keys = full ? ["luong-general", "local-m", "local-p"] : ["luong-general", "local-m"];
        var g2p = new List<TrainedG2P>();
        for (int i = 0; i < keys.Length; i++)
        {
            int k = i;
            g2p.Add(G2PModels.Get(keys[i], full, context.Seed, (f, s) => context.Report(0.5 * (k + f) / keys.Length, s)));
        }
        var table = new Table($"G2P test split ({g2p[0].Test.Count} words), each trained {g2p[0].Report.Steps} steps × {g2p[0].Variant.Training.BatchSize}",
            "attention", "source positions scored per step", "PER", "WER", $"PER on ≥ {Q03_Bahdanau.LongWord} letters");
        foreach (var m in g2p)
        {
            string scored = m.Variant.Key == "luong-general" ? "all S" : $"2D + 1 = {2 * m.Variant.Config.LocalHalfWidth + 1}";
            table.AddRow(m.Variant.Label, scored, Q03_Bahdanau.Pct(m.TestPer), Q03_Bahdanau.Pct(m.TestWer), Q03_Bahdanau.Pct(m.ByLength(Q03_Bahdanau.LongWord, 40).Per));
            result.Metrics[$"g2p_per_{m.Variant.Key.Replace('-', '_')}"] = m.TestPer;
        }
        result.Tables.Add(table);

        // Reversal: gold position S−1−t is far from t except in the middle.
        var sweep = Q02_WhatAttentionSolves.LengthSweep(full, context.Seed, reverse: true, (f, s) => context.Report(0.5 + 0.4 * f, s),
            [AttentionKind.LuongGeneral, AttentionKind.LocalMonotonic, AttentionKind.LocalPredictive], ["global (general)", "local-m (D = 2)", "local-p (D = 2)"]);
        var rev = new Table($"Reversal task (trained on lengths {Q02_WhatAttentionSolves.TrainMin}–{Q02_WhatAttentionSolves.TrainMax}): exact-match accuracy",
            "attention", $"lengths {Q02_WhatAttentionSolves.TrainMin}–{Q02_WhatAttentionSolves.TrainMax}", "parameters");
        var inRange = new double[3];
        for (int m = 0; m < 3; m++)
        {
            inRange[m] = sweep.Lengths.Select((l, i) => (l, i)).Where(p => p.l <= Q02_WhatAttentionSolves.TrainMax).Average(p => sweep.Accuracy[m][p.i]);
            rev.AddRow(sweep.Labels[m], Q03_Bahdanau.Pct(inRange[m]), sweep.Parameters[m]);
        }
        result.Tables.Add(rev);
        result.Metrics["reverse_accuracy_global"] = inRange[0];
        result.Metrics["reverse_accuracy_local_m"] = inRange[1];
        result.Metrics["reverse_accuracy_local_p"] = inRange[2];
        result.Check("On reversal, local-m (window around t, gold at S−1−t) is less accurate than global attention",
            inRange[1] < inRange[0], $"{Q03_Bahdanau.Pct(inRange[1])} vs {Q03_Bahdanau.Pct(inRange[0])}");

        // Local-p's predicted centres against the gold positions, teacher-forced on fresh sequences.
        var probe = SyntheticTasks.Generate(full ? 400 : 80, Q02_WhatAttentionSolves.TrainMin, Q02_WhatAttentionSolves.TrainMax, Q02_WhatAttentionSolves.Symbols, true, new Rng((ulong)context.Seed + 5));
        var (gold, predicted) = Centres(sweep.Models[2], probe);
        double r = Pearson(gold, predicted);
        double meanAbs = gold.Zip(predicted, (g, p) => Math.Abs(g - p)).Average();
        result.Metrics["local_p_centre_gold_correlation"] = r;
        result.Metrics["local_p_centre_mean_abs_error"] = meanAbs;
        result.Check("Local-p's predicted centre p_t follows the gold reversal position S−1−t (Pearson r > 0.8)", r > 0.8,
            $"r = {r:0.000}, mean |p_t − gold| = {meanAbs:0.00} positions over {gold.Length} steps");
        string path = context.FigurePath("q10-local-p-centres.png");
        Charts.Scatter(path, "Local-p on reversal: predicted centre vs gold position", "gold source position S−1−t", "predicted centre p_t",
            [new Series($"r = {r:0.00}", gold, predicted)]);
        result.Figures.Add(new Figure(path, "Each point is one decoder step of one test sequence (teacher forcing)."));
        context.Report(1, "done");
        return result;
    }

    /// <summary>Teacher-forced gold positions S−1−t (+ 0.5, the centre of cell j in p_t's units) and local-p centres for every real output step.</summary>
    internal static (double[] Gold, double[] Predicted) Centres(Seq2SeqModel model, IReadOnlyList<(int[] Source, int[] Target)> data)
    {
        var gold = new List<double>(); var predicted = new List<double>();
        using var _ = Var.NoGrad();
        foreach (var chunk in data.Chunk(64))
        {
            var batch = Seq2SeqBatch.Create(chunk);
            var output = model.Forward(batch.Source, batch.DecoderInput);
            for (int t = 0; t < output.Steps.Count; t++)
            {
                var p = output.Steps[t].PredictedCentre!.Value.AsSpan();
                for (int b = 0; b < chunk.Length; b++)
                {
                    int s = chunk[b].Source.Length;
                    if (t >= s) continue;                 // the EOS step has no gold position
                    gold.Add(s - 1 - t);
                    predicted.Add(p[b]);
                }
            }
        }
        return (gold.ToArray(), predicted.ToArray());
    }

    internal static double Pearson(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx); syy += (y[i] - my) * (y[i] - my); }
        return sxx == 0 || syy == 0 ? 0 : sxy / Math.Sqrt(sxx * syy);
    }
}
