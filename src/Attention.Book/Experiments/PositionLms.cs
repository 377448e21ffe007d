using System.Collections.Concurrent;
using System.Diagnostics;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>The sizes of the KJV character models of answers 44 and 45.</summary>
/// <param name="Dim">Model width E.</param>
/// <param name="Heads">Heads per layer.</param>
/// <param name="Layers">Blocks.</param>
/// <param name="Context">Training window (characters).</param>
/// <param name="Steps">AdamW steps (a step budget, so results do not depend on the machine's load).</param>
/// <param name="Batch">Windows per step.</param>
/// <param name="LearningRate">Peak of the warm-up + cosine schedule.</param>
/// <param name="EvalTokens">Characters scored at each evaluation length (windows = EvalTokens / length).</param>
public sealed record PositionLmSettings(int Dim, int Heads, int Layers, int Context, int Steps, int Batch, float LearningRate, int EvalTokens)
{
    /// <summary>The evaluation lengths: the training context and 2×, 4×, 8× it.</summary>
    public int[] EvalLengths => [Context, 2 * Context, 4 * Context, 8 * Context];
}

/// <summary>One trained model.</summary>
public sealed record TrainedPositionLm(PositionKind Kind, CharLm Model, double[] Losses, double Seconds)
{
    /// <summary>The table label of the scheme.</summary>
    public string Label => PositionLms.Label(Kind);
}

/// <summary>
/// The KJV character-level language models of answers 44 and 45, one per position scheme, trained once per process
/// for a (scheme, quick/full, seed) key and cached, so a book run trains each model once for both pages.
/// Data: <see cref="Kjv"/> split by whole books (<see cref="Kjv.SplitByBook"/>); train on the train books, evaluate on
/// the test books; the character vocabulary is built from the whole text.
/// </summary>
public static class PositionLms
{
    private static readonly ConcurrentDictionary<(PositionKind, bool, int), Lazy<TrainedPositionLm>> Cache = new();
    private static readonly Lazy<Corpus> Data = new(LoadCorpus);

    /// <summary>The token streams.</summary>
    public sealed record Corpus(CharVocabulary Vocabulary, int[] Train, int[] Test, KjvSplit Split);

    /// <summary>The KJV split, vocabulary and encoded train/test text (read once per process).</summary>
    public static Corpus Text => Data.Value;

    private static Corpus LoadCorpus()
    {
        var kjv = Kjv.LoadRepoCopy();
        var split = Kjv.SplitByBook();
        var vocab = new CharVocabulary(kjv.Text());
        return new Corpus(vocab, vocab.Encode(kjv.Text(split.TrainBooks)), vocab.Encode(kjv.Text(split.TestBooks)), split);
    }

    /// <summary>Quick: a tiny model, seconds per scheme. Full: the published setting, step-budgeted.</summary>
    public static PositionLmSettings Settings(bool full) => full
        ? new PositionLmSettings(Dim: 48, Heads: 4, Layers: 2, Context: 128, Steps: G2PModels.FullSteps(600), Batch: 16, LearningRate: 3e-3f, EvalTokens: 16_384)
        : new PositionLmSettings(Dim: 32, Heads: 2, Layers: 2, Context: 128, Steps: 120, Batch: 8, LearningRate: 4e-3f, EvalTokens: 4096);

    /// <summary>The model sizes for <paramref name="full"/>.</summary>
    public static CharLmConfig Config(bool full)
    {
        var s = Settings(full);
        return new CharLmConfig(Text.Vocabulary.Size, s.Dim, s.Heads, s.Layers, MaxPositions: s.Context, ShawDistance: 16, T5Buckets: 32, T5MaxDistance: 128);
    }

    /// <summary>The scheme's name in tables.</summary>
    public static string Label(PositionKind kind) => kind switch
    {
        PositionKind.None => "NoPE",
        PositionKind.Sinusoidal => "sinusoidal",
        PositionKind.Learned => "learned absolute",
        PositionKind.Rotary => "RoPE",
        PositionKind.Alibi => "ALiBi",
        PositionKind.T5 => "T5 bias",
        PositionKind.Shaw => "Shaw relative",
        _ => kind.ToString(),
    };

    /// <summary>The model for <paramref name="kind"/>, trained on first use (same initial seed and batches for every scheme).</summary>
    public static TrainedPositionLm Get(PositionKind kind, bool full, int seed, ExperimentContext? context = null, double progressFrom = 0, double progressTo = 1) =>
        Cache.GetOrAdd((kind, full, seed), _ => new Lazy<TrainedPositionLm>(() => Train(kind, full, seed, context, progressFrom, progressTo))).Value;

    private static TrainedPositionLm Train(PositionKind kind, bool full, int seed, ExperimentContext? context, double from, double to)
    {
        var s = Settings(full);
        var model = new CharLm(Config(full), kind, new Rng((ulong)seed + 44));
        var clock = Stopwatch.StartNew();
        var losses = model.Fit(Text.Train, s.Context, s.Steps, s.Batch, s.LearningRate, new Rng((ulong)seed + 45),
            (step, loss) => { if (step % 10 == 0) context?.Report(from + (to - from) * step / s.Steps, $"{Label(kind)}: step {step}/{s.Steps}, loss {loss:0.00}"); },
            context?.Cancellation ?? default);
        return new TrainedPositionLm(kind, model, losses, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Held-out perplexity of <paramref name="model"/> at <paramref name="length"/>, on EvalTokens characters of the test books.</summary>
    public static double Perplexity(CharLm model, int length, PositionLmSettings s, int positionOffset = 0) =>
        model.Perplexity(Text.Test, length, Math.Max(1, s.EvalTokens / length), positionOffset, windowsPerBatch: Math.Max(1, 1024 / length));
}
