namespace Attention.Autograd;

public sealed partial class Var
{
    /// <summary>
    /// The z-loss (Chowdhery et al., 2022, PaLM §5; Zoph et al., 2022, ST-MoE): the mean squared log-partition
    /// log Z = log Σ_v e^(logit_v) of every row over the last axis, an auxiliary penalty (PaLM weights it 1e-4) that
    /// keeps the softmax normaliser near 1, so logits cannot drift to large values while the cross-entropy, which is
    /// invariant to a shift of a row, does not notice. logits (…, V) → a rank-0 mean of (log Z)².
    /// Built from differentiable ops: log Z = logit_0 − log_softmax(logits)_0.
    /// </summary>
    /// <exception cref="ArgumentException">A scalar, or an empty last axis.</exception>
    public Var ZLoss()
    {
        if (Rank == 0 || Shape[^1] == 0)
            throw new ArgumentException($"z-loss expects logits of shape (…, V) with V ≥ 1, got {Fmt(Shape)}");
        int axis = Rank - 1;
        var logZ = Slice(axis, 0, 1) - LogSoftmax(-1).Slice(axis, 0, 1);    // (…, 1)
        return logZ.Square().Mean();
    }
}
