using System.Numerics.Tensors;
using Attention.Autograd;

namespace Attention.Nn;

/// <summary>Gradient clipping (Pascanu, Mikolov and Bengio, 2013), as torch.nn.utils.clip_grad_norm_ does it.</summary>
public static class GradClip
{
    /// <summary>
    /// The global L2 norm ‖g‖ = √(Σ over every parameter's gradient of g²), accumulated in double;
    /// parameters without a gradient count as zero.
    /// </summary>
    public static double GlobalNorm(IEnumerable<Var> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double sum = 0;
        foreach (var p in parameters)
        {
            if (p?.Grad is null) continue;
            var g = p.Grad.AsSpan();
            // Blocks of float dot products summed in double keep long gradients accurate.
            for (int at = 0; at < g.Length; at += 4096)
            {
                var block = g.Slice(at, Math.Min(4096, g.Length - at));
                sum += TensorPrimitives.Dot(block, block);
            }
        }
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// When the global norm exceeds <paramref name="maxNorm"/>, scales every gradient by
    /// maxNorm / norm so the global norm becomes maxNorm; otherwise leaves them unchanged.
    /// Returns the norm before clipping (log it: spikes show instability). A non-finite norm is
    /// returned without scaling, so the caller can skip the step.
    /// </summary>
    public static double ByGlobalNorm(IEnumerable<Var> parameters, float maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(maxNorm > 0f) || !float.IsFinite(maxNorm))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "expected a finite maxNorm > 0");
        var list = parameters as IReadOnlyCollection<Var> ?? parameters.ToArray();
        double norm = GlobalNorm(list);
        if (!double.IsFinite(norm) || norm <= maxNorm) return norm;
        float scale = (float)(maxNorm / norm);
        foreach (var p in list)
        {
            if (p?.Grad is null) continue;
            var g = p.Grad.AsSpan();
            TensorPrimitives.Multiply(g, scale, g);
        }
        return norm;
    }
}
