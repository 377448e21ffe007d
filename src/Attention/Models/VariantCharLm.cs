using Attention.Autograd;
using Attention.Nn;
using Attention.Nn.Advances;
using Attention.Positions;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>The attention variants a <see cref="VariantCharLm"/> can be built with (answer 48).</summary>
public enum AttentionVariant
{
    /// <summary>Multi-head softmax attention (H key/value heads).</summary>
    Baseline,
    /// <summary>Multi-query attention: one key/value head (Shazeer, 2019).</summary>
    MultiQuery,
    /// <summary>Grouped-query attention: <see cref="VariantLmConfig.GroupedKvHeads"/> key/value heads (Ainslie et al., 2023).</summary>
    GroupedQuery,
    /// <summary>Multi-head latent attention (DeepSeek-V2).</summary>
    Latent,
    /// <summary>Attention-logit soft-cap (Gemma 2).</summary>
    SoftCap,
    /// <summary>RMS-normalised queries and keys.</summary>
    QkNorm,
    /// <summary>Differential attention (Ye et al., 2024), H/2 heads of twice the width.</summary>
    Differential,
    /// <summary>Sigmoid attention with bias −log n (Ramapuram et al., 2024).</summary>
    Sigmoid,
    /// <summary>A sigmoid output gate per head (Qiu et al., 2025).</summary>
    Gated,
    /// <summary>A learned sink logit per head.</summary>
    LearnedSinks,
}

/// <summary>The sizes of a <see cref="VariantCharLm"/>.</summary>
/// <param name="Vocab">Token ids.</param>
/// <param name="Dim">Model width E.</param>
/// <param name="Heads">Query heads H (E / H even, for RoPE).</param>
/// <param name="Layers">Blocks.</param>
/// <param name="GroupedKvHeads">G of <see cref="AttentionVariant.GroupedQuery"/> (divides H).</param>
/// <param name="LatentDim">d_c of <see cref="AttentionVariant.Latent"/> (0: E / 2).</param>
/// <param name="LatentRopeDim">d_R of <see cref="AttentionVariant.Latent"/> (0: half the head width, rounded to even).</param>
/// <param name="SoftCap">c of <see cref="AttentionVariant.SoftCap"/>.</param>
/// <param name="MatchParameters">Widen (or narrow) each block's MLP by the attention parameters the variant saves (or adds)
/// against the baseline, so every variant has the baseline's parameter count to within one MLP unit per layer
/// (Shazeer, 2019, widened the feed-forward layers of his multi-query model the same way).</param>
public sealed record VariantLmConfig(int Vocab, int Dim, int Heads, int Layers, int GroupedKvHeads = 2, int LatentDim = 0,
                                     int LatentRopeDim = 0, float SoftCap = 5f, bool MatchParameters = false)
{
    /// <summary>Head width E / H.</summary>
    public int HeadDim => Dim / Heads;
    /// <summary>d_c used.</summary>
    public int EffectiveLatentDim => LatentDim > 0 ? LatentDim : Dim / 2;
    /// <summary>d_R used.</summary>
    public int EffectiveLatentRopeDim => LatentRopeDim > 0 ? LatentRopeDim : Math.Max(2, HeadDim / 2 / 2 * 2);
}

/// <summary>
/// A character-level causal Transformer language model whose self-attention is one of the recent variants of
/// answer 48 (<see cref="AttentionVariant"/>), everything else fixed: token embedding → pre-LN blocks
/// (x + Attn(LN(x)), x + MLP(LN(x)), GELU MLP of width 4E, adjusted with <see cref="VariantLmConfig.MatchParameters"/>) → final norm → readout; RoPE (base 10⁴) in every variant,
/// on the decoupled part for MLA. ids (B, T) → logits (B, T, V). Trains like <see cref="CharLm"/>
/// (AdamW, warm-up and cosine, clipping at 1), optionally with the z-loss on its output logits.
/// Answer: docs/answers/48-recent-advances.md
/// </summary>
public sealed class VariantCharLm : Module
{
    private readonly Block[] _blocks;

    /// <summary>The sizes.</summary>
    public VariantLmConfig Config { get; }
    /// <summary>The attention variant.</summary>
    public AttentionVariant Variant { get; }
    /// <summary>Token embedding (V, E).</summary>
    public Embedding Tokens { get; }
    /// <summary>Final norm.</summary>
    public LayerNorm Final { get; }
    /// <summary>E → V.</summary>
    public Linear Head { get; }
    /// <summary>The attention layer of every block, in order.</summary>
    public IReadOnlyList<ISelfAttentionLayer> Attentions => _blocks.Select(b => b.Attention).ToArray();

    /// <summary>KV-cache numbers per token summed over the layers.</summary>
    public int KvCacheElementsPerToken => _blocks.Sum(b => b.Attention.KvCacheElementsPerToken);

    /// <summary>Builds the model; weights from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">Sizes that do not fit the variant (E / H odd, G not dividing H, H odd for differential).</exception>
    public VariantCharLm(VariantLmConfig config, AttentionVariant variant, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Vocab, nameof(config.Vocab));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Layers, nameof(config.Layers));
        if (!Enum.IsDefined(variant)) throw new ArgumentOutOfRangeException(nameof(variant), variant, "expected an AttentionVariant");
        if (config.Dim <= 0 || config.Heads <= 0 || config.Dim % config.Heads != 0 || config.HeadDim % 2 != 0)
            throw new ArgumentException($"expected a width divisible by the head count with an even head width, got E = {config.Dim}, H = {config.Heads}", nameof(config));
        if (variant == AttentionVariant.Differential && (config.Heads % 2 != 0 || config.HeadDim % 2 != 0))
            throw new ArgumentException($"differential attention uses H/2 heads of two maps of width E/H: expected an even H, got {config.Heads}", nameof(config));
        Config = config; Variant = variant;
        var rope = new RotaryPositions();
        Tokens = RegisterModule("tok", new Embedding(config.Vocab, config.Dim, rng));
        _blocks = new Block[config.Layers];
        long baselineAttention = config.MatchParameters ? new SoftmaxAttention(config.Dim, config.Heads, new Rng(0)).ParameterCount : 0;
        for (int i = 0; i < config.Layers; i++)
        {
            var attention = MakeAttention(config, variant, i, rng, rope);
            // an MLP unit costs 2E + 1 parameters (a row of fc1 with its bias, a column of fc2)
            int ff = 4 * config.Dim;
            if (config.MatchParameters) ff += (int)Math.Round((baselineAttention - attention.ParameterCount) / (2.0 * config.Dim + 1));
            _blocks[i] = RegisterModule($"block{i}", new Block(config.Dim, attention, Math.Max(1, ff), rng));
        }
        Final = RegisterModule("ln_f", new LayerNorm(config.Dim));
        Head = RegisterModule("head", new Linear(config.Dim, config.Vocab, rng));
    }

    private static Module MakeAttention(VariantLmConfig c, AttentionVariant variant, int layer, Rng rng, RotaryPositions rope) => variant switch
    {
        AttentionVariant.Baseline => new SoftmaxAttention(c.Dim, c.Heads, rng, rope: rope),
        AttentionVariant.MultiQuery => new SoftmaxAttention(c.Dim, c.Heads, rng, new SoftmaxAttentionOptions { KvHeads = 1 }, rope),
        AttentionVariant.GroupedQuery => new SoftmaxAttention(c.Dim, c.Heads, rng, new SoftmaxAttentionOptions { KvHeads = c.GroupedKvHeads }, rope),
        AttentionVariant.SoftCap => new SoftmaxAttention(c.Dim, c.Heads, rng, new SoftmaxAttentionOptions { SoftCap = c.SoftCap }, rope),
        AttentionVariant.QkNorm => new SoftmaxAttention(c.Dim, c.Heads, rng, new SoftmaxAttentionOptions { QkNorm = true }, rope),
        AttentionVariant.Gated => new SoftmaxAttention(c.Dim, c.Heads, rng, new SoftmaxAttentionOptions { OutputGate = true }, rope),
        AttentionVariant.LearnedSinks => new SoftmaxAttention(c.Dim, c.Heads, rng, new SoftmaxAttentionOptions { LearnedSinks = true }, rope),
        AttentionVariant.Latent => new LatentAttention(c.Dim, c.Heads, c.HeadDim, c.EffectiveLatentDim, c.EffectiveLatentRopeDim, rng, rope),
        AttentionVariant.Differential => new DifferentialAttention(c.Dim, c.Heads / 2, layer + 1, rng, rope),
        AttentionVariant.Sigmoid => new SigmoidAttention(c.Dim, c.Heads, rng, rope),
        _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "expected an AttentionVariant"),
    };

    /// <summary>Evaluation with an int8 KV cache (softmax variants only; see <see cref="SoftmaxAttention.QuantizeKvInt8"/>).</summary>
    /// <exception cref="InvalidOperationException">The variant's attention is not a <see cref="SoftmaxAttention"/>.</exception>
    public bool QuantizeKvInt8
    {
        get => _blocks.All(b => b.Attention is SoftmaxAttention { QuantizeKvInt8: true });
        set
        {
            foreach (var block in _blocks)
            {
                if (block.Attention is not SoftmaxAttention s)
                    throw new InvalidOperationException($"int8 KV evaluation is implemented for softmax attention layers; the {Variant} model has {block.Attention.GetType().Name}");
                s.QuantizeKvInt8 = value;
            }
        }
    }

    /// <summary>ids (B·T, row-major) → logits (B, T, V), causal.</summary>
    /// <exception cref="ArgumentException">The id count is not B·T or an id is out of range.</exception>
    public Var Forward(int[] ids, int batch, int time)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (batch <= 0 || time <= 0 || ids.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} token ids (B, T > 0), got {ids.Length}", nameof(ids));
        var x = Tokens.Forward(ids, batch, time);                                         // (B, T, E)
        foreach (var block in _blocks) x = block.Forward(x);
        return Head.Forward(Final.Forward(x));                                            // (B, T, V)
    }

    /// <summary>What the attention of block <paramref name="layer"/> reads for ids (B·T): the blocks before it run, then
    /// that block's first norm → (B, T, E). For probing a trained layer (maps, decode checks).</summary>
    /// <exception cref="ArgumentOutOfRangeException">No such layer.</exception>
    public Var AttentionInput(int[] ids, int batch, int time, int layer)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if ((uint)layer >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"expected a layer in [0, {_blocks.Length})");
        if (batch <= 0 || time <= 0 || ids.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} token ids (B, T > 0), got {ids.Length}", nameof(ids));
        var x = Tokens.Forward(ids, batch, time);
        for (int i = 0; i < layer; i++) x = _blocks[i].Forward(x);
        return _blocks[layer].Norm(x);
    }

    /// <summary>
    /// Trains with AdamW (weight decay 0.01), warm-up over 5% of the steps and cosine decay to a tenth, clipping at
    /// global norm 1, on random windows (<see cref="CharLm.SampleBatch"/>); the loss is the cross-entropy plus
    /// <paramref name="zLossWeight"/>·z-loss of the logits. Returns the cross-entropy of every step. Step-budgeted.
    /// </summary>
    public double[] Fit(int[] tokens, int context, int steps, int batch, float learningRate, Rng rng, float zLossWeight = 0f,
                        Action<int, double>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "expected a positive learning rate");
        if (!(zLossWeight >= 0) || !float.IsFinite(zLossWeight)) throw new ArgumentOutOfRangeException(nameof(zLossWeight), zLossWeight, "expected a finite z-loss weight ≥ 0");
        Train();
        var optimizer = new AdamW(Parameters(), learningRate, weightDecay: 0.01f);
        var schedule = new WarmupCosineSchedule(learningRate, Math.Max(1, steps / 20), steps, learningRate / 10);
        var losses = new double[steps];
        for (int step = 1; step <= steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var (x, y) = CharLm.SampleBatch(tokens, batch, context, rng);
            var logits = Forward(x, batch, context);
            var ce = Var.CrossEntropy(logits, y);
            var loss = zLossWeight > 0 ? ce + logits.ZLoss() * zLossWeight : ce;
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ByGlobalNorm(optimizer.Parameters, 1f);
            optimizer.LearningRate = schedule.At(step);
            optimizer.Step();
            losses[step - 1] = ce.Item();
            onStep?.Invoke(step, losses[step - 1]);
        }
        Eval();
        return losses;
    }

    /// <summary>Mean next-character NLL (nats) on up to <paramref name="maxWindows"/> evenly spaced non-overlapping windows of
    /// <paramref name="context"/> characters of <paramref name="tokens"/>, every position scored (as <see cref="CharLm.MeanNll"/>).</summary>
    /// <exception cref="ArgumentException">Too few tokens for one window.</exception>
    public double MeanNll(int[] tokens, int context, int maxWindows, int windowsPerBatch = 4) =>
        WindowedNll.Mean(this, tokens, context, maxWindows, windowsPerBatch, (x, y, nb) => Var.CrossEntropy(Forward(x, nb, context), y));

    /// <summary>exp(<see cref="MeanNll"/>).</summary>
    public double Perplexity(int[] tokens, int context, int maxWindows, int windowsPerBatch = 4) =>
        Math.Exp(MeanNll(tokens, context, maxWindows, windowsPerBatch));

    private sealed class Block : Module
    {
        public ISelfAttentionLayer Attention { get; }
        private readonly LayerNorm _ln1, _ln2;
        private readonly Linear _fc1, _fc2;

        public Block(int dim, Module attention, int ff, Rng rng)
        {
            Attention = (ISelfAttentionLayer)RegisterModule("attn", attention);
            _ln1 = RegisterModule("ln1", new LayerNorm(dim));
            _ln2 = RegisterModule("ln2", new LayerNorm(dim));
            _fc1 = RegisterModule("fc1", new Linear(dim, ff, rng));
            _fc2 = RegisterModule("fc2", new Linear(ff, dim, rng));
        }

        public Var Norm(Var x) => _ln1.Forward(x);

        public Var Forward(Var x)
        {
            x = x + Attention.Forward(_ln1.Forward(x), causal: true);
            return x + _fc2.Forward(_fc1.Forward(_ln2.Forward(x)).Gelu());
        }
    }
}
