using Attention.Models;
using Attention.Onnx;

namespace Attention.Tests.Models;

public class OnnxAndSafetensorsTests
{
    [Fact]
    public void MiniLmGraph_HasSixSoftmaxes_AndNamesAll96LinearWeights()
    {
        var model = OnnxModel.Parse(MiniLm.OnnxBytes());
        Assert.Equal(6, model.Graph.Nodes.Count(n => n.OpType == "Softmax"));
        Assert.Contains(model.Opsets, o => o.Domain == "" && o.Version == 13);
        var weights = BertWeights.FromOnnx(model);
        // 6 layers × 6 linear weights, each transposed to (out, in)
        Assert.Equal(36, weights.Tensors.Keys.Count(k => k.EndsWith("dense.weight", StringComparison.Ordinal) || k.Contains(".self.", StringComparison.Ordinal) && k.EndsWith(".weight", StringComparison.Ordinal)));
        Assert.Equal(new[] { 1536, 384 }, weights["encoder.layer.5.intermediate.dense.weight"].Shape.ToArray());
    }

    [Fact]
    public void WithExtraOutputs_AddsTheNamedOutputs_AndKeepsTheGraph()
    {
        var bytes = MiniLm.OnnxBytes();
        var original = OnnxModel.Parse(bytes);
        var names = original.Graph.Nodes.Where(n => n.OpType == "Softmax").Select(n => n.Outputs[0]).ToArray();
        var edited = OnnxModel.Parse(OnnxModel.WithExtraOutputs(bytes, names));
        Assert.Equal(original.Graph.Outputs.Select(o => o.Name).Concat(names), edited.Graph.Outputs.Select(o => o.Name));
        Assert.Equal(original.Graph.Nodes.Count, edited.Graph.Nodes.Count);
        Assert.Equal(original.Graph.Initializers.Count, edited.Graph.Initializers.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(1000)]
    [InlineData(5_000_000)]
    public void TruncatedOnnx_ThrowsInvalidData_NamingWhatWasExpected(int keep)
    {
        var bytes = MiniLm.OnnxBytes().AsSpan(0, keep).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(bytes));
        Assert.StartsWith("ONNX", e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void CorruptOnnx_ThrowsInvalidData()
    {
        var rng = new Attention.Tensors.Rng(5);
        var garbage = new byte[4096];
        for (int i = 0; i < garbage.Length; i++) garbage[i] = (byte)rng.NextUInt64();
        Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(garbage));
        var text = System.Text.Encoding.UTF8.GetBytes("this is not a model at all, just text");
        Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(text));
        // a length prefix that points past the end
        var bytes = MiniLm.OnnxBytes().AsSpan(0, 64).ToArray();
        Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(bytes));
    }

    [Fact]
    public void SafetensorsRoundTrip_GivesIdenticalOutputs_AndLoadFindsVocabBesideIt()
    {
        var dir = Directory.CreateTempSubdirectory("bert-st-").FullName;
        try
        {
            var model = BertModel.LoadMiniLm();
            var path = Path.Combine(dir, "model.safetensors");
            model.Weights.Save(path);
            File.WriteAllLines(Path.Combine(dir, "vocab.txt"), model.Tokenizer.Vocabulary);
            var loaded = BertModel.Load(path);
            Assert.Equal(model.Config, loaded.Config);
            var batch = model.Tokenize(["Round trips keep every bit.", "ok"]);
            var a = model.Forward(batch, new BertRunOptions { RecordAttention = true });
            var b = loaded.Forward(batch, new BertRunOptions { RecordAttention = true });
            Assert.Equal(a.LastHiddenState.ToArray(), b.LastHiddenState.ToArray());
            Assert.Equal(a.Embeddings.ToArray(), b.Embeddings.ToArray());
            for (int l = 0; l < 6; l++) Assert.Equal(a.Attention![l].ToArray(), b.Attention![l].ToArray());

            // truncated safetensors, and one missing a tensor
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray());
            Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
            var partial = model.Weights.Tensors.Where(p => !p.Key.Contains("layer.3.output.dense")).ToDictionary();
            Attention.Tensors.Safetensors.Write(path, partial);
            var e = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
            Assert.Contains("encoder.layer.3.output.dense", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Load_RejectsUnknownExtensions_AndMissingVocab()
    {
        var dir = Directory.CreateTempSubdirectory("bert-ld-").FullName;
        try
        {
            var path = Path.Combine(dir, "weights.bin");
            File.WriteAllBytes(path, [1, 2, 3]);
            Assert.Throws<FileNotFoundException>(() => BertModel.Load(path));
            File.WriteAllText(Path.Combine(dir, "vocab.txt"), "[PAD]\n");
            Assert.Throws<ArgumentException>(() => BertModel.Load(path));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
