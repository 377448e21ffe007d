using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Seq2Seq;

/// <summary>How local attention picks its centre p_t.</summary>
public enum LocalMode
{
    /// <summary>Monotonic: p_t = t (Luong et al., 2015, §3.2 "local-m").</summary>
    Monotonic,
    /// <summary>Predictive: p_t = S·sigmoid(v_pᵀ tanh(W_p h_t)) (§3.2, "local-p").</summary>
    Predictive,
}

/// <summary>
/// Local attention of Luong, Pham and Manning (2015), EMNLP, §3.2: attend to the window [p_t − D, p_t + D] only.
/// <code>
///   local-m:  p_t = t
///   local-p:  p_t = S · sigmoid(v_pᵀ tanh(W_p h_t))                              (S = the item's real length)
///   a_t(s)  = align(h_t, h̄_s) · exp(−(s − p_t)² / (2σ²)),   σ = D/2               (the Gaussian of §3.2)
/// </code>
/// align is the softmax of a <see cref="LuongAttention"/> score (eq. 7) over the positions of the window that are
/// real source positions; everything outside gets weight exactly 0. For local-m the Gaussian is 1 on the window's
/// centre and the window is taken as is (Luong: "we simply set p_t = t ... the alignment vector is defined
/// according to equation (7)"), so local-m weights sum to 1. For local-p the Gaussian factor of eq. (10) is applied
/// without renormalising, as in the paper, so the weights sum to at most 1; the Gaussian is what lets the gradient
/// reach W_p and v_p (the window itself, rounded from p_t, is not differentiable). When t is past the end of a
/// short source, local-m clamps the centre to the last real position so the window is never empty.
/// </summary>
public sealed class LocalAttention : Module, IDecoderAttention
{
    private readonly LuongAttention _align;
    private readonly Linear? _wp;
    private readonly Var? _vp;

    /// <inheritdoc/>
    public int QuerySize => _align.QuerySize;
    /// <inheritdoc/>
    public int EncoderSize => _align.EncoderSize;
    /// <inheritdoc/>
    public bool QueryIsPreviousState => false;
    /// <summary>Half-width D of the window.</summary>
    public int HalfWidth { get; }
    /// <summary>local-m or local-p.</summary>
    public LocalMode Mode { get; }
    /// <summary>The score inside the window.</summary>
    public LuongScore Score => _align.Score;

    /// <summary>mode, score function (not location), query width Q, encoder width E, half-width D ≥ 1.</summary>
    public LocalAttention(LocalMode mode, LuongScore score, int querySize, int encoderSize, int halfWidth, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(halfWidth);
        if (score == LuongScore.Location)
            throw new ArgumentException("local attention needs a content score (dot, general or concat), got location", nameof(score));
        Mode = mode; HalfWidth = halfWidth;
        _align = RegisterModule("align", new LuongAttention(score, querySize, encoderSize, rng));
        if (mode == LocalMode.Predictive)
        {
            _wp = RegisterModule("W_p", new Linear(querySize, querySize, rng, bias: false));
            float k = 1f / MathF.Sqrt(querySize);
            _vp = RegisterParameter("v_p", Var.Parameter(rng.UniformTensor([querySize, 1], -k, k)));
        }
    }

    /// <inheritdoc/>
    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths) => _align.Prepare(encoderStates, sourceLengths);

    /// <inheritdoc/>
    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var scores = _align.Scores(memory, query);
        int b = memory.Batch, s = memory.Source;
        var centres = new double[b];
        Var? p = null;
        if (Mode == LocalMode.Monotonic)
            for (int i = 0; i < b; i++) centres[i] = Math.Min(state.Step, memory.Lengths[i] - 1);
        else
        {
            var lengths = Tensor.FromArray(memory.Lengths.Select(n => (float)n).ToArray(), b, 1);
            p = (_wp!.Forward(query).Tanh().MatMul(_vp!).Sigmoid() * Var.Constant(lengths));            // (B, 1), the predicted centre
            for (int i = 0; i < b; i++) centres[i] = p.Value.AsSpan()[i];
        }
        // Everything outside [round(p_t) − D, round(p_t) + D] or past the item's length is masked.
        var mask = memory.PaddingMask.Clone();
        var ms = mask.AsSpan();
        for (int i = 0; i < b; i++)
        {
            int c = (int)Math.Round(centres[i]);
            for (int j = 0; j < s; j++)
                if (Math.Abs(j - c) > HalfWidth) ms[i * s + j] = 1f;
        }
        var weights = AttentionMasks.MaskedSoftmax(scores, mask);
        if (p is not null)
        {
            double sigma = HalfWidth / 2.0;
            var positions = Tensor.FromArray(Enumerable.Range(0, s).Select(j => (float)j).ToArray(), 1, s);
            var gauss = ((Var.Constant(positions) - p).Square() * (float)(-1.0 / (2 * sigma * sigma))).Exp();   // the Gaussian window
            weights = weights * gauss;
        }
        return new AttentionStep(weights, AttentionMasks.Context(weights, memory.States))
        {
            Scores = scores,
            PredictedCentre = p?.Reshape(b) ?? Var.Constant(Tensor.FromArray(centres.Select(x => (float)x).ToArray(), b)),
        };
    }
}
