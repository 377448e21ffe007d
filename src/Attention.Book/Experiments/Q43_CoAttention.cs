using System.Diagnostics;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q43 · Co-attention. Questions about MNIST strips in a small templated language ("which digit is right of the 5 ?",
/// "is there a 7 left of a 3 ?"): parallel and alternating co-attention (Lu et al., NeurIPS 2016) against a question-only
/// and an image-only model with the same encoders, each trained for the same number of steps on fresh questions about
/// strips of training digits and tested on strips of held-out digits. Reports accuracy per template, the image attention
/// mass on the cells the question is about (gold), and the question attention on the digit words; draws both maps.
/// Page: docs/answers/43-co-attention.md
/// </summary>
public sealed class Q43_CoAttention : Experiment
{
    public override int Question => 43;
    public override string Title => "Co-attention";

    private static readonly (StripAnswererKind Kind, string Name, string Key)[] Models =
    [
        (StripAnswererKind.QuestionOnly, "question only", "question_only"),
        (StripAnswererKind.ImageOnly, "image only (attention pooling)", "image_only"),
        (StripAnswererKind.ParallelCoAttention, "parallel co-attention", "parallel"),
        (StripAnswererKind.AlternatingCoAttention, "alternating co-attention", "alternating"),
    ];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        var clock = Stopwatch.StartNew();
        bool full = context.Full;
        int steps = full ? 4000 : 400, batch = 32, testCount = full ? 2000 : 400, pretrain = full ? 300 : 150;
        var split = Mnist.Split(Mnist.LoadRepoCopy());
        var test = StripQuestions.Generate(split.Test, testCount, new Rng((ulong)context.Seed + 4_300_001));

        var table = new Table($"Questions about MNIST strips (3–5 distinct digits), {steps} Adam steps of {batch} fresh training questions; {testCount} test questions on held-out digits",
            "model", "accuracy", "which … right of", "which … left of", "is there … left of", "image attention on the question's cells", "question attention on the digit words");
        var accuracy = new Dictionary<string, double>(); var goldMass = new Dictionary<string, double>();
        var example = test.First(q => q.Kind == StripQuestionKind.RightOf && q.Strip.Digits.Length == 5 && q.GoldCells[0] >= 2);
        var exampleMaps = new List<(string Name, float[] Image, float[] Words)>();
        var pretrained = new List<double>();
        for (int m = 0; m < Models.Length; m++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var (kind, name, key) = Models[m];
            var model = new StripQuestionAnswerer(new StripAnswererConfig { Kind = kind }, new Rng((ulong)context.Seed + 43));
            double cellAccuracy = model.PretrainEncoder(split.Train, pretrain, batch, new Rng((ulong)context.Seed + 4_300_003));
            if (!double.IsNaN(cellAccuracy)) pretrained.Add(cellAccuracy);
            Train(model, split.Train, steps, batch, new Rng((ulong)context.Seed + 4_300_002),
                  (f, s) => context.Report((m + f) / Models.Length, $"{name}: {s}"));
            var score = Evaluate(model, test);
            table.AddRow(name, score.Accuracy, score.ByKind[0], score.ByKind[1], score.ByKind[2],
                         double.IsNaN(score.ImageGoldMass) ? "—" : Table.FormatNumber(score.ImageGoldMass),
                         double.IsNaN(score.WordGoldMass) ? "—" : Table.FormatNumber(score.WordGoldMass));
            result.Metrics[$"accuracy_{key}"] = score.Accuracy;
            if (!double.IsNaN(score.ImageGoldMass)) result.Metrics[$"image_gold_mass_{key}"] = score.ImageGoldMass;
            if (!double.IsNaN(score.WordGoldMass)) result.Metrics[$"word_gold_mass_{key}"] = score.WordGoldMass;
            accuracy[key] = score.Accuracy; goldMass[key] = score.ImageGoldMass;
            if (kind != StripAnswererKind.QuestionOnly)
            {
                using var _ = Var.NoGrad();
                model.Eval();
                var answer = model.Forward([example]);
                exampleMaps.Add((name, model.ColumnMass(answer.ImageWeights!.Value.AsSpan()), answer.QuestionWeights?.Value.ToArray() ?? []));
            }
        }
        result.Tables.Add(table);
        AddFigures(result, context, example, exampleMaps);

        double best = Math.Max(accuracy["parallel"], accuracy["alternating"]), single = Math.Max(accuracy["question_only"], accuracy["image_only"]);
        result.Check("both co-attention models beat the better single-modality model", Math.Min(accuracy["parallel"], accuracy["alternating"]) > single,
                     $"parallel {accuracy["parallel"]:0.000}, alternating {accuracy["alternating"]:0.000}; question only {accuracy["question_only"]:0.000}, image only {accuracy["image_only"]:0.000}");
        result.Check("the question-only model stays near what the question alone allows (accuracy below 0.4)", accuracy["question_only"] < 0.4,
                     $"{accuracy["question_only"]:0.000}");
        result.Check("co-attention puts more image attention on the question's cells than the unguided image-only pooling",
                     Math.Max(goldMass["parallel"], goldMass["alternating"]) > goldMass["image_only"],
                     $"parallel {goldMass["parallel"]:0.000}, alternating {goldMass["alternating"]:0.000}, image only {goldMass["image_only"]:0.000}");
        if (full)
            result.Check("after the full budget a co-attention model answers most test questions (> 0.8)", best > 0.8, $"{best:0.000}");
        result.Notes.Add("Same encoders in every model: strip windows (9 windows of 28 × 28 at stride 14, patch MLP + position embedding) read by a bidirectional GRU " +
                         "along the strip (D = 64); question words embedded (64) and read by a GRU. Answer head p = softmax(W_h tanh(W_w (q̂ + v̂))) as in Lu et al. " +
                         "with one level; the baselines feed it the GRU's last state (question only) or attention-pooled image features (image only). Adam lr 3e-3, clip 5.");
        result.Notes.Add($"Before question training every image model's window encoder is pretrained for {pretrain} steps as a cell classifier (digit or blank, " +
                         $"on strips of training digits, head discarded), as Lu et al. start from ImageNet features; cell accuracy at the end of pretraining " +
                         $"{pretrained.Min():0.000}–{pretrained.Max():0.000}. The encoder is then trained further with the rest of the model.");
        result.Notes.Add("'Image attention on the question's cells': a^v spread over each window's columns, summed over the named digits' cells and, for " +
                         "'which digit', the answer's cell. Chance with uniform attention over 5 cells: about 0.2 per cell named.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        return result;
    }

    /// <summary>Adam on fresh questions every step, cross-entropy on the answer (after <see cref="StripQuestionAnswerer.PretrainEncoder"/>).</summary>
    public static void Train(StripQuestionAnswerer model, MnistDigits digits, int steps, int batch, Rng rng, Action<double, string>? progress = null)
    {
        var optimizer = new Adam(model.Parameters(), 3e-3f);
        model.Train();
        double smoothed = double.NaN;
        for (int s = 0; s < steps; s++)
        {
            var questions = StripQuestions.Generate(digits, batch, rng);
            optimizer.ZeroGrad();
            var loss = Var.CrossEntropy(model.Forward(questions).Logits, questions.Select(q => q.Answer).ToArray());
            loss.Backward();
            GradClip.ByGlobalNorm(model.Parameters(), 5f);
            optimizer.Step();
            double l = loss.Item();
            smoothed = double.IsNaN(smoothed) ? l : 0.95 * smoothed + 0.05 * l;
            if (s % 10 == 0) progress?.Invoke((double)s / steps, $"step {s}/{steps}, loss {smoothed:0.000}");
        }
        model.Eval();
    }

    /// <summary>What <see cref="Evaluate"/> measured; masses are NaN for a model without that map.</summary>
    public sealed record AnswerScore(double Accuracy, double[] ByKind, double ImageGoldMass, double WordGoldMass);

    /// <summary>Accuracy (overall and per template) and the attention masses on the gold cells and words.</summary>
    public static AnswerScore Evaluate(StripQuestionAnswerer model, IReadOnlyList<StripQuestion> questions)
    {
        model.Eval();
        int right = 0; var kindRight = new int[3]; var kindCount = new int[3];
        double image = 0, words = 0; bool hasImage = false, hasWords = false;
        foreach (var chunk in questions.Chunk(200))
        {
            using var _ = Var.NoGrad();
            var answer = model.Forward(chunk);
            var logits = answer.Logits.Value.AsSpan();
            int classes = StripQuestions.Answers.Count, l = model.Locations;
            for (int i = 0; i < chunk.Length; i++)
            {
                var q = chunk[i];
                int best = 0;
                for (int c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
                int k = (int)q.Kind;
                kindCount[k]++;
                if (best == q.Answer) { right++; kindRight[k]++; }
                if (answer.ImageWeights is not null)
                {
                    hasImage = true;
                    image += model.MassInCells(answer.ImageWeights.Value.AsSpan().Slice(i * l, l), q.GoldCells);
                }
                if (answer.QuestionWeights is not null)
                {
                    hasWords = true;
                    int t = answer.QuestionWeights.Shape[1];
                    var w = answer.QuestionWeights.Value.AsSpan().Slice(i * t, t);
                    foreach (int g in q.GoldTokens) words += w[g];
                }
            }
        }
        int n = questions.Count;
        return new AnswerScore((double)right / n, kindRight.Select((r, k) => kindCount[k] == 0 ? double.NaN : (double)r / kindCount[k]).ToArray(),
                               hasImage ? image / n : double.NaN, hasWords ? words / n : double.NaN);
    }

    private static void AddFigures(ExperimentResult result, ExperimentContext context, StripQuestion q, List<(string Name, float[] Image, float[] Words)> maps)
    {
        var strip = q.Strip;
        int band = 30, width = strip.Width;
        var map = new float[maps.Count * band, width];
        var labels = new string[maps.Count * band];
        for (int m = 0; m < maps.Count; m++)
        {
            float top = Math.Max(1e-6f, maps[m].Image.Max());
            for (int r = 0; r < band; r++)
            {
                labels[m * band + r] = "";
                for (int c = 0; c < width; c++)
                    map[m * band + r, c] = r >= MnistStrip.Height ? float.NaN
                        : Math.Max(0.55f * maps[m].Image[c] / top, strip.Pixels[r * width + c] * (0.15f + 0.85f * maps[m].Image[c] / top));
            }
            labels[Q27_ImageCaptioning.LabelRow(m, band, maps.Count * band)] = maps[m].Name;
        }
        string question = string.Join(" ", q.Tokens), answer = StripQuestions.Answers[q.Answer];
        string path = context.FigurePath("q43-image-attention.png");
        Charts.Heatmap(path, map, $"\"{question}\" (answer {answer}): image attention", labels, null, "pixel column of the strip", "model");
        var small = new float[maps.Count, strip.Cells];
        for (int m = 0; m < maps.Count; m++)
            for (int c = 0; c < strip.Cells; c++) small[m, c] = maps[m].Image.Skip(c * MnistStrip.CellWidth).Take(MnistStrip.CellWidth).Sum();
        result.Figures.Add(new Figure(path, $"Image attention of each model for one test question, \"{question}\" on the strip {string.Join(" ", strip.Digits)} " +
                                            $"(answer {answer}): the strip lit by the attention, one band per model.")
        {
            Heatmap = small,
            RowLabels = maps.Select(x => x.Name).ToArray(),
            ColumnLabels = Enumerable.Range(0, strip.Cells).Select(c => strip.DigitInCell(c) < 0 ? $"cell {c + 1} (blank)" : $"'{strip.DigitInCell(c)}'").ToArray(),
        });
        var co = maps.Where(x => x.Words.Length > 0).ToList();
        if (co.Count == 0) return;
        var words = new float[co.Count, q.Tokens.Length];
        for (int m = 0; m < co.Count; m++) for (int t = 0; t < q.Tokens.Length; t++) words[m, t] = co[m].Words[t];
        string wordsPath = context.FigurePath("q43-question-attention.png");
        Charts.Heatmap(wordsPath, words, $"Question attention a^q for \"{question}\"", co.Select(x => x.Name).ToArray(), q.Tokens, "word", "model");
        result.Figures.Add(new Figure(wordsPath, "Question attention of the two co-attention models on the same question: which words each one listens to.")
        {
            Heatmap = words, RowLabels = co.Select(x => x.Name).ToArray(), ColumnLabels = q.Tokens,
        });
    }
}
