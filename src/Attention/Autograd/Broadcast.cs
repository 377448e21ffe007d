using System.Numerics.Tensors;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

/// <summary>
/// numpy broadcasting for contiguous operands: shapes align from the right and an extent of 1
/// stretches to the other's. A plan drops axes of extent 1 and merges neighbouring axes that stay
/// contiguous in every operand, so the common cases — equal shapes, a bias over the last axis, a
/// scalar — run as one or a few long inner rows handed to <see cref="TensorPrimitives"/>.
/// </summary>
internal static class Broadcast
{
    internal enum BinaryOp { Add, Subtract, Multiply, Divide }

    /// <summary>The broadcast shape of a and b; throws naming both when an axis differs and neither is 1.</summary>
    public static int[] Shape(ReadOnlySpan<int> a, ReadOnlySpan<int> b, string op)
    {
        int r = Math.Max(a.Length, b.Length);
        var s = new int[r];
        for (int k = 0; k < r; k++)
        {
            int da = k < r - a.Length ? 1 : a[k - (r - a.Length)];
            int db = k < r - b.Length ? 1 : b[k - (r - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Tensor.FormatShape(a)} and {Tensor.FormatShape(b)} do not broadcast (axis {k}: {da} vs {db})");
            s[k] = da == 1 ? db : da;
        }
        return s;
    }

    /// <summary>True when <paramref name="from"/> broadcasts to exactly <paramref name="to"/>.</summary>
    public static bool BroadcastsTo(ReadOnlySpan<int> from, ReadOnlySpan<int> to)
    {
        if (from.Length > to.Length) return false;
        int off = to.Length - from.Length;
        for (int k = 0; k < from.Length; k++)
            if (from[k] != 1 && from[k] != to[k + off]) return false;
        return true;
    }

    /// <summary>Coalesced iteration of a contiguous output over operands with broadcast (zero) strides.</summary>
    internal sealed class Plan
    {
        public readonly int[] Dims;
        public readonly int[][] Strides;

        public Plan(ReadOnlySpan<int> outShape, params int[][] operandShapes)
        {
            int r = outShape.Length;
            var dims = new List<int>();
            var strides = new List<int>[operandShapes.Length];
            for (int o = 0; o < operandShapes.Length; o++) strides[o] = [];
            var full = new int[operandShapes.Length][];
            for (int o = 0; o < operandShapes.Length; o++)
            {
                var s = operandShapes[o];
                var rm = new int[r];
                int step = 1;
                for (int k = r - 1; k >= 0; k--)
                {
                    int src = k - (r - s.Length);
                    int d = src < 0 ? 1 : s[src];
                    rm[k] = d == 1 ? 0 : step;
                    step *= d;
                }
                full[o] = rm;
            }
            for (int k = 0; k < r; k++)
            {
                if (outShape[k] == 1) continue;
                bool merge = dims.Count > 0;
                if (merge)
                    for (int o = 0; o < full.Length; o++)
                        if (strides[o][^1] != full[o][k] * outShape[k]) { merge = false; break; }
                if (merge)
                {
                    dims[^1] *= outShape[k];
                    for (int o = 0; o < full.Length; o++) strides[o][^1] = full[o][k];
                }
                else
                {
                    dims.Add(outShape[k]);
                    for (int o = 0; o < full.Length; o++) strides[o].Add(full[o][k]);
                }
            }
            if (dims.Count == 0)
            {
                dims.Add(1);
                for (int o = 0; o < full.Length; o++) strides[o].Add(0);
            }
            Dims = dims.ToArray();
            Strides = strides.Select(s => s.ToArray()).ToArray();
        }

        public int Inner => Dims[^1];
        public int Rows { get { int n = 1; for (int k = 0; k < Dims.Length - 1; k++) n *= Dims[k]; return n; } }

        /// <summary>Fills offsets[o][row] with operand o's offset at the start of each inner row.</summary>
        public int[][] RowOffsets()
        {
            int rows = Rows, nOps = Strides.Length, outer = Dims.Length - 1;
            var result = new int[nOps][];
            for (int o = 0; o < nOps; o++) result[o] = new int[rows];
            var index = new int[Math.Max(outer, 0)];
            var at = new int[nOps];
            for (int row = 0; row < rows; row++)
            {
                for (int o = 0; o < nOps; o++) result[o][row] = at[o];
                for (int k = outer - 1; k >= 0; k--)
                {
                    index[k]++;
                    for (int o = 0; o < nOps; o++) at[o] += Strides[o][k];
                    if (index[k] < Dims[k]) break;
                    for (int o = 0; o < nOps; o++) at[o] -= Strides[o][k] * Dims[k];
                    index[k] = 0;
                }
            }
            return result;
        }
    }

    /// <summary>out = a ∘ b elementwise with broadcasting; out has the broadcast shape and is contiguous.</summary>
    public static void Binary(BinaryOp op, ReadOnlySpan<float> a, int[] aShape, ReadOnlySpan<float> b, int[] bShape, Span<float> output, int[] outShape)
    {
        if (output.Length == 0) return;
        var plan = new Plan(outShape, aShape, bShape);
        var offs = plan.RowOffsets();
        int n = plan.Inner, sa = plan.Strides[0][^1], sb = plan.Strides[1][^1];
        for (int row = 0; row < offs[0].Length; row++)
            Inner(op, a[offs[0][row]..], sa, b[offs[1][row]..], sb, output.Slice(row * n, n));
    }

    private static void Inner(BinaryOp op, ReadOnlySpan<float> a, int sa, ReadOnlySpan<float> b, int sb, Span<float> o)
    {
        int n = o.Length;
        if (sa == 1 && sb == 1)
        {
            var x = a[..n]; var y = b[..n];
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, y, o); break;
                case BinaryOp.Subtract: TensorPrimitives.Subtract(x, y, o); break;
                case BinaryOp.Multiply: TensorPrimitives.Multiply(x, y, o); break;
                default: TensorPrimitives.Divide(x, y, o); break;
            }
        }
        else if (sa == 1 && sb == 0)
        {
            var x = a[..n]; float y = b[0];
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, y, o); break;
                case BinaryOp.Subtract: TensorPrimitives.Subtract(x, y, o); break;
                case BinaryOp.Multiply: TensorPrimitives.Multiply(x, y, o); break;
                default: TensorPrimitives.Divide(x, y, o); break;
            }
        }
        else if (sa == 0 && sb == 1)
        {
            float x = a[0]; var y = b[..n];
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(y, x, o); break;
                case BinaryOp.Subtract: TensorPrimitives.Subtract(x, y, o); break;
                case BinaryOp.Multiply: TensorPrimitives.Multiply(y, x, o); break;
                default: TensorPrimitives.Divide(x, y, o); break;
            }
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                float x = a[i * sa], y = b[i * sb];
                o[i] = op switch
                {
                    BinaryOp.Add => x + y,
                    BinaryOp.Subtract => x - y,
                    BinaryOp.Multiply => x * y,
                    _ => x / y,
                };
            }
        }
    }

    /// <summary>
    /// dst += Σ over broadcast axes of src: src has <paramref name="srcShape"/> (contiguous), dst has
    /// <paramref name="dstShape"/>, which broadcasts to srcShape. Used for gradients of broadcast inputs
    /// and for sums along axes.
    /// </summary>
    public static void ReduceAdd(ReadOnlySpan<float> src, int[] srcShape, Span<float> dst, int[] dstShape)
    {
        if (src.Length == 0) return;
        if (src.Length == dst.Length) { TensorPrimitives.Add(dst, src, dst); return; }
        var plan = new Plan(srcShape, dstShape);
        var offs = plan.RowOffsets()[0];
        int n = plan.Inner, sd = plan.Strides[0][^1];
        for (int row = 0; row < offs.Length; row++)
        {
            var s = src.Slice(row * n, n);
            int at = offs[row];
            if (sd == 1) { var d = dst.Slice(at, n); TensorPrimitives.Add(d, s, d); }
            else if (sd == 0) dst[at] += TensorPrimitives.Sum(s);
            else for (int i = 0; i < n; i++) dst[at + i * sd] += s[i];
        }
    }

    /// <summary>dst += src broadcast to dst's shape (the backward of a sum along axes).</summary>
    public static void ExpandAdd(ReadOnlySpan<float> src, int[] srcShape, Span<float> dst, int[] dstShape)
    {
        if (dst.Length == 0) return;
        if (src.Length == dst.Length) { TensorPrimitives.Add(dst, src, dst); return; }
        var plan = new Plan(dstShape, srcShape);
        var offs = plan.RowOffsets()[0];
        int n = plan.Inner, ss = plan.Strides[0][^1];
        for (int row = 0; row < offs.Length; row++)
        {
            var d = dst.Slice(row * n, n);
            int at = offs[row];
            if (ss == 1) TensorPrimitives.Add(d, src.Slice(at, n), d);
            else if (ss == 0) TensorPrimitives.Add(d, src[at], d);
            else for (int i = 0; i < n; i++) d[i] += src[at + i * ss];
        }
    }
}
