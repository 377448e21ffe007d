using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Seq2Seq;

/// <summary>
/// Location-aware attention of Chorowski, Bahdanau, Serdyuk, Cho and Bengio (2015), "Attention-Based Models for
/// Speech Recognition", NeurIPS, §2.2 eq. (8)–(9):
/// <code>
///   f_t  = F ∗ α_{t−1}                                      (eq. 8: k filters of odd width r, zero-padded, F (r, k))
///   e_tj = wᵀ tanh(W s_{t−1} + V h_j + U f_tj + b)          (eq. 9)
/// </code>
/// The convolution over the previous weights tells the score where the decoder attended last, so it can move on
/// monotonically. α_0 is taken as all zeros (no previous alignment). V h_j + b is computed once per source.
/// </summary>
public sealed class LocationAwareAttention : Module, IDecoderAttention
{
    private readonly Linear _w, _v;
    private readonly Var _filters, _u, _wOut;

    /// <inheritdoc/>
    public int QuerySize { get; }
    /// <inheritdoc/>
    public int EncoderSize { get; }
    /// <inheritdoc/>
    public bool QueryIsPreviousState => true;
    /// <summary>Filter width r (odd).</summary>
    public int FilterWidth { get; }
    /// <summary>Number of filters k.</summary>
    public int Filters { get; }

    /// <summary>query width Q, encoder width E, alignment width A, k filters of odd width r.</summary>
    public LocationAwareAttention(int querySize, int encoderSize, int attentionSize, Rng rng, int filters = 8, int filterWidth = 5)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attentionSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(filters);
        if (filterWidth < 1 || filterWidth % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(filterWidth), filterWidth, "expected an odd filter width ≥ 1");
        QuerySize = querySize; EncoderSize = encoderSize; Filters = filters; FilterWidth = filterWidth;
        _w = RegisterModule("W", new Linear(querySize, attentionSize, rng, bias: false));
        _v = RegisterModule("V", new Linear(encoderSize, attentionSize, rng));                 // its bias is b
        float kf = 1f / MathF.Sqrt(filterWidth), ku = 1f / MathF.Sqrt(filters), ka = 1f / MathF.Sqrt(attentionSize);
        _filters = RegisterParameter("F", Var.Parameter(rng.UniformTensor([filterWidth, filters], -kf, kf)));
        _u = RegisterParameter("U", Var.Parameter(rng.UniformTensor([filters, attentionSize], -ku, ku)));
        _wOut = RegisterParameter("w", Var.Parameter(rng.UniformTensor([attentionSize, 1], -ka, ka)));
    }

    /// <inheritdoc/>
    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths) =>
        AttentionMemory.Create(encoderStates, sourceLengths, EncoderSize) with { Keys = _v.Forward(encoderStates) };

    /// <inheritdoc/>
    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        AttentionMasks.CheckQuery(query, memory, QuerySize, nameof(LocationAwareAttention));
        ArgumentNullException.ThrowIfNull(state);
        var keys = memory.Keys ?? throw new ArgumentException("expected a memory from LocationAwareAttention.Prepare", nameof(memory));
        int b = memory.Batch, s = memory.Source, half = FilterWidth / 2;
        var pre = keys + _w.Forward(query).Unsqueeze(1);                                       // (B, S, A)
        if (state.PreviousWeights is Var prev)
        {
            // Unfold α_{t−1} into (B, S, r) windows (zero padding at both ends), then one GEMM with F and one with U.
            var zeros = Var.Constant(Tensor.Zeros(b, half));
            var padded = half == 0 ? prev : Var.Concat([zeros, prev, zeros], 1);              // (B, S + 2·half)
            var windows = Var.Stack(Enumerable.Range(0, FilterWidth).Select(o => padded.Slice(1, o, s)).ToArray(), 2);
            var f = windows.MatMul(_filters);                                                  // (B, S, k)
            pre += f.MatMul(_u);
        }
        var scores = pre.Tanh().MatMul(_wOut).Reshape(b, s);
        var weights = AttentionMasks.MaskedSoftmax(scores, memory.PaddingMask);
        return new AttentionStep(weights, AttentionMasks.Context(weights, memory.States)) { Scores = scores };
    }
}
