using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>
/// Affine map y = x·Wᵀ + b over the last axis. x (…, in) → y (…, out); weight (out, in), bias (out).
/// Default initialisation is PyTorch's: W and b ~ U(−1/√in, 1/√in) (Kaiming-uniform with a = √5);
/// re-initialise with <see cref="Init"/> (e.g. <c>Init.XavierUniform(linear.Weight.Value, rng)</c>).
/// </summary>
public sealed class Linear : Module, ILayer
{
    /// <summary>Input width.</summary>
    public int InFeatures { get; }
    /// <summary>Output width.</summary>
    public int OutFeatures { get; }
    /// <summary>(out, in).</summary>
    public Var Weight { get; }
    /// <summary>(out), or null without bias.</summary>
    public Var? Bias { get; }

    /// <summary>Creates the layer with weights drawn from <paramref name="rng"/>.</summary>
    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        ArgumentNullException.ThrowIfNull(rng);
        InFeatures = inFeatures; OutFeatures = outFeatures;
        float bound = 1f / MathF.Sqrt(inFeatures);
        Weight = RegisterParameter("weight", Var.Parameter(rng.UniformTensor([outFeatures, inFeatures], -bound, bound)));
        if (bias) Bias = RegisterParameter("bias", Var.Parameter(rng.UniformTensor([outFeatures], -bound, bound)));
    }

    /// <summary>x (…, in) → (…, out).</summary>
    /// <exception cref="ArgumentException">x's last axis is not <see cref="InFeatures"/>.</exception>
    public Var Forward(Var x)
    {
        CheckLastAxis(x, InFeatures, "Linear", minRank: 1);
        bool vector = x.Rank == 1;
        var x2 = vector ? x.Reshape(1, InFeatures) : x;
        var y = x2.MatMul(Weight, transposeB: true);
        if (Bias is not null) y += Bias;
        return vector ? y.Reshape(OutFeatures) : y;
    }
}

/// <summary>
/// Lookup table: ids of any shape → (ids…, D); weight (V, D) ~ N(0, 1) like PyTorch.
/// With a padding index, that row starts at zero (its gradient still flows; zero it if it must stay zero).
/// </summary>
public sealed class Embedding : Module
{
    /// <summary>Vocabulary size V.</summary>
    public int NumEmbeddings { get; }
    /// <summary>Row width D.</summary>
    public int Dim { get; }
    /// <summary>(V, D).</summary>
    public Var Weight { get; }

    /// <summary>Creates the table with N(0, 1) rows from <paramref name="rng"/>.</summary>
    public Embedding(int numEmbeddings, int dim, Rng rng, int? paddingIndex = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numEmbeddings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentNullException.ThrowIfNull(rng);
        NumEmbeddings = numEmbeddings; Dim = dim;
        var w = rng.NormalTensor([numEmbeddings, dim]);
        if (paddingIndex is int pad)
        {
            if ((uint)pad >= (uint)numEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(paddingIndex), $"expected a padding index in [0, {numEmbeddings}), got {pad}");
            w.AsSpan().Slice(pad * dim, dim).Clear();
        }
        Weight = RegisterParameter("weight", Var.Parameter(w));
    }

    /// <summary>ids (read with shape <paramref name="idsShape"/>, or 1-D when none is given) → (idsShape…, D).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, V).</exception>
    public Var Forward(ReadOnlySpan<int> ids, params int[] idsShape)
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)NumEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(ids), $"expected token ids in [0, {NumEmbeddings}), got {ids[i]} at position {i}");
        return Var.Embedding(Weight, ids, idsShape.Length == 0 ? [ids.Length] : idsShape);
    }
}

/// <summary>Layer normalisation over the last axis (Ba et al., 2016); γ (D) = 1, β (D) = 0 initially.</summary>
public sealed class LayerNorm : Module, ILayer
{
    /// <summary>Normalised width D.</summary>
    public int Dim { get; }
    /// <summary>Added to the variance.</summary>
    public float Eps { get; }
    /// <summary>Scale γ (D), or null when not affine.</summary>
    public Var? Gamma { get; }
    /// <summary>Shift β (D), or null when not affine.</summary>
    public Var? Beta { get; }

    /// <summary>Creates the layer.</summary>
    public LayerNorm(int dim, float eps = 1e-5f, bool affine = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (!(eps >= 0f)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "expected eps ≥ 0");
        Dim = dim; Eps = eps;
        if (affine)
        {
            Gamma = RegisterParameter("weight", Var.Parameter(Tensor.Ones(dim)));
            Beta = RegisterParameter("bias", Var.Parameter(Tensor.Zeros(dim)));
        }
    }

    /// <summary>x (…, D) → (…, D).</summary>
    public Var Forward(Var x)
    {
        CheckLastAxis(x, Dim, "LayerNorm");
        return x.LayerNorm(Gamma, Beta, Eps);
    }
}

/// <summary>RMS normalisation (Zhang and Sennrich, 2019): y = x / √(mean(x²) + ε) · γ over the last axis; γ (D) = 1.</summary>
public sealed class RmsNorm : Module, ILayer
{
    /// <summary>Normalised width D.</summary>
    public int Dim { get; }
    /// <summary>Added to the mean square.</summary>
    public float Eps { get; }
    /// <summary>Scale γ (D).</summary>
    public Var Gamma { get; }

    /// <summary>Creates the layer.</summary>
    public RmsNorm(int dim, float eps = 1e-6f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (!(eps >= 0f)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "expected eps ≥ 0");
        Dim = dim; Eps = eps;
        Gamma = RegisterParameter("weight", Var.Parameter(Tensor.Ones(dim)));
    }

    /// <summary>x (…, D) → (…, D).</summary>
    public Var Forward(Var x)
    {
        CheckLastAxis(x, Dim, "RMSNorm");
        return x.RmsNorm(Gamma, Eps);
    }
}

/// <summary>Inverted dropout (Srivastava et al., 2014), active only in training mode; masks drawn from its own seeded Rng.</summary>
public sealed class Dropout : Module, ILayer
{
    private readonly Rng _rng;

    /// <summary>Drop probability.</summary>
    public float P { get; }

    /// <summary>Creates the layer; <paramref name="rng"/> supplies the masks (same seed, same masks).</summary>
    public Dropout(float p, Rng rng)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "expected a drop probability in [0, 1]");
        ArgumentNullException.ThrowIfNull(rng);
        P = p; _rng = rng;
    }

    /// <summary>x → x with elements zeroed with probability P and survivors scaled by 1/(1 − P) in training; x in eval.</summary>
    public Var Forward(Var x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.Dropout(P, _rng, Training);
    }
}

/// <summary>Activation functions as layers, for <see cref="Sequential"/>.</summary>
public sealed class Activation : Module, ILayer
{
    private readonly Func<Var, Var> _f;

    /// <summary>Name of the function ("relu", "gelu", "tanh", "sigmoid").</summary>
    public string Kind { get; }

    private Activation(string kind, Func<Var, Var> f) { Kind = kind; _f = f; }

    /// <summary>max(0, x).</summary>
    public static Activation Relu() => new("relu", x => x.Relu());
    /// <summary>Exact GELU x·Φ(x).</summary>
    public static Activation Gelu() => new("gelu", x => x.Gelu());
    /// <summary>tanh x.</summary>
    public static Activation Tanh() => new("tanh", x => x.Tanh());
    /// <summary>1 / (1 + e⁻ˣ).</summary>
    public static Activation Sigmoid() => new("sigmoid", x => x.Sigmoid());

    /// <summary>Applies the function elementwise.</summary>
    public Var Forward(Var x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return _f(x);
    }
}

/// <summary>Layers applied in order; submodules are named "0", "1", ….</summary>
public sealed class Sequential : Module, ILayer
{
    private readonly List<ILayer> _layers = [];

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<ILayer> Layers => _layers;

    /// <summary>Chains <paramref name="layers"/>; each must be a <see cref="Module"/> implementing <see cref="ILayer"/>.</summary>
    public Sequential(params Module[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        for (int i = 0; i < layers.Length; i++)
        {
            if (layers[i] is not ILayer layer)
                throw new ArgumentException($"expected layers with a single-input Forward (ILayer), got {layers[i]?.GetType().Name ?? "null"} at position {i}", nameof(layers));
            RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), layers[i]);
            _layers.Add(layer);
        }
    }

    /// <summary>x through every layer in order.</summary>
    public Var Forward(Var x)
    {
        ArgumentNullException.ThrowIfNull(x);
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}
