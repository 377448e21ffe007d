using System.Numerics.Tensors;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

/// <summary>
/// A node of a reverse-mode automatic differentiation graph (the define-by-run tape of micrograd and
/// PyTorch): a float32 <see cref="Tensor"/> value, the inputs it was computed from, and a backward
/// function that turns the gradient of the loss with respect to this value into gradients for the
/// inputs. <see cref="Backward(bool)"/> orders the graph topologically and runs the backward functions
/// from the output to the leaves; every backward adds (+=) into its inputs' gradient buffers, so a
/// value used twice receives the sum of both contributions and gradients accumulate across calls
/// until <see cref="ZeroGrad"/>.
/// <para>
/// Values are always contiguous row-major tensors. Treat them as read-only once other nodes use
/// them: backward functions read the saved values. Parameters are leaves built with
/// <see cref="Parameter"/>; optimizers update <see cref="Value"/> in place between steps.
/// Inside a <see cref="NoGrad"/> scope (per thread) operations compute values only and record nothing.
/// </para>
/// Shapes follow the legend B batch, H heads, L query length, S key length, D feature size.
/// </summary>
public sealed partial class Var
{
    [ThreadStatic] private static int _noGradDepth;

    private Var[] _parents;
    private Action<Var>? _backward;
    private Tensor? _grad;
    private bool _retainGrad;
    private bool _freed;

    /// <summary>The forward value, contiguous row-major.</summary>
    public Tensor Value { get; }

    /// <summary>
    /// ∂loss/∂Value after <see cref="Backward(bool)"/>, same shape as <see cref="Value"/>; null until a
    /// gradient reached this node. Kept for leaves (accumulated across calls) and for non-leaves marked
    /// with <see cref="RetainGrad"/>; other intermediate gradients are dropped after the backward pass.
    /// </summary>
    public Tensor? Grad => _grad;

    /// <summary>True when gradients flow to this node: a parameter, or a result of an operation on one outside <see cref="NoGrad"/>.</summary>
    public bool RequiresGrad { get; }

    /// <summary>True for nodes not produced by a recorded operation (parameters and constants).</summary>
    public bool IsLeaf { get; }

    /// <summary>The operation that produced this node ("leaf" for leaves); named in error messages.</summary>
    public string Op { get; }

    /// <summary>Optional label, shown by <see cref="ToString"/>.</summary>
    public string? Name { get; set; }

    /// <summary>Shape of <see cref="Value"/>.</summary>
    public ReadOnlySpan<int> Shape => Value.Shape;

    /// <summary>Rank of <see cref="Value"/>.</summary>
    public int Rank => Value.Rank;

    /// <summary>Number of elements of <see cref="Value"/>.</summary>
    public int Length => Value.Length;

    /// <summary>Extent of one axis (negative axes count from the end).</summary>
    public int Dim(int axis) => Value.Dim(axis);

    /// <summary>A leaf wrapping <paramref name="value"/> (copied only when not contiguous).</summary>
    public Var(Tensor value, bool requiresGrad = false, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        Value = value.Contiguous();
        RequiresGrad = requiresGrad;
        IsLeaf = true;
        Op = "leaf";
        Name = name;
        _parents = [];
    }

    private Var(Tensor value, string op, Var[] parents, Action<Var> backward)
    {
        Value = value;
        RequiresGrad = true;
        IsLeaf = false;
        Op = op;
        _parents = parents;
        _backward = backward;
    }

    /// <summary>A trainable leaf: gradients accumulate into <see cref="Grad"/>.</summary>
    public static Var Parameter(Tensor value, string? name = null) => new(value, true, name);

    /// <summary>A leaf that receives no gradient (inputs, targets, masks).</summary>
    public static Var Constant(Tensor value, string? name = null) => new(value, false, name);

    /// <summary>A rank-0 constant.</summary>
    public static Var Scalar(float value) => new(Tensor.FromArray([value]), false);

    /// <summary>A constant sharing this value's storage: gradients stop here (torch's detach).</summary>
    public Var Detach() => new(Value, false, Name);

    /// <summary>The single element of a one-element value (e.g. a loss).</summary>
    public float Item()
    {
        if (Value.Length != 1)
            throw new InvalidOperationException($"Item() expects a one-element value, got shape {Tensor.FormatShape(Shape)}");
        return Value.Storage[Value.Offset];
    }

    // ---- grad mode ----

    /// <summary>True unless the current thread is inside a <see cref="NoGrad"/> scope.</summary>
    public static bool IsGradEnabled => _noGradDepth == 0;

    /// <summary>
    /// Until disposed, operations on this thread record no graph (evaluation, optimizer updates):
    /// <c>using (Var.NoGrad()) { ... }</c>. Scopes nest.
    /// </summary>
    public static NoGradScope NoGrad()
    {
        _noGradDepth++;
        return new NoGradScope(true);
    }

    /// <summary>Disposing ends the <see cref="NoGrad"/> scope that created it (once).</summary>
    public struct NoGradScope : IDisposable
    {
        private bool _active;
        internal NoGradScope(bool active) => _active = active;

        /// <summary>Re-enables recording if no outer scope remains.</summary>
        public void Dispose()
        {
            if (!_active) return;
            _active = false;
            _noGradDepth--;
        }
    }

    // ---- building the graph ----

    /// <summary>
    /// Records an operation: a node holding <paramref name="value"/> computed from
    /// <paramref name="inputs"/>, whose <paramref name="backward"/> receives this node (read its
    /// <see cref="Grad"/>) and adds into the inputs' gradients with <see cref="GradBuffer"/> or
    /// <see cref="AccumulateGrad"/>, skipping inputs whose <see cref="RequiresGrad"/> is false.
    /// When no input requires grad, or inside <see cref="NoGrad"/>, returns a constant and records nothing.
    /// This is how fused kernels (e.g. FlashAttention) join the graph.
    /// </summary>
    public static Var FromOp(Tensor value, string op, ReadOnlySpan<Var> inputs, Action<Var> backward)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(backward);
        foreach (var v in inputs) ArgumentNullException.ThrowIfNull(v, nameof(inputs));
        return Make(value.Contiguous(), op ?? "custom", inputs.ToArray(), backward);
    }

    internal static Var Make(Tensor value, string op, Var[] parents, Action<Var> backward)
    {
        if (_noGradDepth == 0)
            foreach (var p in parents)
                if (p.RequiresGrad) return new Var(value, op, parents, backward);
        return new Var(value, false) { };
    }

    // ---- gradient buffers ----

    /// <summary>
    /// The gradient buffer as a span, allocated (zero) on first use, for backward functions to add
    /// into. Throws when this node does not require grad.
    /// </summary>
    public Span<float> GradBuffer()
    {
        if (!RequiresGrad)
            throw new InvalidOperationException($"{Describe()} does not require grad; check RequiresGrad before writing its gradient");
        _grad ??= Tensor.Zeros(Value.Shape.ToArray());
        return _grad.AsSpan();
    }

    /// <summary>Grad += <paramref name="gradient"/>; the shapes must be equal.</summary>
    /// <exception cref="ArgumentException">The gradient's shape differs from the value's.</exception>
    public void AccumulateGrad(Tensor gradient)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        if (!gradient.Shape.SequenceEqual(Value.Shape))
            throw new ArgumentException($"gradient of shape {Tensor.FormatShape(gradient.Shape)} does not match {Describe()} of shape {Tensor.FormatShape(Shape)}", nameof(gradient));
        var g = GradBuffer();
        var src = gradient.Contiguous().AsSpan();
        TensorPrimitives.Add(g, src, g);
    }

    /// <summary>Drops the gradient (the next backward starts from zero).</summary>
    public void ZeroGrad() => _grad = null;

    /// <summary>Keeps this intermediate node's gradient readable after <see cref="Backward(bool)"/> (e.g. ∂L/∂embeddings).</summary>
    public Var RetainGrad()
    {
        _retainGrad = true;
        return this;
    }

    // ---- backward ----

    /// <summary>Backpropagates from a one-element output (a loss) with seed gradient 1.</summary>
    /// <param name="retainGraph">Keep the graph so Backward can run through it again (gradients then add).</param>
    public void Backward(bool retainGraph = false)
    {
        if (Value.Length != 1)
            throw new InvalidOperationException($"Backward() without a gradient needs a one-element output, got {Describe()} of shape {Tensor.FormatShape(Shape)}; pass the output gradient explicitly");
        var seed = Tensor.Zeros(Value.Shape.ToArray());
        seed.AsSpan()[0] = 1f;
        Backward(seed, retainGraph);
    }

    /// <summary>Backpropagates with ∂loss/∂Value = <paramref name="gradOutput"/> (same shape as <see cref="Value"/>).</summary>
    /// <exception cref="ArgumentException">The gradient's shape differs from the value's.</exception>
    /// <exception cref="InvalidOperationException">This node does not require grad, or its graph was already freed.</exception>
    public void Backward(Tensor gradOutput, bool retainGraph = false)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (!gradOutput.Shape.SequenceEqual(Value.Shape))
            throw new ArgumentException($"expected an output gradient of shape {Tensor.FormatShape(Shape)} for {Describe()}, got {Tensor.FormatShape(gradOutput.Shape)}", nameof(gradOutput));
        if (!RequiresGrad)
            throw new InvalidOperationException($"{Describe()} does not require grad: no input of it is a parameter, or it was computed under Var.NoGrad()");
        var order = TopologicalOrder();
        // Intermediate gradients start from zero on every pass; only leaves accumulate across passes.
        foreach (var node in order)
            if (!node.IsLeaf) node._grad = null;
        AccumulateGrad(gradOutput);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            if (node._backward is null || node._grad is null) continue;
            node._backward(node);
        }
        foreach (var node in order)
        {
            if (node.IsLeaf) continue;
            if (!node._retainGrad) node._grad = null;
            if (!retainGraph)
            {
                node._backward = null;
                node._parents = [];
                node._freed = true;
            }
        }
    }

    /// <summary>Nodes that require grad, every node after all of its inputs (iterative DFS, so deep RNN graphs do not overflow the stack).</summary>
    private List<Var> TopologicalOrder()
    {
        var order = new List<Var>();
        var visited = new HashSet<Var>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Var Node, int Next)>();
        visited.Add(this);
        stack.Push((this, 0));
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (node._freed)
                throw new InvalidOperationException($"backward through {node.Describe()} a second time: its graph was freed by the first Backward; pass retainGraph: true to it");
            if (next < node._parents.Length)
            {
                stack.Push((node, next + 1));
                var p = node._parents[next];
                if (p.RequiresGrad && visited.Add(p)) stack.Push((p, 0));
            }
            else order.Add(node);
        }
        return order;
    }

    private string Describe() => Name is null ? $"'{Op}' node" : $"'{Op}' node '{Name}'";

    /// <summary>Op, name, shape and whether it requires grad; the values via <see cref="Value"/>.</summary>
    public override string ToString() =>
        $"Var({(Name is null ? "" : Name + ", ")}{Op}, shape={Tensor.FormatShape(Shape)}{(RequiresGrad ? ", requires_grad" : "")})";

    // ---- helpers shared by the op files ----

    internal ReadOnlySpan<float> Data => Value.AsSpan();

    internal static Tensor NewTensor(ReadOnlySpan<int> shape) => Tensor.Zeros(shape.ToArray());

    internal static string Fmt(ReadOnlySpan<int> shape) => Tensor.FormatShape(shape);

    internal int NormalizeAxis(int axis, string paramName = "axis")
    {
        int a = axis < 0 ? axis + Rank : axis;
        if ((uint)a >= (uint)Rank)
            throw new ArgumentOutOfRangeException(paramName, $"expected an axis in [-{Rank}, {Rank}) for shape {Fmt(Shape)}, got {axis}");
        return a;
    }

    /// <summary>Splits the shape around <paramref name="axis"/> into outer · n · inner (row-major blocks).</summary>
    internal void SplitAt(int axis, out int outer, out int n, out int inner)
    {
        outer = 1; inner = 1;
        for (int k = 0; k < axis; k++) outer *= Shape[k];
        n = Shape[axis];
        for (int k = axis + 1; k < Rank; k++) inner *= Shape[k];
    }
}
