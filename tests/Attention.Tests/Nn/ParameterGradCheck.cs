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
        => Attention.Tests.Autograd.GradCheck.CheckLeaves(forward, leaves, seed, h, rtol, atol, zeroGradient);
}
