using System.Numerics.Tensors;
using Attention.Autograd;

namespace Attention.Nn;

/// <summary>
/// Base of the first-order optimizers: holds the parameters (leaves with RequiresGrad) and the
/// learning rate, and updates <see cref="Var.Value"/> in place from <see cref="Var.Grad"/>.
/// A parameter whose gradient is null (it took no part in the loss) is skipped and its state is
/// not advanced. Typical loop: <c>loss.Backward(); GradClip.ByGlobalNorm(opt.Parameters, 1f);
/// opt.LearningRate = schedule.At(step); opt.Step(); opt.ZeroGrad();</c>
/// </summary>
public abstract class Optimizer
{
    private readonly Var[] _parameters;

    /// <summary>The parameters updated by <see cref="Step"/>.</summary>
    public IReadOnlyList<Var> Parameters => _parameters;

    /// <summary>Step size; schedules set it before each step.</summary>
    public float LearningRate { get; set; }

    /// <summary>Number of completed <see cref="Step"/> calls (Adam's bias correction uses it).</summary>
    public int StepCount { get; private set; }

    /// <param name="parameters">Leaves with RequiresGrad, each listed once.</param>
    /// <param name="learningRate">A finite non-negative step size.</param>
    protected Optimizer(IEnumerable<Var> parameters, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToArray();
        var seen = new HashSet<Var>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i] ?? throw new ArgumentException($"parameter {i} is null", nameof(parameters));
            if (!p.RequiresGrad || !p.IsLeaf)
                throw new ArgumentException($"parameter {i} ({p}) must be a leaf with RequiresGrad (Var.Parameter)", nameof(parameters));
            if (!seen.Add(p)) throw new ArgumentException($"parameter {i} ({p}) is listed twice", nameof(parameters));
        }
        CheckNonNegative(learningRate, nameof(learningRate));
        LearningRate = learningRate;
    }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public void Step()
    {
        CheckNonNegative(LearningRate, nameof(LearningRate));
        StepCount++;
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            if (p.Grad is null) continue;
            Update(i, p.Value.AsSpan(), p.Grad.AsSpan());
        }
    }

    /// <summary>Drops every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters) p.ZeroGrad();
    }

    /// <summary>Updates parameter <paramref name="index"/> in place; <see cref="StepCount"/> is already the 1-based step.</summary>
    protected abstract void Update(int index, Span<float> value, ReadOnlySpan<float> grad);

    /// <summary>Per-parameter state buffer, allocated zero on first use.</summary>
    protected static float[] State(ref float[]?[] slots, int index, int length) => slots[index] ??= new float[length];

    private protected static void CheckNonNegative(float v, string name)
    {
        if (!(v >= 0f) || !float.IsFinite(v)) throw new ArgumentOutOfRangeException(name, v, $"expected a finite {name} ≥ 0");
    }

    private protected static void CheckBeta(float v, string name)
    {
        if (!(v >= 0f && v < 1f)) throw new ArgumentOutOfRangeException(name, v, $"expected {name} in [0, 1)");
    }
}

/// <summary>
/// Stochastic gradient descent with optional momentum (Polyak's heavy ball, in PyTorch's form) and
/// Nesterov momentum (Sutskever et al., 2013), and L2 weight decay added to the gradient:
///   g ← ∇ + λ·θ;  b ← μ·b + g (b = g on the first step);  θ ← θ − η·(nesterov ? g + μ·b : b),
/// and θ ← θ − η·g without momentum.
/// </summary>
public sealed class Sgd : Optimizer
{
    private float[]?[] _momentum;

    /// <summary>μ; 0 disables momentum.</summary>
    public float Momentum { get; }
    /// <summary>Use the Nesterov look-ahead form.</summary>
    public bool Nesterov { get; }
    /// <summary>λ of the L2 penalty added to the gradient.</summary>
    public float WeightDecay { get; }

    public Sgd(IEnumerable<Var> parameters, float learningRate, float momentum = 0f, bool nesterov = false, float weightDecay = 0f)
        : base(parameters, learningRate)
    {
        CheckBeta(momentum, nameof(momentum));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        if (nesterov && momentum == 0f) throw new ArgumentException("Nesterov momentum needs momentum > 0", nameof(nesterov));
        Momentum = momentum; Nesterov = nesterov; WeightDecay = weightDecay;
        _momentum = new float[Parameters.Count][];
    }

    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        float lr = LearningRate, mu = Momentum, wd = WeightDecay;
        float[]? g = null;
        if (wd != 0f)
        {
            g = new float[grad.Length];
            TensorPrimitives.MultiplyAdd(value, wd, grad, g);
            grad = g;
        }
        if (mu == 0f)
        {
            TensorPrimitives.MultiplyAdd(grad, -lr, value, value);
            return;
        }
        bool first = _momentum[index] is null;
        var b = State(ref _momentum, index, value.Length);
        if (first) grad.CopyTo(b);
        else TensorPrimitives.MultiplyAdd(b, mu, grad, b);
        if (Nesterov)
        {
            // θ −= η·(g + μ·b)
            TensorPrimitives.MultiplyAdd(grad, -lr, value, value);
            TensorPrimitives.MultiplyAdd(b, -lr * mu, value, value);
        }
        else TensorPrimitives.MultiplyAdd(b, -lr, value, value);
    }
}

/// <summary>
/// Adam (Kingma and Ba, 2015) with bias correction, and AdamW's decoupled weight decay (Loshchilov and
/// Hutter, 2019) when <see cref="DecoupledWeightDecay"/> is set:
///   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);  θ ← θ − η·m̂/(√v̂ + ε).
/// Adam's weight decay is L2 added to g before the moments; AdamW instead shrinks θ ← θ·(1 − η·λ)
/// before the update, so the decay is not rescaled by 1/√v̂.
/// </summary>
public class Adam : Optimizer
{
    private float[]?[] _m, _v;

    /// <summary>β₁, decay of the first moment.</summary>
    public float Beta1 { get; }
    /// <summary>β₂, decay of the second moment.</summary>
    public float Beta2 { get; }
    /// <summary>ε added to √v̂.</summary>
    public float Epsilon { get; }
    /// <summary>λ.</summary>
    public float WeightDecay { get; }
    /// <summary>True for AdamW's θ ← θ·(1 − η·λ); false for L2 added to the gradient.</summary>
    public bool DecoupledWeightDecay { get; }

    public Adam(IEnumerable<Var> parameters, float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
                float epsilon = 1e-8f, float weightDecay = 0f)
        : this(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupled: false) { }

    private protected Adam(IEnumerable<Var> parameters, float learningRate, float beta1, float beta2,
                           float epsilon, float weightDecay, bool decoupled)
        : base(parameters, learningRate)
    {
        CheckBeta(beta1, nameof(beta1));
        CheckBeta(beta2, nameof(beta2));
        CheckNonNegative(epsilon, nameof(epsilon));
        CheckNonNegative(weightDecay, nameof(weightDecay));
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay; DecoupledWeightDecay = decoupled;
        _m = new float[Parameters.Count][];
        _v = new float[Parameters.Count][];
    }

    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        var m = State(ref _m, index, value.Length);
        var v = State(ref _v, index, value.Length);
        float lr = LearningRate, b1 = Beta1, b2 = Beta2, eps = Epsilon, wd = WeightDecay;
        int t = StepCount;
        // Bias corrections in double: for β₂ = 0.999 and small t, 1 − β₂ᵗ loses digits in float.
        float c1 = (float)(1.0 / (1.0 - Math.Pow(b1, t)));
        float c2 = (float)(1.0 / Math.Sqrt(1.0 - Math.Pow(b2, t)));
        if (DecoupledWeightDecay && wd != 0f) TensorPrimitives.Multiply(value, 1f - lr * wd, value);
        bool l2 = !DecoupledWeightDecay && wd != 0f;
        for (int i = 0; i < value.Length; i++)
        {
            float g = l2 ? grad[i] + wd * value[i] : grad[i];
            float mi = b1 * m[i] + (1f - b1) * g;
            float vi = b2 * v[i] + (1f - b2) * g * g;
            m[i] = mi; v[i] = vi;
            // θ −= η·m̂/(√v̂ + ε), with m̂ = m·c1 and √v̂ = √v·c2
            value[i] -= lr * (mi * c1) / (MathF.Sqrt(vi) * c2 + eps);
        }
    }
}

/// <summary>AdamW: <see cref="Adam"/> with decoupled weight decay θ ← θ·(1 − η·λ) (Loshchilov and Hutter, 2019); λ defaults to 0.01 as in PyTorch.</summary>
public sealed class AdamW : Adam
{
    public AdamW(IEnumerable<Var> parameters, float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
                 float epsilon = 1e-8f, float weightDecay = 0.01f)
        : base(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupled: true) { }
}
