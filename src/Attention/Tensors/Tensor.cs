using System.Globalization;
using System.Text;

namespace Attention.Tensors;

/// <summary>
/// A strided float32 tensor over a flat <c>float[]</c>: element (i₀, …, iₙ₋₁) lives at
/// <c>Storage[Offset + Σ iₖ·Strides[k]]</c>, the layout numpy and PyTorch use.
/// Reshape (when contiguous), Transpose, Permute, Narrow and Select return views that share
/// the storage, so writes through a view are seen by its parent; <see cref="Contiguous"/> copies
/// only when the layout is not already dense row-major. Shapes use the legend B, H, L, S, D.
/// </summary>
public sealed class Tensor
{
    private readonly int[] _shape;
    private readonly int[] _strides;

    /// <summary>The backing array, shared by every view of it.</summary>
    public float[] Storage { get; }

    /// <summary>Index in <see cref="Storage"/> of element (0, …, 0).</summary>
    public int Offset { get; }

    /// <summary>Extent of each axis.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>Step in <see cref="Storage"/> between neighbours along each axis.</summary>
    public ReadOnlySpan<int> Strides => _strides;

    /// <summary>Number of axes.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements (the product of the shape; 1 for a scalar).</summary>
    public int Length { get; }

    private Tensor(float[] storage, int offset, int[] shape, int[] strides)
    {
        Storage = storage; Offset = offset; _shape = shape; _strides = strides;
        long n = 1;
        foreach (var s in shape) n *= s;
        Length = checked((int)n);
    }

    /// <summary>Extent of axis <paramref name="axis"/>; negative axes count from the end.</summary>
    public int Dim(int axis) => _shape[NormalizeAxis(axis)];

    /// <summary>True when the elements are dense in row-major order, so <see cref="AsSpan"/> works.</summary>
    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int k = Rank - 1; k >= 0; k--)
            {
                if (_shape[k] != 1 && _strides[k] != expected) return false;
                expected *= _shape[k];
            }
            return true;
        }
    }

    // ---- factories ----

    /// <summary>A new zero-filled tensor of the given shape.</summary>
    public static Tensor Zeros(params int[] shape)
    {
        var s = CheckShape(shape);
        return new Tensor(new float[Product(s)], 0, s, RowMajorStrides(s));
    }

    /// <summary>A new tensor filled with ones.</summary>
    public static Tensor Ones(params int[] shape) => Full(1f, shape);

    /// <summary>A new tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(float value, params int[] shape)
    {
        var t = Zeros(shape);
        t.Storage.AsSpan().Fill(value);
        return t;
    }

    /// <summary>Wraps <paramref name="data"/> (not copied) as a row-major tensor of the given shape.</summary>
    /// <exception cref="ArgumentException">The shape's product differs from the array length.</exception>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        var s = CheckShape(shape);
        long n = Product(s);
        if (n != data.Length)
            throw new ArgumentException($"shape {FormatShape(s)} needs {n} elements, but the array has {data.Length}", nameof(data));
        return new Tensor(data, 0, s, RowMajorStrides(s));
    }

    /// <summary>A strided view over existing storage; every reachable index is checked against the array.</summary>
    public static Tensor FromStorage(float[] storage, int offset, int[] shape, int[] strides)
    {
        ArgumentNullException.ThrowIfNull(storage);
        var s = CheckShape(shape);
        ArgumentNullException.ThrowIfNull(strides);
        if (strides.Length != s.Length)
            throw new ArgumentException($"expected {s.Length} strides for shape {FormatShape(s)}, got {strides.Length}", nameof(strides));
        if (Product(s) > 0)
        {
            long lo = offset, hi = offset;
            for (int k = 0; k < s.Length; k++)
            {
                long span = (long)(s[k] - 1) * strides[k];
                if (span < 0) lo += span; else hi += span;
            }
            if (lo < 0 || hi >= storage.Length)
                throw new ArgumentException($"shape {FormatShape(s)} with strides {FormatShape(strides)} at offset {offset} reaches [{lo}, {hi}], outside storage of length {storage.Length}", nameof(strides));
        }
        return new Tensor(storage, offset, s, (int[])strides.Clone());
    }

    // ---- element access ----

    /// <summary>The element at <paramref name="indices"/> (one per axis, each in range).</summary>
    public float this[params int[] indices]
    {
        get => Storage[IndexOf(indices)];
        set => Storage[IndexOf(indices)] = value;
    }

    private int IndexOf(int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Length != Rank)
            throw new ArgumentException($"expected {Rank} indices for shape {FormatShape(_shape)}, got {indices.Length}", nameof(indices));
        int at = Offset;
        for (int k = 0; k < Rank; k++)
        {
            if ((uint)indices[k] >= (uint)_shape[k])
                throw new ArgumentOutOfRangeException(nameof(indices), $"index {indices[k]} on axis {k} is outside [0, {_shape[k]}) of shape {FormatShape(_shape)}");
            at += indices[k] * _strides[k];
        }
        return at;
    }

    /// <summary>The elements as one span; only for contiguous tensors (call <see cref="Contiguous"/> first otherwise).</summary>
    public Span<float> AsSpan()
    {
        if (!IsContiguous)
            throw new InvalidOperationException($"tensor of shape {FormatShape(_shape)} with strides {FormatShape(_strides)} is not contiguous; call Contiguous() first");
        return Storage.AsSpan(Offset, Length);
    }

    /// <summary>A fresh row-major copy of the elements in logical order.</summary>
    public float[] ToArray()
    {
        var result = new float[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Copies the elements in logical (row-major) order into <paramref name="destination"/>.</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length < Length)
            throw new ArgumentException($"expected a destination of at least {Length} elements, got {destination.Length}", nameof(destination));
        if (Length == 0) return;
        if (IsContiguous) { Storage.AsSpan(Offset, Length).CopyTo(destination); return; }
        int i = 0;
        // Walk the leading axes with an odometer; the last axis is the inner loop.
        int inner = Rank == 0 ? 1 : _shape[^1], innerStride = Rank == 0 ? 0 : _strides[^1];
        var index = new int[Math.Max(Rank - 1, 0)];
        while (true)
        {
            int at = Offset;
            for (int k = 0; k < index.Length; k++) at += index[k] * _strides[k];
            for (int j = 0; j < inner; j++) destination[i++] = Storage[at + j * innerStride];
            int axis = index.Length - 1;
            while (axis >= 0 && ++index[axis] == _shape[axis]) { index[axis] = 0; axis--; }
            if (axis < 0) return;
        }
    }

    // ---- views ----

    /// <summary>This tensor if already contiguous, else a dense row-major copy.</summary>
    public Tensor Contiguous() => IsContiguous ? this : FromArray(ToArray(), _shape);

    /// <summary>A deep copy with its own storage.</summary>
    public Tensor Clone() => FromArray(ToArray(), _shape);

    /// <summary>
    /// Same elements in row-major order with a new shape; one entry may be −1 (inferred).
    /// A view when contiguous, else a copy.
    /// </summary>
    public Tensor Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var s = (int[])shape.Clone();
        int infer = -1; long known = 1;
        for (int k = 0; k < s.Length; k++)
        {
            if (s[k] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"at most one -1 allowed in shape {FormatShape(shape)}", nameof(shape));
                infer = k;
            }
            else if (s[k] < 0) throw new ArgumentException($"expected non-negative extents, got {FormatShape(shape)}", nameof(shape));
            else known *= s[k];
        }
        if (infer >= 0)
        {
            if (known == 0 || Length % known != 0)
                throw new ArgumentException($"cannot reshape {FormatShape(_shape)} ({Length} elements) into {FormatShape(shape)}", nameof(shape));
            s[infer] = (int)(Length / known);
        }
        if (Product(s) != Length)
            throw new ArgumentException($"cannot reshape {FormatShape(_shape)} ({Length} elements) into {FormatShape(s)} ({Product(s)} elements)", nameof(shape));
        var src = Contiguous();
        return new Tensor(src.Storage, src.Offset, s, RowMajorStrides(s));
    }

    /// <summary>A view with axes <paramref name="axis0"/> and <paramref name="axis1"/> swapped (no copy).</summary>
    public Tensor Transpose(int axis0 = -2, int axis1 = -1)
    {
        if (Rank < 2) throw new ArgumentException($"Transpose expects rank ≥ 2, got shape {FormatShape(_shape)}");
        int a = NormalizeAxis(axis0), b = NormalizeAxis(axis1);
        var perm = new int[Rank];
        for (int k = 0; k < Rank; k++) perm[k] = k;
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>A view whose axis k is this tensor's axis <c>axes[k]</c> (no copy).</summary>
    public Tensor Permute(params int[] axes)
    {
        ArgumentNullException.ThrowIfNull(axes);
        if (axes.Length != Rank)
            throw new ArgumentException($"expected a permutation of {Rank} axes for shape {FormatShape(_shape)}, got {FormatShape(axes)}", nameof(axes));
        var seen = new bool[Rank];
        var shape = new int[Rank]; var strides = new int[Rank];
        for (int k = 0; k < Rank; k++)
        {
            int a = NormalizeAxis(axes[k]);
            if (seen[a]) throw new ArgumentException($"expected a permutation of 0..{Rank - 1}, got {FormatShape(axes)} (axis {a} repeats)", nameof(axes));
            seen[a] = true;
            shape[k] = _shape[a]; strides[k] = _strides[a];
        }
        return new Tensor(Storage, Offset, shape, strides);
    }

    /// <summary>A view of <paramref name="length"/> entries of <paramref name="axis"/> starting at <paramref name="start"/> (rank kept).</summary>
    public Tensor Narrow(int axis, int start, int length)
    {
        int a = NormalizeAxis(axis);
        if (start < 0 || length < 0 || start + (long)length > _shape[a])
            throw new ArgumentOutOfRangeException(nameof(length), $"expected [start, start+length) inside [0, {_shape[a]}) on axis {a} of shape {FormatShape(_shape)}, got start {start}, length {length}");
        var shape = (int[])_shape.Clone();
        shape[a] = length;
        return new Tensor(Storage, length == 0 ? Offset : Offset + start * _strides[a], shape, (int[])_strides.Clone());
    }

    /// <summary>Alias of <see cref="Narrow"/>: entries [start, start+length) of an axis, as a view.</summary>
    public Tensor Slice(int axis, int start, int length) => Narrow(axis, start, length);

    /// <summary>A view of index <paramref name="index"/> along <paramref name="axis"/>, with that axis removed.</summary>
    public Tensor Select(int axis, int index)
    {
        int a = NormalizeAxis(axis);
        if ((uint)index >= (uint)_shape[a])
            throw new ArgumentOutOfRangeException(nameof(index), $"expected an index in [0, {_shape[a]}) on axis {a} of shape {FormatShape(_shape)}, got {index}");
        var shape = new int[Rank - 1]; var strides = new int[Rank - 1];
        for (int k = 0, j = 0; k < Rank; k++)
            if (k != a) { shape[j] = _shape[k]; strides[j] = _strides[k]; j++; }
        return new Tensor(Storage, Offset + index * _strides[a], shape, strides);
    }

    /// <summary>Writes <paramref name="value"/> into every element (views included).</summary>
    public void Fill(float value)
    {
        if (IsContiguous) { AsSpan().Fill(value); return; }
        ForEachIndex(i => Storage[i] = value);
    }

    /// <summary>Calls <paramref name="action"/> with the storage index of each element in logical order.</summary>
    internal void ForEachIndex(Action<int> action)
    {
        if (Length == 0) return;
        var index = new int[Rank];
        while (true)
        {
            int at = Offset;
            for (int k = 0; k < Rank; k++) at += index[k] * _strides[k];
            action(at);
            int axis = Rank - 1;
            while (axis >= 0 && ++index[axis] == _shape[axis]) { index[axis] = 0; axis--; }
            if (axis < 0) return;
        }
    }

    /// <summary>Throws an <see cref="ArgumentException"/> unless the shape equals <paramref name="expected"/>.</summary>
    public void EnsureShape(string name, params int[] expected)
    {
        if (!Shape.SequenceEqual(expected))
            throw new ArgumentException($"expected {name} of shape {FormatShape(expected)}, got {FormatShape(_shape)}", name);
    }

    // ---- printing ----

    /// <summary>numpy-like text: nested brackets, aligned columns; axes longer than 6 are elided with "..." once the tensor passes 1000 elements.</summary>
    public override string ToString()
    {
        var values = ToArray();
        bool elide = Length > 1000;
        var rowMajor = RowMajorStrides(_shape);
        string Fmt(float v) => v.ToString("G6", CultureInfo.InvariantCulture);
        int width = 1;
        foreach (var v in values) width = Math.Max(width, Fmt(v).Length);
        var sb = new StringBuilder("tensor(");
        if (Rank == 0) sb.Append(Fmt(values[0]));
        else Append(sb, 0, 0);
        sb.Append(", shape=").Append(FormatShape(_shape)).Append(')');
        return sb.ToString();

        void Append(StringBuilder b, int axis, int baseIndex)
        {
            b.Append('[');
            int n = _shape[axis];
            string sep = axis == Rank - 1 ? ", " : "," + new string('\n', Rank - 1 - axis) + new string(' ', 8 + axis);
            for (int i = 0; i < n; i++)
            {
                if (elide && n > 6 && i == 3)
                {
                    b.Append("...").Append(sep);
                    i = n - 4;
                    continue;
                }
                if (axis == Rank - 1) b.Append(Fmt(values[baseIndex + i]).PadLeft(width));
                else Append(b, axis + 1, baseIndex + i * rowMajor[axis]);
                if (i < n - 1) b.Append(sep);
            }
            b.Append(']');
        }
    }

    /// <summary>"(2, 3)" style, "(3,)" for one axis, as numpy prints shapes.</summary>
    public static string FormatShape(ReadOnlySpan<int> shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape.ToArray()) + ")";

    // ---- helpers ----

    private int NormalizeAxis(int axis)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if ((uint)a >= (uint)Rank)
            throw new ArgumentOutOfRangeException(nameof(axis), $"expected an axis in [-{Rank}, {Rank}) for shape {FormatShape(_shape)}, got {axis}");
        return a;
    }

    private static int[] CheckShape(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        foreach (var s in shape)
            if (s < 0) throw new ArgumentException($"expected non-negative extents, got shape {FormatShape(shape)}", nameof(shape));
        if (Product(shape) > Array.MaxLength)
            throw new ArgumentException($"shape {FormatShape(shape)} has {Product(shape)} elements, more than an array holds", nameof(shape));
        return (int[])shape.Clone();
    }

    private static long Product(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var s in shape) { n *= s; if (n > int.MaxValue) return long.MaxValue; }
        return n;
    }

    internal static int[] RowMajorStrides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int step = 1;
        for (int k = shape.Length - 1; k >= 0; k--) { strides[k] = step; step *= Math.Max(shape[k], 1); }
        return strides;
    }
}
