using System.IO.Compression;
using System.Text;
using Attention.Models;
using Attention.Tensors;
using PeerProto = Attention.Peers.ProtoWriter;

namespace Attention.Tests.Fuzz;

/// <summary>
/// Small valid files of every format the library reads, each made by a writer: ours (Npy, Safetensors,
/// BertWeights.Save, GZipStream) or the Peers' independent protobuf writer (a tiny PyTorch-style BERT ONNX graph).
/// They are the seeds the fuzz tests mutate, so each one must load.
/// </summary>
internal static class Samples
{
    /// <summary>A one-layer BERT: hidden 4 = 2 heads × 2, intermediate 8, 8 positions, 8 tokens.</summary>
    public static readonly BertConfig Config = new(Layers: 1, Heads: 2, HeadDim: 2, Hidden: 4, Intermediate: 8, MaxPositions: 8,
                                                   VocabSize: 8, TypeVocabSize: 2, LayerNormEps: 1e-5f);

    public static readonly string[] Vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "##s"];

    public static BertWeights Weights(ulong seed = 1)
    {
        var rng = new Rng(seed);
        var tensors = BertWeights.ExpectedShapes(Config).ToDictionary(p => p.Name, p => rng.NormalTensor(p.Shape, 0f, 0.5f));
        return new BertWeights(Config, tensors);
    }

    public static byte[] Npy(ulong seed = 2)
    {
        var stream = new MemoryStream();
        Attention.Tensors.Npy.Write(stream, new Rng(seed).NormalTensor([3, 5]));
        return stream.ToArray();
    }

    public static byte[] Safetensors(ulong seed = 3)
    {
        var rng = new Rng(seed);
        return Attention.Tensors.Safetensors.Serialize(new Dictionary<string, Tensor>
        {
            ["a.weight"] = rng.NormalTensor([2, 3]),
            ["a.bias"] = rng.NormalTensor([3]),
            ["scalar"] = rng.NormalTensor([]),
        }, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "fuzz seed" });
    }

    /// <summary>The tiny BERT as .safetensors with its config as metadata (BertWeights.Save).</summary>
    public static byte[] BertSafetensors()
    {
        var path = Path.GetTempFileName();
        try { Weights().Save(path); return File.ReadAllBytes(path); }
        finally { File.Delete(path); }
    }

    /// <summary>The tiny BERT as .safetensors without metadata, so a config.json beside it decides.</summary>
    public static byte[] BertSafetensorsWithoutMetadata() => Attention.Tensors.Safetensors.Serialize(Weights().Tensors);

    public static string ConfigJson =>
        """
        {
          "architectures": ["BertModel"],
          "hidden_size": 4,
          "intermediate_size": 8,
          "layer_norm_eps": 1e-05,
          "max_position_embeddings": 8,
          "model_type": "bert",
          "num_attention_heads": 2,
          "num_hidden_layers": 1,
          "type_vocab_size": 2,
          "vocab_size": 8
        }
        """;

    public static byte[] VocabTxt => Encoding.UTF8.GetBytes(string.Join("\n", Vocabulary) + "\n");

    public const string CmuText =
        "abc\tAE1 B K\nabout\tAH0 B AW1 T\nattention\tAH0 T EH1 N SH AH0 N\ncat\tK AE1 T\nhello\tHH AH0 L OW1\n" +
        "the\tDH AH0\nx-ray\tEH1 K S R EY2\nzoo\tZ UW1\n";

    public static byte[] CmuGzip(string text = CmuText)
    {
        var stream = new MemoryStream();
        using (var zip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true)) zip.Write(Encoding.UTF8.GetBytes(text));
        return stream.ToArray();
    }

    /// <summary>
    /// The tiny BERT as a PyTorch export names it: embeddings, biases and LayerNorm parameters as named initializers,
    /// each Linear weight an anonymous (in, out) MatMul initializer whose output feeds an Add of its named bias, the
    /// head split in a Concat of two int64 initializers, and ε in the Add before a Sqrt.
    /// </summary>
    /// <param name="seed">Seeds the weights.</param>
    /// <param name="transform">Replaces a weight before it is written (return null to leave it out).</param>
    /// <param name="extra">Adds fields to the graph (nodes, initializers) after the sample's own.</param>
    public static byte[] BertOnnx(ulong seed = 1, Func<string, Tensor, Tensor?>? transform = null, Action<PeerProto>? extra = null)
    {
        var w = Weights(seed);
        var graph = new PeerProto().String(2, "tiny-bert");
        int anonymous = 100;
        void Initializer(string name, Tensor t, int type = 1, byte[]? raw = null) =>
            graph.Message(5, TensorProto(name, t.Shape.ToArray().Select(d => (long)d).ToArray(), type, raw ?? FloatBytes(t)));
        void Node(string op, string name, string[] inputs, string[] outputs) => graph.Message(1, NodeProto(op, name, inputs, outputs));
        foreach (var (name, original) in w.Tensors.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var t = transform is null ? original : transform(name, original);
            if (t is null) continue;
            if (name.EndsWith(".weight", StringComparison.Ordinal) && name.StartsWith("encoder.", StringComparison.Ordinal) && t.Rank == 2)
            {
                // Linear (out, in) → MatMul weight (in, out), anonymous, followed by Add(bias)
                int rows = t.Dim(0), cols = t.Dim(1);
                var tr = Tensor.Zeros(cols, rows);
                for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) tr[c, r] = t[r, c];
                string weight = $"onnx::MatMul_{anonymous++}", linear = name[..^".weight".Length];
                Initializer(weight, tr);
                Node("MatMul", $"/{linear}/MatMul", [$"{linear}/input", weight], [$"{linear}/mm"]);
                Node("Add", $"/{linear}/Add", [linear + ".bias", $"{linear}/mm"], [$"{linear}/out"]);
            }
            else Initializer(name, t);
        }
        static byte[] Int64(long v) => BitConverter.GetBytes(v);
        Initializer("onnx::Concat_heads", Tensor.Zeros(1), 7, Int64(Config.Heads));
        Initializer("onnx::Concat_dim", Tensor.Zeros(1), 7, Int64(Config.HeadDim));
        Node("Concat", "/encoder/layer.0/attention/self/Concat", ["shape0", "shape1", "onnx::Concat_heads", "onnx::Concat_dim"], ["heads_shape"]);
        Initializer("onnx::Add_eps", Tensor.FromArray([Config.LayerNormEps]));
        Node("Add", "/embeddings/LayerNorm/Add", ["variance", "onnx::Add_eps"], ["variance_eps"]);
        Node("Sqrt", "/embeddings/LayerNorm/Sqrt", ["variance_eps"], ["std"]);
        extra?.Invoke(graph);
        var opset = new PeerProto().String(1, "").Varint(2, 13);
        return new PeerProto().Varint(1, 8).String(2, "samples").Message(7, graph).Message(8, opset).ToArray();
    }

    /// <summary>A model whose graph holds just these fields (ir_version 8).</summary>
    public static byte[] OnnxWithGraph(Action<PeerProto> fill)
    {
        var graph = new PeerProto().String(2, "g");
        fill(graph);
        return new PeerProto().Varint(1, 8).Message(7, graph).ToArray();
    }

    /// <summary>TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (left out when null).</summary>
    public static PeerProto TensorProto(string name, long[] dims, int type, byte[]? raw)
    {
        var tensor = new PeerProto();
        foreach (long d in dims) tensor.Varint(1, d);
        tensor.Varint(2, type).String(8, name);
        if (raw is not null) tensor.Bytes(9, raw);
        return tensor;
    }

    /// <summary>NodeProto: input = 1, output = 2, name = 3, op_type = 4.</summary>
    public static PeerProto NodeProto(string op, string name, string[] inputs, string[] outputs)
    {
        var node = new PeerProto();
        foreach (var i in inputs) node.String(1, i);
        foreach (var o in outputs) node.String(2, o);
        return node.String(3, name).String(4, op);
    }

    public static byte[] FloatBytes(Tensor t)
    {
        var data = t.ToArray();
        var raw = new byte[data.Length * 4];
        Buffer.BlockCopy(data, 0, raw, 0, raw.Length);
        return raw;
    }

    /// <summary>A fresh temporary folder for a test's files; deleted on dispose.</summary>
    public sealed class Folder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("attn-fuzz-").FullName;

        public string Write(string name, byte[] bytes)
        {
            var path = System.IO.Path.Combine(Path, name);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        public string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
