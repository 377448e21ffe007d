using System.Globalization;
using Attention.Onnx;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>Sizes of a BERT encoder (Devlin et al., 2019, §3, "BERT_BASE (L=12, H=768, A=12)"; MiniLM-L6-H384: 6, 384, 12).</summary>
public sealed record BertConfig(int Layers, int Heads, int HeadDim, int Hidden, int Intermediate, int MaxPositions,
                                int VocabSize, int TypeVocabSize = 2, float LayerNormEps = 1e-12f)
{
    /// <summary>all-MiniLM-L6-v2's sizes (its config.json).</summary>
    public static BertConfig MiniLmL6 { get; } = new(6, 12, 32, 384, 1536, 512, 30522);

    /// <summary>Throws unless every size is positive and Heads × HeadDim = Hidden.</summary>
    public void Validate()
    {
        if (Layers <= 0 || Heads <= 0 || HeadDim <= 0 || Hidden <= 0 || Intermediate <= 0 || MaxPositions <= 0 || VocabSize <= 0 || TypeVocabSize <= 0)
            throw new ArgumentException($"BertConfig: expected positive sizes, got {this}");
        // every sequence is [CLS] … [SEP]: a table of fewer positions could never embed anything
        if (MaxPositions < 2)
            throw new ArgumentException($"BertConfig: expected MaxPositions ≥ 2 (room for [CLS] and [SEP]), got {MaxPositions}");
        if ((long)Heads * HeadDim != Hidden)
            throw new ArgumentException($"BertConfig: expected Heads × HeadDim = Hidden, got {Heads} × {HeadDim} ≠ {Hidden}");
        if (!(LayerNormEps > 0) || !float.IsFinite(LayerNormEps)) throw new ArgumentException($"BertConfig: expected a finite LayerNormEps > 0, got {LayerNormEps}");
    }
}

/// <summary>
/// The Hugging Face names of a BERT encoder's tensors, the one table that the loaders' checks
/// (<see cref="BertWeights.ExpectedShapes"/>), the tape path (<see cref="BertModel"/>) and the inference path
/// (<see cref="BertInference"/>) read them by. Linear weights are (out, in).
/// </summary>
internal static class BertNames
{
    public const string WordEmbeddings = "embeddings.word_embeddings.weight";
    public const string PositionEmbeddings = "embeddings.position_embeddings.weight";
    public const string TypeEmbeddings = "embeddings.token_type_embeddings.weight";
    public const string EmbeddingNormGamma = "embeddings.LayerNorm.weight";
    public const string EmbeddingNormBeta = "embeddings.LayerNorm.bias";

    /// <summary>The prefix of every tensor of encoder layer <paramref name="layer"/>.</summary>
    public static string LayerPrefix(int layer) => $"encoder.layer.{layer}.";

    /// <summary>Layer <paramref name="layer"/>'s sixteen names.</summary>
    public static BertLayer<string> Layer(int layer)
    {
        string p = LayerPrefix(layer);
        return new(p + "attention.self.query.weight", p + "attention.self.query.bias",
                   p + "attention.self.key.weight", p + "attention.self.key.bias",
                   p + "attention.self.value.weight", p + "attention.self.value.bias",
                   p + "attention.output.dense.weight", p + "attention.output.dense.bias",
                   p + "attention.output.LayerNorm.weight", p + "attention.output.LayerNorm.bias",
                   p + "intermediate.dense.weight", p + "intermediate.dense.bias",
                   p + "output.dense.weight", p + "output.dense.bias",
                   p + "output.LayerNorm.weight", p + "output.LayerNorm.bias");
    }

    /// <summary>Layer <paramref name="layer"/>'s tensors, each as <paramref name="read"/> turns its name into one.</summary>
    public static BertLayer<T> Layer<T>(int layer, Func<string, T> read)
    {
        var n = Layer(layer);
        return new(read(n.Wq), read(n.Bq), read(n.Wk), read(n.Bk), read(n.Wv), read(n.Bv), read(n.Wo), read(n.Bo),
                   read(n.Ln1G), read(n.Ln1B), read(n.W1), read(n.B1), read(n.W2), read(n.B2), read(n.Ln2G), read(n.Ln2B));
    }
}

/// <summary>
/// One encoder layer's sixteen tensors by role (or their names, or anything else per tensor):
///     x = LayerNorm₁(x + Attention(x·W_qᵀ + b_q, x·W_kᵀ + b_k, x·W_vᵀ + b_v)·W_oᵀ + b_o)
///     x = LayerNorm₂(x + GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂)
/// </summary>
internal sealed record BertLayer<T>(T Wq, T Bq, T Wk, T Bk, T Wv, T Bv, T Wo, T Bo, T Ln1G, T Ln1B,
                                    T W1, T B1, T W2, T B2, T Ln2G, T Ln2B);

/// <summary>
/// A BERT encoder's parameters by their Hugging Face names (<c>embeddings.word_embeddings.weight</c>,
/// <c>encoder.layer.{i}.attention.self.query.weight</c>, …), Linear weights stored (out, in) as in PyTorch, so a
/// <c>model.safetensors</c> of a BERT-family checkpoint loads as is (a leading <c>bert.</c> is dropped).
/// From ONNX (a PyTorch export) the names of biases and LayerNorm parameters survive, but each Linear weight became
/// an anonymous (in, out) MatMul initializer; it is named by following its MatMul's output to the Add that
/// applies a named bias, then transposed.
/// </summary>
public sealed class BertWeights
{
    public BertConfig Config { get; }
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>Checks that every tensor the encoder needs is present with the shape <paramref name="config"/> implies.</summary>
    /// <exception cref="ArgumentException">A tensor is missing or has the wrong shape.</exception>
    public BertWeights(BertConfig config, IReadOnlyDictionary<string, Tensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        config.Validate();
        Config = config;
        Tensors = tensors;
        foreach (var (name, shape) in ExpectedShapes(config))
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new ArgumentException($"BERT weights: expected a tensor named {name} of shape {Tensor.FormatShape(shape)}, found none", nameof(tensors));
            if (!t.Shape.SequenceEqual(shape))
                throw new ArgumentException($"BERT weights: expected {name} of shape {Tensor.FormatShape(shape)}, got {Tensor.FormatShape(t.Shape)}", nameof(tensors));
        }
    }

    public Tensor this[string name] => Tensors.TryGetValue(name, out var t) ? t
        : throw new KeyNotFoundException($"BERT weights: no tensor named {name}");

    /// <summary>Every tensor the encoder reads and its shape.</summary>
    public static IEnumerable<(string Name, int[] Shape)> ExpectedShapes(BertConfig c)
    {
        yield return (BertNames.WordEmbeddings, [c.VocabSize, c.Hidden]);
        yield return (BertNames.PositionEmbeddings, [c.MaxPositions, c.Hidden]);
        yield return (BertNames.TypeEmbeddings, [c.TypeVocabSize, c.Hidden]);
        yield return (BertNames.EmbeddingNormGamma, [c.Hidden]);
        yield return (BertNames.EmbeddingNormBeta, [c.Hidden]);
        for (int l = 0; l < c.Layers; l++)
        {
            var n = BertNames.Layer(l);
            foreach (var (w, b) in new[] { (n.Wq, n.Bq), (n.Wk, n.Bk), (n.Wv, n.Bv), (n.Wo, n.Bo) })
            {
                yield return (w, [c.Hidden, c.Hidden]);
                yield return (b, [c.Hidden]);
            }
            yield return (n.Ln1G, [c.Hidden]);
            yield return (n.Ln1B, [c.Hidden]);
            yield return (n.W1, [c.Intermediate, c.Hidden]);
            yield return (n.B1, [c.Intermediate]);
            yield return (n.W2, [c.Hidden, c.Intermediate]);
            yield return (n.B2, [c.Hidden]);
            yield return (n.Ln2G, [c.Hidden]);
            yield return (n.Ln2B, [c.Hidden]);
        }
    }

    /// <summary>Reads the weights of a PyTorch-exported BERT ONNX graph (see the class remarks).</summary>
    /// <exception cref="InvalidDataException">The graph lacks a BERT tensor, a tensor has the wrong rank or type, a node
    /// it follows lacks its inputs or outputs, or a MatMul weight cannot be matched to a bias.</exception>
    public static BertWeights FromOnnx(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var g = model.Graph;
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, init) in g.Initializers)
        {
            var clean = StripPrefix(name);
            if (clean.StartsWith("embeddings.", StringComparison.Ordinal) && clean.EndsWith("_ids", StringComparison.Ordinal)) continue;
            if (clean.StartsWith("embeddings.", StringComparison.Ordinal) || clean.StartsWith("encoder.layer.", StringComparison.Ordinal))
                if (init.DataType == OnnxTensor.Float) tensors[clean] = init.ToTensor();
        }
        // each MatMul whose second input is an initializer: its output feeds an Add whose other input is "<linear>.bias"
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "MatMul") continue;
            ExpectArity(node, 2, 1);
            if (!g.Initializers.TryGetValue(node.Inputs[1], out var w)) continue;
            if (tensors.ContainsKey(StripPrefix(node.Inputs[1]))) continue;   // already named (an export that kept names)
            var add = g.Consumers(node.Outputs[0]).FirstOrDefault(n => n.OpType == "Add");
            var bias = add?.Inputs.Select(StripPrefix).FirstOrDefault(i => i.EndsWith(".bias", StringComparison.Ordinal) && i.StartsWith("encoder.", StringComparison.Ordinal));
            if (bias is null)
                throw new InvalidDataException($"ONNX BERT: MatMul {node.Name} with weight {node.Inputs[1]}: expected it to be followed by an Add of a named encoder bias, found none (cannot name the weight)");
            if (w.Dims.Count != 2) throw new InvalidDataException($"ONNX BERT: expected a 2-D MatMul weight for {bias}, got dims [{string.Join(", ", w.Dims)}]");
            var dims = w.IntDims();
            tensors[bias[..^".bias".Length] + ".weight"] = Transposed(w.ToFloats(), dims[0], dims[1]);
        }
        const string source = "ONNX BERT";
        var words = Need(tensors, BertNames.WordEmbeddings, 2, "(vocabulary, hidden)", source)
            ?? throw new InvalidDataException("ONNX BERT: expected an initializer embeddings.word_embeddings.weight, found none");
        int hidden = words.Dim(1);
        int layers = CountLayers(tensors, "attention.self.query.bias", source);
        int inter = Need(tensors, BertNames.Layer(0).B1, 1, "(intermediate)", source)?.Dim(0) ?? 4 * hidden;
        int maxPos = Need(tensors, BertNames.PositionEmbeddings, 2, "(positions, hidden)", source)?.Dim(0) ?? 512;
        int types = Need(tensors, BertNames.TypeEmbeddings, 2, "(types, hidden)", source)?.Dim(0) ?? 2;
        var (heads, headDim) = HeadsFromGraph(g, hidden);
        float eps = EpsFromGraph(g) ?? 1e-12f;
        var config = new BertConfig(layers, heads, headDim, hidden, inter, maxPos, words.Dim(0), types, eps);
        try { return new BertWeights(config, tensors); }
        catch (ArgumentException e) { throw new InvalidDataException("ONNX BERT: " + e.Message, e); }
    }

    /// <summary>A node the reader follows must have the inputs and outputs its operator defines.</summary>
    private static void ExpectArity(OnnxNode node, int inputs, int outputs)
    {
        if (node.Inputs.Count < inputs || node.Outputs.Count < outputs)
            throw new InvalidDataException($"ONNX BERT: node {node.OpType} \"{node.Name}\": expected at least {inputs} input(s) and {outputs} output(s), got {node.Inputs.Count} and {node.Outputs.Count}");
    }

    /// <summary>The tensor named <paramref name="name"/> if present, after checking its rank; null when absent.</summary>
    private static Tensor? Need(Dictionary<string, Tensor> tensors, string name, int rank, string layout, string source)
    {
        if (!tensors.TryGetValue(name, out var t)) return null;
        if (t.Rank != rank)
            throw new InvalidDataException($"{source}: expected {name} to be {rank}-D {layout}, got shape {Tensor.FormatShape(t.Shape)}");
        return t;
    }

    /// <summary>
    /// Layers 0, 1, … as long as <c>encoder.layer.{i}.{probe}</c> exists; any encoder.layer.{k}.* tensor with k at or
    /// beyond that count means a layer is missing in between, and loading the layers before it would be a partial load.
    /// </summary>
    private static int CountLayers(Dictionary<string, Tensor> tensors, string probe, string source)
    {
        int layers = 0;
        while (tensors.ContainsKey(BertNames.LayerPrefix(layers) + probe)) layers++;
        const string prefix = "encoder.layer.";
        foreach (var name in tensors.Keys)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            int dot = name.IndexOf('.', prefix.Length);
            if (dot < 0 || !int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int k) || k >= layers)
                throw new InvalidDataException($"{source}: expected encoder layers numbered 0, 1, … without a gap ({layers} found, each with encoder.layer.i.{probe}), got {name}");
        }
        return layers;
    }

    /// <summary>
    /// The head split: a PyTorch export reshapes the key projection to (B, T, heads, headDim) with a Concat whose
    /// last two inputs are one-element int64 initializers. Falls back to head size 64 (BERT's) when absent.
    /// </summary>
    private static (int Heads, int HeadDim) HeadsFromGraph(OnnxGraph g, int hidden)
    {
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Concat" || node.Inputs.Count != 4) continue;
            var a = g.Initializers.GetValueOrDefault(node.Inputs[2]);
            var b = g.Initializers.GetValueOrDefault(node.Inputs[3]);
            if (a is null || b is null || a.ElementCount != 1 || b.ElementCount != 1) continue;
            if (a.DataType is not (OnnxTensor.Int64 or OnnxTensor.Int32) || b.DataType is not (OnnxTensor.Int64 or OnnxTensor.Int32)) continue;
            long h = a.ToInt64s()[0], d = b.ToInt64s()[0];
            if (h > 0 && d > 0 && h <= hidden && d <= hidden && h * d == hidden) return ((int)h, (int)d);
        }
        if (hidden % 64 != 0)
            throw new InvalidDataException($"ONNX BERT: expected the head split (a Concat of two int64 initializers heads, headDim with heads × headDim = {hidden}) or a hidden size divisible by BERT's head size 64, got neither");
        return (hidden / 64, 64);
    }

    /// <summary>LayerNorm ε: a LayerNormalization node's epsilon, or the constant added to the variance (ReduceMean → Add → Sqrt) in the decomposed LayerNorm.</summary>
    private static float? EpsFromGraph(OnnxGraph g)
    {
        // an opset-17 export (ours, OnnxExport.Bert) keeps LayerNormalization whole: ε is its attribute
        foreach (var node in g.Nodes)
            if (node.OpType == "LayerNormalization" && node.Attributes.GetValueOrDefault("epsilon")?.Float is float e)
                return e > 0 && float.IsFinite(e) ? e
                    : throw new InvalidDataException($"ONNX BERT: expected the LayerNorm ε of \"{node.Name}\" to be finite and > 0, got {e}");
        foreach (var node in g.Nodes)
            if (node.OpType == "Sqrt") ExpectArity(node, 1, 1);
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Sqrt") continue;
            var add = g.Producer(node.Inputs[0]);
            if (add?.OpType != "Add") continue;
            foreach (var input in add.Inputs)
            {
                var c = g.Producer(input);
                var t = c?.OpType == "Constant" ? c.Attributes.GetValueOrDefault("value")?.Tensor : g.Initializers.GetValueOrDefault(input);
                if (t is { ElementCount: 1 } && t.DataType is OnnxTensor.Float or OnnxTensor.Double)
                {
                    float eps = t.ToFloats()[0];
                    if (!(eps > 0) || !float.IsFinite(eps))
                        throw new InvalidDataException($"ONNX BERT: expected the LayerNorm ε \"{t.Name}\" (added before Sqrt \"{node.Name}\") to be finite and > 0, got {eps}");
                    return eps;
                }
            }
        }
        return null;
    }

    /// <summary>(rows, cols) row-major → its transpose as a (cols, rows) tensor, in cache-sized tiles.</summary>
    private static Tensor Transposed(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        const int tile = 32;
        for (int r0 = 0; r0 < rows; r0 += tile)
            for (int c0 = 0; c0 < cols; c0 += tile)
                for (int r = r0; r < Math.Min(rows, r0 + tile); r++)
                    for (int c = c0; c < Math.Min(cols, c0 + tile); c++)
                        t[c * rows + r] = a[r * cols + c];
        return Tensor.FromArray(t, cols, rows);
    }

    private static string StripPrefix(string name) => name.StartsWith("bert.", StringComparison.Ordinal) ? name[5..] : name;

    /// <summary>Writes the tensors and the config (as metadata) to a .safetensors file.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var c = Config;
        var meta = new Dictionary<string, string>
        {
            ["num_hidden_layers"] = c.Layers.ToString(CultureInfo.InvariantCulture),
            ["num_attention_heads"] = c.Heads.ToString(CultureInfo.InvariantCulture),
            ["hidden_size"] = c.Hidden.ToString(CultureInfo.InvariantCulture),
            ["intermediate_size"] = c.Intermediate.ToString(CultureInfo.InvariantCulture),
            ["max_position_embeddings"] = c.MaxPositions.ToString(CultureInfo.InvariantCulture),
            ["type_vocab_size"] = c.TypeVocabSize.ToString(CultureInfo.InvariantCulture),
            ["layer_norm_eps"] = c.LayerNormEps.ToString("R", CultureInfo.InvariantCulture),
        };
        Safetensors.Write(path, Tensors, meta);
    }

    /// <summary>
    /// Reads a .safetensors file of BERT weights. Sizes come from the tensors; the head count from the file's
    /// metadata (num_attention_heads, written by <see cref="Save"/>), else a config.json beside the file, else
    /// head size 64. A leading "bert." on names is dropped; other tensors (pooler, heads) are ignored.
    /// Metadata that is present must be valid: sizes are positive integers that agree with the tensors, ε is a finite
    /// positive number, and a config.json is a JSON object; anything else is an error, never a silent default.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors, it lacks a BERT tensor, or its
    /// metadata or config.json is invalid; the message names the file.</exception>
    public static BertWeights FromSafetensors(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var raw = Safetensors.Read(path, out var fileMeta);
        var meta = ReadMetadata(path, fileMeta);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in raw)
            if (!tensors.TryAdd(StripPrefix(name), t))
                throw new InvalidDataException($"{path}: expected each tensor once, got both {name} and its name without \"bert.\"");
        var words = Need(tensors, BertNames.WordEmbeddings, 2, "(vocabulary, hidden)", path)
            ?? throw new InvalidDataException($"{path}: expected a 2-D tensor embeddings.word_embeddings.weight (BERT weights), found none");
        int hidden = words.Dim(1);
        int layers = CountLayers(tensors, "attention.self.query.weight", path);
        int inter = Need(tensors, BertNames.Layer(0).B1, 1, "(intermediate)", path)?.Dim(0) ?? 4 * hidden;
        int maxPos = Need(tensors, BertNames.PositionEmbeddings, 2, "(positions, hidden)", path)?.Dim(0) ?? 512;
        int types = Need(tensors, BertNames.TypeEmbeddings, 2, "(types, hidden)", path)?.Dim(0) ?? 2;

        // sizes the tensors fix: metadata, when present, must agree
        Agree("num_hidden_layers", layers);
        Agree("hidden_size", hidden);
        Agree("intermediate_size", inter);
        Agree("max_position_embeddings", maxPos);
        Agree("type_vocab_size", types);
        Agree("vocab_size", words.Dim(0));
        int heads = meta.TryGetValue("num_attention_heads", out var hs) ? PositiveInt("num_attention_heads", hs)
                  : hidden % 64 == 0 ? hidden / 64 : 1;
        if (hidden % heads != 0)
            throw new InvalidDataException($"{path}: expected num_attention_heads dividing hidden size {hidden}, got {heads}{From("num_attention_heads")}");
        float eps = 1e-12f;
        if (meta.TryGetValue("layer_norm_eps", out var es))
        {
            if (!float.TryParse(es.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out eps) || !float.IsFinite(eps) || !(eps > 0))
                throw new InvalidDataException($"{path}: expected layer_norm_eps to be a finite number > 0, got \"{es.Text}\"{From("layer_norm_eps")}");
        }
        var config = new BertConfig(layers, heads, hidden / heads, hidden, inter, maxPos, words.Dim(0), types, eps);
        try { return new BertWeights(config, tensors); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{path}: {ex.Message}", ex); }

        string From(string key) => meta.TryGetValue(key, out var v) ? $" (in {v.Source})" : "";

        int PositiveInt(string key, (string Text, string Source) value) =>
            int.TryParse(value.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
                : throw new InvalidDataException($"{path}: expected {key} to be a positive integer, got \"{value.Text}\" (in {value.Source})");

        void Agree(string key, int fromTensors)
        {
            if (!meta.TryGetValue(key, out var value)) return;
            int n = PositiveInt(key, value);
            if (n != fromTensors)
                throw new InvalidDataException($"{path}: expected {key} to agree with the tensors ({fromTensors}), got {n} (in {value.Source})");
        }
    }

    /// <summary>The metadata keys this reader interprets (the rest of a config.json is not read).</summary>
    private static readonly string[] ConfigKeys =
        ["num_hidden_layers", "num_attention_heads", "hidden_size", "intermediate_size", "max_position_embeddings",
         "type_vocab_size", "vocab_size", "layer_norm_eps"];

    /// <summary>safetensors __metadata__ merged with a config.json beside the file (metadata wins), each value with where it came from.</summary>
    private static Dictionary<string, (string Text, string Source)> ReadMetadata(string path, IReadOnlyDictionary<string, string> fileMeta)
    {
        var result = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        var configPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "config.json");
        if (File.Exists(configPath))
        {
            var bytes = File.ReadAllBytes(configPath);
            var json = bytes.AsSpan();
            if (json.StartsWith("\uFEFF"u8)) json = json[3..];   // a UTF-8 byte-order mark
            if (!System.Text.Unicode.Utf8.IsValid(json))
                throw new InvalidDataException($"{configPath}: expected UTF-8 JSON, got invalid UTF-8");
            System.Text.Json.JsonDocument doc;
            try { doc = System.Text.Json.JsonDocument.Parse(json.ToArray()); }
            catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: expected a JSON object, got invalid JSON ({e.Message})", e); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object)
                    throw new InvalidDataException($"{configPath}: expected a JSON object, got a JSON {doc.RootElement.ValueKind}");
                try
                {
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    // a key this reader does not use may hold anything; one it uses must be a number, once
                    if (Array.IndexOf(ConfigKeys, p.Name) < 0) continue;
                    if (p.Value.ValueKind != System.Text.Json.JsonValueKind.Number)
                        throw new InvalidDataException($"{configPath}: expected \"{p.Name}\" to be a number, got {p.Value.GetRawText()}");
                    if (!result.TryAdd(p.Name, (p.Value.GetRawText(), configPath)))
                        throw new InvalidDataException($"{configPath}: expected \"{p.Name}\" once, got it twice");
                }
                }
                catch (InvalidOperationException e)   // a name escaping a lone surrogate ("\ud800") has no .NET string
                {
                    throw new InvalidDataException($"{configPath}: expected property names of valid Unicode, got an escaped lone surrogate", e);
                }
            }
        }
        foreach (var (k, v) in fileMeta)
            if (Array.IndexOf(ConfigKeys, k) >= 0) result[k] = (v, $"{path} __metadata__");
        return result;
    }
}
