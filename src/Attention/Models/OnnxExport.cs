using System.Globalization;
using System.Text.Json;
using Attention.Autograd;
using Attention.Nn;
using Attention.Onnx;
using Attention.Positions;
using Attention.Seq2Seq;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>
/// Writes the project's models to ONNX (opset 17) with <see cref="OnnxGraphBuilder"/>, so an engine built for serving
/// (ONNX Runtime on CPU or GPU) can run what was trained or loaded here. The graphs use plain opset-17 operators only —
/// Gather, MatMul, Add, Softmax, LayerNormalization, Erf, Reshape, Transpose — no vendor extension.
/// <para>
/// <see cref="Bert"/> — a <see cref="BertModel"/>'s encoder, with the inputs of a Hugging Face / PyTorch BERT export:
/// <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c> (int64, (batch, sequence), right-padded, mask 1 on
/// real tokens); outputs <c>last_hidden_state</c> (batch, sequence, hidden) and <c>sentence_embedding</c>
/// (batch, hidden), the mean over real tokens, L2-normalised (<see cref="BertOutput.Embeddings"/>).
/// Weights keep their Hugging Face names; each Linear weight is stored transposed, (in, out), as
/// <c>transposed.&lt;name&gt;</c>, and feeds a MatMul whose Add reads the named bias, so
/// <see cref="BertWeights.FromOnnx"/> reads an exported file back.
/// </para>
/// <para>
/// <see cref="Transformer"/> — the encoder–decoder, teacher-forced (all target positions in one call):
/// inputs <c>input_ids</c> (batch, source) source ids, <c>attention_mask</c> (batch, source) 1 on real source
/// tokens, <c>decoder_input_ids</c> (batch, target) = BOS y₁ … y_{T−1}; outputs <c>last_hidden_state</c>
/// (batch, target, E) the decoder's states (after the final norm), <c>logits</c> (batch, target, V) and
/// <c>encoder_last_hidden_state</c> (batch, source, E). Position t's logits depend on decoder inputs 0..t only, so a
/// greedy decoder calls the graph with the prefix it has and reads the last row (the names are those of a Hugging Face
/// encoder–decoder export). Dropout is left out (the graph is the model in eval mode).
/// </para>
/// </summary>
public static class OnnxExport
{
    private const int I64 = OnnxTensor.Int64, F32 = OnnxTensor.Float;   // ONNX element types of the graph's inputs

    /// <summary>The additive mask value: exp(s + this − max) is exactly 0 in float32, and (1 − mask)·this never makes 0·∞.</summary>
    private const float Masked = float.MinValue;

    /// <summary>The graph of a BERT encoder (see the class remarks); call <see cref="OnnxGraphBuilder.Save"/> on it.</summary>
    public static OnnxGraphBuilder Bert(BertWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var c = weights.Config;
        var g = new OnnxGraphBuilder("bert_encoder")
        {
            DocString = $"BERT encoder ({c.Layers} layers, {c.Heads} heads of {c.HeadDim}, hidden {c.Hidden}) exported by Attention. " +
                        "Inputs input_ids, attention_mask, token_type_ids: int64 (batch, sequence), right-padded. " +
                        "Outputs last_hidden_state (batch, sequence, hidden), sentence_embedding (batch, hidden): masked mean, L2-normalised.",
        };
        var ids = g.AddInput("input_ids", I64, "batch", "sequence");
        var mask = g.AddInput("attention_mask", I64, "batch", "sequence");
        var types = g.AddInput("token_type_ids", I64, "batch", "sequence");
        string W(string name) => g.AddInitializer(name, weights[name].AsSpan(), Dims(weights[name]));

        // x₀ = LayerNorm(E_word[ids] + E_pos[0..T) + E_type[types])                          (B, T, Hd)
        var length = g.AddNode("Shape", [ids], "sequence_length", OnnxAttributeValue.Int("start", 1), OnnxAttributeValue.Int("end", 2));
        var positions = g.AddNode("Slice", [W("embeddings.position_embeddings.weight"), g.Ints(0), length, g.Ints(0)]);
        var x = g.AddNode("Add", [g.AddNode("Gather", [W("embeddings.word_embeddings.weight"), ids]), positions]);
        x = g.AddNode("Add", [x, g.AddNode("Gather", [W("embeddings.token_type_embeddings.weight"), types])]);
        x = LayerNorm(g, x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), c.LayerNormEps);

        // M (B, 1, 1, T): 0 on real keys, float.MinValue on padded ones
        var maskF = g.AddNode("Cast", [mask], "attention_mask_float", OnnxAttributeValue.Int("to", F32));
        var bias = g.AddNode("Mul", [g.AddNode("Sub", [g.Scalar(1f), maskF]), g.Scalar(Masked)]);
        bias = g.AddNode("Unsqueeze", [bias, g.Ints(1, 2)], "key_padding_bias");
        // (B, T, H·D) → (B, T, H, D): a Concat of four one-element shapes, the form a PyTorch export has and
        // BertWeights.FromOnnx reads the head count from
        var split = g.AddNode("Concat", [g.Ints(0), g.Ints(0), g.Ints(c.Heads), g.Ints(c.HeadDim)], "head_split_shape", OnnxAttributeValue.Int("axis", 0));
        var merge = g.Ints(0, 0, c.Hidden);
        var scale = g.Scalar(1f / MathF.Sqrt(c.HeadDim));

        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            string Lin(string input, string name) => Linear(g, input, weights[name + ".weight"], name, W(name + ".bias"));
            var q = Heads(g, Lin(x, p + "attention.self.query"), split, [0, 2, 1, 3]);     // (B, H, T, D)
            var kT = Heads(g, Lin(x, p + "attention.self.key"), split, [0, 2, 3, 1]);      // (B, H, D, T)
            var v = Heads(g, Lin(x, p + "attention.self.value"), split, [0, 2, 1, 3]);     // (B, H, T, D)
            var context = Attend(g, q, kT, v, scale, bias, merge);                          // (B, T, Hd)
            x = g.AddNode("Add", [Lin(context, p + "attention.output.dense"), x]);
            x = LayerNorm(g, x, W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"), c.LayerNormEps);
            var inner = Gelu(g, Lin(x, p + "intermediate.dense"));
            x = g.AddNode("Add", [Lin(inner, p + "output.dense"), x]);
            x = LayerNorm(g, x, W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), c.LayerNormEps);
        }
        var last = g.AddNode("Identity", [x], "last_hidden_state");
        g.AddOutput(last, F32, "batch", "sequence", c.Hidden);

        // e = Σ_t mask_t·x_t / Σ_t mask_t, e ← e / ‖e‖₂
        var sum = g.AddNode("ReduceSum", [g.AddNode("Mul", [last, g.AddNode("Unsqueeze", [maskF, g.Ints(2)])]), g.Ints(1)], null, OnnxAttributeValue.Int("keepdims", 0));
        var count = g.AddNode("ReduceSum", [maskF, g.Ints(1)], null, OnnxAttributeValue.Int("keepdims", 1));
        var mean = g.AddNode("Div", [sum, count]);
        var norm = g.AddNode("Sqrt", [g.AddNode("ReduceSum", [g.AddNode("Mul", [mean, mean]), g.Ints(1)], null, OnnxAttributeValue.Int("keepdims", 1))]);
        g.AddOutput(g.AddNode("Div", [mean, norm], "sentence_embedding"), F32, "batch", c.Hidden);
        return g;
    }

    /// <summary>Writes <paramref name="model"/>'s encoder to <paramref name="path"/> (see <see cref="Bert"/>).</summary>
    /// <exception cref="IOException">The file cannot be written (the message names it).</exception>
    public static void SaveBert(BertModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var g = Bert(model.Weights);
        g.AddMetadata("model", "bert");
        Save(g, path);
    }

    /// <summary>
    /// The graph of an encoder–decoder <see cref="Models.Transformer"/> (see the class remarks). Vocabularies, when given,
    /// are stored in the model's metadata (JSON arrays of symbols by id) beside the reserved ids.
    /// </summary>
    /// <exception cref="ArgumentException">The model has a part the exporter does not write (a custom attention core or a
    /// position scheme inside attention, grouped key/value heads).</exception>
    public static OnnxGraphBuilder Transformer(Transformer model, Vocabulary? source = null, Vocabulary? target = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var c = model.Config;
        if (source is not null && source.Count != c.SourceVocabulary)
            throw new ArgumentException($"source vocabulary: expected {c.SourceVocabulary} symbols (the model's), got {source.Count}", nameof(source));
        if (target is not null && target.Count != c.TargetVocabulary)
            throw new ArgumentException($"target vocabulary: expected {c.TargetVocabulary} symbols (the model's), got {target.Count}", nameof(target));
        var names = new Dictionary<Var, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in model.NamedParameters()) names[p] = name;
        var g = new OnnxGraphBuilder("transformer_encoder_decoder")
        {
            DocString = $"Encoder–decoder Transformer ({c.EncoderLayers}+{c.DecoderLayers} layers, E {c.ModelDim}, {c.Heads} heads, " +
                        $"{(c.PreNorm ? "pre" : "post")}-norm {c.Norm}, {c.FeedForward} FFN) exported by Attention, teacher-forced. " +
                        "Inputs input_ids, attention_mask (batch, source); decoder_input_ids (batch, target) = BOS y1 .. y(T-1). Outputs last_hidden_state (batch, target, E), logits (batch, target, V), " +
                        "encoder_last_hidden_state (batch, source, E). Ids: PAD 0, BOS 1, EOS 2, UNK 3.",
        };
        int e = c.ModelDim, h = c.Heads, d = e / h;
        var ids = g.AddInput("input_ids", I64, "batch", "source");
        var mask = g.AddInput("attention_mask", I64, "batch", "source");
        var decoderIds = g.AddInput("decoder_input_ids", I64, "batch", "target");

        string Param(Var v) => g.HasValue(names[v]) ? names[v] : g.AddInitializer(names[v], v.Value.AsSpan(), Dims(v.Value));
        string Lin(string input, Linear linear) =>
            Linear(g, input, linear.Weight.Value, names[linear.Weight][..^".weight".Length], linear.Bias is null ? null : Param(linear.Bias));
        string Norm(string input, Module norm) => norm switch
        {
            LayerNorm ln => LayerNorm(g, input, ln.Gamma is null ? g.Floats(Enumerable.Repeat(1f, ln.Dim).ToArray()) : Param(ln.Gamma),
                                      ln.Beta is null ? null : Param(ln.Beta), ln.Eps),
            RmsNorm rms => RmsNorm(g, input, Param(rms.Gamma), rms.Eps),
            _ => throw new ArgumentException($"expected LayerNorm or RmsNorm, got {norm.GetType().Name}", nameof(model)),
        };
        var split = g.Ints(0, 0, h, d);
        var merge = g.Ints(0, 0, e);
        var scale = g.Scalar(1f / MathF.Sqrt(d));
        string Mha(MultiHeadAttention mha, string query, string memory, string? attentionBias)
        {
            if (mha.Core is not null || mha.Positions is not null || mha.KvHeads != mha.Heads || mha.HeadDim * mha.Heads != e)
                throw new ArgumentException("expected plain multi-head attention (no custom core, no position scheme inside attention, KvHeads = Heads, H·Dh = E)", nameof(model));
            var q = Heads(g, Lin(query, mha.Q), split, [0, 2, 1, 3]);
            var kT = Heads(g, Lin(memory, mha.K), split, [0, 2, 3, 1]);
            var v = Heads(g, Lin(memory, mha.V), split, [0, 2, 1, 3]);
            return Lin(Attend(g, q, kT, v, scale, attentionBias, merge), mha.O);
        }
        string Ffn(string input, FeedForward ffn)
        {
            var parts = ffn.Children().ToDictionary(p => p.Name, p => (Linear)p.Module);
            return ffn.Kind switch
            {
                FeedForwardKind.Relu => Lin(g.AddNode("Relu", [Lin(input, parts["fc1"])]), parts["fc2"]),
                FeedForwardKind.Gelu => Lin(Gelu(g, Lin(input, parts["fc1"])), parts["fc2"]),
                _ => Lin(SwiGlu(g, Lin(input, parts["w1"]), Lin(input, parts["w3"])), parts["w2"]),
            };
        }
        var children = model.Children().ToDictionary(p => p.Name, p => p.Module);
        var positions = g.AddInitializer("sinusoidal_positions", SinusoidalPositions.Table(c.MaxLength, e), c.MaxLength, e);
        var embedScale = g.Scalar(MathF.Sqrt(e));
        string Embed(string input, Embedding table, string lengthName)
        {
            var length = g.AddNode("Shape", [input], lengthName, OnnxAttributeValue.Int("start", 1), OnnxAttributeValue.Int("end", 2));
            var rows = g.AddNode("Mul", [g.AddNode("Gather", [Param(table.Weight), input]), embedScale]);
            return g.AddNode("Add", [rows, g.AddNode("Slice", [positions, g.Ints(0), length, g.Ints(0)])]);
        }

        // encoder: x⁰ = √E·Emb_src(source) + PE, layers, final norm when pre-LN
        var x = Embed(ids, (Embedding)children["source_embedding"], "source_length");
        var maskF = g.AddNode("Cast", [mask], "attention_mask_float", OnnxAttributeValue.Int("to", F32));
        var padding = g.AddNode("Mul", [g.AddNode("Sub", [g.Scalar(1f), maskF]), g.Scalar(Masked)]);
        padding = g.AddNode("Unsqueeze", [padding, g.Ints(1, 2)], "key_padding_bias");          // (B, 1, 1, S)
        foreach (var layer in model.EncoderLayers)
        {
            var parts = layer.Children().ToDictionary(p => p.Name, p => p.Module);
            if (layer.Options.PreNorm)
            {
                var n1 = Norm(x, parts["norm1"]);
                x = g.AddNode("Add", [x, Mha(layer.SelfAttention, n1, n1, padding)]);
                var n2 = Norm(x, parts["norm2"]);
                x = g.AddNode("Add", [x, Ffn(n2, layer.FeedForward)]);
            }
            else
            {
                x = Norm(g.AddNode("Add", [x, Mha(layer.SelfAttention, x, x, padding)]), parts["norm1"]);
                x = Norm(g.AddNode("Add", [x, Ffn(x, layer.FeedForward)]), parts["norm2"]);
            }
        }
        if (children.TryGetValue("encoder_norm", out var encoderNorm)) x = Norm(x, encoderNorm);
        var memory = g.AddNode("Identity", [x], "encoder_last_hidden_state");

        // decoder: y⁰ = √E·Emb_tgt(decoder inputs) + PE; causal (T, T) bias sliced from a (MaxLength, MaxLength) table
        var y = Embed(decoderIds, (Embedding)children["target_embedding"], "target_length");
        var causalTable = new float[c.MaxLength * c.MaxLength];
        for (int i = 0; i < c.MaxLength; i++)
            for (int j = i + 1; j < c.MaxLength; j++) causalTable[i * c.MaxLength + j] = Masked;
        var targetLength = "target_length";
        var square = g.AddNode("Concat", [targetLength, targetLength], null, OnnxAttributeValue.Int("axis", 0));
        var causal = g.AddNode("Slice", [g.AddInitializer("causal_bias_table", causalTable, c.MaxLength, c.MaxLength), g.Ints(0, 0), square, g.Ints(0, 1)], "causal_bias");
        foreach (var layer in model.DecoderLayers)
        {
            var parts = layer.Children().ToDictionary(p => p.Name, p => p.Module);
            if (layer.Options.PreNorm)
            {
                var n1 = Norm(y, parts["norm1"]);
                y = g.AddNode("Add", [y, Mha(layer.SelfAttention, n1, n1, causal)]);
                y = g.AddNode("Add", [y, Mha(layer.CrossAttention, Norm(y, parts["norm2"]), memory, padding)]);
                y = g.AddNode("Add", [y, Ffn(Norm(y, parts["norm3"]), layer.FeedForward)]);
            }
            else
            {
                y = Norm(g.AddNode("Add", [y, Mha(layer.SelfAttention, y, y, causal)]), parts["norm1"]);
                y = Norm(g.AddNode("Add", [y, Mha(layer.CrossAttention, y, memory, padding)]), parts["norm2"]);
                y = Norm(g.AddNode("Add", [y, Ffn(y, layer.FeedForward)]), parts["norm3"]);
            }
        }
        if (children.TryGetValue("decoder_norm", out var decoderNorm)) y = Norm(y, decoderNorm);
        var last = g.AddNode("Identity", [y], "last_hidden_state");
        string logits = children.TryGetValue("output", out var output)
            ? Lin(last, (Linear)output)
            : g.AddNode("MatMul", [last, Transposed(g, ((Embedding)children["target_embedding"]).Weight.Value, "target_embedding.weight")]);
        logits = g.AddNode("Identity", [logits], "logits");
        g.AddOutput(last, F32, "batch", "target", e);
        g.AddOutput(logits, F32, "batch", "target", c.TargetVocabulary);
        g.AddOutput(memory, F32, "batch", "source", e);

        g.AddMetadata("model", "transformer-encoder-decoder");
        g.AddMetadata("pad_id", Vocabulary.Pad.ToString(CultureInfo.InvariantCulture));
        g.AddMetadata("bos_id", Vocabulary.Bos.ToString(CultureInfo.InvariantCulture));
        g.AddMetadata("eos_id", Vocabulary.Eos.ToString(CultureInfo.InvariantCulture));
        g.AddMetadata("unk_id", Vocabulary.Unk.ToString(CultureInfo.InvariantCulture));
        g.AddMetadata("max_length", c.MaxLength.ToString(CultureInfo.InvariantCulture));
        if (source is not null) g.AddMetadata("source_vocabulary", JsonSerializer.Serialize(source.Symbols));
        if (target is not null) g.AddMetadata("target_vocabulary", JsonSerializer.Serialize(target.Symbols));
        return g;
    }

    /// <summary>Writes a graph to <paramref name="path"/>, turning a file-system failure into an <see cref="IOException"/> that names the file.</summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(OnnxGraphBuilder graph, string path)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentException.ThrowIfNullOrEmpty(path);
        try { graph.Save(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new IOException($"cannot write the ONNX model to '{path}': {ex.Message}", ex);
        }
    }

    // ---------- building blocks ----------

    private static long[] Dims(Tensor t) => Array.ConvertAll(t.Shape.ToArray(), s => (long)s);

    /// <summary>x·Wᵀ + b with W (out, in) stored transposed as transposed.&lt;name&gt;.weight (in, out).</summary>
    private static string Linear(OnnxGraphBuilder g, string x, Tensor weight, string name, string? bias)
    {
        var product = g.AddNode("MatMul", [x, Transposed(g, weight, name + ".weight")]);
        return bias is null ? product : g.AddNode("Add", [product, bias]);
    }

    private static string Transposed(OnnxGraphBuilder g, Tensor weight, string name)
    {
        string key = "transposed." + name;
        if (g.HasValue(key)) return key;
        if (weight.Rank != 2) throw new ArgumentException($"{name}: expected a 2-D weight, got {Tensor.FormatShape(weight.Shape)}", nameof(weight));
        int rows = weight.Shape[0], cols = weight.Shape[1];
        var a = weight.AsSpan();
        var t = new float[a.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) t[k * rows + r] = a[r * cols + k];
        return g.AddInitializer(key, t, cols, rows);
    }

    /// <summary>(B, T, H·D) → (B, T, H, D) → transposed by <paramref name="perm"/>.</summary>
    private static string Heads(OnnxGraphBuilder g, string x, string split, long[] perm) =>
        g.AddNode("Transpose", [g.AddNode("Reshape", [x, split])], null, OnnxAttributeValue.Ints("perm", perm));

    /// <summary>softmax(Q·Kᵀ·scale + bias)·V per head, merged back to (B, L, H·D).</summary>
    private static string Attend(OnnxGraphBuilder g, string q, string kT, string v, string scale, string? bias, string merge)
    {
        var scores = g.AddNode("Mul", [g.AddNode("MatMul", [q, kT]), scale]);                       // (B, H, L, S)
        if (bias is not null) scores = g.AddNode("Add", [scores, bias]);
        var p = g.AddNode("Softmax", [scores], null, OnnxAttributeValue.Int("axis", -1));
        var context = g.AddNode("Transpose", [g.AddNode("MatMul", [p, v])], null, OnnxAttributeValue.Ints("perm", 0, 2, 1, 3));
        return g.AddNode("Reshape", [context, merge]);
    }

    private static string LayerNorm(OnnxGraphBuilder g, string x, string gamma, string? beta, float eps)
    {
        string[] inputs = beta is null ? [x, gamma] : [x, gamma, beta];
        return g.AddNode("LayerNormalization", inputs, null, OnnxAttributeValue.Int("axis", -1), OnnxAttributeValue.Float("epsilon", eps));
    }

    /// <summary>x / √(mean(x²) + ε) · γ (RMSNormalization is an opset-23 operator; this is its opset-17 composition).</summary>
    private static string RmsNorm(OnnxGraphBuilder g, string x, string gamma, float eps)
    {
        var meanSquare = g.AddNode("ReduceMean", [g.AddNode("Mul", [x, x])], null, OnnxAttributeValue.Ints("axes", -1), OnnxAttributeValue.Int("keepdims", 1));
        var rms = g.AddNode("Sqrt", [g.AddNode("Add", [meanSquare, g.Scalar(eps)])]);
        return g.AddNode("Mul", [g.AddNode("Div", [x, rms]), gamma]);
    }

    /// <summary>Exact GELU ½x·(1 + erf(x/√2)) (Gelu is an opset-20 operator; this is its opset-17 composition).</summary>
    private static string Gelu(OnnxGraphBuilder g, string x)
    {
        var erf = g.AddNode("Erf", [g.AddNode("Mul", [x, g.Scalar(0.70710678118654752f)])]);
        return g.AddNode("Mul", [g.AddNode("Mul", [x, g.Scalar(0.5f)]), g.AddNode("Add", [erf, g.Scalar(1f)])]);
    }

    /// <summary>SiLU(a) ⊙ b = a·σ(a)·b.</summary>
    private static string SwiGlu(OnnxGraphBuilder g, string a, string b) =>
        g.AddNode("Mul", [g.AddNode("Mul", [a, g.AddNode("Sigmoid", [a])]), b]);
}
