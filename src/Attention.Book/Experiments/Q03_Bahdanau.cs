using Attention.Autograd;
using Attention.Plots;
using Attention.Seq2Seq;

namespace Attention.Book.Experiments;

/// <summary>
/// Q03 · Bahdanau attention. Grapheme-to-phoneme conversion on the CMU dictionary (letters → phonemes, stress removed)
/// with a bi-GRU encoder and a GRU decoder that attends additively over the letters (Bahdanau et al., 2015), against
/// the same model without attention at the same parameter count. Reports test PER/WER overall and by word length,
/// and draws the letters × phonemes attention of one word (<c>attn show 3 --word ATTENTION</c>).
/// Page: docs/answers/03-bahdanau-attention.md
/// </summary>
public sealed class Q03_Bahdanau : Experiment
{
    public override int Question => 3;
    public override string Title => "Bahdanau attention";

    /// <summary>The word drawn when the user gives none.</summary>
    public const string DefaultWord = "attention";

    /// <summary>Words at least this long count as long in the quick check.</summary>
    public const int LongWord = 9;

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        var result = new ExperimentResult { Question = Question };
        var data = G2PData.Load();
        var none = G2PModels.Get("none", full, context.Seed, (f, s) => context.Report(0.05 + 0.15 * f, s));
        // Same step budget as the baseline (quick: the same model as the best one), and the best model (full: longer training).
        var same = G2PModels.Get("bahdanau-budget", full, context.Seed, (f, s) => context.Report(0.2 + 0.15 * f, s));
        var bahdanau = G2PModels.Get("bahdanau", full, context.Seed, (f, s) => context.Report(0.35 + 0.6 * f, s));

        var table = new Table($"G2P on the CMU dictionary, test split ({bahdanau.Test.Count} words, greedy decoding)",
            "model", "parameters", "training steps × batch", "training time (s)", "PER", "WER");
        foreach (var m in full ? new[] { none, same, bahdanau } : new[] { none, bahdanau })
            table.AddRow(m.Variant.Label, m.Model.ParameterCount, $"{m.Report.Steps} × {m.Variant.Training.BatchSize}", m.Report.Seconds, Pct(m.TestPer), Pct(m.TestWer));
        result.Tables.Add(table);
        result.Metrics["test_per_bahdanau"] = bahdanau.TestPer;
        result.Metrics["test_wer_bahdanau"] = bahdanau.TestWer;
        result.Metrics["test_per_no_attention"] = none.TestPer;
        result.Metrics["test_wer_no_attention"] = none.TestWer;
        result.Metrics["parameters_bahdanau"] = bahdanau.Model.ParameterCount;
        result.Metrics["parameters_no_attention"] = none.Model.ParameterCount;
        result.Metrics["train_seconds_bahdanau"] = bahdanau.Report.Seconds;
        result.Metrics["train_steps_bahdanau"] = bahdanau.Report.Steps;

        var byLength = new Table($"PER and WER by word length (letters), same test words, both trained {same.Report.Steps} steps", "letters", "words", "PER no attention", "PER Bahdanau", "WER no attention", "WER Bahdanau");
        foreach (var b in G2PModels.LengthBuckets)
        {
            var (pn, wn, count) = none.ByLength(b.Min, b.Max);
            var (pb, wb, _) = same.ByLength(b.Min, b.Max);
            if (count == 0) continue;
            byLength.AddRow(G2PModels.BucketLabel(b), count, Pct(pn), Pct(pb), Pct(wn), Pct(wb));
        }
        result.Tables.Add(byLength);
        var longNone = none.ByLength(LongWord, 40);
        var longAttention = same.ByLength(LongWord, 40);
        result.Metrics["long_word_per_bahdanau"] = longAttention.Per;
        result.Metrics["long_word_per_no_attention"] = longNone.Per;
        result.Check($"On long words (≥ {LongWord} letters) Bahdanau attention has a lower PER than no attention at the same parameter count",
            longAttention.Per < longNone.Per, $"{Pct(longAttention.Per)} vs {Pct(longNone.Per)} over {longAttention.Count} words");
        result.Check("Attention gives a lower PER than no attention over all test words at the same step budget", same.TestPer < none.TestPer,
            $"{Pct(same.TestPer)} vs {Pct(none.TestPer)}");
        result.Metrics["test_per_bahdanau_same_budget"] = same.TestPer;
        if (full)
        {
            result.Check("The best attention model reaches PER ≤ 10% on the test split", bahdanau.TestPer <= 0.10, Pct(bahdanau.TestPer));
            result.Check("The best attention model reaches WER ≤ 35% on the test split", bahdanau.TestWer <= 0.35, Pct(bahdanau.TestWer));
        }

        // The alignment of one word: rows = emitted phonemes, columns = letters.
        string word = string.IsNullOrWhiteSpace(context.Input) ? DefaultWord : context.Input.Trim();
        G2PExample example;
        try { example = data.Example(word); }
        catch (ArgumentException)
        {
            result.Notes.Add($"'{word}' is not a word of letters a–z; drawing '{DefaultWord}' instead.");
            example = data.Example(word = DefaultWord);
        }
        var hyp = Decoding.Greedy(bahdanau.Model, [example.Source], 40)[0];
        var phonemes = data.Phonemes.Decode(hyp.Tokens);
        var letters = example.Word.ToUpperInvariant().Select(c => c.ToString()).ToArray();
        string dictionary = example.Phonemes.Count > 0 ? string.Join(' ', example.Phonemes) : "(not in the dictionary)";
        var wordTable = new Table($"The word {example.Word.ToUpperInvariant()}", "predicted phonemes", "dictionary", "in training split");
        bool inTrain = data.Train.Any(e => e.Word == example.Word);
        wordTable.AddRow(string.Join(' ', phonemes), dictionary, inTrain ? "yes" : "no");
        result.Tables.Add(wordTable);
        if (hyp.Tokens.Length > 0)
        {
            string file = $"q03-alignment-{example.Word}.png";
            string path = context.FigurePath(file);
            Charts.Heatmap(path, hyp.Weights, $"Bahdanau attention: {example.Word.ToUpperInvariant()} → /{string.Join(' ', phonemes)}/",
                phonemes, letters, "letter", "phoneme");
            result.Figures.Add(new Figure(path, $"Attention weights α_tj while spelling out {example.Word.ToUpperInvariant()}: row t = emitted phoneme, column j = letter.")
            {
                Heatmap = hyp.Weights, RowLabels = phonemes, ColumnLabels = letters,
            });
            // How diagonal is it: the share of phonemes whose most-attended letter is at or after the previous one's.
            int monotone = 0;
            for (int t = 1, prev = ArgMax(hyp.Weights, 0); t < phonemes.Length; t++)
            {
                int cur = ArgMax(hyp.Weights, t);
                if (cur >= prev) monotone++;
                prev = cur;
            }
            result.Metrics["word_alignment_monotone_fraction"] = phonemes.Length > 1 ? (double)monotone / (phonemes.Length - 1) : 1;
        }
        context.Report(1, "done");
        return result;
    }

    internal static int ArgMax(float[,] w, int row)
    {
        int best = 0;
        for (int j = 1; j < w.GetLength(1); j++) if (w[row, j] > w[row, best]) best = j;
        return best;
    }

    internal static string Pct(double x) => $"{100 * x:0.0}%";
}
