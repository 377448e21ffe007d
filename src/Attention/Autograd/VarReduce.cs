using System.Numerics.Tensors;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

// Reductions: sum and mean over any set of axes, max along one axis.
public sealed partial class Var
{
    /// <summary>Σ of every element, a rank-0 result.</summary>
    public Var Sum() => ReduceAxes(AllAxes(), false, 1f, "sum");

    /// <summary>Mean of every element, a rank-0 result.</summary>
    public Var Mean() => ReduceAxes(AllAxes(), false, Length == 0 ? float.NaN : 1f / Length, "mean");

    /// <summary>Σ along <paramref name="axis"/>; the axis is kept with extent 1 when <paramref name="keepDim"/>.</summary>
    public Var Sum(int axis, bool keepDim = false) => Sum([axis], keepDim);

    /// <summary>Σ along every axis in <paramref name="axes"/> (negative counts from the end).</summary>
    public Var Sum(int[] axes, bool keepDim = false) => ReduceAxes(CheckAxes(axes), keepDim, 1f, "sum");

    /// <summary>Mean along <paramref name="axis"/>.</summary>
    public Var Mean(int axis, bool keepDim = false) => Mean([axis], keepDim);

    /// <summary>Mean along every axis in <paramref name="axes"/>.</summary>
    public Var Mean(int[] axes, bool keepDim = false)
    {
        var set = CheckAxes(axes);
        long count = 1;
        foreach (var a in set) count *= Shape[a];
        return ReduceAxes(set, keepDim, count == 0 ? float.NaN : (float)(1.0 / count), "mean");
    }

    private int[] AllAxes() => Enumerable.Range(0, Rank).ToArray();

    private int[] CheckAxes(int[] axes)
    {
        ArgumentNullException.ThrowIfNull(axes);
        var set = new SortedSet<int>();
        foreach (var a in axes)
            if (!set.Add(NormalizeAxis(a, nameof(axes))))
                throw new ArgumentException($"axis {a} repeats in [{string.Join(", ", axes)}] for shape {Fmt(Shape)}", nameof(axes));
        return set.ToArray();
    }

    private Var ReduceAxes(int[] axes, bool keepDim, float scale, string op)
    {
        int[] inShape = Shape.ToArray();
        var keepShape = (int[])inShape.Clone();
        foreach (var a in axes) keepShape[a] = 1;
        var outShape = keepDim ? keepShape : inShape.Where((_, k) => !axes.Contains(k)).ToArray();
        var y = NewTensor(outShape);
        var ys = y.AsSpan();
        Broadcast.ReduceAdd(Data, inShape, ys, keepShape);
        if (scale != 1f) TensorPrimitives.Multiply(ys, scale, ys);
        return Make(y, op, [this], o =>
        {
            // forward: y[kept] = scale · Σ_reduced x  ⇒  dx += scale · dy broadcast over the reduced axes
            var dy = o._grad!.AsSpan();
            if (scale != 1f)
            {
                var t = new float[dy.Length];
                TensorPrimitives.Multiply(dy, scale, t);
                dy = t;
            }
            Broadcast.ExpandAdd(dy, keepShape, GradBuffer(), inShape);
        });
    }

    /// <summary>Maximum of every element, a rank-0 result (gradient to the first maximal element).</summary>
    public Var Max() => Rank == 0 ? this : Reshape(-1).Max(0);

    /// <summary>
    /// Maximum along <paramref name="axis"/>. The gradient goes to the first maximal element of each
    /// slice (ties are broken by position, as torch.max(dim) does).
    /// </summary>
    public Var Max(int axis, bool keepDim = false)
    {
        int ax = NormalizeAxis(axis);
        SplitAt(ax, out int outer, out int n, out int inner);
        if (n == 0) throw new ArgumentException($"Max along axis {axis} of shape {Fmt(Shape)}: the axis is empty", nameof(axis));
        var outShape = Shape.ToArray().ToList();
        if (keepDim) outShape[ax] = 1; else outShape.RemoveAt(ax);
        var y = NewTensor(outShape.ToArray());
        var ys = y.AsSpan();
        var arg = new int[outer * inner];
        var x = Data;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int baseAt = o * n * inner + i, best = 0;
                float m = x[baseAt];
                for (int j = 1; j < n; j++)
                {
                    float v = x[baseAt + j * inner];
                    if (v > m || (float.IsNaN(v) && !float.IsNaN(m))) { m = v; best = j; }
                }
                ys[o * inner + i] = m;
                arg[o * inner + i] = best;
            }
        return Make(y, "max", [this], o =>
        {
            // forward: y[o, i] = x[o, argmax, i]  ⇒  dx[o, argmax, i] += dy[o, i]
            var dy = o._grad!.AsSpan();
            var dx = GradBuffer();
            for (int a = 0; a < outer; a++)
                for (int i = 0; i < inner; i++)
                    dx[(a * n + arg[a * inner + i]) * inner + i] += dy[a * inner + i];
        });
    }
}
