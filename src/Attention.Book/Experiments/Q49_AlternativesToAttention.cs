using System.Diagnostics;
using Attention.Alternatives;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 49: what replaces attention, and what it costs. Every token mixer of <c>Attention.Alternatives</c> goes into the
/// same language-model shell (<see cref="MixerLm"/>: embedding → [LN → mixer → residual → LN → MLP → residual] × L → readout),
/// the MLP sized so every model has the attention model's parameter count, and is measured twice:
/// (1) multi-query associative recall (<see cref="MqarTask"/>, Arora et al., 2023): accuracy against the number of
/// key–value pairs and against the decoding state's size; (2) a character LM on the King James Bible at equal
/// parameters and steps: held-out perplexity, training tokens/s (ratio to attention in this run), and per-token decoding
/// time and state bytes as the context grows. FNet is not causal and is left out of both (it would see the answers).
/// Page: docs/answers/49-alternatives-to-attention.md
/// </summary>
public sealed class Q49_AlternativesToAttention : Experiment
{
    public override int Question => 49;
    public override string Title => "Alternatives to attention";

    /// <summary>The mixers compared, in table order (the causal ones).</summary>
    public static readonly MixerKind[] Kinds =
        [MixerKind.Attention, MixerKind.S4D, MixerKind.Mamba, MixerKind.Rwkv, MixerKind.RetNet, MixerKind.LinearAttention, MixerKind.Hyena, MixerKind.AftFull, MixerKind.AftSimple];

    /// <summary>The run's sizes.</summary>
    public sealed record Settings(
        int MqarLength, int MqarKeys, int[] MqarPairs, int[] MqarWidths, int MqarSteps, int MqarBatch, float MqarRate, int MqarEval,
        int LmDim, int LmContext, int LmSteps, int LmBatch, float LmRate, int LmEvalTokens, int[] DecodeContexts, int DecodeWindow,
        int Layers = 2, int Heads = 2, int StateDim = 16, int MqarShortConv = 3);

    /// <summary>Quick: seconds per model. Full: the published setting (step budgets, not time budgets).</summary>
    public static Settings For(bool full) => full
        ? new Settings(MqarLength: 32, MqarKeys: 32, MqarPairs: [2, 4, 8], MqarWidths: [16, 32], MqarSteps: 800, MqarBatch: 32, MqarRate: 3e-3f, MqarEval: 256,
                       LmDim: 48, LmContext: 128, LmSteps: 400, LmBatch: 16, LmRate: 3e-3f, LmEvalTokens: 16_384, DecodeContexts: [128, 1024, 4096, 8192], DecodeWindow: 32)
        : new Settings(MqarLength: 16, MqarKeys: 16, MqarPairs: [2, 4], MqarWidths: [32], MqarSteps: 250, MqarBatch: 16, MqarRate: 1e-2f, MqarEval: 64,
                       LmDim: 32, LmContext: 64, LmSteps: 30, LmBatch: 8, LmRate: 3e-3f, LmEvalTokens: 2048, DecodeContexts: [64, 256, 512], DecodeWindow: 16);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var s = For(context.Full);
        string loadBefore = LoadAverage();

        RunMqar(context, s, result, 0.0, 0.6);
        RunLm(context, s, result, 0.6, 1.0);

        result.Notes.Add($"Machine: {Measure.Machine()}; load average before the run {loadBefore}, after {LoadAverage()} (1, 5, 15 min). " +
                         "Timings are wall clock on one thread of a shared machine: compare the ratios within this run, not the absolute numbers.");
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        return result;
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    private static string Key(MixerKind kind) => kind switch
    {
        MixerKind.AftFull => "aft_full",
        MixerKind.AftSimple => "aft_simple",
        _ => kind.ToString().ToLowerInvariant(),
    };

    private static MixerLmConfig Budgeted(int vocab, int dim, int maxLength, Settings s, MixerKind kind, out long target, int shortConv = 0)
    {
        var options = new MixerOptions(s.Heads, s.StateDim, maxLength);
        var attention = new MixerLmConfig(vocab, dim, s.Layers, 4 * dim, options, shortConv);
        target = new MixerLm(attention, MixerKind.Attention, new Rng(0)).ParameterCount;
        return kind == MixerKind.Attention ? attention : MixerLm.WithBudget(attention, kind, target);
    }

    // ---------------- (1) MQAR ----------------

    private static void RunMqar(ExperimentContext context, Settings s, ExperimentResult result, double from, double to)
    {
        var task = new MqarTask(s.MqarKeys, s.MqarKeys, s.MqarLength);
        var table = new Table($"MQAR accuracy (T = {s.MqarLength}, {s.MqarKeys} keys, {s.MqarKeys} values; {s.Layers} layers, each a short convolution (width {s.MqarShortConv}) then the mixer; " +
                              $"{s.MqarSteps} steps of {s.MqarBatch} at learning rate {s.MqarRate:0.####} on a mix of pair counts; {s.MqarEval} fresh sequences per count; chance 1/{s.MqarKeys})",
            ["mixer", "width E", "parameters", "decoding state at T (floats)", .. s.MqarPairs.Select(p => $"P = {p}")]);
        var accuracy = new Dictionary<(MixerKind, int, int), double>();
        var stateAt = new Dictionary<(MixerKind, int), long>();
        int runs = Kinds.Length * s.MqarWidths.Length + 1, done = 0;

        // every model sees the same batches (same seed) and is scored on the same fresh sequences
        MixerLm Train(MixerKind kind, int width, int shortConv)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var config = Budgeted(task.Vocab, width, s.MqarLength, s, kind, out _, shortConv);
            var model = new MixerLm(config, kind, new Rng((ulong)context.Seed + 49));
            var rng = new Rng((ulong)context.Seed + 4900);
            model.Fit(step =>
            {
                var b = task.Sample(s.MqarBatch, s.MqarPairs[step % s.MqarPairs.Length], rng);
                return (b.Inputs, b.Targets);
            }, s.MqarBatch, s.MqarLength, s.MqarSteps, s.MqarRate, cancellation: context.Cancellation);
            return model;
        }
        double[] Score(MixerLm model) =>
            s.MqarPairs.Select(pairs => MqarAccuracy(model, task, pairs, s.MqarEval, new Rng((ulong)context.Seed + 4901 + (ulong)pairs))).ToArray();

        foreach (var kind in Kinds)
            foreach (int width in s.MqarWidths)
            {
                var model = Train(kind, width, s.MqarShortConv);
                long state = model.StateFloats(s.MqarLength);
                stateAt[(kind, width)] = state;
                var row = new List<object> { SequenceMixers.Label(kind), width, model.ParameterCount, state };
                var scores = Score(model);
                for (int i = 0; i < s.MqarPairs.Length; i++)
                {
                    accuracy[(kind, width, s.MqarPairs[i])] = scores[i];
                    result.Metrics[$"mqar_acc_{Key(kind)}_e{width}_p{s.MqarPairs[i]}"] = scores[i];
                    row.Add(scores[i]);
                }
                table.AddRow([.. row]);
                context.Report(from + (to - from) * ++done / runs, $"MQAR: {SequenceMixers.Label(kind)}, E = {width}");
            }

        // the control: the same attention model without the short convolution (position only from ALiBi)
        int widest = s.MqarWidths[^1];
        var control = Train(MixerKind.Attention, widest, 0);
        var controlScores = Score(control);
        table.AddRow([$"{SequenceMixers.Label(MixerKind.Attention)}, no short convolution", widest, control.ParameterCount, control.StateFloats(s.MqarLength), .. controlScores.Cast<object>()]);
        for (int i = 0; i < s.MqarPairs.Length; i++) result.Metrics[$"mqar_acc_attention_noconv_e{widest}_p{s.MqarPairs[i]}"] = controlScores[i];
        context.Report(to, "MQAR: attention without the short convolution");
        result.Tables.Add(table);

        // figure: accuracy at the largest P against the decoding state
        int hardest = s.MqarPairs[^1];
        var path = context.FigurePath("q49-mqar-state.png");
        var series = Kinds.Select(k => new Series(SequenceMixers.Label(k),
            s.MqarWidths.Select(w => (double)stateAt[(k, w)]).ToArray(),
            s.MqarWidths.Select(w => accuracy[(k, w, hardest)]).ToArray())).ToList();
        Charts.Lines(path, $"MQAR with {hardest} pairs: recall against state size", "decoding state at T (floats, all layers)", "accuracy", series, logX: true);
        result.Figures.Add(new Figure(path, $"Accuracy on {hardest} key–value pairs against the size of the state each model decodes with (one point per width)."));

        double attn = accuracy[(MixerKind.Attention, widest, hardest)];
        var fixedKinds = Kinds.Where(k => k != MixerKind.Attention && SequenceMixers.Create(k, 4, new Rng(0), new MixerOptions(2, 2, 8)).ConstantState).ToArray();
        var bestFixedKind = fixedKinds.MaxBy(k => accuracy[(k, widest, hardest)]);
        double bestFixed = accuracy[(bestFixedKind, widest, hardest)];
        result.Metrics["mqar_attention_hardest"] = attn;
        result.Metrics["mqar_best_fixed_state_hardest"] = bestFixed;
        double attnWorst = s.MqarPairs.Min(p => accuracy[(MixerKind.Attention, widest, p)]);
        result.Check($"softmax attention (with the short convolution) answers at least 90% of the queries at every pair count", attnWorst >= 0.9,
            string.Join(", ", s.MqarPairs.Select(p => $"P = {p}: {accuracy[(MixerKind.Attention, widest, p)]:0.###}")));
        result.Check($"at P = {hardest}, every fixed-state mixer answers fewer queries than attention", bestFixed < attn,
            $"best fixed-state: {SequenceMixers.Label(bestFixedKind)} {bestFixed:0.###} with {stateAt[(bestFixedKind, widest)]:N0} floats of state; attention {attn:0.###} with a {stateAt[(MixerKind.Attention, widest)]:N0}-float KV cache at T = {s.MqarLength}");
        result.Notes.Add($"MQAR (after Arora et al. 2023): keys and values are separate id ranges, pairs first, queries (each key again, shuffled, followed by its value) at the end, filler 0 between; " +
                         "only the positions of queried keys are scored (predict the value). As in Zoology's attention and linear-attention MQAR models, each of the 2 blocks runs a short causal convolution (width " +
                         $"{s.MqarShortConv}) before its mixer and there is no position embedding; the last row drops the convolution. Every model has the attention model's parameter count at its width (the MLP absorbs the difference); " +
                         "state = what decoding carries after T tokens, short convolutions included: attention's KV cache grows with T, Hyena keeps its input history, AFT-full every k and v.");
    }

    private static double MqarAccuracy(MixerLm model, MqarTask task, int pairs, int sequences, Rng rng)
    {
        using var _ = Var.NoGrad();
        int correct = 0, total = 0;
        for (int done = 0; done < sequences; done += 32)
        {
            int nb = Math.Min(32, sequences - done);
            var batch = task.Sample(nb, pairs, rng);
            var logits = model.Forward(batch.Inputs, nb, task.Length).Value.AsSpan();
            int v = task.Vocab;
            for (int i = 0; i < batch.Targets.Length; i++)
            {
                if (batch.Targets[i] < 0) continue;
                var row = logits.Slice(i * v, v);
                int best = 0;
                for (int j = 1; j < v; j++) if (row[j] > row[best]) best = j;
                correct += best == batch.Targets[i] ? 1 : 0;
                total++;
            }
        }
        return (double)correct / total;
    }

    // ---------------- (2) KJV character LM ----------------

    private static void RunLm(ExperimentContext context, Settings s, ExperimentResult result, double from, double to)
    {
        var corpus = PositionLms.Text;
        int vocab = corpus.Vocabulary.Size;
        var models = new Dictionary<MixerKind, MixerLm>();
        var seconds = new Dictionary<MixerKind, double>();
        var ppl = new Dictionary<MixerKind, double>();
        long target = 0;
        for (int i = 0; i < Kinds.Length; i++)
        {
            var kind = Kinds[i];
            context.Cancellation.ThrowIfCancellationRequested();
            var config = Budgeted(vocab, s.LmDim, s.LmContext, s, kind, out target);
            var model = new MixerLm(config, kind, new Rng((ulong)context.Seed + 44));
            var rng = new Rng((ulong)context.Seed + 45);   // the same batches for every mixer
            var clock = Stopwatch.StartNew();
            model.Fit(_ => CharLm.SampleBatch(corpus.Train, s.LmBatch, s.LmContext, rng), s.LmBatch, s.LmContext, s.LmSteps, s.LmRate,
                (step, loss) => { if (step % 10 == 0) context.Report(from + (to - from) * 0.7 * (i + (double)step / s.LmSteps) / Kinds.Length, $"KJV LM: {SequenceMixers.Label(kind)} step {step}/{s.LmSteps}, loss {loss:0.00}"); },
                context.Cancellation);
            seconds[kind] = clock.Elapsed.TotalSeconds;
            models[kind] = model;
            ppl[kind] = Math.Exp(model.MeanNll(corpus.Test, s.LmContext, Math.Max(1, s.LmEvalTokens / s.LmContext), windowsPerBatch: 8));
        }

        // unigram baseline on the same test characters
        var counts = new double[vocab];
        foreach (int t in corpus.Train) counts[t]++;
        double nll = 0;
        int scored = Math.Min(corpus.Test.Length - 1, s.LmEvalTokens);
        for (int i = 1; i <= scored; i++) nll -= Math.Log((counts[corpus.Test[i]] + 1) / (corpus.Train.Length + counts.Length));
        double unigram = Math.Exp(nll / scored);

        // decoding: per-token time and state bytes as the context grows
        context.Report(from + (to - from) * 0.72, "decoding");
        var decodeMs = new Dictionary<(MixerKind, int), double>();
        var decodeBytes = new Dictionary<(MixerKind, int), long>();
        var equivalence = new Dictionary<MixerKind, double>();
        int maxContext = s.DecodeContexts[^1];
        var stream = new int[maxContext + s.DecodeWindow];
        for (int i = 0; i < stream.Length; i++) stream[i] = corpus.Test[i % (corpus.Test.Length - 1)];
        var logits = new float[vocab];
        foreach (var kind in Kinds)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            var model = models[kind];
            equivalence[kind] = DecodeMismatch(model, corpus.Test, Math.Min(s.LmContext, 64));
            foreach (var m in model.Mixers) if (m is HyenaMixer h) h.PrepareDecoding(maxContext + s.DecodeWindow);
            var dec = model.NewDecoder();
            int limit = model.Mixers.Min(m => m.MaxLength);
            var times = new double[s.DecodeWindow];
            foreach (int c in s.DecodeContexts)
            {
                if (c + s.DecodeWindow > limit) break;
                while (dec.Position < c) model.DecodeStep(dec, stream[dec.Position], logits);
                decodeBytes[(kind, c)] = dec.StateBytes;
                for (int r = 0; r < s.DecodeWindow; r++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    model.DecodeStep(dec, stream[dec.Position], logits);
                    times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                Array.Sort(times);
                decodeMs[(kind, c)] = times[times.Length / 2];
            }
        }

        double attnTokensPerSecond = (double)s.LmSteps * s.LmBatch * s.LmContext / seconds[MixerKind.Attention];
        var table = new Table($"KJV character LM: {s.Layers} layers, width {s.LmDim}, context {s.LmContext}, {s.LmSteps} steps of {s.LmBatch} windows, every model about {target:N0} parameters",
            "mixer", "parameters", "MLP width", "held-out perplexity", "training tokens/s", "÷ attention", "decode ms/token at " + s.DecodeContexts[0], "at " + maxContext, "state at " + maxContext + " (KiB)");
        foreach (var kind in Kinds)
        {
            var model = models[kind];
            double tps = (double)s.LmSteps * s.LmBatch * s.LmContext / seconds[kind];
            string Ms(int c) => decodeMs.TryGetValue((kind, c), out var ms) ? Table.FormatNumber(ms) : $"— (max {model.Mixers.Min(m => m.MaxLength)})";
            string Kib(int c) => decodeBytes.TryGetValue((kind, c), out var b) ? Table.FormatNumber(b / 1024.0) : "—";
            table.AddRow(SequenceMixers.Label(kind), model.ParameterCount, model.Config.FfDim, ppl[kind], Math.Round(tps), tps / attnTokensPerSecond, Ms(s.DecodeContexts[0]), Ms(maxContext), Kib(maxContext));
            result.Metrics[$"ppl_{Key(kind)}"] = ppl[kind];
            result.Metrics[$"train_speed_ratio_{Key(kind)}"] = tps / attnTokensPerSecond;
            if (decodeMs.TryGetValue((kind, maxContext), out var last)) result.Metrics[$"decode_ms_{Key(kind)}_{maxContext}"] = last;
            if (decodeBytes.TryGetValue((kind, maxContext), out var bytes)) result.Metrics[$"state_bytes_{Key(kind)}_{maxContext}"] = bytes;
        }
        table.AddRow("character frequencies (unigram)", 0, "—", unigram, "—", "—", "—", "—", "—");
        result.Tables.Add(table);
        result.Metrics["ppl_unigram"] = unigram;

        var growth = new Table("Decoding one token after n tokens of context: median ms over " + s.DecodeWindow + " tokens / state held (KiB), batch 1, one thread",
            ["mixer", .. s.DecodeContexts.Select(c => $"n = {c}")]);
        foreach (var kind in Kinds)
            growth.AddRow([SequenceMixers.Label(kind), .. s.DecodeContexts.Select(c => decodeMs.TryGetValue((kind, c), out var ms)
                ? $"{Table.FormatNumber(ms)} / {Table.FormatNumber(decodeBytes[(kind, c)] / 1024.0)}" : "—")]);
        result.Tables.Add(growth);

        var path = context.FigurePath("q49-decode.png");
        var series = Kinds.Select(k => new Series(SequenceMixers.Label(k),
            s.DecodeContexts.Where(c => decodeMs.ContainsKey((k, c))).Select(c => (double)c).ToArray(),
            s.DecodeContexts.Where(c => decodeMs.ContainsKey((k, c))).Select(c => decodeMs[(k, c)]).ToArray())).Where(x => x.X.Length > 0).ToList();
        Charts.Lines(path, "Per-token decoding time as the context grows", "context n (tokens)", "ms per token (median)", series, logX: true, logY: true);
        result.Figures.Add(new Figure(path, "Decoding time per token against context length: attention and Hyena read their whole history, the recurrent mixers a fixed state."));

        // checks on measured quantities (none rests on timing unless marked)
        double worst = equivalence.Values.Max();
        result.Check("every trained model decodes token by token to the same logits as its parallel training form (max |Δ| < 1e-3)", worst < 1e-3,
            string.Join(", ", Kinds.Select(k => $"{SequenceMixers.Label(k)} {equivalence[k]:0.#e+0}")));
        var fixedKinds = Kinds.Where(k => models[k].Mixers.All(m => m.ConstantState)).ToArray();
        int c0 = s.DecodeContexts[0];
        result.Check($"the recurrent mixers' decoding state is the same size at n = {maxContext} as at n = {c0}",
            fixedKinds.All(k => decodeBytes[(k, maxContext)] == decodeBytes[(k, c0)]),
            string.Join(", ", fixedKinds.Select(k => $"{SequenceMixers.Label(k)} {decodeBytes[(k, c0)] / 1024.0:0.#} KiB")));
        double kvRatio = (double)decodeBytes[(MixerKind.Attention, maxContext)] / decodeBytes[(MixerKind.Attention, c0)];
        result.Check($"attention's KV cache grows in proportion to the context ({maxContext / c0}× the tokens, {kvRatio:0.##}× the bytes)",
            Math.Abs(kvRatio - (double)maxContext / c0) < 0.01 * maxContext / c0);
        double attnGrowth = decodeMs[(MixerKind.Attention, maxContext)] / decodeMs[(MixerKind.Attention, c0)];
        double retGrowth = decodeMs[(MixerKind.RetNet, maxContext)] / decodeMs[(MixerKind.RetNet, c0)];
        result.Check($"attention's per-token decoding time grows with the context more than RetNet's (n = {c0} → {maxContext})", attnGrowth > 1.5 * retGrowth,
            $"attention ×{attnGrowth:0.##}, RetNet ×{retGrowth:0.##}", timing: true);
        result.Notes.Add($"Training speed: wall time of the {s.LmSteps} steps of each model in this process, one after another (tokens/s = steps × batch × context ÷ seconds); " +
                         $"attention trains at {attnTokensPerSecond:N0} tokens/s here. Perplexity on {Math.Max(1, s.LmEvalTokens / s.LmContext) * s.LmContext:N0} characters of the test books in windows of {s.LmContext}. " +
                         $"Decoding feeds test text one character at a time (batch 1); AFT-full stops at its {s.LmContext}-position bias table. " +
                         "Hyena's filters are evaluated once for the longest context before timing.");
    }

    /// <summary>Largest |logit difference| between Forward on a window and DecodeStep over the same tokens.</summary>
    private static double DecodeMismatch(MixerLm model, int[] tokens, int length)
    {
        var ids = tokens.AsSpan(0, length).ToArray();
        float[] full;
        using (Var.NoGrad()) full = model.Forward(ids, 1, length).Value.ToArray();
        var dec = model.NewDecoder();
        int v = model.Config.Vocab;
        var logits = new float[v];
        double worst = 0;
        for (int t = 0; t < length; t++)
        {
            model.DecodeStep(dec, ids[t], logits);
            for (int j = 0; j < v; j++) worst = Math.Max(worst, Math.Abs(logits[j] - full[t * v + j]));
        }
        return worst;
    }
}
