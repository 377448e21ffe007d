using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>
/// The central finite-difference check of <see cref="Attention.Tests.Autograd.GradCheck"/>, applied to
/// a layer's own parameters (and any input Vars): the loss Σ y·R is rebuilt by the forward function
/// after perturbing each element of each listed leaf in place. Same tolerances and the same guard
/// against a vacuous (all-zero) gradient, except for leaves listed as analytically zero; see GradCheck for why float32 with h = 1e-2 is meaningful.
/// </summary>
internal static class ParameterGradCheck
{
    public static void Check(Func<Var> forward, IReadOnlyList<Var> leaves, ulong seed = 7, double h = 1e-2,
                             double rtol = 1e-2, double atol = 2e-3, IReadOnlyList<Var>? zeroGradient = null)
    {
        foreach (var p in leaves) p.ZeroGrad();
        var y = forward();
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
            Assert.NotNull(leaf.Grad);
            var a = leaf.Grad!.ToArray();
            var x = leaf.Value.AsSpan();
            double maxAbs = 0;
            for (int j = 0; j < x.Length; j++)
            {
                float orig = x[j];
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
                // a gradient known to vanish analytically (e.g. the key bias: softmax ignores a shift shared by all keys)
                Assert.True(maxAbs < 1e-3, $"leaf {p} ('{leaf.Name}') should have a zero gradient, max {maxAbs:G3}");
                continue;
            }
            Assert.True(maxAbs > 1e-2, $"leaf {p} ('{leaf.Name}'): the gradient is trivially small (max {maxAbs:G3}), the check would be vacuous");
        }
    }
}
