using System.Diagnostics;
using Attention.Models;
using Attention.Plots;
using Attention.Positions;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 44: how position gets into attention. Character language models on the King James Bible, one per
/// position scheme (NoPE, sinusoidal, learned absolute, RoPE, ALiBi, T5 bias), same sizes, same initial seed, same
/// batches, trained at context 128; held-out perplexity (test books) at 128, 256, 512 and 1024 characters — the
/// length-extrapolation picture of Press et al. (2022, Fig. 1) — and the trained RoPE model evaluated with position
/// interpolation (Chen et al., 2023) and NTK-aware scaling at 2× and 4× its training length.
/// The models are shared with answer 45 (<see cref="PositionLms"/>).
/// Page: docs/answers/44-position-aware-attention.md
/// </summary>
public sealed class Q44_PositionAwareAttention : Experiment
{
    public override int Question => 44;
    public override string Title => "Position-aware attention";

    /// <summary>The schemes compared, in table order.</summary>
    public static readonly PositionKind[] Kinds =
        [PositionKind.None, PositionKind.Sinusoidal, PositionKind.Learned, PositionKind.Rotary, PositionKind.Alibi, PositionKind.T5];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var s = PositionLms.Settings(context.Full);
        var lengths = s.EvalLengths;
        var corpus = PositionLms.Text;

        var models = new List<TrainedPositionLm>();
        for (int i = 0; i < Kinds.Length; i++)
            models.Add(PositionLms.Get(Kinds[i], context.Full, context.Seed, context, 0.8 * i / Kinds.Length, 0.8 * (i + 1) / Kinds.Length));
        context.Report(0.82, "evaluating");

        // unigram baseline: character frequencies of the train books, scored on the test books
        var counts = new double[corpus.Vocabulary.Size];
        foreach (int t in corpus.Train) counts[t]++;
        double unigramNll = 0;
        int scored = Math.Min(corpus.Test.Length, s.EvalTokens);
        for (int i = 1; i <= scored; i++) unigramNll -= Math.Log((counts[corpus.Test[i]] + 1) / (corpus.Train.Length + counts.Length));
        double unigram = Math.Exp(unigramNll / scored);

        var ppl = new Dictionary<(PositionKind, int), double>();
        var table = new Table($"Held-out perplexity per character (test books, {s.EvalTokens:N0} characters per length), trained at context {s.Context}",
            ["scheme", "position parameters", .. lengths.Select(l => l == s.Context ? $"L = {l} (trained)" : $"L = {l}"), $"L = {lengths[^1]} ÷ L = {s.Context}"]);
        foreach (var m in models)
        {
            var row = new List<object> { m.Label, PositionParameters(m.Model) };
            foreach (int l in lengths)
            {
                if (l > m.Model.MaxContext) { row.Add("— (no position vector)"); continue; }
                double p = PositionLms.Perplexity(m.Model, l, s);
                ppl[(m.Kind, l)] = p;
                row.Add(p);
                result.Metrics[$"ppl_{Key(m.Kind)}_{l}"] = p;
            }
            row.Add(ppl.TryGetValue((m.Kind, lengths[^1]), out var last) ? last / ppl[(m.Kind, s.Context)] : "—");
            table.AddRow([.. row]);
        }
        table.AddRow("character frequencies (unigram)", 0, unigram, unigram, unigram, unigram, 1.0);
        result.Tables.Add(table);
        result.Metrics["ppl_unigram"] = unigram;

        // RoPE beyond its training length: plain extrapolation, position interpolation, NTK-aware base scaling (no fine-tuning)
        context.Report(0.9, "RoPE scaling");
        var rope = models.Single(m => m.Kind == PositionKind.Rotary).Model;
        var rotary = (RotaryPositions)rope.AttentionPositions!;
        var scaling = new Table($"The trained RoPE model at longer contexts, without fine-tuning (perplexity; L = {s.Context}: {ppl[(PositionKind.Rotary, s.Context)]:0.###})",
            "evaluation length", "plain RoPE (extrapolate)", "position interpolation (positions ÷ s)", "NTK-aware (base × α^(Dh/(Dh−2)))");
        foreach (int factor in new[] { 2, 4 })
        {
            int l = factor * s.Context;
            double plain = ppl[(PositionKind.Rotary, l)];
            rotary.InterpolationFactor = factor;
            double pi = PositionLms.Perplexity(rope, l, s);
            rotary.InterpolationFactor = 1;
            rotary.NtkAlpha = factor;
            double ntk = PositionLms.Perplexity(rope, l, s);
            rotary.NtkAlpha = 1;
            scaling.AddRow($"{l} ({factor}× trained; s = α = {factor})", plain, pi, ntk);
            result.Metrics[$"ppl_rope_pi{factor}x_{l}"] = pi;
            result.Metrics[$"ppl_rope_ntk{factor}x_{l}"] = ntk;
        }
        result.Tables.Add(scaling);

        // figure: perplexity against evaluation length
        var path = context.FigurePath("q44-extrapolation.png");
        var series = models.Select(m => new Series(m.Label,
            lengths.Where(l => ppl.ContainsKey((m.Kind, l))).Select(l => (double)l).ToArray(),
            lengths.Where(l => ppl.ContainsKey((m.Kind, l))).Select(l => ppl[(m.Kind, l)]).ToArray())).ToList();
        Charts.Lines(path, $"Trained at {s.Context}, evaluated longer (KJV, held-out books)", "evaluation length (characters)", "perplexity per character", series, logX: true, logY: true);
        result.Figures.Add(new Figure(path, "Perplexity against evaluation length, one line per position scheme; the learned table stops at its training length."));

        double P(PositionKind k, int l) => ppl[(k, l)];
        int c = s.Context, longest = lengths[^1];
        result.Check($"at the training length every model beats character frequencies (perplexity below ¾ of the unigram {unigram:0.#})",
            Kinds.All(k => P(k, c) < 0.75 * unigram), string.Join(", ", Kinds.Select(k => $"{PositionLms.Label(k)} {P(k, c):0.##}")));
        result.Check($"a learned position table cannot run past its {c} positions at all",
            models.Single(m => m.Kind == PositionKind.Learned).Model.MaxContext == c);
        result.Check($"ALiBi extrapolates: its perplexity at {longest} stays within 5% of (or below) its perplexity at {c}",
            P(PositionKind.Alibi, longest) <= 1.05 * P(PositionKind.Alibi, c), $"{P(PositionKind.Alibi, longest):0.###} vs {P(PositionKind.Alibi, c):0.###}");
        result.Check($"sinusoidal positions do not extrapolate: perplexity at {longest} is worse than at {c}",
            P(PositionKind.Sinusoidal, longest) > P(PositionKind.Sinusoidal, c), $"{P(PositionKind.Sinusoidal, longest):0.###} vs {P(PositionKind.Sinusoidal, c):0.###}");
        result.Check($"RoPE degrades more than ALiBi beyond the training length (ratio L = {longest} ÷ L = {c})",
            P(PositionKind.Rotary, longest) / P(PositionKind.Rotary, c) > P(PositionKind.Alibi, longest) / P(PositionKind.Alibi, c),
            $"{P(PositionKind.Rotary, longest) / P(PositionKind.Rotary, c):0.###} vs {P(PositionKind.Alibi, longest) / P(PositionKind.Alibi, c):0.###}");

        var model0 = models[0].Model;
        result.Notes.Add($"Models: {s.Layers} pre-LN blocks, width {s.Dim}, {s.Heads} heads of {s.Dim / s.Heads}, {model0.ParameterCount:N0} parameters without positions; " +
                         $"{s.Steps} AdamW steps of {s.Batch} random windows of {s.Context} characters, warm-up + cosine to {s.LearningRate}, the same seed and batches for every scheme. " +
                         $"Train: {corpus.Split.TrainBooks.Count} books ({corpus.Train.Length:N0} characters); test: {corpus.Split.TestBooks.Count} books ({string.Join(", ", corpus.Split.TestBooks.Select(b => Attention.Data.Kjv.BookNames[b]))}).");
        result.Notes.Add("Perplexity: exp of the mean next-character loss over non-overlapping windows of the evaluation length, every position scored (early positions of each window have short histories, as in Press et al.'s evaluation).");
        result.Notes.Add($"Training: {string.Join(", ", models.Select(m => $"{m.Label} {m.Seconds:0.0} s"))}; run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>The metric key of a scheme.</summary>
    public static string Key(PositionKind kind) => kind switch
    {
        PositionKind.None => "nope", PositionKind.Sinusoidal => "sinusoidal", PositionKind.Learned => "learned",
        PositionKind.Rotary => "rope", PositionKind.Alibi => "alibi", PositionKind.T5 => "t5", PositionKind.Shaw => "shaw",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Scalar parameters that belong to the position scheme (a shared table counted once).</summary>
    public static long PositionParameters(CharLm model) =>
        model.NamedParameters().Where(p => p.Name.Contains(".pos.") || p.Name.StartsWith("pos.", StringComparison.Ordinal)).Sum(p => (long)p.Parameter.Length);
}
