using System.Diagnostics;
using Attention.Interpret;
using Attention.Models;
using Attention.Plots;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 47: how attention in a network relates to human attention, with what all-MiniLM-L6-v2 shows.
/// (a) Selection vs weighting: a human reader fixates a few words and skips others; a head spreads weight — the
/// effective number of attended tokens, exp(entropy), per layer, against the sentence length; (b) capacity:
/// human attention is a bottleneck, the model's is redundant — heads removed one at a time and then cumulatively,
/// least important first (Michel et al., 2019), measuring the embedding change and paraphrase retrieval;
/// (c) saliency vs learned attention: how often the word a head attends to most is the word whose removal
/// (integrated gradients) matters most.
/// Page: docs/answers/47-human-attention.md
/// </summary>
public sealed class Q47_HumanAttention : Experiment
{
    public override int Question => 47;
    public override string Title => "Attention in networks and in human cognition";

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var model = BertModel.LoadMiniLm();
        var c = model.Config;
        var corpus = SentenceCorpus.LoadRepoCopy();
        var pairs = context.Full ? corpus.Pairs.Take(40).ToList() : corpus.Pairs.Take(6).ToList();
        var texts = pairs.SelectMany(p => new[] { p.A, p.B }).ToList();
        int step = context.Full ? 6 : 24;

        // (a) effective number of attended tokens per layer
        var attention = ModelProbe.Attend(model, texts);
        var stats = ModelProbe.Statistics(attention, c.Layers, c.Heads).All();
        double meanLen = attention.Average(s => s.Length);
        var spread = new Table($"How many tokens a query reads: exp(mean row entropy) per layer ({texts.Count} sentences of {meanLen:0.0} tokens on average)",
            "layer", "effective tokens, mean head", "narrowest head", "widest head");
        for (int l = 0; l < c.Layers; l++)
        {
            var hs = stats.Where(h => h.Layer == l).ToList();
            spread.AddRow(l, Math.Exp(hs.Average(h => h.Entropy)), Math.Exp(hs.Min(h => h.Entropy)), Math.Exp(hs.Max(h => h.Entropy)));
        }
        result.Tables.Add(spread);

        // (b) head ablation
        var batch = model.Tokenize(texts);
        float[][] Embed(float[,]? mask)
        {
            var e = model.Forward(batch, new BertRunOptions { HeadMask = mask }).Embeddings;
            return Enumerable.Range(0, e.Dim(0)).Select(b => e.Select(0, b).ToArray()).ToArray();
        }
        var baseline = Embed(null);
        double baseAccuracy = Q50_DebuggingAttention.ParaphraseAccuracy(baseline);
        var baseSimilarities = PairSimilarities(baseline);
        var single = new List<(int Layer, int Head, double Change, double Accuracy)>();
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h++)
            {
                context.Report(0.1 + 0.6 * (l * c.Heads + h) / (c.Layers * c.Heads), $"ablating L{l} H{h}");
                var mask = Ones(c);
                mask[l, h] = 0;
                var e = Embed(mask);
                single.Add((l, h, MeanChange(baseline, e), Q50_DebuggingAttention.ParaphraseAccuracy(e)));
            }
        var order = single.OrderBy(s => s.Change).ToList();
        var ablation = new Table("Removing one head at a time: 1 − cosine between the embedding with and without the head (mean over sentences)",
            "", "head", "1 − cos", "paraphrase top-1");
        foreach (var s in order.Take(3)) ablation.AddRow("least needed", $"L{s.Layer} H{s.Head}", s.Change, s.Accuracy);
        foreach (var s in order.TakeLast(3)) ablation.AddRow("most needed", $"L{s.Layer} H{s.Head}", s.Change, s.Accuracy);
        ablation.AddRow("no head removed", "—", 0.0, baseAccuracy);
        result.Tables.Add(ablation);

        var removed = new List<double>(); var accuracy = new List<double>(); var change = new List<double>(); var rankRho = new List<double>();
        int canGo = 0;
        bool broken = false;
        for (int k = 0; k <= order.Count; k += step)
        {
            context.Report(0.7 + 0.25 * k / order.Count, $"removing {k} heads");
            var mask = Ones(c);
            foreach (var s in order.Take(k)) mask[s.Layer, s.Head] = 0;
            var e = k == order.Count ? null : Embed(mask);
            double acc = e is null ? double.NaN : Q50_DebuggingAttention.ParaphraseAccuracy(e);
            if (e is null) break;                                   // with every head gone the layers are MLPs over single tokens; not a model any more
            double rho = RankCorrelation.Spearman(baseSimilarities, PairSimilarities(e));
            removed.Add(k); accuracy.Add(acc); change.Add(MeanChange(baseline, e)); rankRho.Add(rho);
            broken |= acc < baseAccuracy - 0.05 || rho < 0.9;
            if (!broken) canGo = k;
        }
        var curve = new Table($"Removing heads cumulatively, least needed first ({texts.Count} sentences; ρ: Spearman of the {pairs.Count} paraphrase pairs' cosines against the full model's)",
            "heads removed", "of 72", "paraphrase top-1", "ρ of pair-similarity ranking", "1 − cos to the full model");
        for (int i = 0; i < removed.Count; i++) curve.AddRow(removed[i], $"{removed[i] / 72:P0}", accuracy[i], rankRho[i], change[i]);
        result.Tables.Add(curve);
        var curvePath = context.FigurePath("q47-ablation.png");
        Charts.Lines(curvePath, "Heads removed, least needed first", "heads removed (of 72)", "score",
            [new Series("paraphrase top-1", removed.ToArray(), accuracy.ToArray()), new Series("ρ of pair-similarity ranking", removed.ToArray(), rankRho.ToArray())]);
        result.Figures.Add(new Figure(curvePath, "Finding each sentence's paraphrase survives the removal of most heads; the finer ranking of pairs by similarity degrades gradually."));

        // (c) saliency vs attention, the top word only
        context.Report(0.96, "saliency");
        int count = context.Full ? 20 : 2;
        var rows = Q22_InterpretingAttention.Agreement(model, corpus.Pairs.Skip(80).Take(count).ToList(), context.Full ? 32 : 16);
        int sameTop = rows.Count(r => TopWord(r.LastLayer) == TopWord(r.IntegratedGradients));

        double effLast = Math.Exp(stats.Where(h => h.Layer == c.Layers - 1).Average(h => h.Entropy));
        double effAll = Math.Exp(stats.Average(h => h.Entropy));
        result.Metrics["mean_tokens"] = meanLen;
        result.Metrics["effective_tokens_mean_head"] = effAll;
        result.Metrics["baseline_paraphrase_top1"] = baseAccuracy;
        result.Metrics["least_needed_head_change"] = order[0].Change;
        result.Metrics["most_needed_head_change"] = order[^1].Change;
        result.Metrics["heads_removable_before_ranking_breaks"] = canGo;
        result.Metrics["single_ablation_worst_top1"] = single.Min(s => s.Accuracy);
        result.Metrics["top_word_attention_equals_ig"] = (double)sameTop / rows.Count;
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;

        result.Check("queries spread their weight: the mean head reads more than 2 tokens' worth (exp entropy > 2)", effAll > 2, $"{effAll:0.##} of {meanLen:0.#}");
        result.Check("no single head is indispensable: removing any one keeps paraphrase retrieval within 10 points of the full model",
            single.Min(s => s.Accuracy) >= baseAccuracy - 0.10, $"worst {single.Min(s => s.Accuracy):P0} vs {baseAccuracy:P0}");
        result.Check("heads differ in importance: the most needed head moves the embedding over 10× more than the least needed",
            order[^1].Change > 10 * order[0].Change, $"{order[^1].Change:e2} vs {order[0].Change:e2}");
        result.Check("at least a quarter of the heads (18 of 72) can go, least needed first, before the ranking breaks (top-1 down 5 points or pair-similarity ρ < 0.9)",
            canGo >= 18, $"{canGo} heads");
        result.Notes.Add($"Ablation: BertRunOptions.HeadMask multiplies a head's output by 0 before the output projection (Michel et al., 2019, §2); order from the " +
                         $"single-head change in the embedding; paraphrase top-1 over {texts.Count} sentences ({pairs.Count} pairs). Saliency: the most attended word " +
                         $"(pooled last-layer attention) and the word with the largest integrated-gradients attribution agree in {sameTop} of {rows.Count} sentences. " +
                         $"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    private static float[,] Ones(BertConfig c)
    {
        var m = new float[c.Layers, c.Heads];
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h++) m[l, h] = 1;
        return m;
    }

    private static double MeanChange(float[][] a, float[][] b) => a.Zip(b).Average(x => 1 - (double)TensorPrimitives.Dot(x.First, x.Second));

    // cos(A_k, B_k) of every paraphrase pair (pairs sit side by side)
    private static double[] PairSimilarities(float[][] e) => Enumerable.Range(0, e.Length / 2).Select(k => (double)TensorPrimitives.Dot(e[2 * k], e[2 * k + 1])).ToArray();

    private static int TopWord(double[] x)
    {
        int best = 1;
        for (int i = 2; i < x.Length - 1; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
