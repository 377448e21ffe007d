using Attention.Autograd;
using Attention.Nn;
using Attention.Positions;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>The position schemes a <see cref="CharLm"/> can be built with.</summary>
public enum PositionKind
{
    /// <summary>No positions (NoPE; the causal mask still orders tokens).</summary>
    None,
    /// <summary>Fixed sinusoids added to the embeddings.</summary>
    Sinusoidal,
    /// <summary>A learned vector per position up to <see cref="CharLmConfig.MaxPositions"/>.</summary>
    Learned,
    /// <summary>RoPE on q and k in every layer (one shared rotation).</summary>
    Rotary,
    /// <summary>ALiBi slopes in every layer.</summary>
    Alibi,
    /// <summary>One causal T5 bucketed bias table shared by all layers.</summary>
    T5,
    /// <summary>Shaw et al. key and value tables, one pair per layer.</summary>
    Shaw,
}

/// <summary>The sizes of a <see cref="CharLm"/>.</summary>
/// <param name="Vocab">Number of token ids.</param>
/// <param name="Dim">Model width E.</param>
/// <param name="Heads">Heads per layer.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="MaxPositions">Positions a learned table covers (other schemes ignore it).</param>
/// <param name="ShawDistance">Shaw's clipping distance k.</param>
/// <param name="T5Buckets">T5 bucket count.</param>
/// <param name="T5MaxDistance">T5 distance from which all share the last bucket.</param>
public sealed record CharLmConfig(int Vocab, int Dim, int Heads, int Layers, int MaxPositions = 1024,
                                  int ShawDistance = 16, int T5Buckets = 32, int T5MaxDistance = 128);

/// <summary>
/// A character-level causal Transformer language model (GPT-style, Radford et al., 2018) with a choice of
/// position scheme: token embedding → [absolute positions] → pre-LN <see cref="TransformerBlock"/>s whose
/// self-attention carries the scheme (RoPE, ALiBi, T5, Shaw) → final layer norm → linear readout.
/// ids (B, T) → logits (B, T, V); logits[b, t] scores token t + 1. Used by answers 44 and 45 on the KJV text.
/// <para>
/// <see cref="Perplexity"/> evaluates at any context length the scheme allows (a learned table stops at
/// MaxPositions), on non-overlapping windows as in Press et al. (2022, §2).
/// </para>
/// </summary>
public sealed class CharLm : Module
{
    private readonly TransformerBlock[] _blocks;

    /// <summary>The sizes.</summary>
    public CharLmConfig Config { get; }
    /// <summary>The scheme's kind.</summary>
    public PositionKind Kind { get; }
    /// <summary>The absolute scheme added to the embeddings (sinusoidal, learned), or null.</summary>
    public PositionScheme? InputPositions { get; }
    /// <summary>The scheme inside attention (shared RoPE/ALiBi/T5, or layer 0's Shaw tables), or null.</summary>
    public PositionScheme? AttentionPositions { get; }
    /// <summary>Token embedding (V, E).</summary>
    public Embedding Tokens { get; }
    /// <summary>The blocks.</summary>
    public IReadOnlyList<TransformerBlock> Blocks => _blocks;
    /// <summary>Final norm.</summary>
    public LayerNorm Final { get; }
    /// <summary>E → V.</summary>
    public Linear Head { get; }

    /// <summary>Builds the model; weights from <paramref name="rng"/>.</summary>
    public CharLm(CharLmConfig config, PositionKind kind, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Vocab, nameof(config.Vocab));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Layers, nameof(config.Layers));
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected a PositionKind");
        if (config.Dim <= 0 || config.Heads <= 0 || config.Dim % config.Heads != 0)
            throw new ArgumentException($"expected a width divisible by the head count, got E = {config.Dim}, H = {config.Heads}", nameof(config));
        Config = config; Kind = kind;
        int headDim = config.Dim / config.Heads;
        Tokens = RegisterModule("tok", new Embedding(config.Vocab, config.Dim, rng));
        InputPositions = kind switch
        {
            PositionKind.Sinusoidal => RegisterModule("pos", new SinusoidalPositions()),
            PositionKind.Learned => RegisterModule("pos", new LearnedPositions(config.MaxPositions, config.Dim, rng)),
            _ => null,
        };
        PositionScheme? shared = kind switch
        {
            PositionKind.Rotary => new RotaryPositions(),
            PositionKind.Alibi => new AlibiPositions(),
            PositionKind.T5 => new T5RelativeBias(config.Heads, bidirectional: false, config.T5Buckets, config.T5MaxDistance),
            _ => null,
        };
        _blocks = new TransformerBlock[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            var scheme = kind == PositionKind.Shaw ? new ShawRelativePositions(config.ShawDistance, headDim, rng) : shared;
            _blocks[i] = RegisterModule($"block{i}", new TransformerBlock(config.Dim, config.Heads, 4 * config.Dim, rng, positions: scheme));
            if (i == 0) AttentionPositions = scheme;
        }
        Final = RegisterModule("ln_f", new LayerNorm(config.Dim));
        Head = RegisterModule("head", new Linear(config.Dim, config.Vocab, rng));
    }

    /// <summary>The longest window the model can run on (MaxPositions for a learned table, otherwise unbounded).</summary>
    public int MaxContext => Kind == PositionKind.Learned ? Config.MaxPositions : int.MaxValue;

    /// <summary>ids (B·T, row-major) → logits (B, T, V), causal; positions start at <paramref name="positionOffset"/>.</summary>
    /// <exception cref="ArgumentException">The id count is not B·T, an id is out of range, or the positions exceed a learned table.</exception>
    public Var Forward(int[] ids, int batch, int time, int positionOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (batch <= 0 || time <= 0 || ids.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} token ids (B, T > 0), got {ids.Length}", nameof(ids));
        ArgumentOutOfRangeException.ThrowIfNegative(positionOffset);
        var x = Tokens.Forward(ids, batch, time);                                         // (B, T, E)
        if (InputPositions is not null) x = InputPositions.AddToInput(x, positionOffset);
        foreach (var block in _blocks) x = block.Forward(x, causal: true, positionOffset: positionOffset);
        return Head.Forward(Final.Forward(x));                                            // (B, T, V)
    }

    /// <summary>Mean next-token cross-entropy (nats) of windows <paramref name="inputs"/> (B·T) against <paramref name="targets"/> (B·T).</summary>
    public Var Loss(int[] inputs, int[] targets, int batch, int time, int positionOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} targets, got {targets.Length}", nameof(targets));
        return Var.CrossEntropy(Forward(inputs, batch, time, positionOffset), targets);
    }

    /// <summary>
    /// A training batch: <paramref name="batch"/> windows of <paramref name="context"/> + 1 tokens at random offsets of
    /// <paramref name="tokens"/>, split into inputs (first T) and targets (last T).
    /// </summary>
    public static (int[] Inputs, int[] Targets) SampleBatch(int[] tokens, int batch, int context, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        if (tokens.Length < context + 1)
            throw new ArgumentException($"expected at least {context + 1} tokens for windows of {context}, got {tokens.Length}", nameof(tokens));
        var x = new int[batch * context];
        var y = new int[batch * context];
        for (int b = 0; b < batch; b++)
        {
            int start = rng.NextInt(tokens.Length - context);
            Array.Copy(tokens, start, x, b * context, context);
            Array.Copy(tokens, start + 1, y, b * context, context);
        }
        return (x, y);
    }

    /// <summary>
    /// Trains with AdamW (weight decay 0.01), linear warm-up over 5% of the steps and cosine decay to a tenth,
    /// gradient clipping at global norm 1; returns the loss of every step. Step-budgeted, so the result does not
    /// depend on the machine's speed. <paramref name="onStep"/> (step, loss) may report progress.
    /// </summary>
    public double[] Fit(int[] tokens, int context, int steps, int batch, float learningRate, Rng rng, Action<int, double>? onStep = null,
                        CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "expected a positive learning rate");
        if (context > MaxContext) throw new ArgumentException($"a {Kind} model covers {MaxContext} positions; context {context} was asked for", nameof(context));
        Train();
        var optimizer = new AdamW(Parameters(), learningRate, weightDecay: 0.01f);
        var schedule = new WarmupCosineSchedule(learningRate, Math.Max(1, steps / 20), steps, learningRate / 10);
        var losses = new double[steps];
        for (int step = 1; step <= steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var (x, y) = SampleBatch(tokens, batch, context, rng);
            var loss = Loss(x, y, batch, context);
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ByGlobalNorm(optimizer.Parameters, 1f);
            optimizer.LearningRate = schedule.At(step);
            optimizer.Step();
            losses[step - 1] = loss.Item();
            onStep?.Invoke(step, losses[step - 1]);
        }
        Eval();
        return losses;
    }

    /// <summary>
    /// Perplexity exp(mean NLL per character) on <paramref name="tokens"/> cut into non-overlapping windows of
    /// <paramref name="context"/> (+1 for the targets), at most <paramref name="maxWindows"/> of them evenly spaced,
    /// every position of every window scored (so early positions with short history count too, as in Press et al.).
    /// <paramref name="positionOffset"/> starts every window's positions there (the shifted-input test).
    /// </summary>
    /// <exception cref="ArgumentException">Too few tokens for one window, or a context the scheme cannot run.</exception>
    public double Perplexity(int[] tokens, int context, int maxWindows, int positionOffset = 0, int windowsPerBatch = 4)
        => Math.Exp(MeanNll(tokens, context, maxWindows, positionOffset, windowsPerBatch));

    /// <summary>Mean negative log-likelihood (nats per character) behind <see cref="Perplexity"/>.</summary>
    public double MeanNll(int[] tokens, int context, int maxWindows, int positionOffset = 0, int windowsPerBatch = 4)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        if (positionOffset + context > MaxContext)
            throw new ArgumentException($"a {Kind} model covers positions 0 … {MaxContext - 1}; {positionOffset} … {positionOffset + context - 1} were asked for", nameof(context));
        return WindowedNll.Mean(this, tokens, context, maxWindows, windowsPerBatch, (x, y, nb) => Loss(x, y, nb, context, positionOffset));
    }
}
