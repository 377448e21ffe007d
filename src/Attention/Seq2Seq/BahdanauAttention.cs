using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Seq2Seq;

/// <summary>
/// Additive attention of Bahdanau, Cho and Bengio (2015), "Neural Machine Translation by Jointly Learning to Align
/// and Translate", ICLR, eq. (6) and appendix A.1.2:
/// <code>
///   e_tj = v_aᵀ tanh(W_a s_{t−1} + U_a h_j)      (A.1.2; a(s_{i−1}, h_j) in eq. 6)
///   α_tj = exp(e_tj) / Σ_k exp(e_tk)             (eq. 6; k over the real source positions only)
///   c_t  = Σ_j α_tj h_j                          (eq. 5)
/// </code>
/// The query is the previous decoder state s_{t−1} (B, Q); U_a h_j (B, S, A) does not depend on t and is computed
/// once per source in <see cref="Prepare"/>. W_a (A, Q) without bias, U_a (A, E) with bias, v_a (A).
/// </summary>
public sealed class BahdanauAttention : Module, IDecoderAttention
{
    private readonly Linear _wa, _ua;
    private readonly Var _va;

    /// <inheritdoc/>
    public int QuerySize { get; }
    /// <inheritdoc/>
    public int EncoderSize { get; }
    /// <summary>Width A of the hidden layer of the alignment model.</summary>
    public int AttentionSize { get; }
    /// <inheritdoc/>
    public bool QueryIsPreviousState => true;

    /// <summary>query width Q, encoder width E, alignment width A.</summary>
    public BahdanauAttention(int querySize, int encoderSize, int attentionSize, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attentionSize);
        QuerySize = querySize; EncoderSize = encoderSize; AttentionSize = attentionSize;
        _wa = RegisterModule("W_a", new Linear(querySize, attentionSize, rng, bias: false));
        _ua = RegisterModule("U_a", new Linear(encoderSize, attentionSize, rng));
        float k = 1f / MathF.Sqrt(attentionSize);
        _va = RegisterParameter("v_a", Var.Parameter(rng.UniformTensor([attentionSize, 1], -k, k)));
    }

    /// <inheritdoc/>
    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths)
    {
        var m = AttentionMemory.Create(encoderStates, sourceLengths, EncoderSize);
        return m with { Keys = _ua.Forward(encoderStates) };                               // U_a h_j, once per source
    }

    /// <inheritdoc/>
    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        AttentionMasks.CheckQuery(query, memory, QuerySize, nameof(BahdanauAttention));
        var keys = memory.Keys ?? throw new ArgumentException("expected a memory from BahdanauAttention.Prepare", nameof(memory));
        int b = memory.Batch, s = memory.Source;
        var hidden = (keys + _wa.Forward(query).Unsqueeze(1)).Tanh();                      // (B, S, A)
        var scores = hidden.MatMul(_va).Reshape(b, s);                                     // e_tj
        var weights = AttentionMasks.MaskedSoftmax(scores, memory.PaddingMask);            // α_tj
        return new AttentionStep(weights, AttentionMasks.Context(weights, memory.States)) { Scores = scores };
    }
}
