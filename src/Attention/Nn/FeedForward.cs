using Attention.Autograd;
using Attention.Tensors;

namespace Attention.Nn;

/// <summary>The position-wise feed-forward network of a Transformer layer.</summary>
public enum FeedForwardKind
{
    /// <summary>W₂·ReLU(W₁x + b₁) + b₂ (Vaswani et al., 2017, eq. 2).</summary>
    Relu,
    /// <summary>W₂·GELU(W₁x + b₁) + b₂ (BERT, GPT-2).</summary>
    Gelu,
    /// <summary>W₂·(SiLU(W₁x) ⊙ W₃x), no biases (Shazeer, 2020, "GLU Variants Improve Transformer"; LLaMA).</summary>
    SwiGlu,
}

/// <summary>
/// Position-wise feed-forward network, x (…, E) → (…, E), hidden width F:
/// <code>
///   Relu / Gelu:  y = W₂ · act(W₁ x + b₁) + b₂                 fc1 (F, E), fc2 (E, F)
///   SwiGlu:       y = W₂ · (SiLU(W₁ x) ⊙ W₃ x),  SiLU(u) = u·σ(u)   w1, w3 (F, E), w2 (E, F), no biases
/// </code>
/// SwiGLU has three matrices instead of two; to hold parameters equal, a SwiGLU layer is usually given
/// F = ⅔ of the two-matrix width (Shazeer, 2020, §2). Submodules: "fc1", "fc2" or "w1", "w2", "w3".
/// </summary>
public sealed class FeedForward : Module, ILayer
{
    private readonly Linear _in, _out;
    private readonly Linear? _gate;

    /// <summary>The variant.</summary>
    public FeedForwardKind Kind { get; }
    /// <summary>E.</summary>
    public int ModelDim { get; }
    /// <summary>F.</summary>
    public int HiddenDim { get; }

    /// <summary>Creates the network; weights from <paramref name="rng"/> (Linear's default init).</summary>
    public FeedForward(int modelDim, int hiddenDim, Rng rng, FeedForwardKind kind = FeedForwardKind.Relu)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenDim);
        ArgumentNullException.ThrowIfNull(rng);
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected Relu, Gelu or SwiGlu");
        Kind = kind; ModelDim = modelDim; HiddenDim = hiddenDim;
        if (kind == FeedForwardKind.SwiGlu)
        {
            _in = RegisterModule("w1", new Linear(modelDim, hiddenDim, rng, bias: false));
            _gate = RegisterModule("w3", new Linear(modelDim, hiddenDim, rng, bias: false));
            _out = RegisterModule("w2", new Linear(hiddenDim, modelDim, rng, bias: false));
        }
        else
        {
            _in = RegisterModule("fc1", new Linear(modelDim, hiddenDim, rng));
            _out = RegisterModule("fc2", new Linear(hiddenDim, modelDim, rng));
        }
    }

    /// <summary>x (…, E) → (…, E).</summary>
    public Var Forward(Var x)
    {
        CheckLastAxis(x, ModelDim, "FeedForward");
        var u = _in.Forward(x);                                           // (…, F)
        var hidden = Kind switch
        {
            FeedForwardKind.Relu => u.Relu(),
            FeedForwardKind.Gelu => u.Gelu(),
            _ => u * u.Sigmoid() * _gate!.Forward(x),                     // SiLU(W₁x) ⊙ W₃x
        };
        return _out.Forward(hidden);
    }
}
