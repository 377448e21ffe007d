using System.Collections.Concurrent;
using Attention.Models;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>A trained G2P Transformer with its test results (greedy decoding), on the split of <see cref="G2PModels"/>.</summary>
public sealed record TrainedTransformerG2P(TransformerConfig Config, TransformerTrainOptions Training, Transformer Model, TrainReport Report,
                                           double TestPer, double TestWer, IReadOnlyList<G2PExample> Test, IReadOnlyList<int[]> TestOutputs)
{
    /// <summary>A one-line description of the architecture.</summary>
    public string Label => $"Transformer {Config.EncoderLayers}+{Config.DecoderLayers} layers, d {Config.ModelDim}, {Config.Heads} heads, FFN {Config.FeedForwardDim}";
}

/// <summary>
/// The encoder–decoder Transformer on the CMU dictionary G2P split that the recurrent answers use (same words, same
/// 39 phonemes, same test split, greedy decoding). Training is step-budgeted (deterministic for a seed, whatever the
/// machine's load); trained once per process and cached like <see cref="G2PModels"/>.
/// </summary>
public static class TransformerG2P
{
    private static readonly ConcurrentDictionary<(bool, int), Lazy<TrainedTransformerG2P>> Cache = new();

    /// <summary>
    /// The model: quick d 64, 2+2 layers, FFN 256; full d 128, 3+3 layers, FFN 512 (1.4 M parameters); 4 heads, pre-LN, ReLU,
    /// tied output. The full width was chosen by measured CPU cost per step (d 128: ~0.19 CPU-s per 2k-token step, d 256 with
    /// 4k tokens: ~0.73), so that about seven epochs fit the 40-minute two-core budget.
    /// </summary>
    public static TransformerConfig Config(bool full)
    {
        var data = G2PData.Load();
        var config = new TransformerConfig(data.Letters.Count, data.Phonemes.Count) { MaxLength = 40, Dropout = 0.1f };
        return full
            ? config with { ModelDim = 128, Heads = 4, EncoderLayers = 3, DecoderLayers = 3, FeedForwardDim = 512 }
            : config with { ModelDim = 64, Heads = 4, EncoderLayers = 2, DecoderLayers = 2, FeedForwardDim = 256, Dropout = 0f };
    }

    /// <summary>
    /// The training budget: label smoothing 0.1, Adam (β₂ 0.98), linear warm-up then cosine decay. Quick: 300 steps of ~1k
    /// tokens. Full: 12,000 steps of ~2k padded tokens (~120 words), about 14 epochs of the 105k training words (6,000
    /// steps, 7 epochs, reached PER 8.6% / WER 33.6%, behind the recurrent model).
    /// </summary>
    public static TransformerTrainOptions Training(bool full) => full
        ? new TransformerTrainOptions { Steps = G2PModels.FullSteps(12000), TokensPerBatch = 2048, PeakLearningRate = 1.5e-3f, WarmupSteps = 500, LabelSmoothing = 0.1f }
        : new TransformerTrainOptions { Steps = 300, TokensPerBatch = 1024, PeakLearningRate = 3e-3f, WarmupSteps = 50, LabelSmoothing = 0.1f };

    /// <summary>The trained model for (setting, seed), trained on first use in this process and cached.</summary>
    public static TrainedTransformerG2P Get(bool full, int seed, Action<double, string>? progress = null) =>
        Cache.GetOrAdd((full, seed), _ => new Lazy<TrainedTransformerG2P>(() => TrainNow(full, seed, progress))).Value;

    private static TrainedTransformerG2P TrainNow(bool full, int seed, Action<double, string>? progress)
    {
        var data = G2PData.Load();
        var config = Config(full);
        var model = new Transformer(config, new Rng((ulong)seed * 7919 + 29));
        var training = Training(full) with
        {
            Seed = (ulong)seed,
            Progress = progress is null ? null : (f, s) => progress(0.9 * f, $"Transformer G2P: {s}"),
        };
        var report = TransformerTrainer.Train(model, data.Train.Select(e => (e.Source, e.Target)).ToList(), training);
        progress?.Invoke(0.92, "Transformer G2P: decoding the test words");
        // Quick runs decode the same even sample of test words as G2PModels' quick runs.
        int n = Math.Min(full ? int.MaxValue : 1000, data.Test.Count);
        var test = Enumerable.Range(0, n).Select(i => data.Test[(int)((long)i * data.Test.Count / n)]).ToList();
        var (per, wer, outputs) = Seq2SeqTrainer.Evaluate(model, test.Select(e => (e.Source, e.Target)).ToList());
        return new TrainedTransformerG2P(config, training with { Progress = null }, model, report, per, wer, test, outputs);
    }
}
