using System.Diagnostics;
using Attention.Interpret;
using Attention.Models;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 22: visualising and interpreting the attention of a real pretrained model, all-MiniLM-L6-v2 (6 layers ×
/// 12 heads). (a) Per-head statistics over the hand-written corpus after Clark et al. (2019): entropy, weight on
/// [CLS], [SEP], punctuation, the previous and the next token; (b) the 72 heads drawn for one sentence;
/// (c) three attention-based token importances for the pooled sentence embedding — raw last-layer attention,
/// rollout and flow (Abnar &amp; Zuidema, 2020) — ranked against integrated gradients (Sundararajan et al., 2017)
/// of the cosine similarity to the sentence's paraphrase, by Spearman's ρ per sentence.
/// Page: docs/answers/22-interpreting-attention.md
/// </summary>
public sealed class Q22_InterpretingAttention : Experiment
{
    public override int Question => 22;
    public override string Title => "Visualising and interpreting attention weights";

    /// <summary>The sentence whose heads are drawn.</summary>
    public const string ShownSentence = "The cat sat on the mat, and it purred.";

    /// <summary>One sentence's token importances by each method, and the ranks' agreement with integrated gradients.</summary>
    public sealed record AgreementRow(string Text, string[] Tokens, double[] LastLayer, double[] Rollout, double[] Flow,
                                      double[] GradientTimesInput, double[] IntegratedGradients, double CompletenessGap, double OutputChange);

    /// <summary>
    /// For each (sentence, paraphrase) pair: importance of every token of the sentence by raw last-layer attention,
    /// rollout, flow (all seen from the mean-pooling output node), gradient × input and integrated gradients of
    /// f = cos(e(sentence), e(paraphrase)) from an all-zero word-embedding baseline (positions and token types kept).
    /// Gradient scores are the L2 norm of a token's attribution over the 384 embedding dimensions.
    /// </summary>
    public static List<AgreementRow> Agreement(BertModel model, IReadOnlyList<(string A, string B)> pairs, int steps, Action<int>? progress = null)
    {
        var rows = new List<AgreementRow>();
        var attention = ModelProbe.Attend(model, pairs.Select(p => p.A).ToList());
        for (int i = 0; i < pairs.Count; i++)
        {
            var s = attention[i];
            var (f, input, tokens) = ModelProbe.SimilarityFunction(model, pairs[i].A, pairs[i].B);
            int n = tokens.Length, hd = model.Config.Hidden;
            var ig = Attribution.IntegratedGradients(f, input, Attention.Tensors.Tensor.Zeros(n, hd), steps, chunk: 8);
            var gxi = Attribution.GradientTimesInput(f, input);
            rows.Add(new AgreementRow(pairs[i].A, tokens, ModelProbe.LastLayerImportance(s), ModelProbe.RolloutImportance(s), ModelProbe.FlowImportance(s),
                Attribution.PerToken(gxi, n, hd, absolute: true), Attribution.PerToken(ig.Attributions, n, hd, absolute: true),
                ig.CompletenessGap, ig.Output - ig.BaselineOutput));
            progress?.Invoke(i);
        }
        return rows;
    }

    /// <summary>Spearman ρ of two importance vectors over the word tokens only ([CLS] and [SEP] dropped), or all tokens.</summary>
    public static double Rho(double[] a, double[] b, bool wordsOnly)
    {
        if (!wordsOnly) return RankCorrelation.Spearman(a, b);
        return RankCorrelation.Spearman(a.AsSpan(1, a.Length - 2), b.AsSpan(1, b.Length - 2));
    }

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var model = BertModel.LoadMiniLm();
        var corpus = SentenceCorpus.LoadRepoCopy();
        var c = model.Config;
        var sentences = context.Full ? corpus.All : corpus.All.Where((_, i) => i % 4 == 0).ToList();
        int agreementCount = context.Full ? 40 : 6, steps = context.Full ? 32 : 16;

        // (a) statistics over the corpus
        context.Report(0.05, $"attention of {sentences.Count} sentences");
        var attention = ModelProbe.Attend(model, sentences);
        var stats = ModelProbe.Statistics(attention, c.Layers, c.Heads);
        double worstRow = 0;
        foreach (var s in attention)
            foreach (var layer in s.Layers)
                for (int r = 0; r < layer.Length / s.Length; r++)
                    worstRow = Math.Max(worstRow, Math.Abs(1 - layer.AsSpan(r * s.Length, s.Length).ToArray().Sum(v => (double)v)));

        var all = stats.All();
        var perLayer = new Table($"Mean over the 12 heads of each layer ({stats.Sentences} sentences, every real query token)",
            "layer", "entropy (nats)", "→ [CLS]", "→ [SEP]", "→ punctuation", "→ previous", "→ next", "→ self");
        double meanLength = attention.Average(s => s.Length);
        for (int l = 0; l < c.Layers; l++)
        {
            var hs = all.Where(h => h.Layer == l).ToList();
            perLayer.AddRow(l, hs.Average(h => h.Entropy), hs.Average(h => h.ToCls), hs.Average(h => h.ToSep), hs.Average(h => h.ToPunctuation),
                            hs.Average(h => h.ToPrevious), hs.Average(h => h.ToNext), hs.Average(h => h.ToSelf));
        }
        result.Tables.Add(perLayer);

        var notable = new Table("The most specialised heads (Lℓ Hh = layer ℓ, head h, 0-based): mean weight on the named target",
            "behaviour", "top head", "weight", "second", "weight", "heads with weight > 0.5");
        void Notable(string name, Func<HeadStatistic, double> pick)
        {
            var top = all.OrderByDescending(pick).ToList();
            notable.AddRow(name, Name(top[0]), pick(top[0]), Name(top[1]), pick(top[1]), all.Count(h => pick(h) > 0.5));
        }
        Notable("[CLS] (sink)", h => h.ToCls);
        Notable("[SEP]", h => h.ToSep);
        Notable("punctuation", h => h.ToPunctuation);
        Notable("previous token", h => h.ToPrevious);
        Notable("next token", h => h.ToNext);
        Notable("self", h => h.ToSelf);
        result.Tables.Add(notable);

        // figures: the layer means, and the heads of one sentence
        var entropyPath = context.FigurePath("q22-head-behaviour.png");
        var layerNames = Enumerable.Range(0, c.Layers).Select(l => $"layer {l}").ToArray();
        Charts.Bars(entropyPath, "Where each layer's heads look (mean over heads and query tokens)", "mean attention weight", layerNames,
        [
            new BarSeries("[CLS]", Enumerable.Range(0, c.Layers).Select(l => all.Where(h => h.Layer == l).Average(h => h.ToCls)).ToArray()),
            new BarSeries("[SEP]", Enumerable.Range(0, c.Layers).Select(l => all.Where(h => h.Layer == l).Average(h => h.ToSep)).ToArray()),
            new BarSeries("punctuation", Enumerable.Range(0, c.Layers).Select(l => all.Where(h => h.Layer == l).Average(h => h.ToPunctuation)).ToArray()),
            new BarSeries("previous", Enumerable.Range(0, c.Layers).Select(l => all.Where(h => h.Layer == l).Average(h => h.ToPrevious)).ToArray()),
            new BarSeries("next", Enumerable.Range(0, c.Layers).Select(l => all.Where(h => h.Layer == l).Average(h => h.ToNext)).ToArray()),
        ]);
        result.Figures.Add(new Figure(entropyPath, "Mean weight each layer's heads put on [CLS], [SEP], punctuation, the previous and the next token."));

        context.Report(0.3, "drawing the heads of one sentence");
        string shownText = string.IsNullOrWhiteSpace(context.Input) ? ShownSentence : context.Input;   // attn show 22 --input "your sentence"
        var shown = ModelProbe.Attend(model, [shownText])[0];
        var gridPath = context.FigurePath("q22-head-grid.png");
        HeadGrid.Write(gridPath, Enumerable.Range(0, c.Layers).Select(l => (IReadOnlyList<float[,]>)Enumerable.Range(0, c.Heads).Select(h => shown.Head(l, h)).ToList()).ToList(),
                       shown.Tokens, $"all-MiniLM-L6-v2, 72 heads on \"{shownText}\" (rows: queries; colour 0 to 1)");
        result.Figures.Add(new Figure(gridPath, "All 72 heads of all-MiniLM-L6-v2 on one sentence: rows are queries, columns keys, one colour scale."));
        var viewPath = context.FigurePath("q22-head-view.html");
        HeadView.Write(viewPath, shown.Tokens, Enumerable.Range(0, c.Layers).Select(l => (IReadOnlyList<float[,]>)Enumerable.Range(0, c.Heads).Select(h => shown.Head(l, h)).ToList()).ToList(),
                       $"all-MiniLM-L6-v2 on \"{shownText}\": hover a token to see where each head looks");
        result.Figures.Add(new Figure(viewPath, "Head view of the same sentence: pick a layer and heads, hover a query token"));

        var rolled = AttentionRollout.Rollout(shown.HeadAverages());
        var rolloutPath = context.FigurePath("q22-rollout.png");
        var rolledF = ToFloat(rolled);
        Charts.Heatmap(rolloutPath, rolledF, "Attention rollout through 6 layers (row: output token, column: input token)", shown.Tokens, shown.Tokens, "input token", "output token");
        result.Figures.Add(new Figure(rolloutPath, "Attention rollout (Â = 0.5·A + 0.5·I, multiplied through six layers) for the sentence above.")
            { Heatmap = rolledF, RowLabels = shown.Tokens, ColumnLabels = shown.Tokens });

        // (c) agreement with integrated gradients
        context.Report(0.4, "integrated gradients");
        var rows = Agreement(model, corpus.Pairs.Take(agreementCount).ToList(), steps,
                             i => context.Report(0.4 + 0.55 * (i + 1) / agreementCount, $"integrated gradients, sentence {i + 1} of {agreementCount}"));
        var methods = new (string Name, Func<AgreementRow, double[]> Pick)[]
        {
            ("raw last-layer attention", r => r.LastLayer), ("attention rollout", r => r.Rollout), ("attention flow", r => r.Flow),
            ("gradient × input", r => r.GradientTimesInput),
        };
        var agreement = new Table($"Spearman ρ with integrated-gradients importance, per sentence ({rows.Count} sentences, f = cosine to the paraphrase, {steps} steps)",
            "method", "mean ρ, word tokens", "median ρ, word tokens", "sentences with ρ > 0.5", "mean ρ, all tokens incl. [CLS] [SEP]");
        var meanRho = new Dictionary<string, double>();
        foreach (var (name, pick) in methods)
        {
            var rhoWords = rows.Select(r => Rho(pick(r), r.IntegratedGradients, true)).Where(double.IsFinite).ToList();
            var rhoAll = rows.Select(r => Rho(pick(r), r.IntegratedGradients, false)).Where(double.IsFinite).ToList();
            meanRho[name] = rhoWords.Average();
            agreement.AddRow(name, rhoWords.Average(), Median(rhoWords), rhoWords.Count(v => v > 0.5), rhoAll.Average());
        }
        result.Tables.Add(agreement);
        double worstGap = rows.Max(r => Math.Abs(r.CompletenessGap) / Math.Max(1e-6, Math.Abs(r.OutputChange)));

        var example = rows[0];
        var exampleTable = new Table($"Token importance in \"{example.Text}\" (each column scaled to a maximum of 1)",
            "token", "last-layer attention", "rollout", "flow", "integrated gradients");
        for (int t = 0; t < example.Tokens.Length; t++)
            exampleTable.AddRow(example.Tokens[t], example.LastLayer[t] / example.LastLayer.Max(), example.Rollout[t] / example.Rollout.Max(),
                                example.Flow[t] / example.Flow.Max(), example.IntegratedGradients[t] / example.IntegratedGradients.Max());
        result.Tables.Add(exampleTable);

        var sink = all.MaxBy(h => h.ToCls)!;
        var prev = all.MaxBy(h => h.ToPrevious)!;
        var next = all.MaxBy(h => h.ToNext)!;
        double upperCls = all.Where(h => h.Layer >= 1).Average(h => h.ToCls);
        double layer0Entropy = all.Where(h => h.Layer == 0).Average(h => h.Entropy);
        result.Metrics["sentences"] = stats.Sentences;
        result.Metrics["mean_tokens_per_sentence"] = meanLength;
        result.Metrics["uniform_entropy_at_mean_length"] = Math.Log(meanLength);
        result.Metrics["max_row_sum_error"] = worstRow;
        result.Metrics["max_head_weight_on_cls"] = sink.ToCls;
        result.Metrics["max_head_weight_on_sep"] = all.Max(h => h.ToSep);
        result.Metrics["max_head_weight_on_previous"] = prev.ToPrevious;
        result.Metrics["max_head_weight_on_next"] = next.ToNext;
        result.Metrics["mean_weight_on_cls_layers_1_to_5"] = upperCls;
        result.Metrics["heads_over_half_on_cls"] = all.Count(h => h.ToCls > 0.5);
        result.Metrics["mean_rho_last_layer"] = meanRho["raw last-layer attention"];
        result.Metrics["mean_rho_rollout"] = meanRho["attention rollout"];
        result.Metrics["mean_rho_flow"] = meanRho["attention flow"];
        result.Metrics["mean_rho_gradient_times_input"] = meanRho["gradient × input"];
        result.Metrics["ig_worst_relative_completeness_gap"] = worstGap;
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;

        result.Check("every attention row of every head sums to 1 over the real tokens (within 1e-4)", worstRow < 1e-4, $"largest error {worstRow:e1}");
        result.Check("a previous-token head exists: some head puts more than half its weight on the token before the query",
            prev.ToPrevious > 0.5, $"{Name(prev)}: {prev.ToPrevious:0.###}");
        result.Check("a next-token head exists: some head puts more than half its weight on the token after the query",
            next.ToNext > 0.5, $"{Name(next)}: {next.ToNext:0.###}");
        result.Check("[CLS] is a sink: above layer 0 the average head puts more weight on [CLS] than a uniform head would (1/n)",
            upperCls > 1 / meanLength, $"{upperCls:0.###} vs {1 / meanLength:0.###}");
        result.Check("layer 0 is broad: its heads' mean entropy is above half of ln n (uniform attention)", layer0Entropy > 0.5 * Math.Log(meanLength),
            $"{layer0Entropy:0.###} vs ln n = {Math.Log(meanLength):0.###} nats");
        result.Check("integrated gradients are complete: Σ attributions equals f(x) − f(baseline) within 5% in every sentence",
            worstGap < 0.05, $"worst gap {worstGap:P1} of f(x) − f(x′)");
        double ll = meanRho["raw last-layer attention"], ro = meanRho["attention rollout"], gi = meanRho["gradient × input"];
        result.Check("raw last-layer attention, read from the pooled output, ranks word tokens much like integrated gradients (mean ρ > 0.5)",
            ll > 0.5, $"mean ρ {ll:0.###}");
        result.Check("rollout's ranking of word tokens is unrelated to integrated gradients' for this model (|mean ρ| < 0.2)",
            Math.Abs(ro) < 0.2, $"mean ρ {ro:0.###}");
        result.Check("gradient × input agrees with integrated gradients better than any attention-based importance",
            gi > meanRho.Where(kv => kv.Key != "gradient × input").Max(kv => kv.Value), $"{gi:0.###} vs best attention {ll:0.###}");

        result.Notes.Add($"Model all-MiniLM-L6-v2 (6 layers × 12 heads of 32, mean pooling) run by the project's own BertModel; {stats.Sentences} sentences " +
                         $"of the hand-written corpus (data/sentences), {meanLength:0.0} tokens on average with [CLS] and [SEP].");
        result.Notes.Add($"Integrated gradients: {steps} midpoint steps from all-zero word embeddings (positions and token types kept), on f = cosine between the " +
                         "sentence's embedding and its paraphrase's; a token's score is the L2 norm of its 384 attributions. Rollout and flow use Â = 0.5·A + 0.5·I " +
                         $"and the mean-pooling output node (1/n per token). Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    public static string Name(HeadStatistic h) => $"L{h.Layer} H{h.Head}";

    public static float[,] ToFloat(double[,] m)
    {
        var f = new float[m.GetLength(0), m.GetLength(1)];
        for (int i = 0; i < m.GetLength(0); i++)
            for (int j = 0; j < m.GetLength(1); j++) f[i, j] = (float)m[i, j];
        return f;
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
