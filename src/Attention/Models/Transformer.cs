using Attention.Positions;
using Attention.Autograd;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>Sizes and choices of a <see cref="Transformer"/>.</summary>
public sealed record TransformerConfig(int SourceVocabulary, int TargetVocabulary)
{
    /// <summary>E, the model width.</summary>
    public int ModelDim { get; init; } = 256;
    /// <summary>H, attention heads per layer.</summary>
    public int Heads { get; init; } = 4;
    /// <summary>Encoder layers.</summary>
    public int EncoderLayers { get; init; } = 3;
    /// <summary>Decoder layers.</summary>
    public int DecoderLayers { get; init; } = 3;
    /// <summary>F, the feed-forward hidden width.</summary>
    public int FeedForwardDim { get; init; } = 1024;
    /// <summary>Pre-LN (true) or post-LN (false).</summary>
    public bool PreNorm { get; init; } = true;
    /// <summary>LayerNorm or RMSNorm.</summary>
    public NormKind Norm { get; init; } = NormKind.LayerNorm;
    /// <summary>ReLU, GELU or SwiGLU feed-forward.</summary>
    public FeedForwardKind FeedForward { get; init; } = FeedForwardKind.Relu;
    /// <summary>Dropout on embeddings and on every residual branch (training only).</summary>
    public float Dropout { get; init; } = 0.1f;
    /// <summary>Longest source or target sequence (the position table and the KV cache size).</summary>
    public int MaxLength { get; init; } = 64;
    /// <summary>Output projection tied to the target embedding (logits = h·E_tgtᵀ; Press and Wolf, 2017).</summary>
    public bool TieOutput { get; init; } = true;

    /// <summary>The layers' options.</summary>
    public TransformerLayerOptions LayerOptions => new(ModelDim, Heads, FeedForwardDim) { PreNorm = PreNorm, Norm = Norm, FeedForward = FeedForward, Dropout = Dropout };
}

/// <summary>
/// The encoder–decoder Transformer (Vaswani et al., 2017, "Attention Is All You Need", §3):
/// <code>
///   x⁰ = √E · Emb_src(source) + PE            (B, S, E)     PE(p, 2i) = sin(p / 10000^(2i/E)), PE(p, 2i+1) = cos(…)
///   m  = N_enc(EncoderLayerₙ(… EncoderLayer₁(x⁰)))  (B, S, E)     N_enc only for pre-LN
///   y⁰ = √E · Emb_tgt(BOS y₁ … y_{T−1}) + PE   (B, T, E)
///   h  = N_dec(DecoderLayerₙ(… DecoderLayer₁(y⁰, m)))  (B, T, E)
///   logits = h · E_tgtᵀ (tied) or h · W_outᵀ + b   (B, T, V)
/// </code>
/// Training uses <see cref="Forward"/> (teacher forcing, all T positions at once, fused attention kernels forward
/// and backward). Decoding uses <see cref="Start(PaddedBatch)"/>: the encoder runs once, each decoder layer's
/// cross-attention K and V are projected from m once per source, and each step appends one position to the
/// self-attention KV cache, so a step costs O(t) attention work instead of recomputing the prefix. It is an
/// <see cref="IStepDecoder"/>, so <see cref="Decoding.Greedy"/> and <see cref="Decoding.Beam"/> decode it.
/// Embedding rows start N(0, 1/E), so √E·Emb has unit scale like PE.
/// </summary>
public sealed class Transformer : Module, IStepDecoder
{
    private readonly Embedding _sourceEmbedding, _targetEmbedding;
    private readonly EncoderLayer[] _encoder;
    private readonly DecoderLayer[] _decoder;
    private readonly ILayer? _encoderNorm, _decoderNorm;
    private readonly Linear? _output;
    private readonly Dropout? _dropout;
    private readonly Tensor _positions;
    private readonly float _embedScale;

    /// <summary>The configuration.</summary>
    public TransformerConfig Config { get; }
    /// <summary>The encoder layers.</summary>
    public IReadOnlyList<EncoderLayer> EncoderLayers => _encoder;
    /// <summary>The decoder layers.</summary>
    public IReadOnlyList<DecoderLayer> DecoderLayers => _decoder;

    /// <summary>Builds the model; weights from <paramref name="rng"/>.</summary>
    /// <exception cref="ArgumentException">A size is not positive, E is odd or not a multiple of H, or a vocabulary holds only the reserved ids.</exception>
    public Transformer(TransformerConfig config, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        if (config.SourceVocabulary <= Vocabulary.Unk || config.TargetVocabulary <= Vocabulary.Unk)
            throw new ArgumentException($"expected vocabularies larger than the 4 reserved ids, got {config.SourceVocabulary} and {config.TargetVocabulary}", nameof(config));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.EncoderLayers, nameof(config.EncoderLayers));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.DecoderLayers, nameof(config.DecoderLayers));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(config.MaxLength, nameof(config.MaxLength));
        Config = config;
        var options = config.LayerOptions;
        options.Validate();
        int e = config.ModelDim;
        if (e % 2 != 0)
            throw new ArgumentException($"expected an even ModelDim (the sinusoidal positions pair sin and cos), got {e}", nameof(config));
        _embedScale = MathF.Sqrt(e);
        _sourceEmbedding = RegisterModule("source_embedding", new Embedding(config.SourceVocabulary, e, rng, paddingIndex: Vocabulary.Pad));
        _targetEmbedding = RegisterModule("target_embedding", new Embedding(config.TargetVocabulary, e, rng, paddingIndex: Vocabulary.Pad));
        foreach (var emb in new[] { _sourceEmbedding, _targetEmbedding })
        {
            var w = emb.Weight.Value.AsSpan();
            var fresh = rng.NormalTensor([emb.NumEmbeddings, e]).AsSpan();
            for (int i = 0; i < w.Length; i++) w[i] = fresh[i] / _embedScale;
            w.Slice(Vocabulary.Pad * e, e).Clear();
        }
        _encoder = new EncoderLayer[config.EncoderLayers];
        for (int i = 0; i < _encoder.Length; i++) _encoder[i] = RegisterModule($"encoder{i}", new EncoderLayer(options, rng));
        _decoder = new DecoderLayer[config.DecoderLayers];
        for (int i = 0; i < _decoder.Length; i++) _decoder[i] = RegisterModule($"decoder{i}", new DecoderLayer(options, rng));
        if (config.PreNorm)
        {
            _encoderNorm = (ILayer)RegisterModule("encoder_norm", options.CreateNorm());
            _decoderNorm = (ILayer)RegisterModule("decoder_norm", options.CreateNorm());
        }
        if (!config.TieOutput) _output = RegisterModule("output", new Linear(e, config.TargetVocabulary, rng));
        if (config.Dropout > 0f) _dropout = RegisterModule("drop", new Dropout(config.Dropout, new Rng(rng.NextUInt64())));
        _positions = Tensor.FromArray(SinusoidalPositions.Table(config.MaxLength, e), config.MaxLength, e);
    }

    private void CheckBatch(PaddedBatch batch, string name)
    {
        ArgumentNullException.ThrowIfNull(batch, name);
        if (batch.Time > Config.MaxLength)
            throw new ArgumentException($"expected sequences of at most {Config.MaxLength} tokens (MaxLength), got {batch.Time}", name);
    }

    private Var Embed(Embedding table, int[] ids, int b, int t, int offset)
    {
        var x = table.Forward(ids, b, t) * _embedScale + Var.Constant(PositionRows(offset, t).Reshape(1, t, Config.ModelDim));
        return _dropout is null ? x : _dropout.Forward(x);
    }

    private Tensor PositionRows(int offset, int count)
    {
        if (offset + count > Config.MaxLength)
            throw new ArgumentException($"expected positions below MaxLength {Config.MaxLength}, got up to {offset + count - 1}");
        return Tensor.FromArray(_positions.AsSpan().Slice(offset * Config.ModelDim, count * Config.ModelDim).ToArray(), count, Config.ModelDim);
    }

    /// <summary>The encoder: a padded source batch → m (B, S, E).</summary>
    public Var Encode(PaddedBatch source)
    {
        CheckBatch(source, nameof(source));
        var x = Embed(_sourceEmbedding, source.Ids, source.Batch, source.Time, 0);
        foreach (var layer in _encoder) x = layer.Forward(x, source.Lengths);
        return _encoderNorm is null ? x : _encoderNorm.Forward(x);
    }

    /// <summary>h (…, E) → logits (…, V).</summary>
    public Var Project(Var h)
    {
        ArgumentNullException.ThrowIfNull(h);
        return _output is null ? h.MatMul(_targetEmbedding.Weight, transposeB: true) : _output.Forward(h);
    }

    /// <summary>
    /// Teacher-forced forward: source (B, S), decoder inputs (B, T) = BOS y₁ … y_{T−1} → logits (B, T, V).
    /// Position t sees decoder inputs 0..t only (causal self-attention) and the whole source.
    /// </summary>
    public Var Forward(PaddedBatch source, PaddedBatch decoderInput)
    {
        CheckBatch(source, nameof(source));
        CheckBatch(decoderInput, nameof(decoderInput));
        if (decoderInput.Batch != source.Batch)
            throw new ArgumentException($"expected decoder inputs for {source.Batch} items, got {decoderInput.Batch}", nameof(decoderInput));
        var memory = Encode(source);
        var y = Embed(_targetEmbedding, decoderInput.Ids, decoderInput.Batch, decoderInput.Time, 0);
        foreach (var layer in _decoder) y = layer.Forward(y, memory, source.Lengths);
        return Project(_decoderNorm is null ? y : _decoderNorm.Forward(y));
    }

    /// <summary>
    /// As <see cref="Forward"/>, also returning each decoder layer's cross-attention weights (B, H, T, S) (composed path;
    /// for inspection and heatmaps, not for training speed).
    /// </summary>
    public (Var Logits, IReadOnlyList<Var> CrossWeights) ForwardWithCrossWeights(PaddedBatch source, PaddedBatch decoderInput)
    {
        CheckBatch(source, nameof(source));
        CheckBatch(decoderInput, nameof(decoderInput));
        if (decoderInput.Batch != source.Batch)
            throw new ArgumentException($"expected decoder inputs for {source.Batch} items, got {decoderInput.Batch}", nameof(decoderInput));
        var memory = Encode(source);
        var y = Embed(_targetEmbedding, decoderInput.Ids, decoderInput.Batch, decoderInput.Time, 0);
        var weights = new List<Var>();
        foreach (var layer in _decoder)
        {
            (y, var w) = layer.ForwardWithCrossWeights(y, memory, source.Lengths);
            weights.Add(w);
        }
        return (Project(_decoderNorm is null ? y : _decoderNorm.Forward(y)), weights);
    }

    /// <summary>Starts incremental decoding with the cross-attention K and V cached once per source.</summary>
    public IDecoderSession Start(PaddedBatch source) => StartSession(source, cacheCrossAttention: true);

    /// <summary>
    /// Starts incremental decoding. With <paramref name="cacheCrossAttention"/> false every step projects the encoder
    /// output to K and V again (the naive decoder; same outputs, for comparing cost).
    /// </summary>
    public TransformerSession StartSession(PaddedBatch source, bool cacheCrossAttention = true)
    {
        CheckBatch(source, nameof(source));
        using var _ = Var.NoGrad();
        var memory = Encode(source);
        return new TransformerSession(this, memory, source.Lengths, cacheCrossAttention);
    }

    /// <summary>Incremental decoding state (see <see cref="Start"/>).</summary>
    public sealed class TransformerSession : IDecoderSession
    {
        private readonly Transformer _model;
        private readonly Var _memory;
        private readonly int[] _lengths;
        private readonly CrossAttentionMemory?[] _cross;
        private readonly KvCache[] _caches;
        private readonly float[][] _crossWeights;
        private int[] _sourceOf;

        /// <summary>True when each layer's cross-attention K and V were computed once, at the start.</summary>
        public bool CachesCrossAttention { get; }
        /// <summary>How many times an encoder output was projected to cross-attention K and V (one per layer and source batch when cached).</summary>
        public int CrossProjections { get; private set; }
        /// <summary>Tokens fed so far (the next token's position).</summary>
        public int Position { get; private set; }
        /// <inheritdoc/>
        public int Rows => _sourceOf.Length;
        /// <inheritdoc/>
        public int SourceLength => _memory.Shape[1];
        /// <summary><see cref="TransformerConfig.MaxLength"/>: positions 0..MaxLength−1.</summary>
        public int MaxSteps => _model.Config.MaxLength;
        /// <summary>Source row of each decoding row.</summary>
        public IReadOnlyList<int> SourceOf => _sourceOf;

        internal TransformerSession(Transformer model, Var memory, int[] lengths, bool cache)
        {
            _model = model; _memory = memory; _lengths = (int[])lengths.Clone(); CachesCrossAttention = cache;
            int b = memory.Shape[0], layers = model._decoder.Length;
            _sourceOf = Enumerable.Range(0, b).ToArray();
            _cross = new CrossAttentionMemory?[layers];
            _caches = new KvCache[layers];
            _crossWeights = new float[layers][];
            for (int l = 0; l < layers; l++)
            {
                _caches[l] = new KvCache(b, model.Config.MaxLength, model.Config.ModelDim);
                if (cache) { _cross[l] = model._decoder[l].PrepareCrossAttention(memory, _lengths); CrossProjections++; }
            }
        }

        /// <summary>The cross-attention weights (Rows, H, S) of decoder layer <paramref name="layer"/> at the last step.</summary>
        public Tensor CrossWeights(int layer)
        {
            if ((uint)layer >= (uint)_crossWeights.Length) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"expected a decoder layer in [0, {_crossWeights.Length})");
            if (_crossWeights[layer] is null) throw new InvalidOperationException("no step has run yet");
            return Tensor.FromArray((float[])_crossWeights[layer].Clone(), Rows, _model.Config.Heads, SourceLength);
        }

        /// <summary>
        /// Feeds one token per row at position <see cref="Position"/>; returns log-probabilities (Rows, V) and the
        /// last decoder layer's cross-attention weights averaged over heads (Rows, S).
        /// </summary>
        public (Tensor LogProbs, Tensor Weights) Step(int[] previous)
        {
            ArgumentNullException.ThrowIfNull(previous);
            int r = Rows, e = _model.Config.ModelDim, h = _model.Config.Heads, s = SourceLength;
            if (previous.Length != r) throw new ArgumentException($"expected {r} previous tokens (one per row), got {previous.Length}", nameof(previous));
            if (Position >= _model.Config.MaxLength) throw new InvalidOperationException($"the decoder reached MaxLength {_model.Config.MaxLength}");
            using var _ = Var.NoGrad();
            var y = _model._targetEmbedding.Forward(previous, r, 1).Reshape(r, e) * _model._embedScale
                    + Var.Constant(_model.PositionRows(Position, 1));
            var identity = Enumerable.Range(0, r).ToArray();
            for (int l = 0; l < _model._decoder.Length; l++)
            {
                var layer = _model._decoder[l];
                _crossWeights[l] = new float[r * h * s];
                if (_cross[l] is CrossAttentionMemory cached)
                    y = layer.Step(y, _caches[l], cached, _sourceOf, _crossWeights[l]);
                else
                {
                    // The naive decoder: project the rows' encoder outputs to K and V again at every step.
                    var rowsMemory = _memory.IndexSelect(0, _sourceOf);
                    var fresh = layer.PrepareCrossAttention(rowsMemory, _sourceOf.Select(i => _lengths[i]).ToArray());
                    CrossProjections++;
                    y = layer.Step(y, _caches[l], fresh, identity, _crossWeights[l]);
                }
            }
            Position++;
            var logProbs = _model.Project(_model._decoderNorm is null ? y : _model._decoderNorm.Forward(y)).LogSoftmax(-1).Value;
            var mean = Tensor.Zeros(r, s);
            var m = mean.AsSpan();
            var last = _crossWeights[^1];
            for (int i = 0; i < r; i++)
                for (int head = 0; head < h; head++)
                    for (int j = 0; j < s; j++) m[i * s + j] += last[(i * h + head) * s + j] / h;
            return (logProbs, mean);
        }

        /// <inheritdoc/>
        public void Reorder(int[] rows)
        {
            ArgumentNullException.ThrowIfNull(rows);
            foreach (var row in rows)
                if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"expected rows in [0, {Rows}), got {row}");
            foreach (var cache in _caches) cache.Reorder(rows);
            _sourceOf = rows.Select(row => _sourceOf[row]).ToArray();      // the cross-attention K, V stay per source
        }
    }
}
