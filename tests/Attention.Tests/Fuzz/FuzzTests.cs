using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;
using Xunit.Abstractions;

namespace Attention.Tests.Fuzz;

/// <summary>
/// Our own fuzz suite: for each format, <see cref="FuzzRunner.CiCases"/> seeded mutations of a small valid file
/// (written by our writers, see <see cref="Samples"/>) must each end in a clean, explained error or in a load that
/// is right for the bytes. ATTN_FUZZ_CASES=100000 (and ATTN_FUZZ_SEED) run the long version.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private static long Budget(int bytes, long fixedPart, int perByte) => fixedPart + (long)perByte * bytes;

    private void RunFormat(FuzzRunner.Format format, bool expectRejections = true)
    {
        int cases = FuzzRunner.Cases;
        var outcome = FuzzRunner.Run(format, cases, FuzzRunner.Seed);
        output.WriteLine($"{format.Name}: {cases} cases, {outcome.Loaded} loaded, {outcome.Rejected} rejected, {outcome.Failures.Count} failed");
        FuzzRunner.AssertClean(outcome, cases, format.Name, expectRejections);
    }

    [Fact]
    public void Npy_MutatedFiles_LoadCorrectlyOrFailCleanly()
    {
        var sample = Samples.Npy();
        int dataStart = Npy.BuildHeader([3, 5]).Length;
        using var folder = new Samples.Folder();
        RunFormat(new("npy", sample, "sample.npy",
            bytes => Npy.Read(folder.Write("sample.npy", bytes)),
            (bytes, result) =>
            {
                var t = (Tensor)result;
                if (bytes.Length >= dataStart && bytes.AsSpan(0, dataStart).SequenceEqual(sample.AsSpan(0, dataStart)))
                {
                    // the header is the writer's: the shape is (3, 5) and the values are the data bytes, bit for bit
                    Assert.Equal([3, 5], t.Shape.ToArray());
                    Assert.Equal(dataStart + 60, bytes.Length);
                    var values = t.ToArray();
                    for (int i = 0; i < 15; i++)
                        Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(dataStart + 4 * i)), BitConverter.SingleToInt32Bits(values[i]));
                }
                else
                {
                    // a changed header that still parses: the file must hold exactly the data it declares
                    int major = bytes[6];
                    int start = major == 1 ? 10 + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) : 12 + (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
                    long data = bytes.Length - start;
                    Assert.True(data == 4L * t.Length || data == 8L * t.Length, $"{data} data bytes for {t.Length} elements");
                }
            },
            n => Budget(n, 256 << 10, 16)));
    }

    [Fact]
    public void Safetensors_MutatedFiles_LoadCorrectlyOrFailCleanly()
    {
        var sample = Samples.Safetensors();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(sample);
        using var header = JsonDocument.Parse(sample.AsMemory(8, headerEnd - 8));
        var offsets = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
            .ToDictionary(p => p.Name, p => (Begin: p.Value.GetProperty("data_offsets")[0].GetInt32(), End: p.Value.GetProperty("data_offsets")[1].GetInt32()));
        using var folder = new Samples.Folder();
        RunFormat(new("safetensors", sample, "sample.safetensors",
            bytes => Safetensors.Read(folder.Write("sample.safetensors", bytes)),
            (bytes, result) =>
            {
                var tensors = (Dictionary<string, Tensor>)result;
                if (bytes.Length >= headerEnd && bytes.AsSpan(0, headerEnd).SequenceEqual(sample.AsSpan(0, headerEnd)))
                {
                    // the writer's header: the same names, and each tensor is its byte range, bit for bit
                    Assert.Equal(offsets.Keys.Order(), tensors.Keys.Order());
                    Assert.Equal(sample.Length, bytes.Length);
                    foreach (var (name, (begin, end)) in offsets)
                    {
                        var values = tensors[name].ToArray();
                        Assert.Equal((end - begin) / 4, values.Length);
                        for (int i = 0; i < values.Length; i++)
                            Assert.Equal(BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(headerEnd + begin + 4 * i)), BitConverter.SingleToInt32Bits(values[i]));
                    }
                }
                else
                {
                    // a changed header that still parses: what loaded survives a round trip through our writer
                    var again = Safetensors.Read(Safetensors.Serialize(tensors), out _);
                    foreach (var (name, t) in tensors) Assert.Equal(t.ToArray(), again[name].ToArray());
                }
            },
            n => Budget(n, 256 << 10, 32)));
    }

    [Fact]
    public void BertSafetensors_MutatedFiles_LoadAModelThatRunsOrFailCleanly()
    {
        var sample = Samples.BertSafetensors();
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(sample);
        using var folder = new Samples.Folder();
        folder.Write("vocab.txt", Samples.VocabTxt);
        RunFormat(new("bert-safetensors", sample, "model.safetensors",
            bytes => BertModel.Load(folder.Write("model.safetensors", bytes)),
            (bytes, result) =>
            {
                var model = (BertModel)result;
                if (bytes.Length >= headerEnd && bytes.AsSpan(0, headerEnd).SequenceEqual(sample.AsSpan(0, headerEnd)))
                    Assert.Equal(Samples.Config, model.Config);
                CheckRuns(model);
            },
            n => Budget(n, 1 << 20, 64)));
    }

    [Fact]
    public void BertConfigJson_MutatedFiles_AreReadAsWrittenOrFailCleanly()
    {
        var sample = Encoding.UTF8.GetBytes(Samples.ConfigJson);
        using var folder = new Samples.Folder();
        folder.Write("vocab.txt", Samples.VocabTxt);
        var weights = folder.Write("model.safetensors", Samples.BertSafetensorsWithoutMetadata());
        RunFormat(new("config.json", sample, "config.json",
            bytes => { folder.Write("config.json", bytes); return BertModel.Load(weights); },
            (bytes, result) =>
            {
                var model = (BertModel)result;
                // the file must be a JSON object whose keys, where present, are the numbers the model uses
                var json = bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes[3..] : bytes;
                using var doc = JsonDocument.Parse(json);
                var c = model.Config;
                var root = doc.RootElement;
                void Same(string key, int value) { if (root.TryGetProperty(key, out var v)) Assert.Equal(v.GetRawText(), value.ToString(CultureInfo.InvariantCulture)); }
                Same("num_attention_heads", c.Heads);
                Same("num_hidden_layers", c.Layers);
                Same("hidden_size", c.Hidden);
                Same("intermediate_size", c.Intermediate);
                Same("max_position_embeddings", c.MaxPositions);
                Same("type_vocab_size", c.TypeVocabSize);
                Same("vocab_size", c.VocabSize);
                if (root.TryGetProperty("layer_norm_eps", out var eps)) Assert.Equal(float.Parse(eps.GetRawText(), CultureInfo.InvariantCulture), c.LayerNormEps);
                else Assert.Equal(1e-12f, c.LayerNormEps);
                CheckRuns(model);
            },
            n => Budget(n, 1 << 20, 64)));
    }

    [Fact]
    public void VocabTxt_MutatedFiles_GiveOneTokenPerLineOrFailCleanly()
    {
        using var folder = new Samples.Folder();
        RunFormat(new("vocab.txt", Samples.VocabTxt, "vocab.txt",
            bytes => BertTokenizer.FromVocabFile(folder.Write("vocab.txt", bytes)),
            (bytes, result) =>
            {
                var tokenizer = (BertTokenizer)result;
                var text = new UTF8Encoding(false, true).GetString(bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes[3..] : bytes);
                var lines = text.Split('\n').ToList();
                if (lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
                Assert.Equal(lines.Select(l => l.TrimEnd('\r')), tokenizer.Vocabulary);
                Assert.All(tokenizer.Encode("the cat sats"), id => Assert.InRange(id, 0, tokenizer.Vocabulary.Count - 1));
            },
            n => Budget(n, 256 << 10, 64)));
    }

    [Fact]
    public void BertOnnx_MutatedFiles_LoadAModelThatRunsOrFailCleanly()
    {
        using var folder = new Samples.Folder();
        folder.Write("vocab.txt", Samples.VocabTxt);
        RunFormat(new("bert-onnx", Samples.BertOnnx(), "model.onnx",
            bytes => BertModel.Load(folder.Write("model.onnx", bytes)),
            (_, result) => CheckRuns((BertModel)result),
            n => Budget(n, 1 << 20, 64)));
    }

    [Fact]
    public void OnnxNodeModel_MutatedBytes_ParseConsistentlyOrFailCleanly()
    {
        // the Peers' writer: a node with int, float and string attributes, inputs and outputs with shapes
        var sample = Attention.Peers.OnnxModelWriter.SingleNodeModel("Attention", "com.microsoft",
            [new("q", [1, 4, 8]), new("k", [1, 4, 8])], [new("out", [1, 4, 8])],
            [Attention.Peers.OnnxAttribute.Of("num_heads", 2L), Attention.Peers.OnnxAttribute.Of("scale", 0.25f), Attention.Peers.OnnxAttribute.Of("mode", "fast")]);
        RunFormat(new("onnx-node", sample, null,
            bytes => Attention.Onnx.OnnxModel.Parse(bytes),
            (bytes, result) =>
            {
                // what parsed is a model with a graph, and parsing is a function of the bytes
                var model = (Attention.Onnx.OnnxModel)result;
                Assert.True(model.IrVersion >= 1);
                Assert.All(model.Graph.Nodes, n => Assert.NotEmpty(n.OpType));
                var again = Attention.Onnx.OnnxModel.Parse(bytes);
                Assert.Equal(model.Graph.Nodes.Select(n => n.ToString()), again.Graph.Nodes.Select(n => n.ToString()));
            },
            n => Budget(n, 256 << 10, 64)));
    }

    [Fact]
    public void CmuDictGzip_MutatedFiles_LoadTheWrittenEntriesOrFailCleanly()
    {
        var expected = CmuDict.Parse(new StringReader(Samples.CmuText)).Entries.Select(e => e.ToString()).ToArray();
        using var folder = new Samples.Folder();
        RunFormat(new("cmudict.gz", Samples.CmuGzip(), "dict.txt.gz",
            bytes => CmuDict.Load(folder.Write("dict.txt.gz", bytes)),
            // a gzip file is checked to its trailer: whatever loads is exactly what was written
            (_, result) => Assert.Equal(expected, ((CmuDict)result).Entries.Select(e => e.ToString())),
            n => Budget(n, 2 << 20, 64)));
    }

    [Fact]
    public void CmuDictText_MutatedFiles_LoadEveryLineAsWrittenOrFailCleanly()
    {
        using var folder = new Samples.Folder();
        RunFormat(new("cmudict.txt", Encoding.UTF8.GetBytes(Samples.CmuText), "dict.txt",
            bytes => CmuDict.Load(folder.Write("dict.txt", bytes)),
            (bytes, result) =>
            {
                var text = new UTF8Encoding(false, true).GetString(bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes[3..] : bytes);
                var lines = new List<string>();
                using var reader = new StringReader(text);
                for (string? line; (line = reader.ReadLine()) is not null;) lines.Add(line);
                Assert.Equal(lines, ((CmuDict)result).Entries.Select(e => e.ToString()));
            },
            n => Budget(n, 2 << 20, 64)));
    }

    [Fact]
    public void Encode_MutatedText_EqualsTheWholeTokenizationCut()
    {
        var tokenizer = new BertTokenizer(MiniLm.Vocabulary());
        var sample = Encoding.UTF8.GetBytes("Un café, s'il vous plaît! The cat sat on 東京 mats (1.5e3 of them) — über-naïve tokens.");
        RunFormat(new("encode", sample, null,
            bytes => Encode(tokenizer, bytes),
            (bytes, result) =>
            {
                var (text, maxLength, ids) = ((string, int, int[]))result;
                var pieces = tokenizer.Tokenize(text).Take(maxLength - 2).Select(p => tokenizer.IdOf(p)!.Value);
                Assert.Equal([tokenizer.ClsId, .. pieces, tokenizer.SepId], ids);
            },
            n => Budget(n, 256 << 10, 256)), expectRejections: false);
    }

    private static (string, int, int[]) Encode(BertTokenizer tokenizer, byte[] bytes)
    {
        // invalid UTF-8 becomes U+FFFD; the mutator's escaped surrogates become real lone surrogates
        var text = Encoding.UTF8.GetString(bytes).Replace("\\ud800", "\ud800", StringComparison.Ordinal).Replace("\\udfff", "\udfff", StringComparison.Ordinal);
        int maxLength = 2 + bytes.Length % 24;
        return (text, maxLength, tokenizer.Encode(text, maxLength));
    }

    /// <summary>A model that loaded must work: an embedding of the right size for a short text.</summary>
    private static void CheckRuns(BertModel model)
    {
        model.Config.Validate();
        var e = model.Embed(["the cat sats", "the"]);
        Assert.Equal(2, e.Length);
        Assert.All(e, row => Assert.Equal(model.Config.Hidden, row.Length));
    }
}
