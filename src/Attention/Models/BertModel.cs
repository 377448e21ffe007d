using Attention.Autograd;
using Attention.Kernels;
using Attention.Onnx;
using Attention.Tensors;
using System.Runtime.CompilerServices;

namespace Attention.Models;

/// <summary>Options of one <see cref="BertModel"/> forward pass.</summary>
public sealed record BertRunOptions
{
    /// <summary>Keep every layer's attention probabilities (B, H, T, T) (slower: the T×T matrices are built).</summary>
    public bool RecordAttention { get; init; }

    /// <summary>
    /// (Layers, Heads) multipliers on each head's output before the output projection; 0 removes a head
    /// (head ablation, Michel et al., 2019, "Are Sixteen Heads Really Better than One?", NeurIPS, §2, ξ_h). Null = all 1.
    /// </summary>
    public float[,]? HeadMask { get; init; }

    /// <summary>Threads for the matrix products and attention; null = all cores.</summary>
    public int? MaxThreads { get; init; }

    /// <summary>
    /// Called once per layer (0-based) with that layer's query, key and value (B, H, T, D), padded positions included
    /// (answer 21 feeds them to attention approximations). Setting it takes the op-by-op path; the tensors are the
    /// model's own: copy what you keep.
    /// </summary>
    public Action<int, Tensor, Tensor, Tensor>? QueryKeyValue { get; init; }
}

/// <summary>A forward pass's results: LastHiddenState (B, T, Hidden), Embeddings (B, Hidden) pooled and L2-normalised,
/// Attention per layer (B, H, T, T) when recorded.</summary>
public sealed record BertOutput(Tensor LastHiddenState, Tensor Embeddings, Tensor[]? Attention);

/// <summary>
/// A BERT encoder (Devlin et al., 2019, §3) with the sentence-transformers head (Reimers and Gurevych, 2019,
/// "Sentence-BERT", EMNLP, §3: mean pooling), built from the project's autograd ops:
/// <code>
///   x₀ = LayerNorm(E_word[ids] + E_pos[t] + E_type[types])                                  (B, T, Hd)
///   per layer: a = softmax(Q·Kᵀ/√d + M)·V per head, M = −∞ on padded keys                   (Vaswani et al., 2017, eq. 1)
///              x = LayerNorm(x + a·W_O + b_O);  x = LayerNorm(x + GELU(x·W₁ + b₁)·W₂ + b₂)   (post-LN, exact erf GELU)
///   e = Σ_t mask_t·x_t / Σ_t mask_t;  e ← e / ‖e‖₂                                          (B, Hd)
/// </code>
/// Padded positions get hidden states too (their queries attend to the real keys), as in the reference
/// implementation, but never enter a real token's attention or the pooled embedding.
/// </summary>
public sealed class BertModel
{
    private readonly Var _word, _pos, _type, _embLnG, _embLnB;
    private readonly BertLayer<Var>[] _layers;
    private readonly BertInference _inference;

    public BertConfig Config { get; }
    public BertTokenizer Tokenizer { get; }
    public BertWeights Weights { get; }

    /// <summary>Builds the model from weights and a tokenizer whose vocabulary matches the embedding table.</summary>
    /// <exception cref="ArgumentException">The vocabulary size differs from the word embedding rows.</exception>
    public BertModel(BertWeights weights, BertTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.Vocabulary.Count != weights.Config.VocabSize)
            throw new ArgumentException($"tokenizer: expected a vocabulary of {weights.Config.VocabSize} tokens (the embedding rows), got {tokenizer.Vocabulary.Count}", nameof(tokenizer));
        Weights = weights; Config = weights.Config; Tokenizer = tokenizer;
        // built here, not on the first Forward: packing the weights is loading
        _inference = new BertInference(weights);
        Var C(string name) => Var.Constant(weights[name], name);
        _word = C(BertNames.WordEmbeddings);
        _pos = C(BertNames.PositionEmbeddings);
        _type = C(BertNames.TypeEmbeddings);
        _embLnG = C(BertNames.EmbeddingNormGamma);
        _embLnB = C(BertNames.EmbeddingNormBeta);
        _layers = new BertLayer<Var>[Config.Layers];
        for (int l = 0; l < Config.Layers; l++) _layers[l] = BertNames.Layer(l, C);
        // a small batch through the public path, so that loading, not the caller's first Forward, pays for compiling it
        // (the tokenizer, the fused kernels, the pooling): about 45 ms of JIT, ten times a short sentence's forward
        // (bench/results/warmup.md). Two rows of 40 tokens, so the matrix products take the paths of a real batch.
        string warm = string.Join(' ', Enumerable.Repeat("warming up the model", 10));
        Forward(Tokenize([warm, "warming up"], maxLength: 40), new BertRunOptions { MaxThreads = 1 });
    }

    private static readonly Lazy<BertModel> SharedMiniLm = new(() =>
        new BertModel(BertWeights.FromOnnx(OnnxModel.Parse(MiniLm.OnnxBytes())), new BertTokenizer(MiniLm.Vocabulary())));

    /// <summary>The bundled all-MiniLM-L6-v2 (see <see cref="MiniLm"/>); loaded once and shared (the model is immutable).</summary>
    public static BertModel LoadMiniLm() => SharedMiniLm.Value;

    /// <summary>
    /// Loads a model from a .onnx file (a PyTorch BERT export) or a .safetensors file (BERT weights by Hugging Face
    /// names); the vocabulary comes from vocab.txt beside the file.
    /// </summary>
    /// <exception cref="ArgumentException">The extension is neither .onnx nor .safetensors.</exception>
    /// <exception cref="FileNotFoundException">The file or its vocab.txt is missing.</exception>
    /// <exception cref="InvalidDataException">The file, its config.json or vocab.txt is malformed, lacks a BERT tensor, or
    /// they disagree; the message names the file.</exception>
    public static BertModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"BERT model: expected a file at {path}, found none", path);
        var vocab = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "vocab.txt");
        if (!File.Exists(vocab)) throw new FileNotFoundException($"BERT model: expected vocab.txt beside {path} (at {vocab}), found none", vocab);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        var weights = ext switch
        {
            ".onnx" => FromOnnxFile(path),
            ".safetensors" => BertWeights.FromSafetensors(path),
            _ => throw new ArgumentException($"BERT model: expected a .onnx or .safetensors file, got \"{ext}\" ({path})", nameof(path)),
        };
        var tokenizer = BertTokenizer.FromVocabFile(vocab);
        if (tokenizer.Vocabulary.Count != weights.Config.VocabSize)
            throw new InvalidDataException($"{vocab}: expected {weights.Config.VocabSize} tokens (the rows of embeddings.word_embeddings.weight in {path}), got {tokenizer.Vocabulary.Count}");
        return new BertModel(weights, tokenizer);
    }

    private static BertWeights FromOnnxFile(string path)
    {
        var model = OnnxModel.Load(path);   // its messages already name the file
        try { return BertWeights.FromOnnx(model); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>Tokenizes texts into one padded batch (see <see cref="BertTokenizer.EncodeBatch"/>); maxLength is capped
    /// by the position table (<see cref="BertConfig.MaxPositions"/>).</summary>
    public BertBatch Tokenize(IReadOnlyList<string> texts, int maxLength = 256) =>
        Tokenizer.EncodeBatch(texts, Math.Min(maxLength, Config.MaxPositions));

    /// <summary>Pooled, L2-normalised sentence embeddings (one array of Hidden floats per text).</summary>
    public float[][] Embed(IReadOnlyList<string> texts)
    {
        var output = Forward(Tokenize(texts));
        var e = output.Embeddings;
        return Enumerable.Range(0, e.Dim(0)).Select(b => e.Select(0, b).ToArray()).ToArray();
    }

    /// <summary>The word-embedding lookup E_word[ids] (B, T, Hidden), as a Var that does not require grad.</summary>
    public Var WordEmbeddings(BertBatch batch)
    {
        CheckBatch(batch);
        return Var.Embedding(_word, batch.Ids, batch.Batch, batch.Length);
    }

    /// <summary>Runs the encoder (no gradient tape is recorded). Without <see cref="BertRunOptions.RecordAttention"/> it
    /// takes the fused path (<see cref="BertInference"/>); with it, the op-by-op path that keeps the probabilities.</summary>
    /// <exception cref="ArgumentException">The batch does not fit the model, or the head mask is not (Layers, Heads).</exception>
    public BertOutput Forward(BertBatch batch, BertRunOptions? options = null)
    {
        CheckBatch(batch);
        options ??= new BertRunOptions();
        CheckOptions(options);
        using var _ = Var.NoGrad();
        if (!options.RecordAttention && options.QueryKeyValue is null)
        {
            // the tape-free path: same math, fused kernels, no T×T matrix
            var states = _inference.Run(batch, options.HeadMask, options.MaxThreads ?? 0);
            var last = Tensor.FromArray(states, batch.Batch, batch.Length, Config.Hidden);
            return new BertOutput(last, PoolRows(states, batch, Config.Hidden), null);
        }
        var attention = options.RecordAttention ? new Tensor[Config.Layers] : null;
        var hidden = Encode(WordEmbeddings(batch), batch, options, attention);
        var pooled = Pool(hidden, batch);
        return new BertOutput(hidden.Value, pooled.Value, attention);
    }

    /// <summary>
    /// The pooled, normalised embeddings (B, Hidden) from given word embeddings (B, T, Hidden) in place of the lookup,
    /// differentiable with respect to them (for gradient × input and integrated gradients, Sundararajan et al., 2017).
    /// Positions, token types and the mask come from <paramref name="batch"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The embeddings are not (B, T, Hidden) for this batch.</exception>
    public Var ForwardFromEmbeddings(Var wordEmbeddings, BertBatch batch, BertRunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(wordEmbeddings);
        CheckBatch(batch);
        options ??= new BertRunOptions();
        CheckOptions(options);
        if (!wordEmbeddings.Shape.SequenceEqual([batch.Batch, batch.Length, Config.Hidden]))
            throw new ArgumentException($"wordEmbeddings: expected shape ({batch.Batch}, {batch.Length}, {Config.Hidden}), got {Tensor.FormatShape(wordEmbeddings.Shape)}", nameof(wordEmbeddings));
        var hidden = Encode(wordEmbeddings, batch, options, null);
        return Pool(hidden, batch);
    }

    private Var Encode(Var words, BertBatch batch, BertRunOptions options, Tensor[]? attention)
    {
        int b = batch.Batch, t = batch.Length, hd = Config.Hidden, h = Config.Heads, d = Config.HeadDim;
        float eps = Config.LayerNormEps;
        var x = words + _pos.Slice(0, 0, t) + Var.Embedding(_type, batch.TypeIds, b, t);
        x = x.LayerNorm(_embLnG, _embLnB, eps);
        var attnOptions = new AttentionOptions { KeyLengths = batch.Lengths, MaxThreads = options.MaxThreads ?? 0 };
        Tensor? padMask = null;
        if (attention is not null)
        {
            padMask = Tensor.Zeros(b, 1, 1, t);
            for (int i = 0; i < b; i++)
                for (int j = batch.Lengths[i]; j < t; j++) padMask[i, 0, 0, j] = 1f;
        }
        float scale = 1f / MathF.Sqrt(d);
        for (int l = 0; l < _layers.Length; l++)
        {
            var w = _layers[l];
            Var Heads(Var y) => y.Reshape(b, t, h, d).Permute(0, 2, 1, 3);   // (B, H, T, D)
            var q = Heads(Linear(x, w.Wq, w.Bq));
            var k = Heads(Linear(x, w.Wk, w.Bk));
            var v = Heads(Linear(x, w.Wv, w.Bv));
            options.QueryKeyValue?.Invoke(l, q.Value, k.Value, v.Value);
            Var ctx;
            if (attention is not null)
            {
                var p = (Var.MatMul(q, k, transposeB: true) * scale).MaskedFill(padMask!, float.NegativeInfinity).Softmax(-1);
                attention[l] = p.Value;
                ctx = Var.MatMul(p, v);
            }
            else ctx = Var.Attention(q, k, v, attnOptions);
            if (options.HeadMask is { } mask)
            {
                var m = new float[h];
                for (int i = 0; i < h; i++) m[i] = mask[l, i];
                ctx *= Var.Constant(Tensor.FromArray(m, 1, h, 1, 1));
            }
            var merged = ctx.Permute(0, 2, 1, 3).Reshape(b, t, hd);
            x = (x + Linear(merged, w.Wo, w.Bo)).LayerNorm(w.Ln1G, w.Ln1B, eps);
            var inner = Gelu(Linear(x, w.W1, w.B1));
            x = (x + Linear(inner, w.W2, w.B2)).LayerNorm(w.Ln2G, w.Ln2B, eps);
        }
        return x;
    }

    private static Var Linear(Var x, Var weight, Var bias) => x.MatMul(weight, transposeB: true) + bias;

    /// <summary>Exact GELU; without a tape, a vectorised erf (error ~1e-7) instead of the op's scalar double one.</summary>
    private static Var Gelu(Var x)
    {
        if (Var.IsGradEnabled) return x.Gelu();
        var y = Tensor.Zeros(x.Shape.ToArray());
        GeluKernel.Apply(x.Value.AsSpan(), y.AsSpan());
        return Var.Constant(y);
    }

    /// <summary>Mean over real tokens, then L2 normalisation: (B, T, Hd) → (B, Hd).</summary>
    private static Var Pool(Var hidden, BertBatch batch)
    {
        int b = batch.Batch, t = batch.Length;
        var maskT = new float[b * t];
        var inv = new float[b];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++) maskT[i * t + j] = batch.Mask[i * t + j];
            inv[i] = 1f / batch.Lengths[i];
        }
        var sum = (hidden * Var.Constant(Tensor.FromArray(maskT, b, t, 1))).Sum(1);
        var mean = sum * Var.Constant(Tensor.FromArray(inv, b, 1));
        var norm = (mean * mean).Sum(1, keepDim: true).Sqrt();
        return mean / norm;
    }

    /// <summary><see cref="Pool"/> on a flat (B·T·Hd) buffer, without temporaries (sums in double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Tensor PoolRows(float[] hidden, BertBatch batch, int hd)
    {
        var result = new float[batch.Batch * hd];
        var sum = new double[hd];
        for (int b = 0; b < batch.Batch; b++)
        {
            Array.Clear(sum);
            for (int t = 0; t < batch.Lengths[b]; t++)
            {
                int at = (b * batch.Length + t) * hd;
                for (int k = 0; k < hd; k++) sum[k] += hidden[at + k];
            }
            double norm = 0;
            for (int k = 0; k < hd; k++) { sum[k] /= batch.Lengths[b]; norm += sum[k] * sum[k]; }
            norm = Math.Sqrt(norm);
            for (int k = 0; k < hd; k++) result[b * hd + k] = (float)(sum[k] / norm);
        }
        return Tensor.FromArray(result, batch.Batch, hd);
    }

    private void CheckBatch(BertBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int n = batch.Batch * batch.Length;
        if (batch.Batch <= 0 || batch.Length <= 0 || batch.Ids.Length != n || batch.Mask.Length != n || batch.TypeIds.Length != n || batch.Lengths.Length != batch.Batch)
            throw new ArgumentException($"batch: expected Ids, Mask, TypeIds of {batch.Batch}×{batch.Length} and {batch.Batch} lengths, got {batch.Ids.Length}, {batch.Mask.Length}, {batch.TypeIds.Length}, {batch.Lengths.Length}", nameof(batch));
        if (batch.Length > Config.MaxPositions)
            throw new ArgumentException($"batch: expected at most {Config.MaxPositions} positions, got {batch.Length}", nameof(batch));
        for (int i = 0; i < batch.Batch; i++)
        {
            int len = batch.Lengths[i];
            if (len < 1 || len > batch.Length)
                throw new ArgumentException($"batch: expected lengths in 1..{batch.Length}, got {len} in row {i}", nameof(batch));
            for (int j = 0; j < batch.Length; j++)
                if (batch.Mask[i * batch.Length + j] != (j < len ? 1 : 0))
                    throw new ArgumentException($"batch: expected row {i}'s mask to be 1 on its first {len} positions and 0 after (right padding), got {batch.Mask[i * batch.Length + j]} at {j}", nameof(batch));
        }
        foreach (var id in batch.Ids)
            if ((uint)id >= (uint)Config.VocabSize) throw new ArgumentException($"batch: expected token ids in 0..{Config.VocabSize - 1}, got {id}", nameof(batch));
        foreach (var id in batch.TypeIds)
            if ((uint)id >= (uint)Config.TypeVocabSize) throw new ArgumentException($"batch: expected token type ids in 0..{Config.TypeVocabSize - 1}, got {id}", nameof(batch));
    }

    private void CheckOptions(BertRunOptions options)
    {
        if (options.HeadMask is { } m && (m.GetLength(0) != Config.Layers || m.GetLength(1) != Config.Heads))
            throw new ArgumentException($"HeadMask: expected ({Config.Layers}, {Config.Heads}), got ({m.GetLength(0)}, {m.GetLength(1)})", nameof(options));
        if (options.MaxThreads is < 0)
            throw new ArgumentException($"MaxThreads: expected ≥ 0 or null, got {options.MaxThreads}", nameof(options));
    }
}
