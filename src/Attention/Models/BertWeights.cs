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
        if (Heads * HeadDim != Hidden)
            throw new ArgumentException($"BertConfig: expected Heads × HeadDim = Hidden, got {Heads} × {HeadDim} ≠ {Hidden}");
        if (!(LayerNormEps > 0)) throw new ArgumentException($"BertConfig: expected LayerNormEps > 0, got {LayerNormEps}");
    }
}

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
        yield return ("embeddings.word_embeddings.weight", [c.VocabSize, c.Hidden]);
        yield return ("embeddings.position_embeddings.weight", [c.MaxPositions, c.Hidden]);
        yield return ("embeddings.token_type_embeddings.weight", [c.TypeVocabSize, c.Hidden]);
        yield return ("embeddings.LayerNorm.weight", [c.Hidden]);
        yield return ("embeddings.LayerNorm.bias", [c.Hidden]);
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (var lin in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                yield return (p + lin + ".weight", [c.Hidden, c.Hidden]);
                yield return (p + lin + ".bias", [c.Hidden]);
            }
            yield return (p + "attention.output.LayerNorm.weight", [c.Hidden]);
            yield return (p + "attention.output.LayerNorm.bias", [c.Hidden]);
            yield return (p + "intermediate.dense.weight", [c.Intermediate, c.Hidden]);
            yield return (p + "intermediate.dense.bias", [c.Intermediate]);
            yield return (p + "output.dense.weight", [c.Hidden, c.Intermediate]);
            yield return (p + "output.dense.bias", [c.Hidden]);
            yield return (p + "output.LayerNorm.weight", [c.Hidden]);
            yield return (p + "output.LayerNorm.bias", [c.Hidden]);
        }
    }

    /// <summary>Reads the weights of a PyTorch-exported BERT ONNX graph (see the class remarks).</summary>
    /// <exception cref="InvalidDataException">The graph lacks a BERT tensor, or a MatMul weight cannot be matched to a bias.</exception>
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
            if (node.OpType != "MatMul" || node.Inputs.Count != 2 || !g.Initializers.TryGetValue(node.Inputs[1], out var w)) continue;
            if (tensors.ContainsKey(StripPrefix(node.Inputs[1]))) continue;   // already named (an export that kept names)
            var add = g.Consumers(node.Outputs[0]).FirstOrDefault(n => n.OpType == "Add");
            var bias = add?.Inputs.Select(StripPrefix).FirstOrDefault(i => i.EndsWith(".bias", StringComparison.Ordinal) && i.StartsWith("encoder.", StringComparison.Ordinal));
            if (bias is null)
                throw new InvalidDataException($"ONNX BERT: MatMul {node.Name} with weight {node.Inputs[1]} is not followed by an Add of a named encoder bias; cannot name it");
            if (w.Dims.Count != 2) throw new InvalidDataException($"ONNX BERT: expected a 2-D MatMul weight for {bias}, got dims [{string.Join(", ", w.Dims)}]");
            tensors[bias[..^".bias".Length] + ".weight"] = Transposed(w.ToFloats(), checked((int)w.Dims[0]), checked((int)w.Dims[1]));
        }
        if (!tensors.TryGetValue("embeddings.word_embeddings.weight", out var words))
            throw new InvalidDataException("ONNX BERT: expected an initializer embeddings.word_embeddings.weight, found none");
        int hidden = words.Dim(1);
        int layers = 0;
        while (tensors.ContainsKey($"encoder.layer.{layers}.attention.self.query.bias")) layers++;
        int inter = tensors.TryGetValue("encoder.layer.0.intermediate.dense.bias", out var ib) ? ib.Dim(0) : 4 * hidden;
        int maxPos = tensors.TryGetValue("embeddings.position_embeddings.weight", out var pe) ? pe.Dim(0) : 512;
        int types = tensors.TryGetValue("embeddings.token_type_embeddings.weight", out var te) ? te.Dim(0) : 2;
        var (heads, headDim) = HeadsFromGraph(g, hidden);
        float eps = EpsFromGraph(g) ?? 1e-12f;
        var config = new BertConfig(layers, heads, headDim, hidden, inter, maxPos, words.Dim(0), types, eps);
        try { return new BertWeights(config, tensors); }
        catch (ArgumentException e) { throw new InvalidDataException("ONNX BERT: " + e.Message, e); }
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
            long h = a.ToInt64s()[0], d = b.ToInt64s()[0];
            if (h > 0 && d > 0 && h * d == hidden) return ((int)h, (int)d);
        }
        return (hidden / 64, 64);
    }

    /// <summary>LayerNorm ε: the constant added to the variance (ReduceMean → Add → Sqrt) in the decomposed LayerNorm.</summary>
    private static float? EpsFromGraph(OnnxGraph g)
    {
        foreach (var node in g.Nodes)
        {
            if (node.OpType != "Sqrt") continue;
            var add = g.Producer(node.Inputs[0]);
            if (add?.OpType != "Add") continue;
            foreach (var input in add.Inputs)
            {
                var c = g.Producer(input);
                var t = c?.OpType == "Constant" ? c.Attributes.GetValueOrDefault("value")?.Tensor : g.Initializers.GetValueOrDefault(input);
                if (t is { ElementCount: 1 } && t.DataType is OnnxTensor.Float or OnnxTensor.Double) return t.ToFloats()[0];
            }
        }
        return null;
    }

    /// <summary>(rows, cols) row-major → its transpose as a (cols, rows) tensor, in cache-sized tiles.</summary>
    private static Tensor Transposed(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
            for (int c0 = 0; c0 < cols; c0 += Tile)
                for (int r = r0; r < Math.Min(rows, r0 + Tile); r++)
                    for (int c = c0; c < Math.Min(cols, c0 + Tile); c++)
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
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors, or it lacks a BERT tensor.</exception>
    public static BertWeights FromSafetensors(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var raw = Safetensors.Read(path, out var fileMeta);
        var meta = ReadMetadata(path, fileMeta);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in raw) tensors[StripPrefix(name)] = t;
        if (!tensors.TryGetValue("embeddings.word_embeddings.weight", out var words) || words.Rank != 2)
            throw new InvalidDataException($"{path}: expected a 2-D tensor embeddings.word_embeddings.weight (BERT weights), found none");
        int hidden = words.Dim(1);
        int layers = 0;
        while (tensors.ContainsKey($"encoder.layer.{layers}.attention.self.query.weight")) layers++;
        int Get(string key, int fallback) => meta.TryGetValue(key, out var s) && int.TryParse(s, CultureInfo.InvariantCulture, out int v) ? v : fallback;
        int heads = Get("num_attention_heads", hidden % 64 == 0 ? hidden / 64 : 1);
        float eps = meta.TryGetValue("layer_norm_eps", out var es) && float.TryParse(es, CultureInfo.InvariantCulture, out float e) ? e : 1e-12f;
        int inter = tensors.TryGetValue("encoder.layer.0.intermediate.dense.bias", out var ib) ? ib.Dim(0) : 4 * hidden;
        int maxPos = tensors.TryGetValue("embeddings.position_embeddings.weight", out var pe) ? pe.Dim(0) : 512;
        int types = tensors.TryGetValue("embeddings.token_type_embeddings.weight", out var te) ? te.Dim(0) : 2;
        if (heads <= 0 || hidden % heads != 0) throw new InvalidDataException($"{path}: expected num_attention_heads dividing hidden size {hidden}, got {heads}");
        var config = new BertConfig(layers, heads, hidden / heads, hidden, inter, maxPos, words.Dim(0), types, eps);
        try { return new BertWeights(config, tensors); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{path}: {ex.Message}", ex); }
    }

    /// <summary>safetensors __metadata__ merged with a config.json beside the file (metadata wins).</summary>
    private static Dictionary<string, string> ReadMetadata(string path, IReadOnlyDictionary<string, string> fileMeta)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var configPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "config.json");
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(configPath));
                foreach (var p in doc.RootElement.EnumerateObject())
                    if (p.Value.ValueKind == System.Text.Json.JsonValueKind.Number) result[p.Name] = p.Value.GetRawText();
            }
            catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: expected a JSON object, got invalid JSON ({e.Message})", e); }
        }
        foreach (var (k, v) in fileMeta) result[k] = v;
        return result;
    }
}
