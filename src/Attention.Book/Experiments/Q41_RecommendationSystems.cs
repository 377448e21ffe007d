using System.Diagnostics;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q41 · Attention in recommendation systems. The Deep Interest Network's target attention (Zhou et al., 2018) against
/// the pooling it replaced (sum and mean) and against self-attention over the history, on a click task with a planted
/// rule (<see cref="TriggerClickTask"/>: a user clicks a candidate exactly when the history holds the candidate's
/// trigger item). Reports test AUC over several seeds, where the DIN weights go (the trigger or elsewhere), and how the
/// paper's unnormalized weights behave when the trigger is absent, against a softmax.
/// Page: docs/answers/41-recommendation-systems.md
/// </summary>
public sealed class Q41_RecommendationSystems : Experiment
{
    public override int Question => 41;
    public override string Title => "Attention in recommendation systems";

    private static readonly HistoryPooling[] Poolings =
        [HistoryPooling.Sum, HistoryPooling.Mean, HistoryPooling.SelfAttention, HistoryPooling.Din, HistoryPooling.DinSoftmax];

    private static string Name(HistoryPooling p) => p switch
    {
        HistoryPooling.Sum => "sum pooling",
        HistoryPooling.Mean => "mean pooling",
        HistoryPooling.SelfAttention => "self-attention + mean",
        HistoryPooling.Din => "DIN (unnormalized, the paper)",
        _ => "DIN with softmax",
    };

    private static string Key(HistoryPooling p) => p switch
    {
        HistoryPooling.Sum => "sum",
        HistoryPooling.Mean => "mean",
        HistoryPooling.SelfAttention => "self_attention",
        HistoryPooling.Din => "din",
        _ => "din_softmax",
    };

    private const int Items = 100, MinLength = 3, MaxLength = 20, Dim = 16, Hidden = 32, Batch = 64, TestSize = 4000;
    private const float LearningRate = 0.01f;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();
        int seeds = context.Full ? 5 : 3;
        int steps = context.Full ? 3000 : 800;
        var task = new TriggerClickTask(Items, MinLength, MaxLength, (ulong)context.Seed);
        var test = task.Sample(TestSize, new Rng((ulong)context.Seed * 31 + 4141));

        var auc = Poolings.ToDictionary(p => p, _ => new List<double>());
        var attention = new Dictionary<HistoryPooling, List<WeightStats>> { [HistoryPooling.Din] = [], [HistoryPooling.DinSoftmax] = [] };
        float[,]? heatmap = null;
        string[]? heatmapRows = null;
        int done = 0, total = seeds * Poolings.Length;
        for (int s = 0; s < seeds; s++)
            foreach (var pooling in Poolings)
            {
                var model = new ClickThroughModel(Items, Dim, Hidden, pooling, new Rng((ulong)(context.Seed * 1000 + s * 10 + (int)pooling)));
                Train(model, task, steps, new Rng((ulong)(context.Seed * 7919 + s)));
                var (logits, weights) = Evaluate(model, test);
                auc[pooling].Add(TriggerClickTask.Auc(logits, test.Labels));
                if (weights is not null)
                {
                    attention[pooling].Add(Stats(weights, test));
                    if (pooling == HistoryPooling.Din && s == 0) (heatmap, heatmapRows) = Heatmap(weights, test, 8);
                }
                context.Report((double)++done / total, $"seed {s + 1}/{seeds}: {Name(pooling)}");
            }

        var table = new Table($"Test AUC on {TestSize:N0} held-out examples, mean ± sd over {seeds} seeds (each seed: new weights and training draws); {steps:N0} Adam steps of {Batch} fresh examples",
                              "history pooling", "AUC", "sees the candidate while pooling");
        foreach (var p in Poolings)
        {
            table.AddRow(Name(p), MeanSd(auc[p]), p is HistoryPooling.Din or HistoryPooling.DinSoftmax ? "yes" : "no");
            result.Metrics[$"auc_{Key(p)}"] = auc[p].Average();
            result.Metrics[$"auc_{Key(p)}_sd"] = Sd(auc[p]);
        }
        result.Tables.Add(table);

        var weightsTable = new Table("Where DIN's weights go on the held-out examples, mean over seeds. Share = |w_trigger| / Σ_j |w_j| on clicks; Σ|w| = the total weight magnitude of one history",
                                     "weighting", "trigger has the largest |weight| (clicks)", "share of |weight| on the trigger (clicks)", "mean Σ|w|, clicks", "mean Σ|w|, no click");
        foreach (var p in new[] { HistoryPooling.Din, HistoryPooling.DinSoftmax })
        {
            var st = attention[p];
            weightsTable.AddRow(Name(p), $"{st.Average(x => x.ArgmaxRate):0.000}", $"{st.Average(x => x.TriggerShare):0.000}",
                                $"{st.Average(x => x.MassClicks):0.000}", $"{st.Average(x => x.MassNoClicks):0.000}");
            result.Metrics[$"{Key(p)}_trigger_argmax_rate"] = st.Average(x => x.ArgmaxRate);
            result.Metrics[$"{Key(p)}_trigger_share"] = st.Average(x => x.TriggerShare);
        }
        result.Tables.Add(weightsTable);

        double din = auc[HistoryPooling.Din].Average();
        double bestPool = new[] { HistoryPooling.Sum, HistoryPooling.Mean, HistoryPooling.SelfAttention }.Max(p => auc[p].Average());
        result.Check("DIN's target attention beats every candidate-blind pooling (sum, mean, self-attention) by at least 0.1 AUC",
                     din > bestPool + 0.1, $"DIN {din:0.000}, best candidate-blind {bestPool:0.000}");
        var softStats = attention[HistoryPooling.DinSoftmax];
        double softArgmax = softStats.Average(x => x.ArgmaxRate);
        result.Check("on clicks, DIN with softmax puts its largest weight on the planted trigger in at least 90% of held-out histories",
                     softArgmax >= 0.9, $"{softArgmax:0.000}");
        var dinStats = attention[HistoryPooling.Din];
        double share = dinStats.Average(x => x.TriggerShare), uniform = dinStats.Count == 0 ? 0 : 2.0 / (MinLength + MaxLength);
        result.Check("on clicks, the paper's unnormalized DIN gives the trigger far more than a uniform share of its weight magnitude (at least 3× 1/mean length)",
                     share >= 3 * uniform, $"share {share:0.000}, uniform about {uniform:0.000}");

        if (heatmap is not null)
        {
            string path = context.FigurePath("q41-din-weights.png");
            var columns = Enumerable.Range(1, heatmap.GetLength(1)).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Charts.Heatmap(path, heatmap, "DIN weights over the history (8 held-out clicks)", heatmapRows!, columns, "history position", "user (trigger position)");
            result.Figures.Add(new Figure(path, "DIN's unnormalized weights for eight held-out users who clicked (seed 0): each row is one history, its label names where the trigger was planted; padding positions show 0.")
                               { Heatmap = heatmap, RowLabels = heatmapRows, ColumnLabels = columns });
        }

        result.Notes.Add($"Task: {Items} items in {Items / 2} trigger pairs, histories of {MinLength}–{MaxLength} distinct items, half the examples clicks. " +
                         $"Model: item embeddings of width {Dim} shared by history and candidate, MLP [u, e_c] → {Hidden} (ReLU) → 1; the DIN activation unit is " +
                         $"[e_j, e_c, e_j − e_c, e_j ⊙ e_c] → {Hidden} (sigmoid) → 1; self-attention is one 2-head layer with a residual. Adam lr 0.01, binary cross-entropy.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    private static void Train(ClickThroughModel model, TriggerClickTask task, int steps, Rng data)
    {
        var optimizer = new Adam(model.Parameters(), LearningRate);
        model.Train();
        for (int step = 0; step < steps; step++)
        {
            var batch = task.Sample(Batch, data);
            var logits = model.Forward(batch).Logits;
            var loss = Var.BinaryCrossEntropyWithLogits(logits, Var.Constant(Tensor.FromArray(batch.Labels, batch.Count)));
            optimizer.ZeroGrad(); loss.Backward(); optimizer.Step();
        }
    }

    private static (float[] Logits, float[]? Weights) Evaluate(ClickThroughModel model, ClickBatch test)
    {
        model.Eval();
        using var _ = Var.NoGrad();
        var output = model.Forward(test);
        return (output.Logits.Value.ToArray(), output.Weights?.Value.ToArray());
    }

    private sealed record WeightStats(double ArgmaxRate, double TriggerShare, double MassClicks, double MassNoClicks);

    /// <summary>On clicks: how often |w_trigger| is the largest |w_j| and its share of Σ|w_j|; Σ_j |w_j| with and without the trigger.</summary>
    private static WeightStats Stats(float[] w, ClickBatch test)
    {
        int t = test.MaxLength;
        double hits = 0, share = 0, massClick = 0, massNo = 0;
        int clicks = 0, none = 0;
        for (int b = 0; b < test.Count; b++)
        {
            var row = w.AsSpan(b * t, test.Lengths[b]);
            double abs = 0;
            int best = 0;
            for (int j = 0; j < row.Length; j++)
            {
                abs += Math.Abs(row[j]);
                if (Math.Abs(row[j]) > Math.Abs(row[best])) best = j;
            }
            int at = test.TriggerPositions[b];
            if (at >= 0)
            {
                clicks++; massClick += abs;
                hits += best == at ? 1 : 0;
                share += abs > 0 ? Math.Abs(row[at]) / abs : 0;
            }
            else { none++; massNo += abs; }
        }
        return new WeightStats(hits / clicks, share / clicks, massClick / clicks, massNo / none);
    }

    private static (float[,], string[]) Heatmap(float[] w, ClickBatch test, int rows)
    {
        int t = test.MaxLength;
        var picked = Enumerable.Range(0, test.Count).Where(b => test.TriggerPositions[b] >= 0).Take(rows).ToArray();
        var map = new float[picked.Length, t];
        var labels = new string[picked.Length];
        for (int r = 0; r < picked.Length; r++)
        {
            int b = picked[r];
            for (int j = 0; j < t; j++) map[r, j] = j < test.Lengths[b] ? w[b * t + j] : 0f;
            labels[r] = $"trigger at {test.TriggerPositions[b] + 1}";
        }
        return (map, labels);
    }

    private static double Sd(List<double> xs)
    {
        double mean = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / Math.Max(1, xs.Count - 1));
    }

    private static string MeanSd(List<double> xs) => $"{xs.Average():0.000} ± {Sd(xs):0.000}";
}
