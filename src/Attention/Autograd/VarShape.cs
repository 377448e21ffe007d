using System.Numerics.Tensors;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

// Shape and indexing operations. Results are contiguous: reshape shares storage (the value is already
// row-major), the others copy once so every later kernel sees dense rows.
public sealed partial class Var
{
    /// <summary>Same elements with a new shape (one extent may be −1); shares storage with this value.</summary>
    public Var Reshape(params int[] shape)
    {
        var y = Value.Reshape(shape);
        return Make(y, "reshape", [this], o =>
        {
            // forward: y = x viewed as another shape  ⇒  dx += dy element for element
            var dx = GradBuffer();
            TensorPrimitives.Add(dx, o._grad!.AsSpan(), dx);
        });
    }

    /// <summary>Inserts an axis of extent 1 at <paramref name="axis"/> (in [−rank−1, rank]).</summary>
    public Var Unsqueeze(int axis)
    {
        int a = axis < 0 ? axis + Rank + 1 : axis;
        if ((uint)a > (uint)Rank)
            throw new ArgumentOutOfRangeException(nameof(axis), $"expected an axis in [-{Rank + 1}, {Rank}] for shape {Fmt(Shape)}, got {axis}");
        var s = Shape.ToArray().ToList();
        s.Insert(a, 1);
        return Reshape(s.ToArray());
    }

    /// <summary>Removes axis <paramref name="axis"/>, which must have extent 1.</summary>
    public Var Squeeze(int axis)
    {
        int a = NormalizeAxis(axis);
        if (Shape[a] != 1) throw new ArgumentException($"Squeeze: axis {axis} of shape {Fmt(Shape)} has extent {Shape[a]}, expected 1", nameof(axis));
        var s = Shape.ToArray().ToList();
        s.RemoveAt(a);
        return Reshape(s.ToArray());
    }

    /// <summary>Axes <paramref name="axis0"/> and <paramref name="axis1"/> swapped (copied to row-major).</summary>
    public Var Transpose(int axis0 = -2, int axis1 = -1)
    {
        if (Rank < 2) throw new ArgumentException($"Transpose expects rank ≥ 2, got shape {Fmt(Shape)}");
        int a = NormalizeAxis(axis0, nameof(axis0)), b = NormalizeAxis(axis1, nameof(axis1));
        var perm = Enumerable.Range(0, Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>Result axis k is this value's axis <c>axes[k]</c> (copied to row-major).</summary>
    public Var Permute(params int[] axes)
    {
        var view = Value.Permute(axes);
        var y = NewTensor(view.Shape);
        view.CopyTo(y.AsSpan());
        var inverse = new int[Rank];
        for (int k = 0; k < Rank; k++) inverse[axes[k] < 0 ? axes[k] + Rank : axes[k]] = k;
        return Make(y, "permute", [this], o =>
        {
            // forward: y[i_axes[0], …] = x[i₀, …]  ⇒  dx += dy permuted back
            var t = new float[Length];
            o._grad!.Permute(inverse).CopyTo(t);
            var dx = GradBuffer();
            TensorPrimitives.Add(dx, t, dx);
        });
    }

    /// <summary>Entries [start, start+length) of <paramref name="axis"/> (rank kept).</summary>
    public Var Slice(int axis, int start, int length)
    {
        int ax = NormalizeAxis(axis);
        SplitAt(ax, out int outer, out int n, out int inner);
        if (start < 0 || length < 0 || start + (long)length > n)
            throw new ArgumentOutOfRangeException(nameof(length), $"expected [start, start+length) inside [0, {n}) on axis {ax} of shape {Fmt(Shape)}, got start {start}, length {length}");
        var shape = Shape.ToArray();
        shape[ax] = length;
        var y = NewTensor(shape);
        int block = length * inner;
        var x = Data; var ys = y.AsSpan();
        for (int o = 0; o < outer; o++)
            x.Slice((o * n + start) * inner, block).CopyTo(ys.Slice(o * block, block));
        return Make(y, "slice", [this], o =>
        {
            // forward: y[o, j, :] = x[o, start + j, :]  ⇒  dx[o, start + j, :] += dy[o, j, :]
            var dy = o._grad!.AsSpan();
            var dx = GradBuffer();
            for (int a = 0; a < outer; a++)
            {
                var d = dx.Slice((a * n + start) * inner, block);
                TensorPrimitives.Add(d, dy.Slice(a * block, block), d);
            }
        });
    }

    /// <summary>Joins <paramref name="parts"/> along <paramref name="axis"/>; all other extents must agree.</summary>
    public static Var Concat(IReadOnlyList<Var> parts, int axis)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("Concat needs at least one input", nameof(parts));
        var first = parts[0];
        int ax = first.NormalizeAxis(axis);
        var shape = first.Shape.ToArray();
        int total = 0;
        for (int p = 0; p < parts.Count; p++)
        {
            var s = parts[p].Shape;
            bool ok = s.Length == shape.Length;
            for (int k = 0; ok && k < s.Length; k++) ok = k == ax || s[k] == shape[k];
            if (!ok) throw new ArgumentException($"Concat along axis {axis}: input {p} has shape {Fmt(s)}, expected {Fmt(shape)} except on that axis", nameof(parts));
            total += s[ax];
        }
        shape[ax] = total;
        first.SplitAt(ax, out int outer, out _, out int inner);
        var y = NewTensor(shape);
        var ys = y.AsSpan();
        var starts = new int[parts.Count];
        for (int p = 0, at = 0; p < parts.Count; p++) { starts[p] = at; at += parts[p].Shape[ax]; }
        for (int p = 0; p < parts.Count; p++)
        {
            int block = parts[p].Shape[ax] * inner;
            var x = parts[p].Data;
            for (int o = 0; o < outer; o++)
                x.Slice(o * block, block).CopyTo(ys.Slice((o * total + starts[p]) * inner, block));
        }
        var inputs = parts.ToArray();
        return Make(y, "concat", inputs, o =>
        {
            // forward: y[o, starts[p] + j, :] = parts[p][o, j, :]  ⇒  dparts[p][o, j, :] += dy[o, starts[p] + j, :]
            var dy = o._grad!.AsSpan();
            for (int p = 0; p < inputs.Length; p++)
            {
                if (!inputs[p].RequiresGrad) continue;
                int block = inputs[p].Shape[ax] * inner;
                var dx = inputs[p].GradBuffer();
                for (int a = 0; a < outer; a++)
                {
                    var d = dx.Slice(a * block, block);
                    TensorPrimitives.Add(d, dy.Slice((a * total + starts[p]) * inner, block), d);
                }
            }
        });
    }

    /// <summary>Stacks equally shaped <paramref name="parts"/> along a new axis <paramref name="axis"/>.</summary>
    public static Var Stack(IReadOnlyList<Var> parts, int axis = 0)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("Stack needs at least one input", nameof(parts));
        var shape = parts[0].Shape;
        for (int p = 1; p < parts.Count; p++)
            if (!parts[p].Shape.SequenceEqual(shape))
                throw new ArgumentException($"Stack: input {p} has shape {Fmt(parts[p].Shape)}, expected {Fmt(shape)} like input 0", nameof(parts));
        return Concat(parts.Select(v => v.Unsqueeze(axis)).ToArray(), axis);
    }

    /// <summary>
    /// Picks entries <paramref name="indices"/> along <paramref name="axis"/>: the result has that axis's
    /// extent replaced by indices.Length. Indices may repeat (their gradients add).
    /// </summary>
    public Var IndexSelect(int axis, ReadOnlySpan<int> indices)
    {
        int ax = NormalizeAxis(axis);
        SplitAt(ax, out int outer, out int n, out int inner);
        var idx = indices.ToArray();
        for (int j = 0; j < idx.Length; j++)
            if ((uint)idx[j] >= (uint)n)
                throw new ArgumentOutOfRangeException(nameof(indices), $"index {idx[j]} at position {j} is outside [0, {n}) on axis {ax} of shape {Fmt(Shape)}");
        var shape = Shape.ToArray();
        shape[ax] = idx.Length;
        var y = NewTensor(shape);
        var x = Data; var ys = y.AsSpan();
        int m = idx.Length;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < m; j++)
                x.Slice((o * n + idx[j]) * inner, inner).CopyTo(ys.Slice((o * m + j) * inner, inner));
        return Make(y, "index_select", [this], o =>
        {
            // forward: y[o, j, :] = x[o, idx[j], :]  ⇒  dx[o, idx[j], :] += dy[o, j, :]
            var dy = o._grad!.AsSpan();
            var dx = GradBuffer();
            for (int a = 0; a < outer; a++)
                for (int j = 0; j < m; j++)
                {
                    var d = dx.Slice((a * n + idx[j]) * inner, inner);
                    TensorPrimitives.Add(d, dy.Slice((a * m + j) * inner, inner), d);
                }
        });
    }

    /// <summary>
    /// Embedding lookup: rows of <paramref name="weight"/> (V, D) for token ids of shape
    /// <paramref name="idsShape"/> → (idsShape..., D). Repeated ids add their gradients.
    /// </summary>
    public static Var Embedding(Var weight, ReadOnlySpan<int> ids, params int[] idsShape)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(idsShape);
        if (weight.Rank != 2) throw new ArgumentException($"Embedding expects a weight of shape (V, D), got {Fmt(weight.Shape)}", nameof(weight));
        long count = 1;
        foreach (var s in idsShape) count *= s;
        if (count != ids.Length)
            throw new ArgumentException($"ids shape {Fmt(idsShape)} needs {count} ids, got {ids.Length}", nameof(idsShape));
        var selected = weight.IndexSelect(0, ids);
        return selected.Reshape([.. idsShape, weight.Shape[1]]);
    }

    /// <summary>
    /// torch.gather along <paramref name="axis"/>: with this value split as (outer, n, inner) around the
    /// axis and <paramref name="index"/> read as (outer, m, inner), y[o, j, i] = x[o, index[o, j, i], i];
    /// the result has this shape with the axis's extent replaced by m = index.Length / (outer·inner).
    /// </summary>
    public Var Gather(int axis, ReadOnlySpan<int> index)
    {
        int ax = NormalizeAxis(axis);
        SplitAt(ax, out int outer, out int n, out int inner);
        int plane = outer * inner;
        if (plane == 0 || index.Length % plane != 0)
            throw new ArgumentException($"Gather along axis {ax} of shape {Fmt(Shape)} needs a multiple of {plane} indices (outer·inner), got {index.Length}", nameof(index));
        int m = index.Length / plane;
        var idx = index.ToArray();
        for (int j = 0; j < idx.Length; j++)
            if ((uint)idx[j] >= (uint)n)
                throw new ArgumentOutOfRangeException(nameof(index), $"index {idx[j]} at position {j} is outside [0, {n}) on axis {ax} of shape {Fmt(Shape)}");
        var shape = Shape.ToArray();
        shape[ax] = m;
        var y = NewTensor(shape);
        var x = Data; var ys = y.AsSpan();
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < m; j++)
                for (int i = 0; i < inner; i++)
                {
                    int at = (o * m + j) * inner + i;
                    ys[at] = x[(o * n + idx[at]) * inner + i];
                }
        return Make(y, "gather", [this], o =>
        {
            // forward: y[o, j, i] = x[o, index[o, j, i], i]  ⇒  dx[o, index[o, j, i], i] += dy[o, j, i]
            var dy = o._grad!.AsSpan();
            var dx = GradBuffer();
            for (int a = 0; a < outer; a++)
                for (int j = 0; j < m; j++)
                    for (int i = 0; i < inner; i++)
                    {
                        int at = (a * m + j) * inner + i;
                        dx[(a * n + idx[at]) * inner + i] += dy[at];
                    }
        });
    }
}
