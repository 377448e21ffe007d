using System.Numerics.Tensors;
using Attention.Kernels;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

// Losses, each a fused forward/backward returning a rank-0 mean.
public sealed partial class Var
{
    /// <summary>
    /// Cross-entropy of class logits against integer targets, averaged over the rows whose target is
    /// not <paramref name="ignoreIndex"/>. logits (…, C) are read as N = Length / C rows; targets holds N
    /// class ids in [0, C) or ignoreIndex. With label smoothing ε the target distribution is
    /// q = (1 − ε)·onehot + ε/C (Szegedy et al., 2016), as torch.nn.CrossEntropyLoss does:
    /// loss_r = −Σ_c q_c · log softmax(logits_r)_c. When every row is ignored the loss is 0 with zero gradient.
    /// </summary>
    public static Var CrossEntropy(Var logits, ReadOnlySpan<int> targets, int ignoreIndex = -100, float labelSmoothing = 0f)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Rank == 0) throw new ArgumentException("CrossEntropy expects logits of shape (…, C), got a scalar", nameof(logits));
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "expected label smoothing in [0, 1]");
        int c = logits.Shape[^1];
        int rows = c == 0 ? 0 : logits.Length / c;
        if (targets.Length != rows)
            throw new ArgumentException($"CrossEntropy: logits {Fmt(logits.Shape)} have {rows} rows of {c} classes, got {targets.Length} targets", nameof(targets));
        var tgt = targets.ToArray();
        int count = 0;
        for (int r = 0; r < rows; r++)
        {
            if (tgt[r] == ignoreIndex) continue;
            if ((uint)tgt[r] >= (uint)c)
                throw new ArgumentOutOfRangeException(nameof(targets), $"target {tgt[r]} of row {r} is outside [0, {c}) and is not ignoreIndex {ignoreIndex}");
            count++;
        }
        // logp rows are kept for the backward: softmax = exp(logp).
        var logp = new float[logits.Length];
        Kernels.Softmax.LogRows(logits.Data, logp, rows, c);
        double total = 0;
        float eps = labelSmoothing;
        for (int r = 0; r < rows; r++)
        {
            if (tgt[r] == ignoreIndex) continue;
            var lr = logp.AsSpan(r * c, c);
            double nll = -lr[tgt[r]];
            total += eps == 0f ? nll : (1 - eps) * nll - eps / c * TensorPrimitives.Sum(lr);
        }
        var y = Tensor.FromArray([count == 0 ? 0f : (float)(total / count)]);
        return Make(y, "cross_entropy", [logits], o =>
        {
            // forward: loss = (1/count) Σ_rows −Σ_c q_c·logp_c  ⇒  dlogits_r += dloss/count · (softmax_r − q_r)
            if (count == 0) return;
            float s = o._grad!.AsSpan()[0] / count;
            var dx = logits.GradBuffer();
            var p = new float[c];
            for (int r = 0; r < rows; r++)
            {
                if (tgt[r] == ignoreIndex) continue;
                TensorPrimitives.Exp(logp.AsSpan(r * c, c), p);
                if (eps != 0f) TensorPrimitives.Subtract(p, eps / c, p);
                p[tgt[r]] -= 1f - eps;
                var dr = dx.Slice(r * c, c);
                TensorPrimitives.MultiplyAdd(p, s, dr, dr);
            }
        });
    }

    /// <summary>Mean squared error mean((prediction − target)²); both of the same shape (target may be a constant).</summary>
    public static Var Mse(Var prediction, Var target)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(target);
        if (!prediction.Shape.SequenceEqual(target.Shape))
            throw new ArgumentException($"Mse: prediction {Fmt(prediction.Shape)} and target {Fmt(target.Shape)} differ in shape", nameof(target));
        int n = prediction.Length;
        var diff = new float[n];
        TensorPrimitives.Subtract(prediction.Data, target.Data, diff);
        double sum = 0;
        foreach (var v in diff) sum += (double)v * v;
        var y = Tensor.FromArray([n == 0 ? float.NaN : (float)(sum / n)]);
        return Make(y, "mse", [prediction, target], o =>
        {
            // forward: loss = (1/n) Σ (p − t)²  ⇒  dp += 2(p − t)/n · dloss, dt −= the same
            float s = 2f * o._grad!.AsSpan()[0] / n;
            if (prediction.RequiresGrad) { var d = prediction.GradBuffer(); TensorPrimitives.MultiplyAdd(diff, s, d, d); }
            if (target.RequiresGrad) { var d = target.GradBuffer(); TensorPrimitives.MultiplyAdd(diff, -s, d, d); }
        });
    }

    /// <summary>
    /// Binary cross-entropy on logits, mean over elements: loss = mean(softplus(x) − x·t), computed as
    /// max(x, 0) − x·t + log(1 + e^(−|x|)) so no exponent overflows (torch's BCEWithLogitsLoss).
    /// Targets t in [0, 1], same shape as the logits.
    /// </summary>
    public static Var BinaryCrossEntropyWithLogits(Var logits, Var targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (!logits.Shape.SequenceEqual(targets.Shape))
            throw new ArgumentException($"BinaryCrossEntropyWithLogits: logits {Fmt(logits.Shape)} and targets {Fmt(targets.Shape)} differ in shape", nameof(targets));
        int n = logits.Length;
        var x = logits.Data; var t = targets.Data;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double xi = x[i];
            sum += Math.Max(xi, 0) - xi * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(xi)));
        }
        var y = Tensor.FromArray([n == 0 ? float.NaN : (float)(sum / n)]);
        return Make(y, "bce_with_logits", [logits, targets], o =>
        {
            // forward: loss = (1/n) Σ softplus(x) − x·t  ⇒  dx += (σ(x) − t)/n · dloss,  dt += −x/n · dloss
            float s = o._grad!.AsSpan()[0] / n;
            if (logits.RequiresGrad)
            {
                var g = new float[n];
                TensorPrimitives.Sigmoid(logits.Data, g);
                TensorPrimitives.Subtract(g, targets.Data, g);
                var d = logits.GradBuffer();
                TensorPrimitives.MultiplyAdd(g, s, d, d);
            }
            if (targets.RequiresGrad)
            {
                var d = targets.GradBuffer();
                TensorPrimitives.MultiplyAdd(logits.Data, -s, d, d);
            }
        });
    }
}
