using System.Diagnostics;
using Attention.Autograd;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q04 · Luong vs Bahdanau attention: one table of where they differ (query source, score function, attentional
/// state h̃, input feeding) with what each costs and scores on G2P (CMU dictionary) under one training budget, and
/// the time of one decoder step (forward + backward) measured side by side in this process.
/// Page: docs/answers/04-luong-vs-bahdanau.md
/// </summary>
public sealed class Q04_LuongVsBahdanau : Experiment
{
    public override int Question => 4;
    public override string Title => "Luong vs Bahdanau attention";

    private static readonly (string Key, string Query, string Score, string Output, string Feeding)[] Rows =
    [
        ("bahdanau-budget", "s_{t−1} (previous)", "additive vᵀtanh(W s + U h)", "deep output from [s_t; c_t; y_{t−1}]", "c_t enters the GRU input"),
        ("luong-dot", "h_t (current)", "dot hᵀh̄", "h̃ = tanh(W_c[c; h])", "yes (h̃_{t−1})"),
        ("luong-general", "h_t (current)", "general hᵀW h̄", "h̃ = tanh(W_c[c; h])", "yes (h̃_{t−1})"),
        ("luong-concat", "h_t (current)", "concat vᵀtanh(W[h; h̄])", "h̃ = tanh(W_c[c; h])", "yes (h̃_{t−1})"),
        ("luong-general-nofeed", "h_t (current)", "general hᵀW h̄", "h̃ = tanh(W_c[c; h])", "no"),
    ];

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        var result = new ExperimentResult { Question = Question };
        var rows = full ? Rows : Rows.Where(r => r.Key is "bahdanau-budget" or "luong-general" or "luong-dot").ToArray();
        var trained = new List<TrainedG2P>();
        for (int i = 0; i < rows.Length; i++)
        {
            int k = i;
            trained.Add(G2PModels.Get(rows[i].Key, full, context.Seed, (f, s) => context.Report(0.85 * (k + f) / rows.Length, s)));
        }
        var stepMs = DecoderStepTimes(trained.Select(t => t.Model).ToList(), full ? 30 : 8);
        var table = new Table($"Side by side on G2P ({trained[0].Test.Count} test words; each trained {trained[0].Variant.Training.Steps} steps × {trained[0].Variant.Training.BatchSize}, greedy decoding)",
            "model", "query", "score", "output layer", "input feeding", "parameters", "ms per training step", "decoder step fwd+bwd (ms, B=64)", "PER", "WER");
        for (int i = 0; i < rows.Length; i++)
        {
            var t = trained[i];
            table.AddRow(t.Variant.Label, rows[i].Query, rows[i].Score, rows[i].Output, rows[i].Feeding, t.Model.ParameterCount,
                1000 * t.SecondsPerStep, stepMs[i], Q03_Bahdanau.Pct(t.TestPer), Q03_Bahdanau.Pct(t.TestWer));
            string key = t.Variant.Key.Replace('-', '_');
            result.Metrics[$"per_{key}"] = t.TestPer;
            result.Metrics[$"wer_{key}"] = t.TestWer;
            result.Metrics[$"parameters_{key}"] = t.Model.ParameterCount;
            result.Metrics[$"decoder_step_ms_{key}"] = stepMs[i];
        }
        result.Tables.Add(table);
        var none = G2PModels.Get("none", full, context.Seed, (f, s) => context.Report(0.85 + 0.1 * f, s));
        result.Metrics["per_none"] = none.TestPer;
        result.Check("Every Bahdanau and Luong variant has a lower test PER than the same-size model without attention",
            trained.All(t => t.TestPer < none.TestPer), string.Join(", ", trained.Select(t => $"{t.Variant.Key} {Q03_Bahdanau.Pct(t.TestPer)}")) + $"; none {Q03_Bahdanau.Pct(none.TestPer)}");
        int dot = trained.FindIndex(t => t.Variant.Key == "luong-dot"), add = trained.FindIndex(t => t.Variant.Key is "bahdanau" or "bahdanau-budget");
        result.Check("A Luong dot-score decoder step is faster than a Bahdanau additive one (no tanh layer over S×A)",
            stepMs[dot] < stepMs[add], $"{stepMs[dot]:0.00} ms vs {stepMs[add]:0.00} ms", timing: true);
        result.Notes.Add("Step times are from one process on a shared 2-core machine: compare them within the table, not across runs.");
        context.Report(1, "done");
        return result;
    }

    /// <summary>Median time of one decoder step, forward and backward, on a fixed G2P batch of 64 (ms), models measured in turn.</summary>
    internal static double[] DecoderStepTimes(IReadOnlyList<Seq2SeqModel> models, int repeats)
    {
        var data = G2PData.Load();
        var batch = Seq2SeqBatch.Create(data.Dev.Where(e => e.Source.Length == 8).Take(64).Select(e => (e.Source, e.Target)).ToList());
        var samples = models.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < repeats; r++)
            for (int m = 0; m < models.Count; m++)
            {
                var model = models[m];
                // The encoder runs without a tape, so the backward below covers the one decoder step only.
                AttentionMemory memory; DecoderState state; Var prev;
                using (Var.NoGrad())
                {
                    (memory, state) = model.Begin(batch.Source);
                    prev = model.EmbedTargets(Enumerable.Repeat(Vocabulary.Bos, batch.Source.Batch).ToArray());
                }
                var sw = Stopwatch.StartNew();
                var (output, _, _) = model.Step(memory, prev, state);
                output.Sum().Backward();
                samples[m].Add(sw.Elapsed.TotalMilliseconds);
                model.ZeroGrad();
            }
        return samples.Select(s => Q14_WhyScale.Median(s.ToArray())).ToArray();
    }
}
