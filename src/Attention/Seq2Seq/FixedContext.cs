using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Seq2Seq;

/// <summary>
/// No attention: the decoder sees one fixed context vector c = the encoder's summary of the whole source at every
/// step (Cho et al., 2014, "Learning Phrase Representations using RNN Encoder–Decoder…", EMNLP, §2.2: c feeds every
/// decoder step). The summary is the last real state of the forward direction, concatenated for a bidirectional
/// encoder with the reverse direction's state at position 0 (both are the states after reading the whole word).
/// Its "weights" are a one-hot on the last real position (so plots and tests have something to show); they carry no
/// gradient and the context does not depend on the query. No parameters.
/// </summary>
public sealed class FixedContext : Module, IDecoderAttention
{
    /// <inheritdoc/>
    public int QuerySize { get; }
    /// <inheritdoc/>
    public int EncoderSize { get; }
    /// <inheritdoc/>
    public bool QueryIsPreviousState => true;
    /// <summary>True when the encoder states are forward ‖ reverse (the reverse summary is at position 0).</summary>
    public bool Bidirectional { get; }

    /// <summary>query width Q, encoder width E (even when bidirectional).</summary>
    public FixedContext(int querySize, int encoderSize, bool bidirectional)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(querySize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(encoderSize);
        if (bidirectional && encoderSize % 2 != 0)
            throw new ArgumentException($"expected an even encoder width for a bidirectional encoder, got {encoderSize}", nameof(encoderSize));
        QuerySize = querySize; EncoderSize = encoderSize; Bidirectional = bidirectional;
    }

    /// <inheritdoc/>
    public AttentionMemory Prepare(Var encoderStates, int[] sourceLengths)
    {
        var m = AttentionMemory.Create(encoderStates, sourceLengths, EncoderSize);
        int b = m.Batch, s = m.Source, e = EncoderSize;
        var last = encoderStates.Gather(1, sourceLengths.Select(n => n - 1).SelectMany(j => Enumerable.Repeat(j, e)).ToArray()).Reshape(b, e);
        Var summary = last;
        if (Bidirectional)
        {
            int h = e / 2;
            var first = encoderStates.Slice(1, 0, 1).Reshape(b, e);
            summary = Var.Concat([last.Slice(1, 0, h), first.Slice(1, h, h)], 1);
        }
        return m with { Keys = summary };
    }

    /// <inheritdoc/>
    public AttentionStep Step(AttentionMemory memory, Var query, AttentionStepState state)
    {
        AttentionMasks.CheckQuery(query, memory, QuerySize, nameof(FixedContext));
        var w = Tensor.Zeros(memory.Batch, memory.Source);
        for (int i = 0; i < memory.Batch; i++) w.AsSpan()[i * memory.Source + memory.Lengths[i] - 1] = 1f;
        var summary = memory.Keys ?? throw new ArgumentException("expected a memory from FixedContext.Prepare (it holds the summary in Keys)", nameof(memory));
        return new AttentionStep(Var.Constant(w), summary);
    }
}
