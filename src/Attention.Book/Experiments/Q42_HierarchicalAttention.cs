using System.Diagnostics;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q42 · Hierarchical attention. The hierarchical attention network (Yang et al., 2016) reads a King James chapter as
/// verses of words and classifies the genre of its book (<see cref="KjvChapters"/>); two baselines share its word encoder
/// and replace the verse level by one attention over all words, or by a mean. Reports test accuracy over seeds and shows
/// which verses and words HAN weighs in a few held-out chapters. Page: docs/answers/42-hierarchical-attention.md
/// </summary>
public sealed class Q42_HierarchicalAttention : Experiment
{
    public override int Question => 42;
    public override string Title => "Hierarchical attention";

    private static readonly DocumentReadout[] Readouts = [DocumentReadout.Hierarchical, DocumentReadout.FlatAttention, DocumentReadout.MeanPooling];

    private static string Name(DocumentReadout r) => r switch
    {
        DocumentReadout.Hierarchical => "HAN (word → verse → chapter)",
        DocumentReadout.FlatAttention => "flat attention over all words",
        _ => "mean pooling of all words",
    };

    private static string Key(DocumentReadout r) => r switch
    {
        DocumentReadout.Hierarchical => "han",
        DocumentReadout.FlatAttention => "flat",
        _ => "mean",
    };

    private const int EmbeddingDim = 32, Hidden = 16, Batch = 16, MinCount = 2;
    private const float LearningRate = 0.004f;
    private const int MinOccurrences = 5;

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();
        int seeds = context.Full ? 3 : 1;
        int epochs = context.Full ? 8 : 2;
        int maxVerses = context.Full ? 40 : 16, maxWords = context.Full ? 40 : 24;

        var chapters = KjvChapters.From(Kjv.LoadRepoCopy());
        var split = KjvChapters.SplitByChapter(chapters, seed: Kjv.DefaultSplitSeed);
        var vocabulary = new WordVocabulary(split.Train, MinCount);
        int classes = KjvChapters.GenreNames.Count;
        var testBatches = Batches(split.Test, vocabulary, maxVerses, maxWords, shuffle: null);
        var majority = split.Train.GroupBy(c => c.Genre).MaxBy(g => g.Count())!.Key;
        double majorityAccuracy = split.Test.Count(c => c.Genre == majority) / (double)split.Test.Count;

        var accuracy = Readouts.ToDictionary(r => r, _ => new List<double>());
        HierarchicalAttentionNetwork? shown = null;
        int done = 0, total = seeds * Readouts.Length;
        for (int s = 0; s < seeds; s++)
            foreach (var readout in Readouts)
            {
                var model = new HierarchicalAttentionNetwork(vocabulary.Size, EmbeddingDim, Hidden, classes, readout,
                                                             new Rng((ulong)(context.Seed * 100 + s * 10 + (int)readout)));
                var data = new Rng((ulong)(context.Seed * 7919 + s));
                var optimizer = new Adam(model.Parameters(), LearningRate);
                for (int e = 0; e < epochs; e++)
                {
                    model.Train();
                    foreach (var batch in Batches(split.Train, vocabulary, maxVerses, maxWords, data))
                    {
                        var loss = Var.CrossEntropy(model.Forward(batch).Logits, batch.Labels);
                        optimizer.ZeroGrad(); loss.Backward(); optimizer.Step();
                    }
                    context.Report((done + (e + 1.0) / epochs) / total, $"seed {s + 1}/{seeds}, {Name(readout)}: epoch {e + 1}/{epochs}");
                }
                accuracy[readout].Add(Accuracy(model, testBatches));
                if (readout == DocumentReadout.Hierarchical && s == 0) shown = model;
                done++;
            }

        var table = new Table($"Test accuracy on {split.Test.Count} held-out chapters (7 genres), mean ± sd over {seeds} seed{(seeds == 1 ? "" : "s")}; {epochs} epochs over {split.Train.Count} training chapters, batches of {Batch}",
                              "model", "accuracy", "above the verse level");
        foreach (var r in Readouts)
        {
            table.AddRow(Name(r), MeanSd(accuracy[r]), r switch
            {
                DocumentReadout.Hierarchical => "word attention per verse, verse BiGRU, verse attention",
                DocumentReadout.FlatAttention => "one attention over every word of the chapter",
                _ => "the mean of every word encoding",
            });
            result.Metrics[$"accuracy_{Key(r)}"] = accuracy[r].Average();
        }
        table.AddRow("majority genre (no model)", $"{majorityAccuracy:0.000}", $"always '{KjvChapters.GenreNames[(int)majority]}'");
        result.Metrics["accuracy_majority"] = majorityAccuracy;
        result.Tables.Add(table);

        foreach (var r in Readouts)
            result.Check($"{Name(r)} beats always answering the majority genre by at least 0.2",
                         accuracy[r].Average() > majorityAccuracy + 0.2, $"{accuracy[r].Average():0.000} vs {majorityAccuracy:0.000}");

        // ---- what HAN weighs ----
        var look = HanReadings(shown!, split.Test, vocabulary, maxVerses, maxWords);
        var verses = new Table("HAN (seed 0) on four held-out chapters: the two verses with the largest verse weight, and in each the three words with the largest word weight",
                               "chapter (genre, predicted)", "verse", "verse weight", "top words (word weight)", "verse text (start)");
        foreach (var row in look.Rows) verses.AddRow(row);
        result.Tables.Add(verses);
        var words = new Table($"Words HAN's word attention picks out: per genre, the words (seen at least {MinOccurrences} times in its held-out chapters) with the largest mean word weight relative to a uniform weight in their verse (α_word · verse length; 1× = uniform)",
                              "genre", "test chapters", "top words");
        foreach (var (genre, count, top) in look.TopWords) words.AddRow(genre, count, top);
        result.Tables.Add(words);
        result.Metrics["han_top_verse_weight_mean"] = look.MeanTopVerseWeight;
        result.Metrics["han_verses_mean"] = look.MeanVerses;

        result.Notes.Add($"Split: by chapter, stratified by book, seed {Kjv.DefaultSplitSeed} ({split.Train.Count} train, {split.Dev.Count} dev (unused), {split.Test.Count} test chapters); " +
                         $"the vocabulary ({vocabulary.Size:N0} ids) holds the words seen at least {MinCount} times in the training chapters, others are unknown. " +
                         $"Each chapter keeps its first {maxVerses} verses and each verse its first {maxWords} words.");
        result.Notes.Add($"Model: embeddings of {EmbeddingDim}, bidirectional GRUs of {Hidden} per direction, attention width {2 * Hidden}; Adam lr {LearningRate}, cross-entropy, no dropout; " +
                         "the three models share the word encoder (a BiGRU over each verse) and differ only above it.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    /// <summary>Batches of <see cref="Batch"/> chapters, shuffled with <paramref name="shuffle"/> (null: in order).</summary>
    private static List<ChapterBatch> Batches(IReadOnlyList<KjvChapter> chapters, WordVocabulary vocabulary, int maxVerses, int maxWords, Rng? shuffle)
    {
        var order = Enumerable.Range(0, chapters.Count).ToArray();
        if (shuffle is not null)
            for (int i = order.Length - 1; i > 0; i--) { int j = shuffle.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        var batches = new List<ChapterBatch>();
        for (int i = 0; i < order.Length; i += Batch)
            batches.Add(ChapterBatch.From(order.Skip(i).Take(Batch).Select(k => chapters[k]).ToList(), vocabulary, maxVerses, maxWords));
        return batches;
    }

    private static double Accuracy(HierarchicalAttentionNetwork model, List<ChapterBatch> batches)
    {
        model.Eval();
        using var _ = Var.NoGrad();
        int correct = 0, count = 0;
        foreach (var b in batches)
        {
            var logits = model.Forward(b).Logits.Value.ToArray();
            for (int i = 0; i < b.Count; i++)
            {
                int best = Enumerable.Range(0, model.Classes).MaxBy(c => logits[i * model.Classes + c]);
                correct += best == b.Labels[i] ? 1 : 0; count++;
            }
        }
        return (double)correct / count;
    }

    private sealed record Readings(List<object[]> Rows, List<(string Genre, int Chapters, string Top)> TopWords, double MeanTopVerseWeight, double MeanVerses);

    private static Readings HanReadings(HierarchicalAttentionNetwork model, IReadOnlyList<KjvChapter> test, WordVocabulary vocabulary, int maxVerses, int maxWords)
    {
        model.Eval();
        using var _ = Var.NoGrad();
        var rows = new List<object[]>();
        var lift = new Dictionary<KjvGenre, Dictionary<string, (double Sum, int Count)>>();
        double topVerse = 0, verses = 0;
        // four chapters to show: the first held-out chapter of law, wisdom/poetry, letters and apocalyptic
        var shown = new[] { KjvGenre.Law, KjvGenre.WisdomPoetry, KjvGenre.Letters, KjvGenre.Apocalyptic }
            .Select(g => test.FirstOrDefault(c => c.Genre == g)).Where(c => c is not null).Select(c => c!).ToHashSet();
        foreach (var batch in Batches(test, vocabulary, maxVerses, maxWords, shuffle: null))
        {
            var output = model.Forward(batch);
            var logits = output.Logits.Value.ToArray();
            var alphaVerse = output.VerseWeights!.Value.ToArray();
            var alphaWord = output.WordWeights!.Value.ToArray();
            int s = batch.MaxVerses, w = batch.MaxWords;
            for (int i = 0; i < batch.Count; i++)
            {
                var chapter = batch.Chapters[i];
                int n = batch.VerseCounts[i];
                topVerse += Enumerable.Range(0, n).Max(v => alphaVerse[i * s + v]);
                verses += n;
                var perWord = lift.TryGetValue(chapter.Genre, out var d) ? d : lift[chapter.Genre] = new Dictionary<string, (double, int)>(StringComparer.Ordinal);
                for (int v = 0; v < n; v++)
                {
                    int length = batch.VerseLengths[i * s + v];
                    for (int t = 0; t < length; t++)
                    {
                        // the word's weight relative to a uniform 1/length in its verse
                        var (sum, count) = perWord.GetValueOrDefault(chapter.Verses[v][t]);
                        perWord[chapter.Verses[v][t]] = (sum + alphaWord[(i * s + v) * w + t] * length, count + 1);
                    }
                }
                if (!shown.Contains(chapter)) continue;
                int predicted = Enumerable.Range(0, model.Classes).MaxBy(c => logits[i * model.Classes + c]);
                string label = $"{chapter.Reference} ({KjvChapters.GenreNames[(int)chapter.Genre]}, predicted {KjvChapters.GenreNames[predicted]})";
                foreach (int v in Enumerable.Range(0, n).OrderByDescending(v => alphaVerse[i * s + v]).Take(2))
                {
                    int length = batch.VerseLengths[i * s + v];
                    var top = Enumerable.Range(0, length).OrderByDescending(t => alphaWord[(i * s + v) * w + t]).Take(3)
                        .Select(t => $"{chapter.Verses[v][t]} ({alphaWord[(i * s + v) * w + t]:0.00})");
                    string text = string.Join(' ', chapter.Verses[v].Take(12)) + (chapter.Verses[v].Length > 12 ? " …" : "");
                    rows.Add([label, v + 1, $"{alphaVerse[i * s + v]:0.000} (uniform {1.0 / n:0.000})", string.Join(", ", top), text]);
                    label = "";
                }
            }
        }
        var topWords = lift.OrderBy(p => p.Key)
            .Select(p => (KjvChapters.GenreNames[(int)p.Key], test.Count(c => c.Genre == p.Key),
                           string.Join(", ", p.Value.Where(q => q.Value.Count >= MinOccurrences).OrderByDescending(q => q.Value.Sum / q.Value.Count).Take(8)
                                                    .Select(q => $"{q.Key} ({q.Value.Sum / q.Value.Count:0.0}×)"))))
            .ToList();
        return new Readings(rows, topWords, topVerse / test.Count, verses / test.Count);
    }

    private static string MeanSd(List<double> xs)
    {
        double mean = xs.Average();
        if (xs.Count < 2) return $"{mean:0.000}";
        double sd = Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
        return $"{mean:0.000} ± {sd:0.000}";
    }
}
