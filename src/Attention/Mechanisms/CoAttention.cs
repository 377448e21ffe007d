using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>What a co-attention layer returns: the attended image and question vectors and both attention maps.</summary>
/// <param name="Image">v̂ (B, D) = Σ_n a^v_n v_n.</param>
/// <param name="Question">q̂ (B, D) = Σ_t a^q_t q_t.</param>
/// <param name="ImageWeights">a^v (B, N), each row sums to 1.</param>
/// <param name="QuestionWeights">a^q (B, T), each row sums to 1 and is exactly 0 on padded words.</param>
/// <param name="Affinity">C (B, T, N) for parallel co-attention; null for alternating.</param>
public sealed record CoAttentionResult(Var Image, Var Question, Var ImageWeights, Var QuestionWeights, Var? Affinity = null);

/// <summary>
/// Parallel co-attention (Lu, Yang, Batra and Parikh, "Hierarchical Question-Image Co-Attention for Visual Question
/// Answering", NeurIPS 2016, §3.3): image and question attend to each other at once through an affinity matrix. With image
/// features V (N locations) and question features Q (T words), both of width D, written row-wise (the paper's columns):
/// <code>
///   C   = tanh(Q W_b Vᵀ)                          (B, T, N)   affinity of word t and location n; padded words' rows zeroed
///   H^v = tanh(V W_vᵀ + Cᵀ (Q W_qᵀ))              (B, N, k)   each location sees the question through the affinity
///   H^q = tanh(Q W_qᵀ + C (V W_vᵀ))               (B, T, k)
///   a^v = softmax_n(H^v w_hv),   a^q = softmax_t(H^q w_hq)   (padded words masked)
///   v̂ = Σ_n a^v_n v_n,   q̂ = Σ_t a^q_t q_t
/// </code>
/// W_b (D, D), W_v and W_q (k, D), w_hv and w_hq (k). Cost O(B·T·N·(D + k)). Answer: docs/answers/43-co-attention.md
/// </summary>
public sealed class ParallelCoAttention : Module
{
    private readonly Linear _wv, _wq;

    /// <summary>Feature width D of both modalities.</summary>
    public int Dim { get; }
    /// <summary>Hidden width k.</summary>
    public int Hidden { get; }
    /// <summary>W_b (D, D).</summary>
    public Var Wb { get; }
    /// <summary>w_hv (k, 1).</summary>
    public Var Whv { get; }
    /// <summary>w_hq (k, 1).</summary>
    public Var Whq { get; }
    /// <summary>W_v (k, D).</summary>
    public Var Wv => _wv.Weight;
    /// <summary>W_q (k, D).</summary>
    public Var Wq => _wq.Weight;

    /// <summary>Creates the layer: feature width <paramref name="dim"/>, hidden width <paramref name="hidden"/>.</summary>
    public ParallelCoAttention(int dim, int hidden, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        ArgumentNullException.ThrowIfNull(rng);
        Dim = dim; Hidden = hidden;
        float bd = 1f / MathF.Sqrt(dim), bk = 1f / MathF.Sqrt(hidden);
        Wb = RegisterParameter("W_b", Var.Parameter(rng.UniformTensor([dim, dim], -bd, bd)));
        _wv = RegisterModule("W_v", new Linear(dim, hidden, rng, bias: false));
        _wq = RegisterModule("W_q", new Linear(dim, hidden, rng, bias: false));
        Whv = RegisterParameter("w_hv", Var.Parameter(rng.UniformTensor([hidden, 1], -bk, bk)));
        Whq = RegisterParameter("w_hq", Var.Parameter(rng.UniformTensor([hidden, 1], -bk, bk)));
    }

    /// <summary>image V (B, N, D), question Q (B, T, D), questionPadding (B, T) with 1 on padded words, or null.</summary>
    /// <exception cref="ArgumentException">Shapes that do not match, or a question whose every word is padding.</exception>
    public CoAttentionResult Forward(Var image, Var question, Tensor? questionPadding = null)
    {
        var (b, n, t) = CoAttentionChecks.Shapes(image, question, questionPadding, Dim);
        var keep = CoAttentionChecks.Keep(questionPadding, b, t);                                 // (B, T, 1): 0 on padded words
        var affinity = question.MatMul(Wb).MatMul(image, transposeB: true).Tanh() * keep;          // C (B, T, N)
        var wvV = _wv.Forward(image);                                                              // (B, N, k)
        var wqQ = _wq.Forward(question);                                                           // (B, T, k)
        var hv = (wvV + affinity.MatMul(wqQ, transposeA: true)).Tanh();                            // (B, N, k)
        var hq = (wqQ + affinity.MatMul(wvV)).Tanh();                                              // (B, T, k)
        var av = hv.MatMul(Whv).Reshape(b, n).Softmax(-1);                                         // a^v (B, N)
        var aq = CoAttentionChecks.MaskedSoftmax(hq.MatMul(Whq).Reshape(b, t), questionPadding);   // a^q (B, T)
        return new CoAttentionResult(CoAttentionChecks.Pool(av, image), CoAttentionChecks.Pool(aq, question), av, aq, affinity);
    }
}

/// <summary>
/// Alternating co-attention (Lu et al., NeurIPS 2016, §3.3): one attention operator x̂ = A(X; g) applied three times,
/// each time guided by the previous result:
/// <code>
///   A(X; g):  H = tanh(X W_xᵀ + 1 (g W_gᵀ)),  a^x = softmax(H w_hx),  x̂ = Σ_i a^x_i x_i
///   1. ŝ = A(Q; 0)      summarise the question (no guidance)
///   2. v̂ = A(V; ŝ)      attend to the image with the question summary
///   3. q̂ = A(Q; v̂)      attend to the question with the attended image
/// </code>
/// Each of the three steps has its own W_x (k, D), W_g (k, D) (none in step 1) and w_hx (k). Answer: docs/answers/43-co-attention.md
/// </summary>
public sealed class AlternatingCoAttention : Module
{
    private readonly Linear[] _wx = new Linear[3];
    private readonly Linear?[] _wg = new Linear?[3];
    private readonly Var[] _wh = new Var[3];

    /// <summary>Feature width D of both modalities.</summary>
    public int Dim { get; }
    /// <summary>Hidden width k.</summary>
    public int Hidden { get; }

    /// <summary>Creates the layer: feature width <paramref name="dim"/>, hidden width <paramref name="hidden"/>.</summary>
    public AlternatingCoAttention(int dim, int hidden, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        ArgumentNullException.ThrowIfNull(rng);
        Dim = dim; Hidden = hidden;
        float bk = 1f / MathF.Sqrt(hidden);
        for (int s = 0; s < 3; s++)
        {
            _wx[s] = RegisterModule($"W_x{s + 1}", new Linear(dim, hidden, rng, bias: false));
            if (s > 0) _wg[s] = RegisterModule($"W_g{s + 1}", new Linear(dim, hidden, rng, bias: false));
            _wh[s] = RegisterParameter($"w_hx{s + 1}", Var.Parameter(rng.UniformTensor([hidden, 1], -bk, bk)));
        }
    }

    /// <summary>The question weights of step 1 (the unguided summary ŝ) from the last <see cref="Forward"/>, (B, T).</summary>
    public Var? SummaryWeights { get; private set; }

    /// <summary>image V (B, N, D), question Q (B, T, D), questionPadding (B, T) with 1 on padded words, or null.</summary>
    /// <exception cref="ArgumentException">Shapes that do not match, or a question whose every word is padding.</exception>
    public CoAttentionResult Forward(Var image, Var question, Tensor? questionPadding = null)
    {
        CoAttentionChecks.Shapes(image, question, questionPadding, Dim);
        var (s, a1) = Attend(0, question, null, questionPadding);                                   // ŝ = A(Q; 0)
        var (v, av) = Attend(1, image, s, null);                                                   // v̂ = A(V; ŝ)
        var (q, aq) = Attend(2, question, v, questionPadding);                                     // q̂ = A(Q; v̂)
        SummaryWeights = a1;
        return new CoAttentionResult(v, q, av, aq);
    }

    private (Var Pooled, Var Weights) Attend(int step, Var x, Var? guide, Tensor? padding)
    {
        int b = x.Shape[0], len = x.Shape[1];
        var h = _wx[step].Forward(x);                                                              // (B, len, k)
        if (guide is not null) h += _wg[step]!.Forward(guide).Unsqueeze(1);                        // + 1 (W_g g)ᵀ
        var scores = h.Tanh().MatMul(_wh[step]).Reshape(b, len);
        var a = CoAttentionChecks.MaskedSoftmax(scores, padding);
        return (CoAttentionChecks.Pool(a, x), a);
    }
}

internal static class CoAttentionChecks
{
    public static (int B, int N, int T) Shapes(Var image, Var question, Tensor? padding, int dim)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(question);
        if (image.Rank != 3 || image.Shape[2] != dim)
            throw new ArgumentException($"expected image features of shape (B, N, {dim}), got {Var.Fmt(image.Shape)}", nameof(image));
        int b = image.Shape[0];
        if (question.Rank != 3 || question.Shape[0] != b || question.Shape[2] != dim)
            throw new ArgumentException($"expected question features of shape ({b}, T, {dim}), got {Var.Fmt(question.Shape)}", nameof(question));
        int t = question.Shape[1];
        if (padding is not null)
        {
            if (padding.Rank != 2 || padding.Dim(0) != b || padding.Dim(1) != t)
                throw new ArgumentException($"expected a question padding mask of shape ({b}, {t}), got {Tensor.FormatShape(padding.Shape)}", nameof(padding));
            var p = padding.Contiguous().AsSpan();
            for (int i = 0; i < b; i++)
            {
                bool any = false;
                for (int j = 0; j < t; j++) any |= p[i * t + j] == 0f;
                if (!any) throw new ArgumentException($"expected at least one real word per question, question {i} is all padding", nameof(padding));
            }
        }
        return (b, image.Shape[1], t);
    }

    public static Var Keep(Tensor? padding, int b, int t)
    {
        var keep = Tensor.Ones(b, t, 1);
        if (padding is null) return Var.Constant(keep);
        var k = keep.AsSpan(); var p = padding.Contiguous().AsSpan();
        for (int i = 0; i < k.Length; i++) k[i] = p[i] != 0f ? 0f : 1f;
        return Var.Constant(keep);
    }

    public static Var MaskedSoftmax(Var scores, Tensor? padding) =>
        (padding is null ? scores : scores.MaskedFill(padding, float.NegativeInfinity)).Softmax(-1);

    // Σ_i a_i x_i: a (B, len), x (B, len, D) → (B, D)
    public static Var Pool(Var a, Var x) => a.Unsqueeze(1).MatMul(x).Reshape(x.Shape[0], x.Shape[2]);
}
