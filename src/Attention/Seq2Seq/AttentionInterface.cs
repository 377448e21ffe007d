using System.Numerics.Tensors;
using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Seq2Seq;

/// <summary>
/// One decoder step of attention over the encoder states of a padded batch. <see cref="Prepare"/> runs once
/// per source (it precomputes whatever does not depend on the decoder, e.g. Bahdanau's U·h_j), <see cref="Step"/>
/// once per output position t.
/// </summary>
public interface IDecoderAttention
{
    /// <summary>Width Q of the query each step expects.</summary>
    int QuerySize { get; }

    /// <summary>Width E of the encoder states (and of the context vector).</summary>
    int EncoderSize { get; }

    /// <summary>True when the query is the previous decoder state s_{t−1} (Bahdanau); false when it is the current top-layer state h_t (Luong).</summary>
    bool QueryIsPreviousState { get; }

    /// <summary>encoderStates (B, S, E), sourceLengths (B) with values in [1, S] → the memory every step reads.</summary>
    AttentionMemory Prepare(Var encoderStates, int[] sourceLengths);

    /// <summary>query (B, Q) → weights (B, S), exactly 0 on padding, and context (B, E).</summary>
    AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state);
}

/// <summary>
/// What <see cref="IDecoderAttention.Prepare"/> computed for one batch of sources: the encoder states (B, S, E),
/// the lengths, the padding mask (B, S) (1 on padding), and an optional mechanism-specific key tensor (B, S, A).
/// </summary>
public sealed record AttentionMemory(Var States, int[] Lengths, Tensor PaddingMask, Var? Keys = null)
{
    /// <summary>Batch size B.</summary>
    public int Batch => States.Shape[0];
    /// <summary>Padded source length S.</summary>
    public int Source => States.Shape[1];
    /// <summary>Encoder width E.</summary>
    public int Width => States.Shape[2];

    /// <summary>
    /// The memory of rows <paramref name="rows"/> (with repeats): beam search runs K hypotheses of one source as a batch of K.
    /// </summary>
    public AttentionMemory Select(int[] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        foreach (var r in rows)
            if ((uint)r >= (uint)Batch) throw new ArgumentOutOfRangeException(nameof(rows), $"expected rows in [0, {Batch}), got {r}");
        var lengths = rows.Select(r => Lengths[r]).ToArray();
        return new AttentionMemory(States.IndexSelect(0, rows), lengths, AttentionMasks.Padding(lengths, Source), Keys?.IndexSelect(0, rows));
    }

    /// <summary>Checks the arguments of <see cref="IDecoderAttention.Prepare"/> and builds the memory.</summary>
    public static AttentionMemory Create(Var encoderStates, int[] sourceLengths, int encoderSize, Var? keys = null)
    {
        ArgumentNullException.ThrowIfNull(encoderStates);
        ArgumentNullException.ThrowIfNull(sourceLengths);
        if (encoderStates.Rank != 3 || encoderStates.Shape[2] != encoderSize)
            throw new ArgumentException($"expected encoder states of shape (B, S, {encoderSize}), got {Var.Fmt(encoderStates.Shape)}", nameof(encoderStates));
        int b = encoderStates.Shape[0], s = encoderStates.Shape[1];
        if (sourceLengths.Length != b)
            throw new ArgumentException($"expected {b} source lengths (one per batch item), got {sourceLengths.Length}", nameof(sourceLengths));
        for (int i = 0; i < b; i++)
            if (sourceLengths[i] < 1 || sourceLengths[i] > s)
                throw new ArgumentException($"expected source lengths in [1, {s}], got {sourceLengths[i]} for item {i}", nameof(sourceLengths));
        return new AttentionMemory(encoderStates, sourceLengths, AttentionMasks.Padding(sourceLengths, s), keys);
    }
}

/// <summary>
/// The decoder-side state an attention step may read: step index t (0-based), the previous weights α_{t−1} (B, S)
/// (null at t = 0), the cumulative coverage Σ_{k&lt;t} α_k (B, S) (null at t = 0), and the source lengths.
/// </summary>
public sealed record AttentionStepState(int Step, Var? PreviousWeights, Var? Coverage, int[] SourceLengths)
{
    /// <summary>The state before the first step.</summary>
    public static AttentionStepState Initial(int[] sourceLengths) => new(0, null, null, sourceLengths);

    /// <summary>The state after a step with weights <paramref name="weights"/>: coverage grows by them.</summary>
    public AttentionStepState Next(Var weights) => new(Step + 1, weights, Coverage is null ? weights : Coverage + weights, SourceLengths);

    /// <summary>Rows <paramref name="rows"/> of the state (beam search reorders hypotheses).</summary>
    public AttentionStepState Select(int[] rows) => new(Step, PreviousWeights?.IndexSelect(0, rows), Coverage?.IndexSelect(0, rows),
        rows.Select(r => SourceLengths[r]).ToArray());
}

/// <summary>
/// One step's result: weights α_t (B, S), exactly 0 on padding; context c_t = Σ_j α_tj h_j (B, E).
/// Optional extras: <see cref="Scores"/> (B, S) before the softmax, <see cref="SampleLogProb"/> (B) for a
/// REINFORCE estimator, <see cref="PredictedCentre"/> (B) for local-p.
/// </summary>
public sealed record AttentionStep(Var Weights, Var Context)
{
    /// <summary>Scores e_tj (B, S) before masking and softmax, when the mechanism has them.</summary>
    public Var? Scores { get; init; }
    /// <summary>log p of a sampled position (hard attention), (B).</summary>
    public Var? SampleLogProb { get; init; }
    /// <summary>Local-p centre p_t ∈ [0, S] (B).</summary>
    public Var? PredictedCentre { get; init; }
}

/// <summary>Masks and the two operations every soft mechanism shares: masked softmax and the weighted sum.</summary>
public static class AttentionMasks
{
    /// <summary>(B, S): 1 where j ≥ lengths[b] (padding), 0 on real positions.</summary>
    public static Tensor Padding(int[] lengths, int source)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        var m = Tensor.Zeros(lengths.Length, source);
        var s = m.AsSpan();
        for (int b = 0; b < lengths.Length; b++)
            for (int j = Math.Min(lengths[b], source); j < source; j++) s[b * source + j] = 1f;
        return m;
    }

    /// <summary>softmax over j of scores (B, S) with masked positions set to −∞ first, so their weight is exactly 0.</summary>
    public static Var MaskedSoftmax(Var scores, Tensor mask) => scores.MaskedFill(mask, float.NegativeInfinity).Softmax(-1);

    /// <summary>
    /// c = Σ_j α_j h_j: weights (B, S), states (B, S, E) → (B, E). A fused op with span loops: B tiny (1×S)·(S×E)
    /// products are faster serially than as a threaded batched GEMM.
    /// </summary>
    public static Var Context(Var weights, Var states)
    {
        int b = states.Shape[0], s = states.Shape[1], e = states.Shape[2];
        var w = weights.Value.Contiguous(); var h = states.Value.Contiguous();
        var c = Tensor.Zeros(b, e);
        var ws = w.AsSpan(); var hs = h.AsSpan(); var cs = c.AsSpan();
        for (int i = 0; i < b; i++)
            for (int j = 0; j < s; j++)
            {
                float a = ws[i * s + j];
                if (a != 0f) TensorPrimitives.MultiplyAdd(hs.Slice((i * s + j) * e, e), a, cs.Slice(i * e, e), cs.Slice(i * e, e));
            }
        return Var.FromOp(c, "attention_context", [weights, states], o =>
        {
            // forward: c_ie = Σ_j w_ij h_ije  ⇒  dw_ij = Σ_e dc_ie h_ije,  dh_ije += w_ij dc_ie
            var dc = o.Grad!.AsSpan();
            var hv = h.AsSpan(); var wv = w.AsSpan();
            if (weights.RequiresGrad)
            {
                var dw = weights.GradBuffer();
                for (int i = 0; i < b; i++)
                    for (int j = 0; j < s; j++) dw[i * s + j] += TensorPrimitives.Dot(dc.Slice(i * e, e), hv.Slice((i * s + j) * e, e));
            }
            if (states.RequiresGrad)
            {
                var dh = states.GradBuffer();
                for (int i = 0; i < b; i++)
                    for (int j = 0; j < s; j++)
                    {
                        var dst = dh.Slice((i * s + j) * e, e);
                        TensorPrimitives.MultiplyAdd(dc.Slice(i * e, e), wv[i * s + j], dst, dst);
                    }
            }
        });
    }

    /// <summary>Scores from keys (B, S, A) against one query vector per item q (B, A): k_j · q → (B, S), a fused op like <see cref="Context"/>.</summary>
    public static Var DotScores(Var keys, Var query)
    {
        int b = keys.Shape[0], s = keys.Shape[1], a = keys.Shape[2];
        var k = keys.Value.Contiguous(); var q = query.Value.Contiguous();
        var y = Tensor.Zeros(b, s);
        var ks = k.AsSpan(); var qs = q.AsSpan(); var ys = y.AsSpan();
        for (int i = 0; i < b; i++)
            for (int j = 0; j < s; j++) ys[i * s + j] = TensorPrimitives.Dot(ks.Slice((i * s + j) * a, a), qs.Slice(i * a, a));
        return Var.FromOp(y, "dot_scores", [keys, query], o =>
        {
            // forward: y_ij = Σ_a k_ija q_ia  ⇒  dk_ija += dy_ij q_ia,  dq_ia += Σ_j dy_ij k_ija
            var dy = o.Grad!.AsSpan();
            var kv = k.AsSpan(); var qv = q.AsSpan();
            Span<float> dk = keys.RequiresGrad ? keys.GradBuffer() : default;
            Span<float> dq = query.RequiresGrad ? query.GradBuffer() : default;
            for (int i = 0; i < b; i++)
                for (int j = 0; j < s; j++)
                {
                    float g = dy[i * s + j];
                    if (g == 0f) continue;
                    if (keys.RequiresGrad) { var dst = dk.Slice((i * s + j) * a, a); TensorPrimitives.MultiplyAdd(qv.Slice(i * a, a), g, dst, dst); }
                    if (query.RequiresGrad) { var dst = dq.Slice(i * a, a); TensorPrimitives.MultiplyAdd(kv.Slice((i * s + j) * a, a), g, dst, dst); }
                }
        });
    }

    internal static void CheckQuery(Var query, AttentionMemory memory, int querySize, string name)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(memory);
        if (query.Rank != 2 || query.Shape[0] != memory.Batch || query.Shape[1] != querySize)
            throw new ArgumentException($"{name} expects a query of shape ({memory.Batch}, {querySize}), got {Var.Fmt(query.Shape)}", nameof(query));
    }
}
