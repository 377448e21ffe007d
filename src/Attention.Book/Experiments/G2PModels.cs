using System.Collections.Concurrent;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>A G2P model setting: the architecture and its training budget.</summary>
public sealed record G2PVariant(string Key, string Label, Seq2SeqConfig Config, TrainOptions Training, int TestWords);

/// <summary>A trained G2P model with its test results (greedy decoding).</summary>
public sealed record TrainedG2P(G2PVariant Variant, Seq2SeqModel Model, TrainReport Report, double TestPer, double TestWer,
                                IReadOnlyList<G2PExample> Test, IReadOnlyList<int[]> TestOutputs)
{
    /// <summary>Seconds per training step.</summary>
    public double SecondsPerStep => Report.Steps == 0 ? 0 : Report.Seconds / Report.Steps;

    /// <summary>(PER, WER, words) over the test words whose letter count is in [min, max].</summary>
    public (double Per, double Wer, int Count) ByLength(int min, int max)
    {
        var refs = new List<IReadOnlyList<int>>(); var hyps = new List<IReadOnlyList<int>>();
        for (int i = 0; i < Test.Count; i++)
            if (Test[i].Source.Length >= min && Test[i].Source.Length <= max) { refs.Add(Test[i].Target); hyps.Add(TestOutputs[i]); }
        var (per, wer) = SequenceMetrics.ErrorRates(refs, hyps);
        return (per, wer, refs.Count);
    }
}

/// <summary>
/// The grapheme-to-phoneme models the recurrent answers (2, 3, 4, 10, 18, 30) share: each variant is trained once per
/// process for a (variant, quick/full, seed) key and cached, so the book trains the best model once for all pages.
/// Quick settings are small models trained for a few hundred steps (seconds); full settings are the published ones.
/// </summary>
public static class G2PModels
{
    private static readonly ConcurrentDictionary<(string, bool, int), Lazy<TrainedG2P>> Cache = new();

    /// <summary>
    /// Multiplies the step budget of every full-setting model (G2P and the synthetic sweeps); 1 for the published
    /// runs. A smoke trial of the full code paths sets it small (e.g. 0.02) before running the experiments.
    /// </summary>
    public static double FullStepScale { get; set; } = 1;

    /// <summary>A full-setting step count scaled by <see cref="FullStepScale"/> (at least 1).</summary>
    public static int FullSteps(int steps) => Math.Max(1, (int)Math.Round(steps * FullStepScale));

    /// <summary>Letter-count buckets for accuracy-by-length tables.</summary>
    public static readonly (int Min, int Max)[] LengthBuckets = [(1, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 40)];

    /// <summary>Words in letter-count bucket b, as a label.</summary>
    public static string BucketLabel((int Min, int Max) b) => b.Max >= 40 ? $"≥ {b.Min}" : b.Min == 1 ? $"≤ {b.Max}" : $"{b.Min}–{b.Max}";

    /// <summary>
    /// The decoder width: quick 96; full 256 for the best model and 160 for the others, whose step budget must fit in
    /// about 4 minutes each on two cores (the full book's total is budgeted at under an hour).
    /// </summary>
    public static int Hidden(bool full, bool best = false) => full ? (best ? 256 : 160) : 96;

    /// <summary>
    /// The variant for <paramref name="key"/>: "bahdanau" (the best model), "none" (no attention, decoder widened to the
    /// same parameter count), "bahdanau-uni" (unidirectional encoder), "none-uni", "none-wide" (no attention, twice
    /// the width), "bahdanau-budget" (Bahdanau at the other variants' width and step budget), "luong-dot", "luong-general", "luong-concat", "luong-general-nofeed", "local-m", "local-p".
    /// </summary>
    public static G2PVariant Variant(string key, bool full)
    {
        var data = G2PData.Load();
        bool best = key == "bahdanau";
        int h = Hidden(full, best);
        var baseConfig = new Seq2SeqConfig(data.Letters.Count, data.Phonemes.Count)
        {
            Embedding = full ? 64 : 32, EncoderHidden = h / 2, DecoderHidden = h, AttentionSize = h / 2, MaxSource = 40,
        };
        var training = new TrainOptions
        {
            Steps = full ? FullSteps(best ? 5000 : 500) : 200,
            BatchSize = full ? 128 : 64,
            LearningRate = full ? 2e-3f : 5e-3f,
            // Safety cap for a slow machine (the schedule then decays by time); the published runs finish by steps.
            TimeBudget = full ? TimeSpan.FromMinutes(best ? 22 : 4) : null,
        };
        Seq2SeqConfig config = key switch
        {
            "bahdanau" or "bahdanau-budget" => baseConfig with { Attention = AttentionKind.Bahdanau },
            "bahdanau-uni" => baseConfig with { Attention = AttentionKind.Bahdanau, Bidirectional = false, EncoderHidden = h },
            "none" => MatchParameters(baseConfig with { Attention = AttentionKind.None }, baseConfig with { Attention = AttentionKind.Bahdanau }),
            "none-uni" => MatchParameters(baseConfig with { Attention = AttentionKind.None, Bidirectional = false, EncoderHidden = h },
                                          baseConfig with { Attention = AttentionKind.Bahdanau }),
            "none-wide" => baseConfig with { Attention = AttentionKind.None, EncoderHidden = h, DecoderHidden = 2 * h },
            "luong-dot" => baseConfig with { Attention = AttentionKind.LuongDot },
            "luong-general" => baseConfig with { Attention = AttentionKind.LuongGeneral },
            "luong-concat" => baseConfig with { Attention = AttentionKind.LuongConcat },
            "luong-general-nofeed" => baseConfig with { Attention = AttentionKind.LuongGeneral, InputFeeding = false },
            "local-m" => baseConfig with { Attention = AttentionKind.LocalMonotonic, LocalHalfWidth = 3 },
            "local-p" => baseConfig with { Attention = AttentionKind.LocalPredictive, LocalHalfWidth = 3 },
            _ => throw new ArgumentException($"expected a known G2P variant key, got '{key}'", nameof(key)),
        };
        string label = key switch
        {
            "bahdanau" => full ? "Bahdanau (additive), bi-GRU encoder, best model" : "Bahdanau (additive), bi-GRU encoder",
            "bahdanau-budget" => "Bahdanau (additive), bi-GRU encoder",
            "bahdanau-uni" => "Bahdanau, unidirectional encoder",
            "none" => "no attention (same parameter count)",
            "none-uni" => "no attention, unidirectional encoder",
            "none-wide" => "no attention, 2× hidden size",
            "luong-dot" => "Luong global, dot",
            "luong-general" => "Luong global, general",
            "luong-concat" => "Luong global, concat",
            "luong-general-nofeed" => "Luong global, general, no input feeding",
            "local-m" => "Luong local-m (D = 3)",
            "local-p" => "Luong local-p (D = 3)",
            _ => key,
        };
        return new G2PVariant(key, label, config, training, full ? int.MaxValue : 1000);
    }

    /// <summary>
    /// The no-attention config whose parameter count is closest to <paramref name="target"/>'s: its decoder is widened
    /// (attention's W_a, U_a, v_a, and the wider context the attentive decoder reads, are paid for with decoder width).
    /// </summary>
    public static Seq2SeqConfig MatchParameters(Seq2SeqConfig baseline, Seq2SeqConfig target)
    {
        long want = new Seq2SeqModel(target, new Rng(1)).ParameterCount;
        Seq2SeqConfig bestConfig = baseline; long bestGap = long.MaxValue;
        for (int h = Math.Max(8, baseline.DecoderHidden - 64); h <= baseline.DecoderHidden * 3; h += 4)
        {
            var c = baseline with { DecoderHidden = h };
            long gap = Math.Abs(new Seq2SeqModel(c, new Rng(1)).ParameterCount - want);
            if (gap < bestGap) { bestGap = gap; bestConfig = c; }
        }
        return bestConfig;
    }

    /// <summary>The trained model for (variant, setting, seed), trained on first use in this process and cached.</summary>
    public static TrainedG2P Get(string key, bool full, int seed, Action<double, string>? progress = null)
    {
        // Quick runs give every variant the same steps, so the best model and its same-budget twin are one model.
        if (!full && key == "bahdanau-budget") key = "bahdanau";
        var lazy = Cache.GetOrAdd((key, full, seed), k => new Lazy<TrainedG2P>(() => TrainNow(Variant(key, full), seed, progress)));
        return lazy.Value;
    }

    /// <summary>True when the model is already trained in this process (pages then skip its training time).</summary>
    public static bool IsCached(string key, bool full, int seed) => Cache.TryGetValue((key, full, seed), out var l) && l.IsValueCreated;

    private static TrainedG2P TrainNow(G2PVariant variant, int seed, Action<double, string>? progress)
    {
        var data = G2PData.Load();
        var model = new Seq2SeqModel(variant.Config, new Rng((ulong)seed * 7919 + 17));
        var train = data.Train.Select(e => (e.Source, e.Target)).ToList();
        var report = Seq2SeqTrainer.Train(model, train, variant.Training with
        {
            Seed = (ulong)seed,
            Progress = progress is null ? null : (f, s) => progress(0.9 * f, $"{variant.Label}: {s}"),
        });
        progress?.Invoke(0.92, $"{variant.Label}: decoding the test words");
        // Quick runs decode an even sample of the test words (every k-th in dictionary order, so every initial letter is there).
        int n = Math.Min(variant.TestWords, data.Test.Count);
        var test = Enumerable.Range(0, n).Select(i => data.Test[(int)((long)i * data.Test.Count / n)]).ToList();
        var (per, wer, outputs) = Seq2SeqTrainer.Evaluate(model, test.Select(e => (e.Source, e.Target)).ToList());
        return new TrainedG2P(variant, model, report, per, wer, test, outputs);
    }
}
