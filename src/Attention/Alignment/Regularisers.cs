using Attention.Data;
using Attention.Autograd;
using Attention.Seq2Seq;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Alignments;

/// <summary>
/// Losses on the attention weights themselves, added to the translation loss with a weight λ:
/// <code>
///   entropy      (1/N) Σ_{b,t} −Σ_j α_tj log α_tj                       sharper weights when minimised
///   supervised   (1/N') Σ_{b,t} −Σ_j g_tj log α_tj,  g_t uniform over the gold links of target t
///                (Liu et al., 2016, "Neural Machine Translation with Supervised Attention", COLING; Mi et al., 2016,
///                 "Supervised Attentions for Neural Machine Translation", EMNLP)
///   coverage     See et al., 2017, eq. 12–13 (<see cref="CoverageLoss"/> of the Seq2Seq library)
/// </code>
/// weights: one (B, S) per decoder step t, as <see cref="Seq2SeqOutput.Weights"/> returns them; N counts the real
/// target steps (t &lt; targetLengths[b]). Answer: docs/answers/33-attention-regularisation.md
/// </summary>
public static class Regularisers
{
    /// <summary>Mean entropy (nats) of the attention distributions of the real target steps. Padding (α = 0) adds 0.</summary>
    public static Var Entropy(IReadOnlyList<Var> weights, int[] targetLengths)
    {
        int b = CheckSteps(weights, targetLengths);
        Var? total = null;
        for (int t = 0; t < weights.Count; t++)
        {
            var a = weights[t];
            var zero = Tensor.Zeros(a.Shape.ToArray());
            var av = a.Value.Contiguous().AsSpan(); var zs = zero.AsSpan();
            int s = a.Shape[1];
            for (int i = 0; i < av.Length; i++) zs[i] = av[i] <= 0f || t >= targetLengths[i / s] ? 1f : 0f;
            // α·log α with α = 0 entries (padding, finished items) replaced by 1 inside the log: they contribute 0·0
            var live = Var.Constant(LiveRows(targetLengths, t, b));
            var term = ((a * a.MaskedFill(zero, 1f).Log()).Sum(1) * live).Sum() * -1f;
            total = total is null ? term : total + term;
        }
        return total! / Math.Max(1, targetLengths.Sum());
    }

    /// <summary>
    /// Cross-entropy between the gold alignment and the attention weights: for target position t of item b with
    /// gold links L = {j : (j, t) ∈ S} (Sure links; Possible ones when <paramref name="usePossible"/>), the term is
    /// −(1/|L|) Σ_{j∈L} log α_tj. Steps with no gold link (EOS, unaligned words) are skipped. Mean over the terms.
    /// </summary>
    public static Var SupervisedAlignment(IReadOnlyList<Var> weights, IReadOnlyList<GoldAlignment> gold, bool usePossible = false)
    {
        ArgumentNullException.ThrowIfNull(gold);
        int b = CheckSteps(weights, gold.Select(g => g.TargetLength).ToArray());
        if (gold.Count != b) throw new ArgumentException($"Expected {b} gold alignments (one per batch item); got {gold.Count}.", nameof(gold));
        int s = weights[0].Shape[1];
        Var? total = null;
        int terms = 0;
        for (int t = 0; t < weights.Count; t++)
        {
            var target = Tensor.Zeros(b, s);
            var ts = target.AsSpan();
            bool any = false;
            for (int i = 0; i < b; i++)
            {
                var links = (usePossible ? gold[i].Possible : gold[i].Sure).Where(l => l.Target == t).ToList();
                if (links.Count == 0) continue;
                foreach (var l in links)
                {
                    if (l.Source >= s) throw new ArgumentException($"Gold link ({l.Source}, {t}) of item {i} lies beyond the padded source length {s}.", nameof(gold));
                    ts[i * s + l.Source] = 1f / links.Count;
                }
                terms++; any = true;
            }
            if (!any) continue;
            // α is 0 only on padding, where g is 0 too; fill those with 1 so log stays finite
            var mask = Tensor.Zeros(b, s);
            var ms = mask.AsSpan(); var av = weights[t].Value.Contiguous().AsSpan();
            for (int i = 0; i < ms.Length; i++) ms[i] = av[i] <= 0f ? 1f : 0f;
            var term = (Var.Constant(target) * weights[t].MaskedFill(mask, 1f).Log()).Sum() * -1f;
            total = total is null ? term : total + term;
        }
        return total is null ? Var.Scalar(0f) : total / terms;
    }

    /// <summary>The See et al. (2017) coverage loss, Σ_t Σ_j min(α_tj, Σ_{t'&lt;t} α_t'j), from the Seq2Seq library.</summary>
    public static Var Coverage(IReadOnlyList<Var> weights, int[] targetLengths) => CoverageLoss.Compute(weights, targetLengths);

    private static Tensor LiveRows(int[] targetLengths, int t, int b)
    {
        var live = Tensor.Zeros(b);
        var span = live.AsSpan();
        for (int i = 0; i < b; i++) span[i] = t < targetLengths[i] ? 1f : 0f;
        return live;
    }

    private static int CheckSteps(IReadOnlyList<Var> weights, int[] targetLengths)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(targetLengths);
        if (weights.Count == 0) throw new ArgumentException("Expected at least one step of weights, got none.", nameof(weights));
        var shape = weights[0].Shape.ToArray();
        if (shape.Length != 2) throw new ArgumentException($"Expected weights of shape (B, S); got rank {shape.Length}.", nameof(weights));
        foreach (var w in weights)
            if (!w.Shape.SequenceEqual(shape)) throw new ArgumentException($"Expected every step's weights to have shape ({shape[0]}, {shape[1]}).", nameof(weights));
        if (targetLengths.Length != shape[0])
            throw new ArgumentException($"Expected {shape[0]} target lengths (one per batch item); got {targetLengths.Length}.", nameof(targetLengths));
        return shape[0];
    }
}
