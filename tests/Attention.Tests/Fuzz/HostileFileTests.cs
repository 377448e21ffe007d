using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Attention.Data;
using Attention.Models;
using Attention.Onnx;
using Attention.Tensors;

namespace Attention.Tests.Fuzz;

/// <summary>
/// One test per class of defect an outside fuzz run found, each reproducing the hostile input: the reader
/// must throw one of the allowed exceptions, naming the file or field and what was expected, before allocating
/// what the file claims, and never load a damaged file partially or silently.
/// </summary>
public class HostileFileTests
{
    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try { action(); }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or EndOfStreamException or FormatException) { }
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static byte[] NpyWithShape(string shape, int dataBytes = 16)
    {
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        var bytes = new byte[total + dataBytes];
        bytes[0] = 0x93; "NUMPY"u8.CopyTo(bytes.AsSpan(1)); bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)(total - 10));
        Encoding.ASCII.GetBytes(dict.PadRight(total - 11) + "\n", bytes.AsSpan(10));
        return bytes;
    }

    // ---- 1. gigabyte allocations from tiny files ----

    [Theory]
    [InlineData("(500000000,)")]
    [InlineData("(536870911,)")]
    [InlineData("(46340, 46340)")]
    [InlineData("(2147483647, 2147483647)")]
    public void Npy_HugeDeclaredShape_InATinyFile_FailsBeforeAllocating(string shape)
    {
        var bytes = NpyWithShape(shape);
        Assert.True(bytes.Length < 200);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(bytes)));
        Assert.Contains("expected", e.Message);
        Assert.True(Allocated(() => Npy.Read(new MemoryStream(bytes))) < 64 << 10);
        // a stream that cannot say its length is read in chunks: the cost follows the bytes, not the claim
        Assert.True(Allocated(() => Npy.Read(new UnseekableStream(bytes))) < (2 << 20) + (64 << 10));
    }

    [Fact]
    public void NpyVersion2_ClaimingASixteenMegabyteHeader_InATinyFile_FailsBeforeAllocatingIt()
    {
        byte[] bytes = [0x93, .. "NUMPY"u8, 2, 0, 0, 0, 0, 1, .. "{'descr'"u8];   // header length 2^24
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(bytes)));
        Assert.Contains("header", e.Message);
        Assert.True(Allocated(() => Npy.Read(new MemoryStream(bytes))) < 64 << 10);
        Assert.True(Allocated(() => Npy.Read(new UnseekableStream(bytes))) < (2 << 20) + (64 << 10));
    }

    [Fact]
    public void GzipBomb_StopsAtTheOutputCap()
    {
        var stream = new MemoryStream();
        using (var zip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true)) zip.Write(new byte[4 << 20]);
        var gz = stream.ToArray();
        Assert.True(gz.Length < 16 << 10);
        var e = Assert.Throws<InvalidDataException>(() => Gzip.Decompress(gz, "bomb.gz", maxOutput: 1 << 20));
        Assert.Contains("bomb.gz", e.Message);
        Assert.Contains("at most 1048576", e.Message);
        Assert.Equal(4 << 20, Gzip.Decompress(gz, "bomb.gz").Length);
    }

    [Fact]
    public void OnnxFloat16Weight_WithoutData_FailsAtParse_BeforeAllocatingItsFourGigabytes()
    {
        var bytes = Samples.OnnxWithGraph(g => g.Message(5, Samples.TensorProto("big", [32768, 32768], 10, null)));
        Assert.True(bytes.Length < 100);
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(bytes));
        Assert.Contains("\"big\"", e.Message);
        Assert.Contains("expected 1073741824 values", e.Message);
        Assert.True(Allocated(() => OnnxModel.Parse(bytes)) < 64 << 10);

        // the same weight inside a BERT export, through BertModel.Load
        using var folder = new Samples.Folder();
        folder.Write("vocab.txt", Samples.VocabTxt);
        var path = folder.Write("model.onnx", Samples.BertOnnx(extra: g => g.Message(5, Samples.TensorProto("onnx::MatMul_9", [32768, 32768], 10, null))));
        var load = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
        Assert.Contains("model.onnx", load.Message);
        Assert.True(Allocated(() => BertModel.Load(path)) < 4 << 20);
    }

    [Fact]
    public void OnnxTensorOfAnUnconvertibleType_IsRejectedBeforeItsFloatsAreAllocated()
    {
        // FLOAT16 with its 4 values in int32_data (field 5): valid ONNX, but not a type ToFloats converts
        var bytes = Samples.OnnxWithGraph(g => g.Message(5, Samples.TensorProto("half", [2, 2], 10, null).Varint(5, 1).Varint(5, 2).Varint(5, 3).Varint(5, 4)));
        var tensor = OnnxModel.Parse(bytes).Graph.Initializers["half"];
        Assert.Contains("expected data type FLOAT", Assert.Throws<InvalidDataException>(() => tensor.ToFloats()).Message);
        Assert.Contains("expected data type INT64", Assert.Throws<InvalidDataException>(() => tensor.ToInt64s()).Message);
    }

    // ---- 2. ONNX size arithmetic ----

    [Theory]
    [InlineData(1L << 31, 1L << 31)]     // 2^62 elements × 4 bytes wraps to 0 = the empty data, unchecked
    [InlineData(1L << 40, 1L << 40)]     // the element count itself overflows
    [InlineData(1L << 62, 4)]
    public void OnnxDims_WhoseSizeOverflows_AreInvalidData_NotOverflow(long a, long b)
    {
        var bytes = Samples.OnnxWithGraph(g => g.Message(5, Samples.TensorProto("w", [a, b], 1, null)));
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(bytes));
        Assert.Contains("\"w\"", e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void OnnxDimsBeyondInt_WithNoElements_ParseButAreInvalidDataForATensor()
    {
        var bytes = Samples.OnnxWithGraph(g => g.Message(5, Samples.TensorProto("embeddings.word_embeddings.weight", [1L << 33, 0], 1, [])));
        var model = OnnxModel.Parse(bytes);
        var t = model.Graph.Initializers["embeddings.word_embeddings.weight"];
        Assert.Equal(0, t.ElementCount);
        Assert.Contains("expected dims of at most", Assert.Throws<InvalidDataException>(() => t.ToTensor()).Message);
        Assert.Throws<InvalidDataException>(() => BertWeights.FromOnnx(model));
    }

    // ---- 3 and 9. gzip checked to its end ----

    private static string ManyEntries(int n)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.Append(CultureInfo.InvariantCulture, $"w{i:D5}\tW ER1 D\n");
        return sb.ToString();
    }

    [Fact]
    public void TruncatedGzipDictionary_IsAnError_AtEveryCut_NotAShorterDictionary()
    {
        using var folder = new Samples.Folder();
        var gz = Samples.CmuGzip(ManyEntries(421));
        Assert.Equal(421, CmuDict.Load(folder.Write("d.txt.gz", gz)).Count);
        for (int cut = 0; cut < gz.Length; cut += Math.Max(1, cut < 40 ? 1 : 7))
        {
            var path = folder.Write("d.txt.gz", gz[..cut]);
            var e = Assert.Throws<InvalidDataException>(() => CmuDict.Load(path));
            Assert.Contains("d.txt.gz", e.Message);
            Assert.Contains("expected", e.Message);
        }
        // the last byte of the length field, too
        Assert.Throws<InvalidDataException>(() => CmuDict.Load(folder.Write("d.txt.gz", gz[..^1])));
    }

    [Fact]
    public void GzipTrailer_WrongCrcOrLength_OrTrailingBytes_AreErrors_ButConcatenatedMembersLoad()
    {
        using var folder = new Samples.Folder();
        var gz = Samples.CmuGzip();
        var badCrc = gz.ToArray(); badCrc[^8] ^= 1;
        Assert.Contains("CRC-32", Assert.Throws<InvalidDataException>(() => CmuDict.Load(folder.Write("a.gz", badCrc))).Message);
        var badLength = gz.ToArray(); badLength[^4] ^= 1;
        Assert.Throws<InvalidDataException>(() => CmuDict.Load(folder.Write("b.gz", badLength)));
        var trailing = gz.Concat(new byte[] { 0, 0, 0 }).ToArray();
        Assert.Contains("another gzip member", Assert.Throws<InvalidDataException>(() => CmuDict.Load(folder.Write("c.gz", trailing))).Message);

        // gzip allows members one after another; their contents join (the lines stay sorted here)
        var first = Samples.CmuGzip("aa\tAA1\nab\tAE1 B\n");
        var second = Samples.CmuGzip("ac\tAE1 K\n");
        var joined = CmuDict.Load(folder.Write("d.gz", [.. first, .. second]));
        Assert.Equal(["aa", "ab", "ac"], joined.Entries.Select(e => e.Word));
    }

    [Theory]
    [InlineData(0, 0x1F, "gzip magic")]          // not gzip at all
    [InlineData(2, 7, "compression method 8")]   // "unsupported compression method", before
    [InlineData(3, 0x80, "reserved flag")]
    [InlineData(10, 0xFF, "deflate")]            // the first deflate byte: an invalid block type
    public void CorruptGzip_NamesTheFileAndWhatWasExpected(int at, int value, string mention)
    {
        using var folder = new Samples.Folder();
        var gz = Samples.CmuGzip();
        gz[at] = at == 0 ? (byte)'x' : (byte)value;
        var e = Assert.Throws<InvalidDataException>(() => CmuDict.Load(folder.Write("dict.txt.gz", gz)));
        Assert.Contains("dict.txt.gz", e.Message);
        Assert.Contains(mention, e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void Crc32_MatchesTheCheckValue_AndGZipStreamsTrailer()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        var text = Encoding.UTF8.GetBytes(Samples.CmuText);
        var gz = Samples.CmuGzip();
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(gz.AsSpan(gz.Length - 8)), Crc32.Compute(text));
        Assert.Equal(Crc32.Compute(text), Crc32.Append(Crc32.Compute(text.AsSpan(0, 10)), text.AsSpan(10)));
        Assert.Equal(text, Gzip.Decompress(gz, "sample"));
    }

    // ---- 4 and 6. BERT metadata and config.json ----

    private static string WriteBert(Samples.Folder folder, IReadOnlyDictionary<string, string>? metadata, Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>>? edit = null)
    {
        folder.Write("vocab.txt", Samples.VocabTxt);
        var tensors = Samples.Weights().Tensors.ToDictionary();
        if (edit is not null) tensors = edit(tensors);
        var path = Path.Combine(folder.Path, "model.safetensors");
        Safetensors.Write(path, tensors, metadata);
        return path;
    }

    [Theory]
    [InlineData("num_attention_heads", "abc")]
    [InlineData("num_attention_heads", "1e3")]
    [InlineData("num_attention_heads", "2.0")]
    [InlineData("num_attention_heads", "-2")]
    [InlineData("num_attention_heads", "3")]        // does not divide hidden size 4
    [InlineData("layer_norm_eps", "x")]
    [InlineData("layer_norm_eps", "Infinity")]
    [InlineData("layer_norm_eps", "NaN")]
    [InlineData("layer_norm_eps", "-1e-5")]
    [InlineData("hidden_size", "8")]                // disagrees with the tensors
    [InlineData("num_hidden_layers", "2")]
    public void BertMetadata_PresentButInvalid_IsAnError_NotADefault(string key, string value)
    {
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, new Dictionary<string, string> { ["num_attention_heads"] = "2", [key] = value });
        var e = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains(key, e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void BertMetadata_Valid_LoadsAsWritten()
    {
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, new Dictionary<string, string> { ["num_attention_heads"] = "1", ["layer_norm_eps"] = "1e-6" });
        var model = BertModel.Load(path);
        Assert.Equal((1, 4, 1e-6f), (model.Config.Heads, model.Config.HeadDim, model.Config.LayerNormEps));
        // Save's own metadata round-trips
        Samples.Weights().Save(path);
        Assert.Equal(Samples.Config, BertModel.Load(path).Config);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("5")]
    [InlineData("null")]
    [InlineData("{\"num_attention_heads\": \"2\"}")]
    [InlineData("{\"num_attention_heads\": 2, \"num_attention_heads\": 2}")]
    [InlineData("{\"layer_norm_eps\": 1e-5")]
    public void ConfigJson_NotAnObjectOfNumbers_IsInvalidData_EvenWhenTheFilesMetadataHasEverything(string json)
    {
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, new Dictionary<string, string> { ["num_attention_heads"] = "2", ["layer_norm_eps"] = "1e-5" });
        folder.Write("config.json", json);
        var e = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void ConfigJson_WithByteOrderMark_IsRead()
    {
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, null);
        folder.Write("config.json", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Samples.ConfigJson)]);
        Assert.Equal(Samples.Config, BertModel.Load(path).Config);
    }

    // ---- 5. safetensors: no InvalidOperationException ----

    private static byte[] SafetensorsWithHeader(byte[] header, int dataBytes)
    {
        int padded = (header.Length + 7) / 8 * 8;
        var file = new byte[8 + padded + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        header.CopyTo(file, 8);
        file.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        return file;
    }

    [Theory]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [\"0\", \"4\"]}}", "data_offsets")]
    [InlineData("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [null, 4]}}", "data_offsets")]
    [InlineData("{\"w\\ud800\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "lone surrogate")]
    [InlineData("{\"w\": {\"dtype\": \"F\\udc0032\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "lone surrogate")]
    [InlineData("{\"__metadata__\": {\"k\": \"\\ud800\"}, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "lone surrogate")]
    public void Safetensors_NonNumberOffsets_OrLoneSurrogates_AreInvalidData(string header, string mention)
    {
        var file = SafetensorsWithHeader(Encoding.UTF8.GetBytes(header), 4);
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(file, out _));
        Assert.Contains(mention, e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void Safetensors_InvalidUtf8InATensorName_IsInvalidData()
    {
        var header = Encoding.UTF8.GetBytes("{\"wX\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}");
        header[3] = 0xFF;
        using var folder = new Samples.Folder();
        var path = folder.Write("bad.safetensors", SafetensorsWithHeader(header, 4));
        var e = Assert.Throws<InvalidDataException>(() => Safetensors.Read(path));
        Assert.Contains("bad.safetensors", e.Message);
        Assert.Contains("UTF-8", e.Message);
    }

    // ---- 7. ONNX node lists ----

    [Theory]
    [InlineData("MatMul", 2, 0)]
    [InlineData("MatMul", 1, 1)]
    [InlineData("Sqrt", 0, 1)]
    public void FromOnnx_ANodeWithoutItsInputsOrOutputs_IsInvalidData_NamingIt(string op, int inputs, int outputs)
    {
        var bytes = Samples.BertOnnx(extra: g => g.Message(1, Samples.NodeProto(op, "/broken/" + op,
            new[] { "x", "onnx::MatMul_100" }[..inputs], new[] { "y" }[..outputs])));
        var e = Assert.Throws<InvalidDataException>(() => BertWeights.FromOnnx(OnnxModel.Parse(bytes)));
        Assert.Contains("/broken/" + op, e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void FromOnnx_TheSample_LoadsEveryWeight_Transposed_AndItsHeadSplitAndEps()
    {
        var weights = BertWeights.FromOnnx(OnnxModel.Parse(Samples.BertOnnx()));
        Assert.Equal(Samples.Config, weights.Config);
        foreach (var (name, t) in Samples.Weights().Tensors) Assert.Equal(t.ToArray(), weights[name].ToArray());
    }

    // ---- 8. rank before Dim() ----

    [Theory]
    [InlineData("embeddings.word_embeddings.weight")]
    [InlineData("encoder.layer.0.intermediate.dense.bias")]
    [InlineData("embeddings.position_embeddings.weight")]
    [InlineData("embeddings.token_type_embeddings.weight")]
    public void AWrongRankTable_IsInvalidData_NamingTheTensorAndTheFile(string name)
    {
        Tensor Flatten(Tensor t) => t.Rank == 1 ? Tensor.FromArray([t[0]]) : Tensor.FromArray(t.ToArray(), t.Length);
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, null, d => { d[name] = Flatten(d[name]); return d; });
        var e = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
        Assert.Contains(name, e.Message);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("expected", e.Message);

        var onnx = folder.Write("model.onnx", Samples.BertOnnx(transform: (n, t) => n == name ? Flatten(t) : t));
        var o = Assert.Throws<InvalidDataException>(() => BertModel.Load(onnx));
        Assert.Contains(name, o.Message);
        Assert.Contains("model.onnx", o.Message);
    }

    [Fact]
    public void AMissingLayerBetweenPresentOnes_IsAnError_NotAShorterModel()
    {
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, null, d =>
        {
            // layer 0 renamed to layer 1: layer 0 is missing, layer 1 present
            return d.ToDictionary(p => p.Key.Replace("encoder.layer.0.", "encoder.layer.1.", StringComparison.Ordinal), p => p.Value);
        });
        var e = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
        Assert.Contains("encoder.layer.1.", e.Message);
    }

    // ---- 10. a one-row position table ----

    [Fact]
    public void AOneRowPositionTable_FailsAtLoad_NotAtEveryEmbed()
    {
        using var folder = new Samples.Folder();
        var path = WriteBert(folder, null, d =>
        {
            d["embeddings.position_embeddings.weight"] = Tensor.FromArray(d["embeddings.position_embeddings.weight"].ToArray()[..4], 1, 4);
            return d;
        });
        var e = Assert.Throws<InvalidDataException>(() => BertModel.Load(path));
        Assert.Contains("MaxPositions ≥ 2", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    // ---- the rest of the issue: Encode, BOMs, the npy shape tuple ----

    [Fact]
    public void Encode_StopsAtTheTruncationLength_AllocatingForTheFirstWordsOnly()
    {
        var tokenizer = new BertTokenizer(MiniLm.Vocabulary());
        var text = string.Concat(Enumerable.Repeat("Naïve tokenizers über-split, don't they? ", 25_000));   // 1 MB
        int[] ids = [];
        long allocated = Allocated(() => ids = tokenizer.Encode(text, 16));
        Assert.Equal(16, ids.Length);
        Assert.Equal(tokenizer.Tokenize(text[..400]).Take(14).Select(p => tokenizer.IdOf(p)!.Value), ids[1..^1]);
        // the whole megabyte would cost megabytes; the first words cost kilobytes
        Assert.True(allocated < 256 << 10, $"allocated {allocated:N0} bytes");
    }

    [Fact]
    public void VocabWithByteOrderMark_Loads_AndInvalidUtf8_NamesTheFileAndLine()
    {
        using var folder = new Samples.Folder();
        var bom = BertTokenizer.FromVocabFile(folder.Write("vocab.txt", [0xEF, 0xBB, 0xBF, .. Samples.VocabTxt]));
        Assert.Equal(Samples.Vocabulary, bom.Vocabulary);
        Assert.Equal(0, bom.PadId);
        byte[] bad = [.. Samples.VocabTxt[..20], 0xC3, 0x28, .. Samples.VocabTxt[20..]];
        var e = Assert.Throws<InvalidDataException>(() => BertTokenizer.FromVocabFile(folder.Write("vocab.txt", bad)));
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains("line 4", e.Message);
        var empty = Assert.Throws<InvalidDataException>(() => BertTokenizer.FromVocabFile(folder.Write("vocab.txt", "[PAD]\n\n[UNK]\n")));
        Assert.Contains("vocab.txt", empty.Message);
    }

    [Theory]
    [InlineData(0)]       // empty
    [InlineData(64)]      // "MZ" and junk: a DOS header whose PE offset points nowhere
    [InlineData(4096)]
    public void MiniLmResources_FromAFileThatIsNotAnAssembly_AreInvalidData_NamingIt(int size)
    {
        using var folder = new Samples.Folder();
        var bytes = new byte[size];
        for (int i = 0; i < size; i++) bytes[i] = (byte)(i * 37 + 11);
        if (size >= 2) { bytes[0] = (byte)'M'; bytes[1] = (byte)'Z'; }
        var path = folder.Write("fake.dll", bytes);
        var e = Assert.Throws<InvalidDataException>(() => MiniLm.ReadResources(path, MiniLm.VocabResource));
        Assert.Contains("fake.dll", e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void CmuDictWithByteOrderMark_Loads()
    {
        using var folder = new Samples.Folder();
        var path = folder.Write("d.txt", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Samples.CmuText)]);
        Assert.Equal("abc", CmuDict.Load(path).Entries[0].Word);
    }

    [Theory]
    [InlineData("(,)")]
    [InlineData("(3,, 4)")]
    [InlineData("(3)")]
    [InlineData("(, 3)")]
    [InlineData("(3 4,)")]
    [InlineData("(-3,)")]
    public void NpyShape_ThatIsNotATupleOfInts_IsRejected(string shape)
    {
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(NpyWithShape(shape, 12))));
        Assert.Contains("shape", e.Message);
    }

    [Theory]
    [InlineData("()", new int[0], 4)]
    [InlineData("(3,)", new[] { 3 }, 12)]
    [InlineData("(1, 3)", new[] { 1, 3 }, 12)]
    [InlineData("(1, 3,)", new[] { 1, 3 }, 12)]
    [InlineData("(3L,)", new[] { 3 }, 12)]
    public void NpyShape_PythonTuples_StillLoad(string shape, int[] expected, int dataBytes)
    {
        Assert.Equal(expected, Npy.Read(new MemoryStream(NpyWithShape(shape, dataBytes))).Shape.ToArray());
    }

    [Fact]
    public void NpyFile_WithBytesAfterTheData_IsAnError_ButAStreamMayHoldMore()
    {
        using var folder = new Samples.Folder();
        var bytes = NpyWithShape("(3,)", 16);   // 12 bytes of data and 4 more
        Assert.Equal([3], Npy.Read(new MemoryStream(bytes)).Shape.ToArray());
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(folder.Write("x.npy", bytes)));
        Assert.Contains("x.npy", e.Message);
        Assert.Contains("4 more bytes", e.Message);
    }

    private sealed class UnseekableStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
