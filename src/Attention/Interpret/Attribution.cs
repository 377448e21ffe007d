using Attention.Autograd;
using Attention.Tensors;

namespace Attention.Interpret;

/// <summary>Integrated-gradients attributions and the two ends of the path they integrate along.</summary>
/// <param name="Attributions">One value per input element, same layout as the input.</param>
/// <param name="Output">f(x).</param>
/// <param name="BaselineOutput">f(x′).</param>
public sealed record IntegratedGradientsResult(float[] Attributions, double Output, double BaselineOutput)
{
    /// <summary>Σ attributions − (f(x) − f(x′)): zero for exact integration (the completeness axiom, Sundararajan et al. 2017, Prop. 1).</summary>
    public double CompletenessGap => Attributions.Sum(a => (double)a) - (Output - BaselineOutput);
}

/// <summary>
/// Gradient-based attributions of a scalar function of an input tensor. The function is written on the
/// autograd tape (<see cref="Var"/>) and maps a batch of N inputs (N, …) to N values (N), so that the points of
/// an integration path run as one batch.
/// - Gradient × input (Shrikumar et al., 2016; Denil et al., 2014): a_k = x_k · ∂f/∂x_k.
/// - Integrated gradients (Sundararajan, Taly &amp; Yan, 2017, "Axiomatic Attribution for Deep Networks", ICML,
///   eq. 1, Riemann approximation eq. 3): a_k = (x_k − x′_k) · ∫₀¹ ∂f(x′ + α(x − x′))/∂x_k dα, here with the
///   midpoint rule over <c>steps</c> points.
/// </summary>
public static class Attribution
{
    /// <summary>x ⊙ ∇f(x) for one input <paramref name="input"/> (shape S); <paramref name="f"/> sees (1, S…).</summary>
    public static float[] GradientTimesInput(Func<Var, Var> f, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(input);
        var (grad, _) = Gradients(f, Batch(input, input, [1.0]));
        var x = input.ToArray();
        for (int k = 0; k < x.Length; k++) grad[k] *= x[k];
        return grad;
    }

    /// <summary>
    /// Integrated gradients of <paramref name="f"/> at <paramref name="input"/> from <paramref name="baseline"/> (both shape S),
    /// with <paramref name="steps"/> midpoint-rule points evaluated <paramref name="chunk"/> at a time.
    /// </summary>
    public static IntegratedGradientsResult IntegratedGradients(Func<Var, Var> f, Tensor input, Tensor baseline, int steps = 32, int chunk = 8)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(baseline);
        if (!input.Shape.SequenceEqual(baseline.Shape))
            throw new ArgumentException($"expected a baseline of the input's shape {Tensor.FormatShape(input.Shape)}, got {Tensor.FormatShape(baseline.Shape)}", nameof(baseline));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunk);
        int n = input.Length;
        var sum = new double[n];
        for (int start = 0; start < steps; start += chunk)
        {
            int count = Math.Min(chunk, steps - start);
            var alphas = Enumerable.Range(start, count).Select(k => (k + 0.5) / steps).ToArray();
            var (grad, _) = Gradients(f, Batch(input, baseline, alphas));
            for (int c = 0; c < count; c++)
                for (int k = 0; k < n; k++) sum[k] += grad[c * n + k];
        }
        var x = input.ToArray();
        var b = baseline.ToArray();
        var attributions = new float[n];
        for (int k = 0; k < n; k++) attributions[k] = (float)((x[k] - b[k]) * sum[k] / steps);
        double output, baseOutput;
        using (Var.NoGrad())
        {
            var ends = f(Var.Constant(Batch(input, baseline, [1.0, 0.0]))).Value.ToArray();
            if (ends.Length != 2) throw new ArgumentException($"expected f to map a batch of 2 inputs to 2 values, got {ends.Length}", nameof(f));
            (output, baseOutput) = (ends[0], ends[1]);
        }
        return new IntegratedGradientsResult(attributions, output, baseOutput);
    }

    /// <summary>
    /// Collapses per-element attributions (T, D) to one score per token: the signed sum over D (what completeness
    /// adds up) or, with <paramref name="absolute"/>, the L2 norm (the magnitude, sign ignored).
    /// </summary>
    public static double[] PerToken(ReadOnlySpan<float> attributions, int tokens, int dim, bool absolute = false)
    {
        if (tokens <= 0 || dim <= 0 || attributions.Length < tokens * dim)
            throw new ArgumentException($"expected at least {tokens}×{dim} attributions (tokens, dim > 0), got {attributions.Length}", nameof(attributions));
        var scores = new double[tokens];
        for (int t = 0; t < tokens; t++)
        {
            double s = 0;
            for (int d = 0; d < dim; d++)
            {
                double a = attributions[t * dim + d];
                s += absolute ? a * a : a;
            }
            scores[t] = absolute ? Math.Sqrt(s) : s;
        }
        return scores;
    }

    // (N, S…) points x′ + α(x − x′), one per alpha
    private static Tensor Batch(Tensor input, Tensor baseline, double[] alphas)
    {
        var x = input.ToArray();
        var b = baseline.ToArray();
        int n = x.Length;
        var data = new float[alphas.Length * n];
        for (int c = 0; c < alphas.Length; c++)
            for (int k = 0; k < n; k++) data[c * n + k] = (float)(b[k] + alphas[c] * (x[k] - b[k]));
        var shape = new int[input.Rank + 1];
        shape[0] = alphas.Length;
        input.Shape.CopyTo(shape.AsSpan(1));
        return Tensor.FromArray(data, shape);
    }

    // ∂(Σ f)/∂points, (N·S) — each row's value depends on its own row only, so this is every row's own gradient
    private static (float[] Grad, float[] Values) Gradients(Func<Var, Var> f, Tensor points)
    {
        var x = new Var(points, requiresGrad: true);
        var y = f(x);
        if (y.Length != points.Dim(0))
            throw new ArgumentException($"expected f to map a batch of {points.Dim(0)} inputs to {points.Dim(0)} values, got {y.Length}", nameof(f));
        var values = y.Value.ToArray();
        y.Sum().Backward();
        return (x.Grad?.ToArray() ?? new float[points.Length], values);
    }
}
