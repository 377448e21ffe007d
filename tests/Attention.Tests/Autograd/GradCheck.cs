using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Autograd;

/// <summary>
/// Central finite-difference check of an operation's backward.
///
/// The loss is L = Σᵢ yᵢ·Rᵢ with a fixed random R, so ∂L/∂y = R reaches every output with a
/// different weight and a wrong index or a missing term cannot cancel. The analytic gradient is
/// what <see cref="Var.Backward(Tensor, bool)"/> returns for output gradient R; the numeric one is
/// (L(x + h·eⱼ) − L(x − h·eⱼ)) / 2h for every element j of every input.
///
/// Why float32 perturbation with h = 1e-2 is a meaningful check: the library computes in float32, so
/// a float64 forward would be a second implementation. Instead L is accumulated in double from the
/// float32 outputs; outputs the perturbation does not touch round identically in both evaluations
/// (the kernels are deterministic) and cancel in the difference, so the remaining rounding error is
/// about √(touched)·6e-8·|y|/(2h) ≈ 1e-5, and the truncation error of the central difference is
/// O(h²·|y'''|) ≈ 1e-4 for the smooth ops. A wrong backward (a missing factor, a transposed index,
/// a dropped broadcast sum) is off by O(1) relative, a hundred times the tolerance
/// |analytic − numeric| ≤ atol + rtol·|numeric| with rtol = 1e-2, atol = 2e-3. Inputs of non-smooth
/// ops (relu, max, masks) are drawn away from their kinks by more than h.
/// Every input that should receive a gradient must have a non-trivial one (max |∂L/∂x| > 1e-2), so
/// a backward that writes nothing cannot pass.
/// </summary>
internal static class GradCheck
{
    public static void Check(Func<Var[], Var> f, Tensor[] inputs, ulong seed = 7, double h = 1e-2,
                             double rtol = 1e-2, double atol = 2e-3, bool[]? constant = null)
    {
        var vars = inputs.Select((t, i) => constant is not null && constant[i] ? Var.Constant(t.Clone()) : Var.Parameter(t.Clone())).ToArray();
        CheckLeaves(() => f(vars), vars, seed, h, rtol, atol);
    }

    /// <summary>
    /// The check on any leaves (inputs or a layer's parameters) that <paramref name="forward"/> reads:
    /// each element of each leaf that requires grad is perturbed in place and the loss Σ y·R rebuilt.
    /// Leaves in <paramref name="zeroGradient"/> are known to have an analytically zero gradient
    /// (e.g. a key bias, which softmax ignores) and must come out zero instead of non-trivial.
    /// </summary>
    public static void CheckLeaves(Func<Var> forward, IReadOnlyList<Var> leaves, ulong seed = 7, double h = 1e-2,
                                   double rtol = 1e-2, double atol = 2e-3, IReadOnlyList<Var>? zeroGradient = null)
    {
        foreach (var leaf in leaves) leaf.ZeroGrad();
        var y = forward();
        Assert.True(y.RequiresGrad, "the output should require grad");
        var r = new Rng(seed).NormalTensor(y.Shape.ToArray());
        var rs = r.ToArray();
        y.Backward(r);

        double Loss()
        {
            using var _ = Var.NoGrad();
            var v = forward().Value.ToArray();
            double s = 0;
            for (int i = 0; i < v.Length; i++) s += (double)v[i] * rs[i];
            return s;
        }

        for (int p = 0; p < leaves.Count; p++)
        {
            var leaf = leaves[p];
            if (!leaf.RequiresGrad) continue;
            var analytic = leaf.Grad;
            Assert.NotNull(analytic);
            Assert.Equal(leaf.Shape.ToArray(), analytic!.Shape.ToArray());
            var a = analytic.ToArray();
            var x = leaf.Value.AsSpan();
            double maxAbs = 0;
            for (int j = 0; j < x.Length; j++)
            {
                float orig = x[j];
                // Central difference around the float32 point; the actual step is what float32 represents.
                float up = (float)(orig + h), down = (float)(orig - h);
                x[j] = up; double lu = Loss();
                x[j] = down; double ld = Loss();
                x[j] = orig;
                double numeric = (lu - ld) / ((double)up - down);
                maxAbs = Math.Max(maxAbs, Math.Abs(numeric));
                double err = Math.Abs(a[j] - numeric);
                Assert.True(err <= atol + rtol * Math.Abs(numeric),
                    $"leaf {p} ('{leaf.Name}') element {j}: analytic {a[j]:G6} vs numeric {numeric:G6} (|diff| {err:G3}), shape {Tensor.FormatShape(leaf.Shape)}");
            }
            if (zeroGradient is not null && zeroGradient.Contains(leaf))
            {
                Assert.True(maxAbs < 1e-3, $"leaf {p} ('{leaf.Name}') should have a zero gradient, max {maxAbs:G3}");
                continue;
            }
            Assert.True(maxAbs > 1e-2 || x.Length == 0, $"leaf {p} ('{leaf.Name}'): the gradient is trivially small (max {maxAbs:G3}), the check would be vacuous");
        }
    }

    public static Tensor Normal(Rng rng, params int[] shape) => rng.NormalTensor(shape);

    public static Tensor Uniform(Rng rng, float lo, float hi, params int[] shape) => rng.UniformTensor(shape, lo, hi);

    /// <summary>Normal values pushed at least <paramref name="gap"/> away from zero (for relu-like kinks).</summary>
    public static Tensor AwayFromZero(Rng rng, float gap, params int[] shape)
    {
        var t = rng.NormalTensor(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] += s[i] >= 0 ? gap : -gap;
        return t;
    }

    /// <summary>A random permutation of 0.1·(0..n−1) − offset: all distinct, spaced by 0.1 (for max).</summary>
    public static Tensor Distinct(Rng rng, params int[] shape)
    {
        var t = Tensor.Zeros(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = 0.1f * i - 0.05f * s.Length;
        for (int i = s.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (s[i], s[j]) = (s[j], s[i]); }
        return t;
    }
}
