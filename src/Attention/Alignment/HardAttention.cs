using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alignments;

/// <summary>How a <see cref="HardAttention"/> picks its one source position while training.</summary>
public enum HardAttentionMode
{
    /// <summary>Sample j ~ Categorical(α) and learn α by REINFORCE with a baseline (Xu et al., 2015, §4.1; Williams, 1992).</summary>
    Reinforce,
    /// <summary>Straight-through Gumbel-softmax (Jang, Gu and Poole, 2017, §2 and §3.1): forward one-hot, backward the relaxed softmax.</summary>
    GumbelStraightThrough,
}

/// <summary>
/// Hard (stochastic) attention as a wrapper around any soft scorer: the soft mechanism computes α_t (B, S), the
/// wrapper replaces it by a one-hot vector at one position z_t and the context becomes c_t = h_{z_t} instead of Σ_j α_tj h_j.
/// <code>
///   REINFORCE       z ~ Cat(α);  weights = onehot(z) (no gradient);  SampleLogProb = log α_z (B)
///                   the trainer adds −(R − b)·Σ_t log α_{z_t}   (<see cref="ReinforceLoss"/>; Xu et al., 2015, eq. 10–12)
///   Gumbel-ST       y = softmax((e + g)/τ), g ~ Gumbel(0, 1), e the scores;  weights = onehot(argmax y) + y − sg(y)
///                   so the forward is exactly one-hot and the backward is that of the relaxed y
/// </code>
/// Outside training (<see cref="Module.Training"/> false) both pick argmax_j α_tj deterministically.
/// Weights (B, S) are exactly one-hot on a real (non-padding) position. Answer: docs/answers/28-hard-vs-soft.md
/// </summary>
public sealed class HardAttention : Module, IDecoderAttention
{
    private readonly IDecoderAttention _soft;
    private readonly Rng _rng;

    public HardAttention(IDecoderAttention soft, HardAttentionMode mode, Rng rng, float temperature = 1f)
    {
        ArgumentNullException.ThrowIfNull(soft);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(temperature > 0) || !float.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "Expected a finite Gumbel-softmax temperature τ > 0.");
        _soft = soft;
        _rng = rng;
        Mode = mode;
        Temperature = temperature;
        if (soft is Module m) RegisterModule("soft", m);
    }

    public HardAttentionMode Mode { get; }
    /// <summary>τ of the Gumbel-softmax relaxation.</summary>
    public float Temperature { get; }
    public int QuerySize => _soft.QuerySize;
    public int EncoderSize => _soft.EncoderSize;
    public bool QueryIsPreviousState => _soft.QueryIsPreviousState;

    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths) => _soft.Prepare(encoderStates, sourceLengths);

    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        var soft = _soft.Step(memory, query, state);
        var alpha = soft.Weights;                                                   // (B, S), 0 on padding
        if (!Training)
        {
            var hard = Var.Constant(OneHot(Argmax(alpha.Value), memory.Batch, memory.Source));
            return new AttentionStep(hard, AttentionMasks.Context(hard, memory.States)) { Scores = soft.Scores };
        }
        if (Mode == HardAttentionMode.Reinforce)
        {
            var (picked, logProb) = Sample(alpha, _rng);
            var hard = Var.Constant(OneHot(picked, memory.Batch, memory.Source));
            return new AttentionStep(hard, AttentionMasks.Context(hard, memory.States)) { Scores = soft.Scores, SampleLogProb = logProb };
        }
        var logits = soft.Scores ?? alpha.MaskedFill(memory.PaddingMask, 1f).Log();
        var weights = GumbelStraightThrough(logits, memory.PaddingMask, Temperature, _rng);
        return new AttentionStep(weights, AttentionMasks.Context(weights, memory.States)) { Scores = soft.Scores };
    }

    /// <summary>
    /// Draws z_b ~ Categorical(α_b) for each row of weights (B, S) and returns z and log α_{b, z_b} (B) as a Var whose
    /// gradient is the score function ∇ log p(z) used by REINFORCE.
    /// </summary>
    public static (int[] Picked, Var LogProb) Sample(Var weights, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(rng);
        if (weights.Rank != 2) throw new ArgumentException($"Expected weights of shape (B, S); got rank {weights.Rank}.", nameof(weights));
        int b = weights.Shape[0], s = weights.Shape[1];
        var w = weights.Value.Contiguous().AsSpan();
        var picked = new int[b];
        for (int i = 0; i < b; i++)
        {
            double u = rng.NextDouble(), acc = 0;
            int z = -1;
            for (int j = 0; j < s; j++)
            {
                if (w[i * s + j] <= 0) continue;
                z = j;                                                              // the last positive one absorbs rounding
                acc += w[i * s + j];
                if (u < acc) break;
            }
            if (z < 0) throw new ArgumentException($"Expected each row of weights to have positive mass; row {i} has none.", nameof(weights));
            picked[i] = z;
        }
        var logProb = (weights * Var.Constant(OneHot(picked, b, s))).Sum(1).Log();  // log α_{b, z_b}  (B)
        return (picked, logProb);
    }

    /// <summary>
    /// Straight-through Gumbel-softmax over logits (B, S) with padding mask (B, S) (1 = padding): forward value
    /// onehot(argmax_j (eⱼ + gⱼ)), gradient that of y = softmax((e + g)/τ), by returning y + (onehot − y) with the
    /// bracket a constant (Jang et al., 2017, §2; Bengio et al., 2013 for straight-through estimators).
    /// </summary>
    public static Var GumbelStraightThrough(Var logits, Tensor paddingMask, float temperature, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(paddingMask);
        ArgumentNullException.ThrowIfNull(rng);
        if (logits.Rank != 2) throw new ArgumentException($"Expected logits of shape (B, S); got rank {logits.Rank}.", nameof(logits));
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "Expected τ > 0.");
        int b = logits.Shape[0], s = logits.Shape[1];
        var gumbel = Tensor.Zeros(b, s);
        var g = gumbel.AsSpan();
        for (int i = 0; i < g.Length; i++) g[i] = (float)-Math.Log(-Math.Log(Math.Max(rng.NextDouble(), 1e-300)));
        var y = ((logits + Var.Constant(gumbel)) * (1f / temperature)).MaskedFill(paddingMask, float.NegativeInfinity).Softmax(-1);
        var hard = OneHot(Argmax(y.Value), b, s);
        var shift = hard.AsSpan(); var ys = y.Value.Contiguous().AsSpan();
        for (int i = 0; i < shift.Length; i++) shift[i] -= ys[i];                  // onehot − y, a constant
        return y + Var.Constant(hard);
    }

    /// <summary>
    /// The REINFORCE surrogate for a batch: −(1/B) Σ_b (R_b − baseline) · Σ_{t &lt; T_b} log α_{t, z_t}, whose gradient is the
    /// score-function estimate of ∇ E[R] (Williams, 1992; Xu et al., 2015, eq. 10–12 with the moving-average baseline).
    /// logProbs: one (B) per step; rewards (B), e.g. the log-likelihood of the reference; targetLengths (B).
    /// </summary>
    public static Var ReinforceLoss(IReadOnlyList<Var> logProbs, double[] rewards, double baseline, int[] targetLengths)
    {
        ArgumentNullException.ThrowIfNull(logProbs);
        ArgumentNullException.ThrowIfNull(rewards);
        ArgumentNullException.ThrowIfNull(targetLengths);
        if (logProbs.Count == 0) throw new ArgumentException("Expected at least one step of log-probabilities.", nameof(logProbs));
        int b = rewards.Length;
        if (targetLengths.Length != b) throw new ArgumentException($"Expected {b} target lengths; got {targetLengths.Length}.", nameof(targetLengths));
        Var? total = null;
        for (int t = 0; t < logProbs.Count; t++)
        {
            if (logProbs[t].Rank != 1 || logProbs[t].Shape[0] != b)
                throw new ArgumentException($"Expected log-probabilities of shape ({b}) at step {t}.", nameof(logProbs));
            var coef = Tensor.Zeros(b);
            var c = coef.AsSpan();
            for (int i = 0; i < b; i++) c[i] = t < targetLengths[i] ? (float)(-(rewards[i] - baseline) / b) : 0f;
            var term = (logProbs[t] * Var.Constant(coef)).Sum();
            total = total is null ? term : total + term;
        }
        return total!;
    }

    /// <summary>Per row of (B, S) the index of the largest value (ties to the lowest index).</summary>
    public static int[] Argmax(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int b = weights.Dim(0), s = weights.Dim(1);
        var w = weights.Contiguous().AsSpan();
        var result = new int[b];
        for (int i = 0; i < b; i++)
        {
            int best = 0;
            for (int j = 1; j < s; j++) if (w[i * s + j] > w[i * s + best]) best = j;
            result[i] = best;
        }
        return result;
    }

    private static Tensor OneHot(int[] picked, int b, int s)
    {
        var t = Tensor.Zeros(b, s);
        var span = t.AsSpan();
        for (int i = 0; i < b; i++) span[i * s + picked[i]] = 1f;
        return t;
    }
}
