using System.Numerics.Tensors;
using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>The normalisation a Transformer layer uses.</summary>
public enum NormKind
{
    /// <summary><see cref="Nn.LayerNorm"/> (Ba et al., 2016): centre, scale, γ and β.</summary>
    LayerNorm,
    /// <summary><see cref="RmsNorm"/> (Zhang and Sennrich, 2019): scale by the root mean square, γ only.</summary>
    RmsNorm,
}

/// <summary>The choices shared by <see cref="EncoderLayer"/> and <see cref="DecoderLayer"/>.</summary>
/// <param name="ModelDim">E.</param>
/// <param name="Heads">H (E a multiple of H).</param>
/// <param name="FeedForwardDim">F, the feed-forward hidden width.</param>
public sealed record TransformerLayerOptions(int ModelDim, int Heads, int FeedForwardDim)
{
    /// <summary>Pre-LN x + f(N(x)) (Xiong et al., 2020) when true; post-LN N(x + f(x)) (Vaswani et al., 2017) when false.</summary>
    public bool PreNorm { get; init; } = true;
    /// <summary>LayerNorm or RMSNorm.</summary>
    public NormKind Norm { get; init; } = NormKind.LayerNorm;
    /// <summary>The feed-forward variant.</summary>
    public FeedForwardKind FeedForward { get; init; } = FeedForwardKind.Relu;
    /// <summary>Dropout on each branch output (training mode only).</summary>
    public float Dropout { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ModelDim, nameof(ModelDim));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Heads, nameof(Heads));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(FeedForwardDim, nameof(FeedForwardDim));
        if (ModelDim % Heads != 0) throw new ArgumentException($"expected a model width divisible by the {Heads} heads, got {ModelDim}", nameof(ModelDim));
        if (!(Dropout >= 0f && Dropout < 1f)) throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "expected a dropout probability in [0, 1)");
        if (!Enum.IsDefined(Norm)) throw new ArgumentOutOfRangeException(nameof(Norm), Norm, "expected LayerNorm or RmsNorm");
    }

    internal Module CreateNorm() => Norm == NormKind.RmsNorm ? new RmsNorm(ModelDim) : new LayerNorm(ModelDim);
}

/// <summary>
/// A Transformer encoder layer (Vaswani et al., 2017, §3.1): bidirectional self-attention over the source, then the
/// feed-forward network, each a residual branch with a norm N (LayerNorm or RMSNorm):
/// <code>
///   pre-LN:   x = x + Drop(SelfAttn(N₁(x)));   x = x + Drop(FFN(N₂(x)))
///   post-LN:  x = N₁(x + Drop(SelfAttn(x)));   x = N₂(x + Drop(FFN(x)))
/// </code>
/// x (B, S, E), source lengths (B) mask padded keys → (B, S, E). Attention runs on the fused kernels
/// (<see cref="MultiHeadAttention.Forward"/>: FlashAttention forward and backward). Submodules "self_attn", "norm1", "norm2", "ffn".
/// </summary>
public sealed class EncoderLayer : Module
{
    private readonly ILayer _norm1, _norm2;
    private readonly Dropout? _dropout;

    /// <summary>The options.</summary>
    public TransformerLayerOptions Options { get; }
    /// <summary>Self-attention.</summary>
    public MultiHeadAttention SelfAttention { get; }
    /// <summary>Feed-forward network.</summary>
    public FeedForward FeedForward { get; }

    /// <summary>Creates the layer; weights from <paramref name="rng"/>.</summary>
    public EncoderLayer(TransformerLayerOptions options, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rng);
        options.Validate();
        Options = options;
        SelfAttention = RegisterModule("self_attn", new MultiHeadAttention(options.ModelDim, options.Heads, rng));
        _norm1 = (ILayer)RegisterModule("norm1", options.CreateNorm());
        _norm2 = (ILayer)RegisterModule("norm2", options.CreateNorm());
        FeedForward = RegisterModule("ffn", new FeedForward(options.ModelDim, options.FeedForwardDim, rng, options.FeedForward));
        if (options.Dropout > 0f) _dropout = RegisterModule("drop", new Dropout(options.Dropout, new Rng(rng.NextUInt64())));
    }

    /// <summary>x (B, S, E), sourceLengths (B) or null → (B, S, E).</summary>
    public Var Forward(Var x, int[]? sourceLengths = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        Var Drop(Var v) => _dropout is null ? v : _dropout.Forward(v);
        if (Options.PreNorm)
        {
            x = x + Drop(SelfAttention.Forward(_norm1.Forward(x), keyLengths: sourceLengths));
            return x + Drop(FeedForward.Forward(_norm2.Forward(x)));
        }
        x = _norm1.Forward(x + Drop(SelfAttention.Forward(x, keyLengths: sourceLengths)));
        return _norm2.Forward(x + Drop(FeedForward.Forward(x)));
    }
}

/// <summary>
/// A Transformer decoder layer (Vaswani et al., 2017, §3.1): causal self-attention over the target prefix,
/// cross-attention from the target to the encoder's output m, and the feed-forward network:
/// <code>
///   pre-LN:   y = y + Drop(SelfAttn(N₁(y), causal));  y = y + Drop(CrossAttn(N₂(y), m));  y = y + Drop(FFN(N₃(y)))
///   post-LN:  y = N₁(y + Drop(SelfAttn(y, causal)));  y = N₂(y + Drop(CrossAttn(y, m)));  y = N₃(y + Drop(FFN(y)))
///   CrossAttn(u, m) = softmax((u W_q)(m W_k)ᵀ/√Dh + M_pad) (m W_v) W_o    per head
/// </code>
/// Training: <see cref="Forward"/>, y (B, T, E), m (B, S, E) → (B, T, E), on the fused kernels. Decoding:
/// <see cref="Step"/> adds one token per row, appending its self-attention K and V to a <see cref="KvCache"/> and
/// reading the cross-attention K and V from a <see cref="CrossAttentionMemory"/> computed once per source.
/// Submodules "self_attn", "cross_attn", "norm1", "norm2", "norm3", "ffn".
/// </summary>
public sealed class DecoderLayer : Module
{
    private readonly ILayer _norm1, _norm2, _norm3;
    private readonly Dropout? _dropout;

    /// <summary>The options.</summary>
    public TransformerLayerOptions Options { get; }
    /// <summary>Causal self-attention.</summary>
    public MultiHeadAttention SelfAttention { get; }
    /// <summary>Cross-attention (queries from the decoder, keys and values from the encoder output).</summary>
    public MultiHeadAttention CrossAttention { get; }
    /// <summary>Feed-forward network.</summary>
    public FeedForward FeedForward { get; }

    /// <summary>Creates the layer; weights from <paramref name="rng"/>.</summary>
    public DecoderLayer(TransformerLayerOptions options, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rng);
        options.Validate();
        Options = options;
        SelfAttention = RegisterModule("self_attn", new MultiHeadAttention(options.ModelDim, options.Heads, rng));
        CrossAttention = RegisterModule("cross_attn", new MultiHeadAttention(options.ModelDim, options.Heads, rng));
        _norm1 = (ILayer)RegisterModule("norm1", options.CreateNorm());
        _norm2 = (ILayer)RegisterModule("norm2", options.CreateNorm());
        _norm3 = (ILayer)RegisterModule("norm3", options.CreateNorm());
        FeedForward = RegisterModule("ffn", new FeedForward(options.ModelDim, options.FeedForwardDim, rng, options.FeedForward));
        if (options.Dropout > 0f) _dropout = RegisterModule("drop", new Dropout(options.Dropout, new Rng(rng.NextUInt64())));
    }

    /// <summary>Teacher-forced: y (B, T, E), memory (B, S, E), sourceLengths (B) or null → (B, T, E).</summary>
    public Var Forward(Var y, Var memory, int[]? sourceLengths = null)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(memory);
        Var Drop(Var v) => _dropout is null ? v : _dropout.Forward(v);
        if (Options.PreNorm)
        {
            y = y + Drop(SelfAttention.Forward(_norm1.Forward(y), causal: true));
            y = y + Drop(CrossAttention.Forward(_norm2.Forward(y), memory, sourceLengths));
            return y + Drop(FeedForward.Forward(_norm3.Forward(y)));
        }
        y = _norm1.Forward(y + Drop(SelfAttention.Forward(y, causal: true)));
        y = _norm2.Forward(y + Drop(CrossAttention.Forward(y, memory, sourceLengths)));
        return _norm3.Forward(y + Drop(FeedForward.Forward(y)));
    }

    /// <summary>As <see cref="Forward"/>, also returning the cross-attention weights (B, H, T, S) (composed path, for inspection).</summary>
    public (Var Output, Var CrossWeights) ForwardWithCrossWeights(Var y, Var memory, int[]? sourceLengths = null)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(memory);
        Var Drop(Var v) => _dropout is null ? v : _dropout.Forward(v);
        if (Options.PreNorm)
        {
            y = y + Drop(SelfAttention.Forward(_norm1.Forward(y), causal: true));
            var cross = CrossAttention.ForwardWithProbabilities(_norm2.Forward(y), memory, sourceLengths);
            y = y + Drop(cross.Output);
            return (y + Drop(FeedForward.Forward(_norm3.Forward(y))), cross.Probabilities);
        }
        y = _norm1.Forward(y + Drop(SelfAttention.Forward(y, causal: true)));
        var c = CrossAttention.ForwardWithProbabilities(y, memory, sourceLengths);
        y = _norm2.Forward(y + Drop(c.Output));
        return (_norm3.Forward(y + Drop(FeedForward.Forward(y))), c.Probabilities);
    }

    /// <summary>
    /// The cross-attention keys and values of an encoder output, memory (B, S, E) → K, V (B, S, H·Dh): computed once per
    /// source and read by every decoding step.
    /// </summary>
    public CrossAttentionMemory PrepareCrossAttention(Var memory, int[] sourceLengths)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(sourceLengths);
        if (memory.Rank != 3 || memory.Shape[2] != Options.ModelDim)
            throw new ArgumentException($"expected an encoder output of shape (B, S, {Options.ModelDim}), got {Var.Fmt(memory.Shape)}", nameof(memory));
        using var _ = Var.NoGrad();
        return new CrossAttentionMemory(CrossAttention.K.Forward(memory).Value, CrossAttention.V.Forward(memory).Value, sourceLengths);
    }

    /// <summary>
    /// One decoding step, no gradient: y (R, E), the embedded newest token of each row (position = cache length) →
    /// (R, E). Appends this token's self-attention K, V to <paramref name="cache"/>; row r reads the cross-attention
    /// memory of source <paramref name="sourceOf"/>[r]. <paramref name="crossWeights"/>, when not empty, receives the
    /// cross-attention weights (R, H, S).
    /// </summary>
    public Var Step(Var y, KvCache cache, CrossAttentionMemory cross, int[] sourceOf, Span<float> crossWeights = default)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(cross);
        ArgumentNullException.ThrowIfNull(sourceOf);
        int e = Options.ModelDim, h = Options.Heads, r = cache.Rows;
        if (y.Rank != 2 || y.Shape[0] != r || y.Shape[1] != e)
            throw new ArgumentException($"expected the step input of shape ({r}, {e}), got {Var.Fmt(y.Shape)}", nameof(y));
        if (sourceOf.Length != r) throw new ArgumentException($"expected {r} source rows, got {sourceOf.Length}", nameof(sourceOf));
        if (!crossWeights.IsEmpty && crossWeights.Length != r * h * cross.SourceLength)
            throw new ArgumentException($"expected cross weights of {r}·{h}·{cross.SourceLength} floats, got {crossWeights.Length}", nameof(crossWeights));
        using var _ = Var.NoGrad();

        Var SelfBranch(Var u)
        {
            cache.Append(SelfAttention.K.Forward(u).Value, SelfAttention.V.Forward(u).Value);
            var q = SelfAttention.Q.Forward(u).Value;
            var heads = Tensor.Zeros(r, e);
            IncrementalAttention.Attend(q.AsSpan(), cache.Keys, cache.Values, heads.AsSpan(), r, h, e / h,
                                        cache.Capacity, row => row, row => cache.Length, default);
            return SelfAttention.O.Forward(Var.Constant(heads));
        }
        Var CrossBranch(Var u, Span<float> weights)
        {
            var q = CrossAttention.Q.Forward(u).Value;
            var heads = Tensor.Zeros(r, e);
            IncrementalAttention.Attend(q.AsSpan(), cross.Keys.AsSpan(), cross.Values.AsSpan(), heads.AsSpan(), r, h, e / h,
                                        cross.SourceLength, row => sourceOf[row], row => cross.Lengths[sourceOf[row]], weights);
            return CrossAttention.O.Forward(Var.Constant(heads));
        }

        if (Options.PreNorm)
        {
            y = y + SelfBranch(_norm1.Forward(y));
            y = y + CrossBranch(_norm2.Forward(y), crossWeights);
            return y + FeedForward.Forward(_norm3.Forward(y));
        }
        y = _norm1.Forward(y + SelfBranch(y));
        y = _norm2.Forward(y + CrossBranch(y, crossWeights));
        return _norm3.Forward(y + FeedForward.Forward(y));
    }
}

/// <summary>
/// The cross-attention keys and values of one decoder layer for a batch of sources: K, V (B, S, H·Dh) = m·W_kᵀ, m·W_vᵀ
/// (biases included) and the source lengths. Computed once per source by <see cref="DecoderLayer.PrepareCrossAttention"/>.
/// </summary>
public sealed class CrossAttentionMemory
{
    /// <summary>(B, S, H·Dh).</summary>
    public Tensor Keys { get; }
    /// <summary>(B, S, H·Dh).</summary>
    public Tensor Values { get; }
    /// <summary>Real source lengths (B).</summary>
    public int[] Lengths { get; }
    /// <summary>Sources B.</summary>
    public int Batch => Keys.Shape[0];
    /// <summary>Padded source length S.</summary>
    public int SourceLength => Keys.Shape[1];

    /// <summary>Wraps precomputed keys and values.</summary>
    public CrossAttentionMemory(Tensor keys, Tensor values, int[] lengths)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(lengths);
        if (keys.Rank != 3 || !keys.Shape.SequenceEqual(values.Shape) || !keys.IsContiguous || !values.IsContiguous)
            throw new ArgumentException($"expected contiguous keys and values of one shape (B, S, W), got {Tensor.FormatShape(keys.Shape)} and {Tensor.FormatShape(values.Shape)}", nameof(values));
        if (lengths.Length != keys.Shape[0])
            throw new ArgumentException($"expected {keys.Shape[0]} source lengths, got {lengths.Length}", nameof(lengths));
        foreach (var l in lengths)
            if ((uint)l > (uint)keys.Shape[1]) throw new ArgumentException($"expected source lengths in [0, {keys.Shape[1]}], got {l}", nameof(lengths));
        Keys = keys; Values = values; Lengths = (int[])lengths.Clone();
    }
}

/// <summary>
/// A self-attention KV cache for one layer: K and V (R, capacity, W) for R rows; <see cref="Append"/> writes the
/// newest position of every row, <see cref="Reorder"/> keeps chosen rows (beam search). Positions 0..Length−1 are valid.
/// </summary>
public sealed class KvCache
{
    private float[] _keys, _values;

    /// <summary>Rows R.</summary>
    public int Rows { get; private set; }
    /// <summary>Longest sequence the cache holds.</summary>
    public int Capacity { get; }
    /// <summary>Width W (H·Dh).</summary>
    public int Width { get; }
    /// <summary>Cached positions.</summary>
    public int Length { get; private set; }
    /// <summary>(R, capacity, W), row-major.</summary>
    public ReadOnlySpan<float> Keys => _keys;
    /// <summary>(R, capacity, W), row-major.</summary>
    public ReadOnlySpan<float> Values => _values;

    /// <summary>An empty cache.</summary>
    public KvCache(int rows, int capacity, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Rows = rows; Capacity = capacity; Width = width;
        if ((long)rows * capacity * width > Array.MaxLength)
            throw new ArgumentException($"expected a cache of at most {Array.MaxLength} floats, got {rows}·{capacity}·{width}");
        _keys = new float[rows * capacity * width];
        _values = new float[_keys.Length];
    }

    /// <summary>Appends k, v (R, W) at position <see cref="Length"/>.</summary>
    public void Append(Tensor k, Tensor v)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        if (k.Length != Rows * Width || v.Length != Rows * Width)
            throw new ArgumentException($"expected k and v of {Rows}·{Width} floats, got {k.Length} and {v.Length}");
        if (Length == Capacity) throw new InvalidOperationException($"the KV cache is full ({Capacity} positions)");
        for (int r = 0; r < Rows; r++)
        {
            k.AsSpan().Slice(r * Width, Width).CopyTo(_keys.AsSpan((r * Capacity + Length) * Width, Width));
            v.AsSpan().Slice(r * Width, Width).CopyTo(_values.AsSpan((r * Capacity + Length) * Width, Width));
        }
        Length++;
    }

    /// <summary>Keeps rows <paramref name="rows"/> (with repeats) in that order.</summary>
    public void Reorder(int[] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int block = Capacity * Width;
        var keys = new float[rows.Length * block];
        var values = new float[keys.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"expected rows in [0, {Rows}), got {rows[i]}");
            _keys.AsSpan(rows[i] * block, Length * Width).CopyTo(keys.AsSpan(i * block));
            _values.AsSpan(rows[i] * block, Length * Width).CopyTo(values.AsSpan(i * block));
        }
        _keys = keys; _values = values; Rows = rows.Length;
    }
}

/// <summary>
/// Attention of one query per row over cached keys (the decoding step): for row r and head h,
/// p = softmax(q_{r,h}·K_{src(r),j,h}ᵀ / √Dh) over j &lt; len(r), out_{r,h} = Σⱼ p_j V_{src(r),j,h}.
/// Keys and values are (rows or sources, stride, H·Dh); the query and the output are (R, H·Dh).
/// </summary>
internal static class IncrementalAttention
{
    public static void Attend(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
                              int rows, int heads, int headDim, int stride, Func<int, int> block, Func<int, int> length, Span<float> weights)
    {
        int w = heads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        var p = new float[stride];
        for (int r = 0; r < rows; r++)
        {
            int b = block(r), n = length(r);
            for (int h = 0; h < heads; h++)
            {
                var qh = q.Slice(r * w + h * headDim, headDim);
                var oh = output.Slice(r * w + h * headDim, headDim);
                oh.Clear();
                // pass 1: scores s_j = q·k_j·scale and their max
                float max = float.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    p[j] = TensorPrimitives.Dot(qh, keys.Slice((b * stride + j) * w + h * headDim, headDim)) * scale;
                    if (p[j] > max) max = p[j];
                }
                // pass 2: p_j = exp(s_j − max) / Σ
                float sum = 0f;
                for (int j = 0; j < n; j++) { p[j] = MathF.Exp(p[j] - max); sum += p[j]; }
                // pass 3: o = Σ p_j v_j (a row with no key gives zeros)
                for (int j = 0; j < n; j++)
                {
                    p[j] /= sum;
                    TensorPrimitives.MultiplyAdd(values.Slice((b * stride + j) * w + h * headDim, headDim), p[j], oh, oh);
                }
                if (!weights.IsEmpty)
                {
                    var wr = weights.Slice((r * heads + h) * stride, stride);
                    wr.Clear();
                    p.AsSpan(0, n).CopyTo(wr);
                }
            }
        }
    }
}
