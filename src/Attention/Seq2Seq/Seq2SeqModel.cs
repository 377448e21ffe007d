using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Seq2Seq;

/// <summary>The attention mechanisms <see cref="Seq2SeqModel"/> can build from a config.</summary>
public enum AttentionKind
{
    /// <summary>No attention: a fixed context (<see cref="FixedContext"/>).</summary>
    None,
    /// <summary><see cref="BahdanauAttention"/>.</summary>
    Bahdanau,
    /// <summary><see cref="LuongAttention"/>, dot score.</summary>
    LuongDot,
    /// <summary><see cref="LuongAttention"/>, general score.</summary>
    LuongGeneral,
    /// <summary><see cref="LuongAttention"/>, concat score.</summary>
    LuongConcat,
    /// <summary><see cref="LuongAttention"/>, location score.</summary>
    LuongLocation,
    /// <summary><see cref="LocalAttention"/>, local-m with the general score.</summary>
    LocalMonotonic,
    /// <summary><see cref="LocalAttention"/>, local-p with the general score.</summary>
    LocalPredictive,
    /// <summary><see cref="CoverageAttention"/> (Tu et al., 2016).</summary>
    Coverage,
    /// <summary><see cref="LocationAwareAttention"/> (Chorowski et al., 2015).</summary>
    LocationAware,
}

/// <summary>Sizes and choices of a <see cref="Seq2SeqModel"/>.</summary>
public sealed record Seq2SeqConfig(int SourceVocabulary, int TargetVocabulary)
{
    /// <summary>Embedding width of source and target tokens.</summary>
    public int Embedding { get; init; } = 64;
    /// <summary>Encoder hidden width per direction.</summary>
    public int EncoderHidden { get; init; } = 128;
    /// <summary>Bidirectional encoder.</summary>
    public bool Bidirectional { get; init; } = true;
    /// <summary>Encoder cell.</summary>
    public RecurrentKind EncoderKind { get; init; } = RecurrentKind.Gru;
    /// <summary>Encoder layers.</summary>
    public int EncoderLayers { get; init; } = 1;
    /// <summary>Decoder (GRU) hidden width H.</summary>
    public int DecoderHidden { get; init; } = 256;
    /// <summary>Alignment-layer width A of additive scores.</summary>
    public int AttentionSize { get; init; } = 128;
    /// <summary>Which mechanism.</summary>
    public AttentionKind Attention { get; init; } = AttentionKind.Bahdanau;
    /// <summary>Luong-style decoders: feed h̃_{t−1} into the next step's input (Luong et al., 2015, §3.3).</summary>
    public bool InputFeeding { get; init; } = true;
    /// <summary>Half-width D of local attention.</summary>
    public int LocalHalfWidth { get; init; } = 3;
    /// <summary>Longest source the location score addresses.</summary>
    public int MaxSource { get; init; } = 40;
    /// <summary>Encoder output width E.</summary>
    public int EncoderOutput => (Bidirectional ? 2 : 1) * EncoderHidden;
}

/// <summary>Teacher-forced output: logits (B, T, V), and per target step the attention step (weights (B, S) as Vars, so a caller can add losses on them).</summary>
public sealed record Seq2SeqOutput(Var Logits, IReadOnlyList<AttentionStep> Steps, AttentionMemory Memory)
{
    /// <summary>Per step t the weights α_t (B, S).</summary>
    public IReadOnlyList<Var> Weights => Steps.Select(s => s.Weights).ToList();
}

/// <summary>The decoder's recurrent state: hidden s (B, H), the attentional state h̃ fed to the next input (Luong with input feeding), the attention state.</summary>
public sealed record DecoderState(Var Hidden, Var? Feed, AttentionStepState Attention)
{
    /// <summary>Rows <paramref name="rows"/> (beam search).</summary>
    public DecoderState Select(int[] rows) => new(Hidden.IndexSelect(0, rows), Feed?.IndexSelect(0, rows), Attention.Select(rows));
}

/// <summary>
/// A recurrent encoder–decoder with attention. The decoder is a GRU of width H; how a step runs depends on where
/// the mechanism takes its query (<see cref="IDecoderAttention.QueryIsPreviousState"/>):
/// <code>
///   Bahdanau (query s_{t−1}; Bahdanau et al., 2015, eq. 4 and A.2.2):
///     c_t = attend(s_{t−1});  s_t = GRU([E y_{t−1}; c_t], s_{t−1});  o_t = tanh(W_o [s_t; c_t; E y_{t−1}])
///   Luong (query h_t; Luong et al., 2015, eq. 5–6 and §3.3):
///     s_t = GRU([E y_{t−1}; h̃_{t−1}], s_{t−1});  c_t = attend(s_t);  o_t = h̃_t = tanh(W_c [c_t; s_t])
///   logits_t = W_s o_t
/// </code>
/// s_0 = tanh(W_init · summary) from the encoder's final states. Bahdanau's deep output uses a maxout layer; this
/// one uses tanh (one hidden layer either way). No attention = the Bahdanau layout with <see cref="FixedContext"/>,
/// i.e. Cho et al. (2014)'s decoder that sees the same c at every step.
/// </summary>
public sealed class Seq2SeqModel : Module, IStepDecoder
{
    private readonly Encoder _encoder;
    private readonly Embedding _targetEmbedding;
    private readonly Linear _init, _deepOutput, _projection;
    private readonly GruCell _cell;

    /// <summary>The configuration.</summary>
    public Seq2SeqConfig Config { get; }
    /// <summary>The attention mechanism.</summary>
    public IDecoderAttention Attention { get; }
    /// <summary>True for the Luong layout (query = current state, h̃, optional input feeding).</summary>
    public bool LuongLayout => !Attention.QueryIsPreviousState;
    /// <summary>The encoder.</summary>
    public Encoder Encoder => _encoder;

    /// <summary>
    /// Builds the model; <paramref name="attention"/>, when given, replaces the mechanism of <see cref="Seq2SeqConfig.Attention"/>:
    /// it receives (query width H, encoder width E, rng) and its parameters are registered when it is a <see cref="Module"/>.
    /// </summary>
    public Seq2SeqModel(Seq2SeqConfig config, Rng rng, Func<int, int, Rng, IDecoderAttention>? attention = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        if (config.SourceVocabulary <= Vocabulary.Unk || config.TargetVocabulary <= Vocabulary.Unk)
            throw new ArgumentException($"expected vocabularies larger than the 4 reserved ids, got {config.SourceVocabulary} and {config.TargetVocabulary}", nameof(config));
        Config = config;
        int h = config.DecoderHidden, e = config.EncoderOutput, emb = config.Embedding;
        _encoder = RegisterModule("encoder", new Encoder(config.SourceVocabulary, emb, config.EncoderHidden, rng, config.EncoderKind, config.Bidirectional, config.EncoderLayers));
        Attention = attention is not null ? attention(h, e, rng) : Create(config, rng);
        if (Attention.QuerySize != h || Attention.EncoderSize != e)
            throw new ArgumentException($"expected an attention with query width {h} and encoder width {e}, got {Attention.QuerySize} and {Attention.EncoderSize}", nameof(attention));
        if (Attention is Module m) RegisterModule("attention", m);
        _targetEmbedding = RegisterModule("target_embedding", new Embedding(config.TargetVocabulary, emb, rng, paddingIndex: Vocabulary.Pad));
        _init = RegisterModule("W_init", new Linear(e, h, rng));
        if (LuongLayout)
        {
            _cell = RegisterModule("decoder", new GruCell(emb + (config.InputFeeding ? h : 0), h, rng));
            _deepOutput = RegisterModule("W_c", new Linear(e + h, h, rng, bias: false));
        }
        else
        {
            _cell = RegisterModule("decoder", new GruCell(emb + e, h, rng));
            _deepOutput = RegisterModule("W_o", new Linear(h + e + emb, h, rng));
        }
        _projection = RegisterModule("W_s", new Linear(h, config.TargetVocabulary, rng));
    }

    private static IDecoderAttention Create(Seq2SeqConfig c, Rng rng)
    {
        int h = c.DecoderHidden, e = c.EncoderOutput, a = c.AttentionSize;
        return c.Attention switch
        {
            AttentionKind.None => new FixedContext(h, e, c.Bidirectional),
            AttentionKind.Bahdanau => new BahdanauAttention(h, e, a, rng),
            AttentionKind.LuongDot => new LuongAttention(LuongScore.Dot, h, e, rng),
            AttentionKind.LuongGeneral => new LuongAttention(LuongScore.General, h, e, rng),
            AttentionKind.LuongConcat => new LuongAttention(LuongScore.Concat, h, e, rng),
            AttentionKind.LuongLocation => new LuongAttention(LuongScore.Location, h, e, rng, c.MaxSource),
            AttentionKind.LocalMonotonic => new LocalAttention(LocalMode.Monotonic, LuongScore.General, h, e, c.LocalHalfWidth, rng),
            AttentionKind.LocalPredictive => new LocalAttention(LocalMode.Predictive, LuongScore.General, h, e, c.LocalHalfWidth, rng),
            AttentionKind.Coverage => new CoverageAttention(h, e, a, rng),
            AttentionKind.LocationAware => new LocationAwareAttention(h, e, a, rng),
            _ => throw new ArgumentOutOfRangeException(nameof(c), c.Attention, "unknown attention kind"),
        };
    }

    /// <summary>Encodes a padded batch and prepares the attention memory; also returns the initial decoder state.</summary>
    public (AttentionMemory Memory, DecoderState State) Begin(PaddedBatch source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var (states, summary) = _encoder.Forward(source.Ids, source.Lengths, source.Batch, source.Time);
        var memory = Attention.Prepare(states, source.Lengths);
        var s0 = _init.Forward(summary).Tanh();
        Var? feed = LuongLayout && Config.InputFeeding ? Var.Constant(Tensor.Zeros(source.Batch, Config.DecoderHidden)) : null;
        return (memory, new DecoderState(s0, feed, AttentionStepState.Initial(source.Lengths)));
    }

    /// <summary>One decoder step from the embedded previous tokens (B, emb) → (output o_t (B, H), next state, attention step).</summary>
    public (Var Output, DecoderState Next, AttentionStep Step) Step(AttentionMemory memory, Var previous, DecoderState state)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(state);
        if (LuongLayout)
        {
            var input = state.Feed is null ? previous : Var.Concat([previous, state.Feed], 1);
            var s = _cell.Step(_cell.InputGates(input), state.Hidden);
            var step = Attention.Step(memory, s, state.Attention);
            var attentional = _deepOutput.Forward(Var.Concat([step.Context, s], 1)).Tanh();              // h̃_t, eq. 5
            return (attentional, new DecoderState(s, Config.InputFeeding ? attentional : null, state.Attention.Next(step.Weights)), step);
        }
        else
        {
            var step = Attention.Step(memory, state.Hidden, state.Attention);                          // query s_{t−1}
            var s = _cell.Step(_cell.InputGates(Var.Concat([previous, step.Context], 1)), state.Hidden);
            var output = _deepOutput.Forward(Var.Concat([s, step.Context, previous], 1)).Tanh();
            return (output, new DecoderState(s, null, state.Attention.Next(step.Weights)), step);
        }
    }

    /// <summary>Starts step-by-step decoding (see <see cref="Decoding"/>): encodes the sources once; rows follow the recurrent state.</summary>
    public IDecoderSession Start(PaddedBatch source)
    {
        var (memory, state) = Begin(source);
        return new Session(this, memory, state);
    }

    private sealed class Session(Seq2SeqModel model, AttentionMemory sourceMemory, DecoderState state) : IDecoderSession
    {
        private readonly AttentionMemory _sources = sourceMemory;
        private int[] _sourceOf = Enumerable.Range(0, sourceMemory.Batch).ToArray();
        private AttentionMemory _memory = sourceMemory;
        private DecoderState _state = state;

        public int Rows => _sourceOf.Length;
        public int SourceLength => _sources.Source;
        public int MaxSteps => int.MaxValue;

        public (Tensor LogProbs, Tensor Weights) Step(int[] previous)
        {
            ArgumentNullException.ThrowIfNull(previous);
            if (previous.Length != Rows) throw new ArgumentException($"expected {Rows} previous tokens (one per row), got {previous.Length}", nameof(previous));
            var (output, next, step) = model.Step(_memory, model.EmbedTargets(previous), _state);
            _state = next;
            return (model.Project(output).LogSoftmax(-1).Value, step.Weights.Value);
        }

        public void Reorder(int[] rows)
        {
            ArgumentNullException.ThrowIfNull(rows);
            foreach (var r in rows)
                if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"expected rows in [0, {Rows}), got {r}");
            _sourceOf = rows.Select(r => _sourceOf[r]).ToArray();
            _state = _state.Select(rows);
            _memory = _sources.Select(_sourceOf);
        }
    }

    /// <summary>Embeds target ids (B) for one step.</summary>
    public Var EmbedTargets(int[] ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return _targetEmbedding.Forward(ids, ids.Length, 1).Reshape(ids.Length, Config.Embedding);
    }

    /// <summary>o (…, H) → logits (…, V).</summary>
    public Var Project(Var output) => _projection.Forward(output);

    /// <summary>
    /// Teacher-forced forward: source (B, S), decoder inputs (B, T) = BOS y_1 … y_{T−1} → logits (B, T, V) and the
    /// attention step of each t. The output projection runs once over all steps.
    /// </summary>
    public Seq2SeqOutput Forward(PaddedBatch source, PaddedBatch decoderInput)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(decoderInput);
        if (decoderInput.Batch != source.Batch)
            throw new ArgumentException($"expected decoder inputs for {source.Batch} items, got {decoderInput.Batch}", nameof(decoderInput));
        var (memory, state) = Begin(source);
        int b = source.Batch, t = decoderInput.Time, emb = Config.Embedding;
        var embedded = _targetEmbedding.Forward(decoderInput.Ids, b, t);                                // (B, T, emb)
        var outputs = new Var[t];
        var steps = new AttentionStep[t];
        for (int i = 0; i < t; i++)
        {
            (outputs[i], state, steps[i]) = Step(memory, embedded.Slice(1, i, 1).Reshape(b, emb), state);
        }
        var logits = Project(Var.Stack(outputs, 1));                                                   // (B, T, V)
        return new Seq2SeqOutput(logits, steps, memory);
    }
}
