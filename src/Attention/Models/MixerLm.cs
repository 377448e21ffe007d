using Attention.Alternatives;
using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>The sizes of a <see cref="MixerLm"/>.</summary>
/// <param name="Vocab">Token ids V.</param>
/// <param name="Dim">Width E.</param>
/// <param name="Layers">Blocks.</param>
/// <param name="FfDim">Hidden width of each block's MLP.</param>
/// <param name="Mixer">Heads, states per channel and the longest sequence, passed to the mixer.</param>
/// <param name="ShortConv">Taps of a <see cref="ShortConvolution"/> in front of each block's mixer (0 = none), as Zoology's
/// MQAR models have (kernel 3): the mixer then sees each token together with the few before it.</param>
public sealed record MixerLmConfig(int Vocab, int Dim, int Layers, int FfDim, MixerOptions Mixer, int ShortConv = 0);

/// <summary>
/// One language-model shell for every token mixer, so a comparison changes the mixer and nothing else:
/// <code>
///   ids (B, T) → embedding (B, T, E) → Layers × [ x += mixer(LN(x));  x += W₂·GELU(W₁·LN(x)) ] → LN → readout (B, T, V)
///   with ShortConv = K > 0:  a = LN(x);  x += mixer(a + conv_K(a))        (conv_K: <see cref="ShortConvolution"/>)
/// </code>
/// The mixer is any causal <see cref="SequenceMixer"/> (softmax attention makes it a pre-LN GPT). No position
/// embedding: attention gets ALiBi inside its mixer, the recurrent and convolutional mixers know order by construction.
/// <see cref="WithBudget"/> sizes the MLP so that every mixer's model has (about) the same parameter count.
/// <see cref="NewDecoder"/> / <see cref="DecodeStep"/> generate token by token with the mixers' recurrent forms.
/// </summary>
public sealed class MixerLm : Module
{
    private readonly SequenceMixer[] _mixers;
    private readonly ShortConvolution?[] _convs;
    private readonly LayerNorm[] _ln1, _ln2;
    private readonly Linear[] _fc1, _fc2;

    public MixerLmConfig Config { get; }
    public MixerKind Kind { get; }
    public Embedding Tokens { get; }
    public IReadOnlyList<SequenceMixer> Mixers => _mixers;
    /// <summary>Each block's short convolution in front of its mixer, or null where <see cref="MixerLmConfig.ShortConv"/> is 0.</summary>
    public IReadOnlyList<ShortConvolution?> ShortConvolutions => _convs;
    public LayerNorm Final { get; }
    public Linear Head { get; }

    /// <summary>Builds the model; weights from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A non-causal mixer (FNet), or a non-positive size.</exception>
    public MixerLm(MixerLmConfig config, MixerKind kind, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Vocab, nameof(config.Vocab));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Dim, nameof(config.Dim));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Layers, nameof(config.Layers));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.FfDim, nameof(config.FfDim));
        ArgumentOutOfRangeException.ThrowIfNegative(config.ShortConv, nameof(config.ShortConv));
        Config = config; Kind = kind;
        Tokens = RegisterModule("tok", new Embedding(config.Vocab, config.Dim, rng));
        int l = config.Layers;
        _mixers = new SequenceMixer[l]; _convs = new ShortConvolution?[l]; _ln1 = new LayerNorm[l]; _ln2 = new LayerNorm[l]; _fc1 = new Linear[l]; _fc2 = new Linear[l];
        for (int i = 0; i < l; i++)
        {
            _ln1[i] = RegisterModule($"ln1_{i}", new LayerNorm(config.Dim));
            if (config.ShortConv > 0) _convs[i] = RegisterModule($"conv{i}", new ShortConvolution(config.Dim, config.ShortConv, rng));
            _mixers[i] = RegisterModule($"mixer{i}", SequenceMixers.Create(kind, config.Dim, rng, config.Mixer));
            if (!_mixers[i].IsCausal)
                throw new ArgumentException($"a language model needs a causal mixer; {_mixers[i].Name} mixes in future tokens", nameof(kind));
            _ln2[i] = RegisterModule($"ln2_{i}", new LayerNorm(config.Dim));
            _fc1[i] = RegisterModule($"fc1_{i}", new Linear(config.Dim, config.FfDim, rng));
            _fc2[i] = RegisterModule($"fc2_{i}", new Linear(config.FfDim, config.Dim, rng));
        }
        Final = RegisterModule("ln_f", new LayerNorm(config.Dim));
        Head = RegisterModule("head", new Linear(config.Dim, config.Vocab, rng));
    }

    /// <summary>Parameters of everything but the MLPs, per <see cref="MixerLmConfig"/> with FfDim ignored.</summary>
    public static long ParametersWithoutMlp(MixerLmConfig config, MixerKind kind)
    {
        var probe = new MixerLm(config with { FfDim = 1 }, kind, new Rng(0));
        return probe.ParameterCount - config.Layers * (2L * config.Dim + 1 + config.Dim);
    }

    /// <summary>
    /// The config whose MLP width makes the model's parameter count as close as possible to <paramref name="targetParameters"/>
    /// (at least 1 hidden unit): each hidden unit costs 2E + 1 parameters per layer.
    /// </summary>
    public static MixerLmConfig WithBudget(MixerLmConfig config, MixerKind kind, long targetParameters)
    {
        ArgumentNullException.ThrowIfNull(config);
        long rest = ParametersWithoutMlp(config, kind) + config.Layers * (long)config.Dim;   // fc2 biases
        long perUnit = config.Layers * (2L * config.Dim + 1);
        int ff = (int)Math.Max(1, Math.Round((double)(targetParameters - rest) / perUnit));
        return config with { FfDim = ff };
    }

    /// <summary>ids (B·T, row-major) → logits (B, T, V), causal.</summary>
    /// <exception cref="ArgumentException">The id count is not B·T or an id is out of range.</exception>
    public Var Forward(int[] ids, int batch, int time)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (batch <= 0 || time <= 0 || ids.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} token ids (B, T > 0), got {ids.Length}", nameof(ids));
        var x = Tokens.Forward(ids, batch, time);
        for (int i = 0; i < _mixers.Length; i++)
        {
            var a = _ln1[i].Forward(x);
            if (_convs[i] is { } conv) a = a + conv.Forward(a);
            x = x + _mixers[i].Forward(a);
            x = x + _fc2[i].Forward(_fc1[i].Forward(_ln2[i].Forward(x)).Gelu());
        }
        return Head.Forward(Final.Forward(x));
    }

    /// <summary>Mean cross-entropy (nats) of the logits against <paramref name="targets"/> (B·T; −100 = not scored).</summary>
    public Var Loss(int[] inputs, int[] targets, int batch, int time)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Length != batch * time)
            throw new ArgumentException($"expected {batch}×{time} targets, got {targets.Length}", nameof(targets));
        return Var.CrossEntropy(Forward(inputs, batch, time), targets);
    }

    /// <summary>
    /// Trains with AdamW (weight decay 0.01; none on the mixers' decay rates is not special-cased), warm-up over 5% of
    /// the steps and cosine decay to a tenth, clipping at global norm 1. <paramref name="nextBatch"/> (step) returns
    /// (inputs, targets) of <paramref name="batch"/> × <paramref name="time"/>. Step-budgeted; returns every step's loss.
    /// </summary>
    public double[] Fit(Func<int, (int[] Inputs, int[] Targets)> nextBatch, int batch, int time, int steps, float learningRate,
                        Action<int, double>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(nextBatch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!(learningRate > 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "expected a positive learning rate");
        Train();
        var optimizer = new AdamW(Parameters(), learningRate, weightDecay: 0.01f);
        var schedule = new WarmupCosineSchedule(learningRate, Math.Max(1, steps / 20), steps, learningRate / 10);
        var losses = new double[steps];
        for (int step = 1; step <= steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var (x, y) = nextBatch(step);
            var loss = Loss(x, y, batch, time);
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ByGlobalNorm(optimizer.Parameters, 1f);
            optimizer.LearningRate = schedule.At(step);
            optimizer.Step();
            losses[step - 1] = loss.Item();
            onStep?.Invoke(step, losses[step - 1]);
        }
        Eval();
        foreach (var m in _mixers) if (m is HyenaMixer h) h.ResetFilterCache();
        return losses;
    }

    /// <summary>Mean NLL (nats per token) over non-overlapping windows of <paramref name="context"/>, at most <paramref name="maxWindows"/>, evenly spaced; every position scored.</summary>
    public double MeanNll(int[] tokens, int context, int maxWindows, int windowsPerBatch = 4) =>
        WindowedNll.Mean(this, tokens, context, maxWindows, windowsPerBatch, (x, y, nb) => Loss(x, y, nb, context));

    /// <summary>Numbers the decoder holds after <paramref name="context"/> tokens, all layers: the mixers' states and the short convolutions' last inputs.</summary>
    public long StateFloats(int context) =>
        _mixers.Sum(m => m.StateFloats(context)) + _convs.Sum(c => c?.StateFloats(context) ?? 0);

    /// <summary>Decoding state of one sequence: one <see cref="MixerState"/> per layer (and one per short convolution).</summary>
    public sealed class Decoder
    {
        internal Decoder(MixerState[] states, MixerState?[] convStates) { States = states; ConvStates = convStates; }
        /// <summary>The layers' mixer states.</summary>
        public IReadOnlyList<MixerState> States { get; }
        /// <summary>The layers' short-convolution states (null where a block has none).</summary>
        public IReadOnlyList<MixerState?> ConvStates { get; }
        /// <summary>Tokens consumed.</summary>
        public int Position { get; internal set; }
        /// <summary>Bytes of state held now, all layers (float32).</summary>
        public long StateBytes => States.Sum(s => s.Bytes) + ConvStates.Sum(s => s?.Bytes ?? 0);
    }

    /// <summary>A fresh decoder for one sequence.</summary>
    public Decoder NewDecoder() => new(_mixers.Select(m => m.NewState()).ToArray(), _convs.Select(c => c?.NewState()).ToArray());

    /// <summary>Feeds <paramref name="token"/> and writes the next-token logits (V) — the recurrent form of <see cref="Forward"/>.</summary>
    /// <exception cref="ArgumentException">A token out of range or logits of the wrong length.</exception>
    public void DecodeStep(Decoder decoder, int token, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        if ((uint)token >= (uint)Config.Vocab) throw new ArgumentOutOfRangeException(nameof(token), $"expected a token id in [0, {Config.Vocab}), got {token}");
        if (logits.Length != Config.Vocab) throw new ArgumentException($"expected logits of length {Config.Vocab}, got {logits.Length}", nameof(logits));
        int e = Config.Dim;
        var x = Tokens.Weight.Value.AsSpan().Slice(token * e, e).ToArray();
        var a = new float[e]; var m = new float[e]; var h = new float[Config.FfDim];
        for (int i = 0; i < _mixers.Length; i++)
        {
            LayerNormInto(_ln1[i], x, a);
            if (_convs[i] is { } conv)
            {
                conv.Step(decoder.ConvStates[i]!, a, m);
                for (int j = 0; j < e; j++) a[j] += m[j];
            }
            _mixers[i].Step(decoder.States[i], a, m);
            for (int j = 0; j < e; j++) x[j] += m[j];
            LayerNormInto(_ln2[i], x, a);
            StepMath.Apply(_fc1[i], a, h);
            for (int j = 0; j < h.Length; j++) h[j] = StepMath.Gelu(h[j]);
            StepMath.Apply(_fc2[i], h, m);
            for (int j = 0; j < e; j++) x[j] += m[j];
        }
        LayerNormInto(Final, x, a);
        StepMath.Apply(Head, a, logits);
        decoder.Position++;
    }

    private static void LayerNormInto(LayerNorm ln, ReadOnlySpan<float> x, Span<float> y)
    {
        x.CopyTo(y);
        StepMath.Normalize(y, ln.Eps);
        var g = ln.Gamma!.Value.AsSpan(); var b = ln.Beta!.Value.AsSpan();
        for (int i = 0; i < y.Length; i++) y[i] = y[i] * g[i] + b[i];
    }
}
