using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>Which attention the speller of a <see cref="ListenAttendSpell"/> model uses.</summary>
public enum SpellerAttention
{
    /// <summary>Content-only additive attention, e_ij = wᵀ tanh(W s_i + V h_j + b) (<see cref="BahdanauAttention"/>).</summary>
    Content,
    /// <summary>Location-aware attention, which adds U (F ∗ α_{i−1})_j inside the tanh (<see cref="LocationAwareAttention"/>, Chorowski et al., 2015).</summary>
    LocationAware,
}

/// <summary>Sizes and choices of a <see cref="ListenAttendSpell"/> model.</summary>
/// <param name="Features">Input width F (mel bands per frame).</param>
/// <param name="Vocabulary">Output ids V, the four reserved ids of <see cref="Vocabulary"/> included.</param>
public sealed record LasConfig(int Features, int Vocabulary)
{
    /// <summary>Hidden width per direction of every listener BLSTM.</summary>
    public int ListenerHidden { get; init; } = 64;
    /// <summary>BLSTM layers at the full frame rate, below the pyramid (Chan et al. use one).</summary>
    public int BottomLayers { get; init; } = 1;
    /// <summary>Pyramidal BLSTM layers; each halves the time resolution, so time shrinks by 2^PyramidLayers.</summary>
    public int PyramidLayers { get; init; } = 2;
    /// <summary>Speller (LSTM) hidden width.</summary>
    public int SpellerHidden { get; init; } = 128;
    /// <summary>Output-token embedding width.</summary>
    public int Embedding { get; init; } = 32;
    /// <summary>Width A of the additive score's hidden layer.</summary>
    public int AttentionSize { get; init; } = 64;
    /// <summary>Which attention.</summary>
    public SpellerAttention Attention { get; init; } = SpellerAttention.LocationAware;
    /// <summary>Location-aware attention: number k of convolution filters over α_{i−1}.</summary>
    public int Filters { get; init; } = 8;
    /// <summary>Location-aware attention: odd filter width r, in listener steps.</summary>
    public int FilterWidth { get; init; } = 5;
    /// <summary>Time reduction of the listener, 2^<see cref="PyramidLayers"/>.</summary>
    public int Reduction => 1 << PyramidLayers;
    /// <summary>Listener output width E = 2·<see cref="ListenerHidden"/>.</summary>
    public int ListenerOutput => 2 * ListenerHidden;
}

/// <summary>One training or test pair for <see cref="ListenAttendSpell"/>: features (frames × F, row-major) and output ids (no BOS/EOS).</summary>
public sealed record LasExample(float[] Features, int Frames, int[] Tokens)
{
    /// <summary>The ids of a digit string: digit d → <see cref="ListenAttendSpell.DigitVocabulary"/>'s id of "d".</summary>
    public static LasExample FromSpeech(SpeechExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        return new LasExample(example.Features, example.Frames, example.Digits.Select(d => Seq2Seq.Vocabulary.Unk + 1 + d).ToArray());
    }
}

/// <summary>A greedy transcription: output ids (no EOS) and the attention weights (outputs × the item's real listener steps).</summary>
public sealed record LasHypothesis(int[] Tokens, float[,] Weights);

/// <summary>Teacher-forced output: logits (B, U, V), the attention step of every output position, the listener lengths.</summary>
public sealed record LasOutput(Var Logits, IReadOnlyList<AttentionStep> Steps, int[] ListenerLengths);

/// <summary>
/// The pyramidal time reduction of listen-attend-spell (Chan et al., 2016, §3.1, eq. 5): step i of layer j reads the
/// two neighbouring outputs of layer j − 1 concatenated, h^{j−1}_{2i} ‖ h^{j−1}_{2i+1}, so every layer halves time.
/// x (B, T, E) with lengths (B) → (B, ⌈T/2⌉, 2E) with lengths ⌈len/2⌉; an odd T gets one zero frame at the end (an
/// odd length pairs its last frame with a zero one: padding is zero). A reshape of a contiguous tensor, so its
/// gradient is the reshape back.
/// </summary>
public static class Pyramid
{
    /// <summary>x (B, T, E), lengths in [0, T] → (x' (B, ⌈T/2⌉, 2E), lengths ⌈len/2⌉).</summary>
    /// <exception cref="ArgumentException">x is not rank 3, or lengths do not match.</exception>
    public static (Var States, int[] Lengths) Reduce(Var x, int[] lengths)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(lengths);
        if (x.Rank != 3) throw new ArgumentException($"expected x of shape (B, T, E), got {Var.Fmt(x.Shape)}", nameof(x));
        int b = x.Shape[0], t = x.Shape[1], e = x.Shape[2];
        if (lengths.Length != b) throw new ArgumentException($"expected {b} lengths (one per batch item), got {lengths.Length}", nameof(lengths));
        foreach (var n in lengths)
            if ((uint)n > (uint)t) throw new ArgumentException($"expected lengths in [0, {t}], got {n}", nameof(lengths));
        if (t % 2 == 1) x = Var.Concat([x, Var.Constant(Tensor.Zeros(b, 1, e))], 1);
        int half = (t + 1) / 2;
        return (x.Reshape(b, half, 2 * e), lengths.Select(n => (n + 1) / 2).ToArray());
    }
}

/// <summary>
/// The listener of listen-attend-spell (Chan et al., 2016, §3.1): <see cref="LasConfig.BottomLayers"/> BLSTM layers at
/// the frame rate, then <see cref="LasConfig.PyramidLayers"/> pyramidal BLSTM layers (<see cref="Pyramid.Reduce"/>
/// before each). features (B, T, F), lengths → states (B, ⌈T/2^p⌉, 2H) (zero on padding), lengths.
/// </summary>
public sealed class Listener : Module
{
    private readonly Lstm? _bottom;
    private readonly Lstm[] _pyramid;

    /// <summary>The configuration.</summary>
    public LasConfig Config { get; }

    /// <summary>Creates the layers with weights from <paramref name="rng"/>.</summary>
    public Listener(LasConfig config, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.Features);
        ArgumentOutOfRangeException.ThrowIfNegative(config.BottomLayers);
        ArgumentOutOfRangeException.ThrowIfNegative(config.PyramidLayers);
        Config = config;
        int h = config.ListenerHidden, width = config.Features;
        if (config.BottomLayers > 0)
        {
            _bottom = RegisterModule("bottom", new Lstm(width, h, rng, config.BottomLayers, bidirectional: true));
            width = 2 * h;
        }
        _pyramid = new Lstm[config.PyramidLayers];
        for (int l = 0; l < config.PyramidLayers; l++)
        {
            _pyramid[l] = RegisterModule($"pyramid{l}", new Lstm(2 * width, h, rng, 1, bidirectional: true));
            width = 2 * h;
        }
        if (config.BottomLayers == 0 && config.PyramidLayers == 0)
            throw new ArgumentException("expected at least one listener layer (BottomLayers + PyramidLayers ≥ 1)", nameof(config));
    }

    /// <summary>features (B, T, F), lengths (B) in [1, T] → (states (B, T', 2H), lengths (B)), T' = ⌈T/2^p⌉ after p halvings.</summary>
    public (Var States, int[] Lengths) Forward(Var features, int[] lengths)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(lengths);
        if (features.Rank != 3 || features.Shape[2] != Config.Features)
            throw new ArgumentException($"expected features of shape (B, T, {Config.Features}), got {Var.Fmt(features.Shape)}", nameof(features));
        var x = features;
        if (_bottom is not null) x = _bottom.Forward(x, lengths).Output;
        foreach (var layer in _pyramid)
        {
            (x, lengths) = Pyramid.Reduce(x, lengths);
            x = layer.Forward(x, lengths).Output;
        }
        return (x, lengths);
    }
}

/// <summary>
/// Listen, attend and spell (Chan, Jaitly, Le and Vinyals, 2016, ICASSP, §3): a pyramidal BLSTM <see cref="Listener"/>
/// turns log-mel frames into fewer, higher-level states h; an LSTM speller emits one token per step while attending
/// over them:
/// <code>
///   s_i = LSTM([E y_{i−1}; c_{i−1}], s_{i−1})           (eq. 7; c_0 = 0, y_0 = BOS)
///   α_i, c_i = attend(s_i, h[, α_{i−1}])                  (eq. 8–10; c_i = Σ_j α_ij h_j)
///   P(y_i | x, y_&lt;i) = softmax(W_s tanh(W_o [s_i; c_i]))  (eq. 6: an MLP on s_i and c_i)
/// </code>
/// The attention is additive and content-only (<see cref="BahdanauAttention"/>) or location-aware
/// (<see cref="LocationAwareAttention"/>, Chorowski et al., 2015), both queried with s_i as in LAS (Chan et al. score
/// with a dot product of two MLP outputs; the additive form lets the two variants differ by the location term only).
/// One speller layer (Chan et al. use two). Answer: docs/answers/29-speech-recognition.md
/// </summary>
public sealed class ListenAttendSpell : Module
{
    private readonly Listener _listener;
    private readonly Embedding _embedding;
    private readonly LstmCell _speller;
    private readonly Linear _hidden, _projection;

    /// <summary>The output vocabulary of digit strings: the four reserved ids, then "0" … "9".</summary>
    public static Vocabulary DigitVocabulary { get; } = new(Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>The configuration.</summary>
    public LasConfig Config { get; }
    /// <summary>The attention mechanism.</summary>
    public IDecoderAttention Attention { get; }
    /// <summary>The listener.</summary>
    public Listener Listener => _listener;

    /// <summary>Builds the model with weights from <paramref name="rng"/>.</summary>
    public ListenAttendSpell(LasConfig config, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        if (config.Vocabulary <= Vocabulary.Unk + 1)
            throw new ArgumentException($"expected a vocabulary larger than the 4 reserved ids, got {config.Vocabulary}", nameof(config));
        Config = config;
        int h = config.SpellerHidden, e = config.ListenerOutput;
        _listener = RegisterModule("listener", new Listener(config, rng));
        Attention = config.Attention switch
        {
            SpellerAttention.Content => new BahdanauAttention(h, e, config.AttentionSize, rng),
            SpellerAttention.LocationAware => new LocationAwareAttention(h, e, config.AttentionSize, rng, config.Filters, config.FilterWidth),
            _ => throw new ArgumentOutOfRangeException(nameof(config), config.Attention, "unknown speller attention"),
        };
        RegisterModule("attention", (Module)Attention);
        _embedding = RegisterModule("embedding", new Embedding(config.Vocabulary, config.Embedding, rng, paddingIndex: Vocabulary.Pad));
        _speller = RegisterModule("speller", new LstmCell(config.Embedding + e, h, rng));
        _hidden = RegisterModule("W_o", new Linear(h + e, h, rng));
        _projection = RegisterModule("W_s", new Linear(h, config.Vocabulary, rng));
    }

    /// <summary>Pads feature matrices into (B, T, F) with zeros after each item's frames; returns the lengths.</summary>
    public (Var Features, int[] Lengths) PadFeatures(IReadOnlyList<LasExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("expected at least one example", nameof(examples));
        int f = Config.Features;
        foreach (var ex in examples)
            if (ex.Frames < 1 || ex.Features.Length != ex.Frames * f)
                throw new ArgumentException($"expected ≥ 1 frame and frames·{f} features, got {ex.Frames} frames and {ex.Features.Length} values", nameof(examples));
        int t = examples.Max(x => x.Frames), b = examples.Count;
        var x = Tensor.Zeros(b, t, f);
        var xs = x.AsSpan();
        for (int i = 0; i < b; i++) examples[i].Features.AsSpan().CopyTo(xs.Slice(i * t * f));
        return (Var.Constant(x), examples.Select(e => e.Frames).ToArray());
    }

    private (AttentionMemory Memory, int[] Lengths) Listen(IReadOnlyList<LasExample> examples)
    {
        var (features, lengths) = PadFeatures(examples);
        var (states, reduced) = _listener.Forward(features, lengths);
        return (Attention.Prepare(states, reduced), reduced);
    }

    private sealed class SpellerState(Var hidden, Var cell, Var context, AttentionStepState attention)
    {
        public Var Hidden = hidden, Cell = cell, Context = context;
        public AttentionStepState Attention = attention;
    }

    private SpellerState Initial(int batch, int[] lengths) =>
        new(Var.Constant(Tensor.Zeros(batch, Config.SpellerHidden)), Var.Constant(Tensor.Zeros(batch, Config.SpellerHidden)),
            Var.Constant(Tensor.Zeros(batch, Config.ListenerOutput)), AttentionStepState.Initial(lengths));

    // One speller step: previous ids (B) → (output o_i (B, H), attention step); the state advances in place.
    private (Var Output, AttentionStep Step) Step(AttentionMemory memory, Var previous, SpellerState state)
    {
        var input = Var.Concat([previous, state.Context], 1);
        (state.Hidden, state.Cell) = _speller.Step(_speller.InputGates(input), state.Hidden, state.Cell);
        var step = Attention.Step(memory, state.Hidden, state.Attention);
        state.Attention = state.Attention.Next(step.Weights);
        state.Context = step.Context;
        var output = _hidden.Forward(Var.Concat([state.Hidden, step.Context], 1)).Tanh();
        return (output, step);
    }

    /// <summary>
    /// Teacher-forced forward over a batch: decoder inputs BOS y_1 … y_U for targets y_1 … y_U EOS; logits (B, U + 1, V)
    /// and the attention step of every position. Items with shorter targets are padded (their extra steps are ignored by the loss).
    /// </summary>
    public LasOutput Forward(IReadOnlyList<LasExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var (memory, lengths) = Listen(examples);
        int b = examples.Count, u = examples.Max(e => e.Tokens.Length) + 1;
        var state = Initial(b, lengths);
        var outputs = new Var[u];
        var steps = new AttentionStep[u];
        var previous = new int[b];
        for (int i = 0; i < u; i++)
        {
            for (int k = 0; k < b; k++)
                previous[k] = i == 0 ? Vocabulary.Bos : i - 1 < examples[k].Tokens.Length ? examples[k].Tokens[i - 1] : Vocabulary.Pad;
            (outputs[i], steps[i]) = Step(memory, Embed(previous), state);
        }
        return new LasOutput(_projection.Forward(Var.Stack(outputs, 1)), steps, lengths);
    }

    /// <summary>Targets for <see cref="Forward"/>'s logits (B·(U + 1)): y_1 … y_U EOS, then <paramref name="ignore"/> on padding.</summary>
    public static int[] Targets(IReadOnlyList<LasExample> examples, int ignore = -100)
    {
        ArgumentNullException.ThrowIfNull(examples);
        int u = examples.Max(e => e.Tokens.Length) + 1;
        var t = new int[examples.Count * u];
        for (int k = 0; k < examples.Count; k++)
            for (int i = 0; i < u; i++)
            {
                var tokens = examples[k].Tokens;
                t[k * u + i] = i < tokens.Length ? tokens[i] : i == tokens.Length ? Vocabulary.Eos : ignore;
            }
        return t;
    }

    /// <summary>Teacher-forced attention of each example: weights (its tokens × its real listener steps), for alignment against gold spans.</summary>
    public IReadOnlyList<float[,]> TeacherForcedWeights(IReadOnlyList<LasExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        using var _ = Var.NoGrad();
        var output = Forward(examples);
        return examples.Select((e, k) => Rows(output.Steps.Take(e.Tokens.Length).Select(s => s.Weights.Value).ToList(), k, output.ListenerLengths[k])).ToList();
    }

    /// <summary>
    /// Greedy transcription of a batch: at each step the most probable id (never PAD or BOS) until EOS or
    /// <paramref name="maxLength"/> ids. With <paramref name="minLengths"/> (one per example), EOS is not allowed before
    /// item k has emitted minLengths[k] ids — a diagnostic that separates a speller that stops early from attention that
    /// has lost its place.
    /// </summary>
    public IReadOnlyList<LasHypothesis> Greedy(IReadOnlyList<LasExample> examples, int maxLength, int[]? minLengths = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        if (minLengths is not null && minLengths.Length != examples.Count)
            throw new ArgumentException($"expected {examples.Count} minimum lengths (one per example), got {minLengths.Length}", nameof(minLengths));
        using var _ = Var.NoGrad();
        var (memory, lengths) = Listen(examples);
        int b = examples.Count, v = Config.Vocabulary, s = memory.Source;
        var state = Initial(b, lengths);
        var tokens = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var rows = Enumerable.Range(0, b).Select(_ => new List<float[]>()).ToArray();
        var done = new bool[b];
        var previous = Enumerable.Repeat(Vocabulary.Bos, b).ToArray();
        for (int i = 0; i < maxLength && done.Contains(false); i++)
        {
            var (output, step) = Step(memory, Embed(previous), state);
            var logits = _projection.Forward(output).Value.AsSpan();
            var w = step.Weights.Value.Contiguous().AsSpan();
            for (int k = 0; k < b; k++)
            {
                if (done[k]) { previous[k] = Vocabulary.Pad; continue; }
                bool eosAllowed = minLengths is null || tokens[k].Count >= minLengths[k];
                int best = eosAllowed ? Vocabulary.Eos : Vocabulary.Eos + 1;
                for (int id = best + 1; id < v; id++) if (logits[k * v + id] > logits[k * v + best]) best = id;
                previous[k] = best;
                if (best == Vocabulary.Eos) { done[k] = true; continue; }
                tokens[k].Add(best);
                rows[k].Add(w.Slice(k * s, lengths[k]).ToArray());
            }
        }
        return Enumerable.Range(0, b).Select(k =>
        {
            var m = new float[rows[k].Count, lengths[k]];
            for (int i = 0; i < rows[k].Count; i++)
                for (int j = 0; j < lengths[k]; j++) m[i, j] = rows[k][i][j];
            return new LasHypothesis(tokens[k].ToArray(), m);
        }).ToList();
    }

    private Var Embed(int[] ids) => _embedding.Forward(ids, ids.Length, 1).Reshape(ids.Length, Config.Embedding);

    private static float[,] Rows(List<Tensor> weights, int item, int length)
    {
        var m = new float[weights.Count, length];
        for (int i = 0; i < weights.Count; i++)
        {
            var w = weights[i].Contiguous();
            int s = w.Shape[1];
            var span = w.AsSpan();
            for (int j = 0; j < length; j++) m[i, j] = span[item * s + j];
        }
        return m;
    }
}
