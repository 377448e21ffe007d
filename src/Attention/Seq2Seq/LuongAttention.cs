using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Seq2Seq;

/// <summary>The four score functions of Luong, Pham and Manning (2015), §3.1 (eq. 8 and the location variant after it).</summary>
public enum LuongScore
{
    /// <summary>score(h_t, h̄_s) = h_tᵀ h̄_s (needs Q = E).</summary>
    Dot,
    /// <summary>score(h_t, h̄_s) = h_tᵀ W_a h̄_s.</summary>
    General,
    /// <summary>score(h_t, h̄_s) = v_aᵀ tanh(W_a [h_t; h̄_s]).</summary>
    Concat,
    /// <summary>a_t = softmax(W_a h_t): scores from the query alone, one per source position (§3.1, location-based).</summary>
    Location,
}

/// <summary>
/// Global attention of Luong, Pham and Manning (2015), "Effective Approaches to Attention-based Neural Machine
/// Translation", EMNLP, §3.1:
/// <code>
///   a_t(s) = exp(score(h_t, h̄_s)) / Σ_s' exp(score(h_t, h̄_s'))      (eq. 7; s' over real positions)
///   score  = h_tᵀ h̄_s | h_tᵀ W_a h̄_s | v_aᵀ tanh(W_a [h_t; h̄_s])     (eq. 8: dot, general, concat)
///   a_t    = softmax(W_a h_t)                                         (location, §3.1)
///   c_t    = Σ_s a_t(s) h̄_s
/// </code>
/// The query is the current top-layer decoder state h_t (B, Q). The part of each score that depends on the source
/// only (W_a h̄_s for general, the h̄_s half of W_a for concat) is computed once per source. The attentional state
/// h̃_t = tanh(W_c [c_t; h_t]) (eq. 5) belongs to the decoder (<see cref="Seq2SeqModel"/>), not to this class.
/// Location scores need a maximum source length: positions past it cannot be attended (the constructor's
/// <c>maxSource</c>).
/// </summary>
public sealed class LuongAttention : Module, IDecoderAttention
{
    private readonly Linear? _keyProjection, _queryProjection, _location;
    private readonly Var? _va;

    /// <inheritdoc/>
    public int QuerySize { get; }
    /// <inheritdoc/>
    public int EncoderSize { get; }
    /// <inheritdoc/>
    public bool QueryIsPreviousState => false;
    /// <summary>The score function.</summary>
    public LuongScore Score { get; }
    /// <summary>Longest source the location score can address.</summary>
    public int MaxSource { get; }

    /// <summary>score function, query width Q, encoder width E; concat uses a hidden width of Q; location needs maxSource.</summary>
    public LuongAttention(LuongScore score, int querySize, int encoderSize, Rng rng, int maxSource = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(querySize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(encoderSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSource);
        ArgumentNullException.ThrowIfNull(rng);
        if (score == LuongScore.Dot && querySize != encoderSize)
            throw new ArgumentException($"dot scores need the query width to equal the encoder width; got Q = {querySize}, E = {encoderSize}", nameof(querySize));
        Score = score; QuerySize = querySize; EncoderSize = encoderSize; MaxSource = maxSource;
        switch (score)
        {
            case LuongScore.General:
                _keyProjection = RegisterModule("W_a", new Linear(encoderSize, querySize, rng, bias: false));
                break;
            case LuongScore.Concat:
                _queryProjection = RegisterModule("W_a_query", new Linear(querySize, querySize, rng, bias: false));
                _keyProjection = RegisterModule("W_a_source", new Linear(encoderSize, querySize, rng));
                float k = 1f / MathF.Sqrt(querySize);
                _va = RegisterParameter("v_a", Var.Parameter(rng.UniformTensor([querySize, 1], -k, k)));
                break;
            case LuongScore.Location:
                _location = RegisterModule("W_a", new Linear(querySize, maxSource, rng));
                break;
        }
    }

    /// <inheritdoc/>
    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths)
    {
        var m = AttentionMemory.Create(encoderStates, sourceLengths, EncoderSize);
        if (Score == LuongScore.Location && m.Source > MaxSource)
            throw new ArgumentException($"location scores address at most {MaxSource} source positions, got S = {m.Source}", nameof(encoderStates));
        return _keyProjection is null ? m : m with { Keys = _keyProjection.Forward(encoderStates) };
    }

    /// <summary>score(h_t, h̄_s) for every s: (B, S), before masking.</summary>
    public Var Scores(AttentionMemory memory, Var query)
    {
        AttentionMasks.CheckQuery(query, memory, QuerySize, nameof(LuongAttention));
        int b = memory.Batch, s = memory.Source;
        return Score switch
        {
            LuongScore.Dot => AttentionMasks.DotScores(memory.States, query),
            LuongScore.General => AttentionMasks.DotScores(Keys(memory), query),
            LuongScore.Concat => (Keys(memory) + _queryProjection!.Forward(query).Unsqueeze(1)).Tanh().MatMul(_va!).Reshape(b, s),
            _ => _location!.Forward(query).Slice(1, 0, s),
        };
    }

    /// <inheritdoc/>
    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        var scores = Scores(memory, query);
        var weights = AttentionMasks.MaskedSoftmax(scores, memory.PaddingMask);
        return new AttentionStep(weights, AttentionMasks.Context(weights, memory.States)) { Scores = scores };
    }

    private static Var Keys(AttentionMemory m) => m.Keys ?? throw new ArgumentException("expected a memory from LuongAttention.Prepare", nameof(m));
}
