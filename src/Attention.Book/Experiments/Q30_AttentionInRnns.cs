using System.Diagnostics;
using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q30 · Implementing attention in recurrent models. Uses the shared Bahdanau G2P model to measure what the
/// implementation choices do: padding with masks (the padded batch gives the same outputs as each word alone),
/// teacher forcing vs free-running decoding (training-time token accuracy vs test PER), greedy vs beam search (PER per
/// beam width), and the cost of one decoder step split into its parts.
/// Page: docs/answers/30-attention-in-rnns.md
/// </summary>
public sealed class Q30_AttentionInRnns : Experiment
{
    public override int Question => 30;
    public override string Title => "Implementing attention in recurrent models";

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        var result = new ExperimentResult { Question = Question };
        var data = G2PData.Load();
        var trained = G2PModels.Get("bahdanau", full, context.Seed, (f, s) => context.Report(0.5 * f, s));
        var model = trained.Model;

        // 1. Padding: a batch of words of different lengths vs each word alone.
        var words = data.Dev.Where((e, i) => i % 97 == 0).Take(16).ToList();
        double maxDiff = 0;
        using (Var.NoGrad())
        {
            var padded = Seq2SeqBatch.Create(words.Select(e => (e.Source, e.Target)).ToList());
            var together = model.Forward(padded.Source, padded.DecoderInput).Logits.Value;
            int tMax = padded.DecoderInput.Time, v = together.Dim(2);
            for (int b = 0; b < words.Count; b++)
            {
                var alone = Seq2SeqBatch.Create([(words[b].Source, words[b].Target)]);
                var single = model.Forward(alone.Source, alone.DecoderInput).Logits.Value.AsSpan();
                var all = together.AsSpan();
                for (int t = 0; t < alone.DecoderInput.Time; t++)
                    for (int k = 0; k < v; k++) maxDiff = Math.Max(maxDiff, Math.Abs(single[t * v + k] - all[(b * tMax + t) * v + k]));
            }
        }
        result.Metrics["padding_max_logit_difference"] = maxDiff;
        result.Check("Masking makes a padded batch give each word the logits it gets alone (max difference < 1e-4)", maxDiff < 1e-4, $"{maxDiff:0.0e0} over {words.Count} words");

        // 2. Teacher forcing vs free running, and 3. beam widths, on the same test words.
        int beamWords = full ? 1000 : 150;
        var test = Enumerable.Range(0, beamWords).Select(i => trained.Test[i * trained.Test.Count / beamWords]).ToList();
        double forcedTokenAccuracy = TeacherForcedAccuracy(model, test);
        var greedy = Decoding.Greedy(model, test.Select(e => e.Source).ToList(), 40);
        var refs = test.Select(e => (IReadOnlyList<int>)e.Target).ToList();
        var (gPer, gWer) = SequenceMetrics.ErrorRates(refs, greedy.Select(h => (IReadOnlyList<int>)h.Tokens).ToList());
        result.Metrics["teacher_forced_token_accuracy"] = forcedTokenAccuracy;
        var beams = new Table($"Decoding {beamWords} test words with the Bahdanau G2P model", "decoding", "PER", "WER", "mean log p(output)", "ms per word");
        var perByWidth = new Dictionary<int, double>();
        var logpByWidth = new Dictionary<int, double>();
        int[] widths = [1, 2, 4, 8];
        foreach (var e in test.Take(5)) Decoding.Beam(model, e.Source, 2, 40);           // warm-up: the first width's time should not include JIT
        for (int wi = 0; wi < widths.Length; wi++)
        {
            int w = widths[wi];
            context.Report(0.55 + 0.4 * wi / widths.Length, $"beam width {w}");
            var sw = Stopwatch.StartNew();
            var hyps = test.Select(e => Decoding.Beam(model, e.Source, w, 40)).ToList();
            double ms = sw.Elapsed.TotalMilliseconds / test.Count;
            var (per, wer) = SequenceMetrics.ErrorRates(refs, hyps.Select(h => (IReadOnlyList<int>)h.Tokens).ToList());
            perByWidth[w] = per; logpByWidth[w] = hyps.Average(h => h.LogProb);
            beams.AddRow(w == 1 ? "beam 1 (= greedy)" : $"beam {w}", Q03_Bahdanau.Pct(per), Q03_Bahdanau.Pct(wer), logpByWidth[w], ms);
            result.Metrics[$"per_beam_{w}"] = per;
            result.Metrics[$"wer_beam_{w}"] = wer;
        }
        beams.AddRow("greedy, batched", Q03_Bahdanau.Pct(gPer), Q03_Bahdanau.Pct(gWer), greedy.Average(h => h.LogProb), "(one batch)");
        result.Tables.Add(beams);
        result.Metrics["per_greedy"] = gPer;
        result.Check("Beam width 1 gives exactly the greedy outputs' PER", Math.Abs(perByWidth[1] - gPer) < 1e-12, $"{Q03_Bahdanau.Pct(perByWidth[1])} vs {Q03_Bahdanau.Pct(gPer)}");
        result.Check("Wider beams find outputs the model scores at least as high on average (mean log p, width 8 vs 1)",
            logpByWidth[8] >= logpByWidth[1] - 1e-6, $"{logpByWidth[8]:0.000} vs {logpByWidth[1]:0.000}");
        var forced = new Table("Teacher forcing vs free running on the same words", "mode", "what the decoder reads at step t", "token accuracy / PER");
        forced.AddRow("teacher forcing (training)", "the reference phoneme y_{t−1}", $"{Q03_Bahdanau.Pct(forcedTokenAccuracy)} of next phonemes right");
        forced.AddRow("free running (greedy test)", "its own previous output ŷ_{t−1}", $"PER {Q03_Bahdanau.Pct(gPer)}");
        result.Tables.Add(forced);

        // 4. Cost of one decoder step, split into its parts (B = 64, forward only).
        var cost = StepCost(model, data, full ? 50 : 10);
        var costTable = new Table("Cost of one Bahdanau decoder step, forward only, batch 64 (median ms; one process, shared machine)", "part", "ms", "runs");
        foreach (var (part, ms, runs) in cost) costTable.AddRow(part, ms, runs);
        result.Tables.Add(costTable);
        foreach (var (part, ms, _) in cost) result.Metrics[$"cost_ms_{part.Split(' ')[0].ToLowerInvariant()}"] = ms;
        result.Check("Precomputing U_a·h_j once per source costs less than the per-step attention it serves (per word of 8 letters, 8 steps)",
            cost[0].Ms < 8 * cost[1].Ms, $"{cost[0].Ms:0.000} ms once vs {cost[1].Ms:0.000} ms per step", timing: true);
        context.Report(1, "done");
        return result;
    }

    private static double TeacherForcedAccuracy(Seq2SeqModel model, IReadOnlyList<G2PExample> test)
    {
        int right = 0, total = 0;
        using var _ = Var.NoGrad();
        foreach (var chunk in test.Chunk(128))
        {
            var batch = Seq2SeqBatch.Create(chunk.Select(e => (e.Source, e.Target)).ToList());
            var logits = model.Forward(batch.Source, batch.DecoderInput).Logits.Value.AsSpan();
            int v = model.Config.TargetVocabulary;
            for (int r = 0; r < batch.Targets.Length; r++)
            {
                if (batch.Targets[r] == Seq2SeqBatch.Ignore) continue;
                var row = logits.Slice(r * v, v);
                int best = 0;
                for (int k = 1; k < v; k++) if (row[k] > row[best]) best = k;
                total++;
                if (best == batch.Targets[r]) right++;
            }
        }
        return total == 0 ? 0 : (double)right / total;
    }

    /// <summary>Median forward time of: Prepare (encoder states → U_a h_j), one attention step, one GRU step, the output layer.</summary>
    private static List<(string Part, double Ms, int Runs)> StepCost(Seq2SeqModel model, G2PData data, int repeats)
    {
        using var _ = Var.NoGrad();
        var batch = Seq2SeqBatch.Create(data.Dev.Where(e => e.Source.Length == 8).Take(64).Select(e => (e.Source, e.Target)).ToList());
        var (states, _) = model.Encoder.Forward(batch.Source.Ids, batch.Source.Lengths, batch.Source.Batch, batch.Source.Time);
        var (memory, state) = model.Begin(batch.Source);
        var prev = model.EmbedTargets(Enumerable.Repeat(Vocabulary.Bos, 64).ToArray());
        double Time(Action a)
        {
            var samples = new double[repeats];
            for (int r = 0; r < repeats; r++) { var sw = Stopwatch.StartNew(); a(); samples[r] = sw.Elapsed.TotalMilliseconds; }
            return Q14_WhyScale.Median(samples);
        }
        double prepare = Time(() => model.Attention.Prepare(states, batch.Source.Lengths));
        double attend = Time(() => model.Attention.Step(memory, state.Hidden, state.Attention));
        double whole = Time(() => model.Step(memory, prev, state));
        double output = Time(() => model.Project(state.Hidden));
        double encoder = Time(() => model.Encoder.Forward(batch.Source.Ids, batch.Source.Lengths, batch.Source.Batch, batch.Source.Time));
        return
        [
            ("Prepare (U_a·h_j, once per source)", prepare, repeats),
            ("Attention step (scores, softmax, context)", attend, repeats),
            ("Whole decoder step (attention + GRU + deep output)", whole, repeats),
            ("Output projection W_s (to 43 phoneme logits)", output, repeats),
            ("Encoder (bi-GRU over 8 letters, once per source)", encoder, repeats),
        ];
    }
}
