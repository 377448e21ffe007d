using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Seq2Seq;

/// <summary>
/// Additive attention with a coverage vector in the score: Tu, Lu, Liu, Liu and Li (2016), "Modeling Coverage for
/// Neural Machine Translation", ACL, §3 (coverage in the alignment model; linguistic coverage with fertility Φ_j = 1):
/// <code>
///   e_tj = v_aᵀ tanh(W_a s_{t−1} + U_a h_j + V_a C_{t−1,j})
///   C_{t,j} = C_{t−1,j} + α_tj          (C_0 = 0: the attention each source position has received so far)
/// </code>
/// The coverage lives in <see cref="AttentionStepState.Coverage"/> (the decoder sums the weights), so the score can
/// learn to turn away from positions already covered. Query = s_{t−1} as in <see cref="BahdanauAttention"/>;
/// V_a (A) maps the scalar coverage of a position into the alignment layer.
/// </summary>
public sealed class CoverageAttention : Module, IDecoderAttention
{
    private readonly Linear _wa, _ua;
    private readonly Var _va, _vCoverage;

    /// <inheritdoc/>
    public int QuerySize { get; }
    /// <inheritdoc/>
    public int EncoderSize { get; }
    /// <inheritdoc/>
    public bool QueryIsPreviousState => true;

    /// <summary>query width Q, encoder width E, alignment width A.</summary>
    public CoverageAttention(int querySize, int encoderSize, int attentionSize, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attentionSize);
        QuerySize = querySize; EncoderSize = encoderSize;
        _wa = RegisterModule("W_a", new Linear(querySize, attentionSize, rng, bias: false));
        _ua = RegisterModule("U_a", new Linear(encoderSize, attentionSize, rng));
        float k = 1f / MathF.Sqrt(attentionSize);
        _va = RegisterParameter("v_a", Var.Parameter(rng.UniformTensor([attentionSize, 1], -k, k)));
        _vCoverage = RegisterParameter("V_a", Var.Parameter(rng.UniformTensor([1, attentionSize], -1f, 1f)));
    }

    /// <inheritdoc/>
    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths) =>
        AttentionMemory.Create(encoderStates, sourceLengths, EncoderSize) with { Keys = _ua.Forward(encoderStates) };

    /// <inheritdoc/>
    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        AttentionMasks.CheckQuery(query, memory, QuerySize, nameof(CoverageAttention));
        ArgumentNullException.ThrowIfNull(state);
        var keys = memory.Keys ?? throw new ArgumentException("expected a memory from CoverageAttention.Prepare", nameof(memory));
        int b = memory.Batch, s = memory.Source;
        var pre = keys + _wa.Forward(query).Unsqueeze(1);                                    // (B, S, A)
        if (state.Coverage is Var c) pre += c.Unsqueeze(2).MatMul(_vCoverage);               // + V_a C_{t−1,j}
        var scores = pre.Tanh().MatMul(_va).Reshape(b, s);
        var weights = AttentionMasks.MaskedSoftmax(scores, memory.PaddingMask);
        return new AttentionStep(weights, AttentionMasks.Context(weights, memory.States)) { Scores = scores };
    }
}

/// <summary>
/// The coverage loss of See, Liu and Manning (2017), "Get To The Point: Summarization with Pointer-Generator
/// Networks", ACL, eq. (12)–(13): covloss_t = Σ_j min(a_tj, c_tj) with c_t = Σ_{t'&lt;t} a_t' — it charges attending
/// again to what was already attended. Averaged over the real target steps of each item, then over the batch.
/// </summary>
public static class CoverageLoss
{
    /// <summary>weights: one (B, S) per target step; targetLengths (B) → a scalar.</summary>
    public static Var Compute(IReadOnlyList<Var> weights, int[] targetLengths)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(targetLengths);
        if (weights.Count == 0) throw new ArgumentException("expected at least one step of weights, got none", nameof(weights));
        int b = weights[0].Shape[0];
        if (targetLengths.Length != b) throw new ArgumentException($"expected {b} target lengths, got {targetLengths.Length}", nameof(targetLengths));
        Var? total = null;
        Var? coverage = null;
        int count = targetLengths.Sum();
        for (int t = 0; t < weights.Count; t++)
        {
            var a = weights[t];
            if (coverage is not null)
            {
                var live = Tensor.Zeros(b, 1);
                for (int i = 0; i < b; i++) live.AsSpan()[i] = t < targetLengths[i] ? 1f : 0f;
                var min = a - (a - coverage).Relu();                                         // min(a, c) = a − relu(a − c)
                var term = (min * Var.Constant(live)).Sum();
                total = total is null ? term : total + term;
            }
            coverage = coverage is null ? a : coverage + a;
        }
        return total is null ? Var.Scalar(0f) : total / Math.Max(1, count);
    }
}
