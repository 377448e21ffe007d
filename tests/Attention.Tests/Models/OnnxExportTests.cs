using Attention.Book.Experiments;
using Attention.Models;
using Attention.Nn;
using Attention.Onnx;
using Attention.Seq2Seq;
using Attention.Tensors;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace Attention.Tests.Models;

/// <summary>
/// Models written by our own ONNX writer (<see cref="OnnxExport"/>) and run by ONNX Runtime give our outputs: MiniLM on
/// real, padded sentences; the Transformer G2P model (and post-LN, RMSNorm, GELU, SwiGLU, untied variants) on real
/// words. The files also read back through our own reader with every weight bit for bit.
/// </summary>
public class OnnxExportTests(ITestOutputHelper log)
{
    private const double Tolerance = 1e-4;

    private static readonly string[] Sentences =
    [
        "The quick brown fox jumps over the lazy dog.",
        "Hi!",
        "Zoë's café served crème brûlée — naïve but délicieux.",
        "Attention is all you need; or is it?",
    ];

    private static readonly string[] Words = ["cat", "attention", "a", "xylophone", "runtime"];

    private static readonly Lazy<byte[]> MiniLmBytes = new(() => OnnxExport.Bert(BertModel.LoadMiniLm().Weights).ToBytes());

    internal static InferenceSession Session(byte[] model) => new(model, new SessionOptions
    {
        IntraOpNumThreads = 2, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
    });

    /// <summary>Runs the session on int64 inputs (name, data, shape); returns the named outputs as flat arrays and their shapes.</summary>
    internal static (float[] Data, long[] Shape)[] Run(InferenceSession session, IReadOnlyList<(string Name, long[] Data, long[] Shape)> inputs, params string[] outputs)
    {
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)).ToArray();
        try
        {
            using var run = new RunOptions();
            using var results = session.Run(run, inputs.Select(i => i.Name).ToArray(), values, outputs);
            return results.Select(r => (r.GetTensorDataAsSpan<float>().ToArray(), r.GetTensorTypeAndShape().Shape)).ToArray();
        }
        finally { foreach (var v in values) v.Dispose(); }
    }

    private static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double worst = 0;
        for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
        return worst;
    }

    // ---------- MiniLM ----------

    [Fact]
    public void ExportedMiniLm_InOnnxRuntime_MatchesOurEncoder_OnPaddedSentences()
    {
        var model = BertModel.LoadMiniLm();
        var batch = model.Tokenize(Sentences);
        Assert.True(batch.Lengths.Distinct().Count() >= 3, "the batch should mix lengths (padding)");
        long[] shape = [batch.Batch, batch.Length];
        using var session = Session(MiniLmBytes.Value);
        var result = Run(session,
        [
            ("input_ids", batch.Ids.Select(i => (long)i).ToArray(), shape),
            ("attention_mask", batch.Mask.Select(i => (long)i).ToArray(), shape),
            ("token_type_ids", batch.TypeIds.Select(i => (long)i).ToArray(), shape),
        ], "last_hidden_state", "sentence_embedding");
        var ours = model.Forward(batch);
        Assert.Equal(new long[] { batch.Batch, batch.Length, model.Config.Hidden }, result[0].Shape);
        // every position, the padded ones too: their queries see the real keys in both implementations
        double hidden = MaxDiff(ours.LastHiddenState.AsSpan(), result[0].Data);
        double pooled = MaxDiff(ours.Embeddings.AsSpan(), result[1].Data);
        log.WriteLine($"MiniLM, {batch.Batch} sentences padded to {batch.Length}: max |ours − ORT| last_hidden_state {hidden:E2}, sentence_embedding {pooled:E2}");
        Assert.True(hidden <= Tolerance, $"last_hidden_state: max abs diff {hidden:E2}");
        Assert.True(pooled <= Tolerance, $"sentence_embedding: max abs diff {pooled:E2}");
        Assert.Equal("last_hidden_state", session.OutputNames[0]);
        Assert.All(session.InputMetadata.Values, m => Assert.Equal(typeof(long), m.ElementType));
    }

    [Fact]
    public void ExportedMiniLm_ReadsBackThroughOurReader_WithTheOriginalSignature_AndEveryWeightBitForBit()
    {
        var model = BertModel.LoadMiniLm();
        var parsed = OnnxModel.Parse(MiniLmBytes.Value);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], parsed.Graph.Inputs.Select(i => i.Name));
        Assert.All(parsed.Graph.Inputs, i => Assert.Equal(OnnxTensor.Int64, i.ElementType));
        Assert.All(parsed.Graph.Inputs, i => Assert.Equal(new long?[] { null, null }, i.Shape));
        Assert.Equal("last_hidden_state", parsed.Graph.Outputs[0].Name);
        Assert.Equal(new long?[] { null, null, 384 }, parsed.Graph.Outputs[0].Shape);
        Assert.Contains(("", 17L), parsed.Opsets);

        // our own importer reads the exported file back as a BERT: same sizes, ε, head split and every tensor
        var back = BertWeights.FromOnnx(parsed);
        Assert.Equal(model.Config, back.Config);
        foreach (var (name, tensor) in model.Weights.Tensors)
            Assert.True(tensor.AsSpan().SequenceEqual(back[name].AsSpan()), $"{name} differs after the round trip");
    }

    // ---------- the Transformer (G2P) ----------

    /// <summary>The model with every parameter moved off its initial value, so a swapped or transposed tensor (γ and β
    /// included, which start at 1 and 0) changes the outputs.</summary>
    private static Transformer Perturbed(TransformerConfig config, ulong seed)
    {
        var rng = new Rng(seed);
        var model = new Transformer(config, rng);
        foreach (var (_, p) in model.NamedParameters())
        {
            var w = p.Value.AsSpan();
            var noise = rng.NormalTensor([w.Length]).AsSpan();
            for (int i = 0; i < w.Length; i++) w[i] += 0.2f * noise[i];
        }
        model.Eval();
        return model;
    }

    private static TransformerConfig G2PConfig(string variant)
    {
        var quick = TransformerG2P.Config(full: false);
        return variant switch
        {
            "g2p" => quick,
            "post-ln rmsnorm gelu untied" => quick with { ModelDim = 32, FeedForwardDim = 48, PreNorm = false, Norm = NormKind.RmsNorm, FeedForward = FeedForwardKind.Gelu, TieOutput = false },
            "pre-ln swiglu 3+1" => quick with { ModelDim = 32, FeedForwardDim = 40, EncoderLayers = 3, DecoderLayers = 1, FeedForward = FeedForwardKind.SwiGlu },
            _ => throw new ArgumentException(variant),
        };
    }

    private static (PaddedBatch Source, PaddedBatch Decoder) WordBatch()
    {
        var data = G2PData.Load();
        var examples = Words.Select(data.Example).ToList();
        return (PaddedBatch.Pad(examples.Select(e => e.Source).ToList(), Vocabulary.Pad),
                PaddedBatch.Pad(examples.Select(e => (int[])[Vocabulary.Bos, .. e.Target]).ToList(), Vocabulary.Pad));
    }

    internal static (string, long[], long[])[] Feeds(PaddedBatch source, PaddedBatch decoder)
    {
        long[] shape = [source.Batch, source.Time];
        var ids = source.Ids.Select(i => (long)i).ToArray();
        var mask = new long[ids.Length];
        for (int b = 0; b < source.Batch; b++)
            for (int t = 0; t < source.Lengths[b]; t++) mask[b * source.Time + t] = 1;
        var feeds = new List<(string, long[], long[])> { ("input_ids", ids, shape), ("attention_mask", mask, shape) };
        feeds.Add(("decoder_input_ids", decoder.Ids.Select(i => (long)i).ToArray(), [decoder.Batch, decoder.Time]));
        return [.. feeds];
    }

    [Theory]
    [InlineData("g2p")]
    [InlineData("post-ln rmsnorm gelu untied")]
    [InlineData("pre-ln swiglu 3+1")]
    public void ExportedTransformer_InOnnxRuntime_MatchesOurTeacherForcedLogits_OnRealWords(string variant)
    {
        var data = G2PData.Load();
        var model = Perturbed(G2PConfig(variant), 17);
        var (source, decoder) = WordBatch();
        using var session = Session(OnnxExport.Transformer(model, data.Letters, data.Phonemes).ToBytes());
        var result = Run(session, Feeds(source, decoder), "logits", "encoder_last_hidden_state", "last_hidden_state");
        var logits = model.Forward(source, decoder).Value;
        var memory = model.Encode(source).Value;
        Assert.Equal(logits.Shape.ToArray().Select(d => (long)d), result[0].Shape);
        Assert.Equal(new long[] { source.Batch, decoder.Time, model.Config.ModelDim }, result[2].Shape);
        double l = MaxDiff(logits.AsSpan(), result[0].Data), m = MaxDiff(memory.AsSpan(), result[1].Data);
        log.WriteLine($"Transformer {variant}, {Words.Length} words (source padded to {source.Time}, target {decoder.Time}): max |ours − ORT| logits {l:E2}, encoder {m:E2}");
        Assert.True(l <= Tolerance, $"logits: max abs diff {l:E2}");
        Assert.True(m <= Tolerance, $"encoder_last_hidden_state: max abs diff {m:E2}");
    }

    [Fact]
    public void ExportedTransformer_OnTheBosTokenAlone_GivesOurFirstDecodingStep()
    {
        var model = Perturbed(G2PConfig("g2p"), 29);
        var (source, _) = WordBatch();
        using var session = Session(OnnxExport.Transformer(model).ToBytes());
        var bos = PaddedBatch.Pad(Enumerable.Repeat(new[] { Vocabulary.Bos }, source.Batch).ToList(), Vocabulary.Pad);
        var logits = Run(session, Feeds(source, bos), "logits")[0];
        int v = model.Config.TargetVocabulary;
        Assert.Equal(new long[] { source.Batch, 1, v }, logits.Shape);
        var (logProbs, _) = model.Start(source).Step(Enumerable.Repeat(Vocabulary.Bos, source.Batch).ToArray());
        var ort = Tensor.FromArray(logits.Data, source.Batch, v);
        var ortLogProbs = Attention.Autograd.Var.Constant(ort).LogSoftmax(-1).Value;
        double diff = MaxDiff(logProbs.AsSpan(), ortLogProbs.AsSpan());
        Assert.True(diff <= Tolerance, $"first-step log-probabilities: max abs diff {diff:E2}");
    }

    /// <summary>Greedy decoding with ONNX Runtime as the engine: feed the prefix, take the last row's best token (never PAD or BOS).</summary>
    internal static int[][] GreedyWithOrt(InferenceSession session, PaddedBatch source, int maxLength, int vocabulary)
    {
        int b = source.Batch;
        var prefixes = Enumerable.Range(0, b).Select(_ => new List<int> { Vocabulary.Bos }).ToArray();
        var outputs = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var done = new bool[b];
        for (int t = 0; t < maxLength && done.Contains(false); t++)
        {
            var decoder = PaddedBatch.Pad(prefixes.Select(p => p.ToArray()).ToList(), Vocabulary.Pad);
            var logits = Run(session, Feeds(source, decoder), "logits")[0].Data;      // (B, t + 1, V)
            for (int i = 0; i < b; i++)
            {
                if (done[i]) { prefixes[i].Add(Vocabulary.Pad); continue; }
                var row = logits.AsSpan(((i * (t + 1)) + t) * vocabulary, vocabulary);
                int best = Vocabulary.Eos;
                for (int k = Vocabulary.Eos + 1; k < vocabulary; k++) if (row[k] > row[best]) best = k;
                prefixes[i].Add(best);
                if (best == Vocabulary.Eos) done[i] = true;
                else outputs[i].Add(best);
            }
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }

    [Fact]
    public void GreedyDecoding_WithOnnxRuntimeAsTheEngine_SpellsTheSamePhonemesAsOurKvCachedDecoder()
    {
        var model = Perturbed(G2PConfig("g2p"), 41);
        var (source, _) = WordBatch();
        using var session = Session(OnnxExport.Transformer(model).ToBytes());
        var ours = Decoding.Greedy(model, Words.Select(w => G2PData.Load().Example(w).Source).ToList(), maxLength: 12);
        var ort = GreedyWithOrt(session, source, 12, model.Config.TargetVocabulary);
        for (int i = 0; i < Words.Length; i++) Assert.Equal(ours[i].Tokens, ort[i]);
        Assert.True(ours.Sum(h => h.Tokens.Length) > Words.Length, "the decoders should emit more than one token per word");
    }

    [Fact]
    public void ExportedTransformer_ReadsBackThroughOurReader_WithEveryParameter()
    {
        var model = Perturbed(G2PConfig("post-ln rmsnorm gelu untied"), 3);
        var parsed = OnnxModel.Parse(OnnxExport.Transformer(model).ToBytes());
        Assert.Equal(["input_ids", "attention_mask", "decoder_input_ids"], parsed.Graph.Inputs.Select(i => i.Name));
        Assert.Equal(["last_hidden_state", "logits", "encoder_last_hidden_state"], parsed.Graph.Outputs.Select(o => o.Name));
        var inits = parsed.Graph.Initializers;
        foreach (var (name, p) in model.NamedParameters())
        {
            var w = p.Value;
            if (inits.TryGetValue(name, out var t))
                Assert.True(w.AsSpan().SequenceEqual(t.ToFloats()), $"{name} differs");
            else
            {
                Assert.True(inits.TryGetValue("transposed." + name, out var tt), $"{name}: no initializer {name} or transposed.{name}");
                int rows = w.Shape[0], cols = w.Shape[1];
                Assert.Equal(new long[] { cols, rows }, tt.Dims);
                var back = tt.ToFloats();
                var a = w.AsSpan();
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        Assert.True(a[r * cols + c] == back[c * rows + r], $"{name}[{r}, {c}] differs");
            }
        }
    }

    // ---------- bad input ----------

    [Fact]
    public void Save_ToAnUnwritablePath_ThrowsIOException_NamingThePath()
    {
        var g = new OnnxGraphBuilder("tiny");
        g.AddOutput(g.AddInput("x", OnnxTensor.Float, 1), OnnxTensor.Float, 1);
        string path = Path.Combine(Path.GetTempPath(), $"no-such-folder-{Guid.NewGuid():N}", "m.onnx");
        var e = Assert.Throws<IOException>(() => OnnxExport.Save(g, path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Transformer_WithAVocabularyOfTheWrongSize_Throws_NamingBothSizes()
    {
        var model = Perturbed(G2PConfig("pre-ln swiglu 3+1"), 1);
        var e = Assert.Throws<ArgumentException>(() => OnnxExport.Transformer(model, new Vocabulary(["a", "b"])));
        Assert.Contains($"{model.Config.SourceVocabulary}", e.Message);
        Assert.Contains("got 6", e.Message);
    }
}
