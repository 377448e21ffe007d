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
/// words, both its greedy graph (MiniLM's three inputs; the decoding loop inside the graph spells our greedy decoder's
/// phonemes) and its teacher-forced graph. The files also read back through our own reader with every weight bit for bit.
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

    /// <summary>The source batch as the three int64 inputs of the MiniLM signature (token_type_ids all <paramref name="types"/>).</summary>
    internal static (string, long[], long[])[] SourceFeeds(PaddedBatch source, long types = 0)
    {
        long[] shape = [source.Batch, source.Time];
        var ids = source.Ids.Select(i => (long)i).ToArray();
        var mask = new long[ids.Length];
        for (int b = 0; b < source.Batch; b++)
            for (int t = 0; t < source.Lengths[b]; t++) mask[b * source.Time + t] = 1;
        return [("input_ids", ids, shape), ("attention_mask", mask, shape), ("token_type_ids", Enumerable.Repeat(types, ids.Length).ToArray(), shape)];
    }

    /// <summary>The teacher-forced graph's inputs: input_ids, attention_mask and decoder_input_ids.</summary>
    internal static (string, long[], long[])[] Feeds(PaddedBatch source, PaddedBatch decoder) =>
        [.. SourceFeeds(source).Take(2), ("decoder_input_ids", decoder.Ids.Select(i => (long)i).ToArray(), [decoder.Batch, decoder.Time])];

    /// <summary>Runs the session; returns every output by name: its data as a flat long[] or float[], and its shape.</summary>
    private static Dictionary<string, (object Data, long[] Shape)> RunAll(InferenceSession session, IReadOnlyList<(string Name, long[] Data, long[] Shape)> inputs)
    {
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)).ToArray();
        try
        {
            using var run = new RunOptions();
            var names = session.OutputNames.ToArray();
            using var results = session.Run(run, inputs.Select(i => i.Name).ToArray(), values, names);
            var map = new Dictionary<string, (object, long[])>();
            for (int k = 0; k < names.Length; k++)
            {
                var r = results[k];
                object data = r.GetTensorTypeAndShape().ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64
                    ? r.GetTensorDataAsSpan<long>().ToArray() : r.GetTensorDataAsSpan<float>().ToArray();
                map[names[k]] = (data, r.GetTensorTypeAndShape().Shape);
            }
            return map;
        }
        finally { foreach (var v in values) v.Dispose(); }
    }

    /// <summary>
    /// The variant trained briefly (150 steps of ~512 tokens on 3,000 training words, a few seconds): enough that greedy
    /// decoding spells short phoneme strings and says EOS at different steps for different words, which a random model
    /// rarely does. Trained once per variant and test run.
    /// </summary>
    private static Transformer Trained(string variant) => TrainedModels.GetOrAdd(variant, v => new Lazy<Transformer>(() =>
    {
        var data = G2PData.Load();
        var model = new Transformer(G2PConfig(v), new Rng(5));
        TransformerTrainer.Train(model, data.Train.Take(3000).Select(e => (e.Source, e.Target)).ToList(),
            new TransformerTrainOptions { Steps = 150, TokensPerBatch = 512, PeakLearningRate = 1e-2f, WarmupSteps = 5, Seed = 1 });
        model.Eval();
        return model;
    })).Value;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Transformer>> TrainedModels = new();

    [Theory]
    [InlineData("g2p")]
    [InlineData("post-ln rmsnorm gelu untied")]
    [InlineData("pre-ln swiglu 3+1")]
    public void ExportedTransformer_InOnnxRuntime_GivesOurEncoderOutput_AndDecodesGreedilyInsideTheGraph_AsOurDecoderDoes(string variant)
    {
        var model = Trained(variant);
        var (ours, steps) = AssertGreedyGraphMatches(model, variant);
        var lengths = ours.Select(h => h.Tokens.Length).ToList();
        Assert.True(lengths.Distinct().Count() >= 2 && lengths.Max() < model.Config.MaxLength,
                    $"the words should end at different steps before MaxLength; lengths [{string.Join(", ", lengths)}]");
        Assert.Equal(lengths.Max() + 1, steps);     // the loop stops once every word has said EOS
    }

    [Fact]
    public void ExportedTransformer_ForAWordThatNeverSaysEos_RunsMaxLengthSteps_AsOurDecoderDoes()
    {
        var model = Perturbed(G2PConfig("g2p"), 17);     // random: it rarely says EOS
        var (ours, steps) = AssertGreedyGraphMatches(model, "g2p, random");
        Assert.Contains(ours, h => h.Tokens.Length == model.Config.MaxLength);
        Assert.Equal(model.Config.MaxLength, steps);
    }

    /// <summary>
    /// Runs the greedy graph in ONNX Runtime on the real words (padded sources) with the three MiniLM-named inputs and checks
    /// last_hidden_state against our encoder, phoneme_ids and phoneme_lengths against our KV-cached greedy decoder, and the
    /// chosen tokens' log-probabilities (from logits) against its. Returns our hypotheses and the graph's step count.
    /// </summary>
    private (IReadOnlyList<Hypothesis> Ours, long Steps) AssertGreedyGraphMatches(Transformer model, string label)
    {
        var data = G2PData.Load();
        var (source, _) = WordBatch();
        Assert.True(source.Lengths.Distinct().Count() >= 3, "the batch should mix lengths (padding)");
        using var session = Session(OnnxExport.Transformer(model, data.Letters, data.Phonemes).ToBytes());
        var ort = RunAll(session, SourceFeeds(source));
        int b = source.Batch, max = model.Config.MaxLength, v = model.Config.TargetVocabulary;

        // last_hidden_state: the encoder's output at every position (padded ones too)
        var memory = model.Encode(source).Value;
        Assert.Equal(memory.Shape.ToArray().Select(d => (long)d), ort["last_hidden_state"].Shape);
        double m = MaxDiff(memory.AsSpan(), (float[])ort["last_hidden_state"].Data);
        Assert.True(m <= Tolerance, $"last_hidden_state: max abs diff {m:E2}");

        // phoneme_ids: our greedy decoder's tokens, then EOS (when it came before MaxLength), then PAD
        var ours = Decoding.Greedy(model, Words.Select(w => data.Example(w).Source).ToList(), maxLength: max);
        var ids = (long[])ort["phoneme_ids"].Data;
        var lengths = (long[])ort["phoneme_lengths"].Data;
        Assert.Equal(new long[] { b, max }, ort["phoneme_ids"].Shape);
        for (int i = 0; i < b; i++)
        {
            var expected = new long[max];
            for (int t = 0; t < ours[i].Tokens.Length; t++) expected[t] = ours[i].Tokens[t];
            if (ours[i].Tokens.Length < max) expected[ours[i].Tokens.Length] = Vocabulary.Eos;
            Assert.Equal(expected, ids.AsSpan(i * max, max).ToArray());
            Assert.Equal(ours[i].Tokens.Length, lengths[i]);
        }

        // logits: one row per step; the chosen tokens' log-probabilities sum to ours
        var logits = (float[])ort["logits"].Data;
        long steps = ort["logits"].Shape[1];
        Assert.Equal(new long[] { b, steps, v }, ort["logits"].Shape);
        double worst = 0;
        for (int i = 0; i < b; i++)
        {
            double sum = 0;
            for (int t = 0; t <= ours[i].Tokens.Length && t < max; t++)
            {
                var row = logits.AsSpan((int)((i * steps + t) * v), v);
                int token = t < ours[i].Tokens.Length ? ours[i].Tokens[t] : Vocabulary.Eos;
                sum += LogSoftmaxAt(row, token);
            }
            worst = Math.Max(worst, Math.Abs(sum - ours[i].LogProb) / (ours[i].Tokens.Length + 1));
        }
        log.WriteLine($"Transformer {label}, {b} words (source padded to {source.Time}): max |ours − ORT| encoder {m:E2}, " +
                      $"per-token log-probability {worst:E2}; {steps} decoding steps; phoneme lengths [{string.Join(", ", lengths)}]");
        Assert.True(worst <= Tolerance, $"log-probabilities of the greedy tokens: max abs diff per token {worst:E2}");
        return (ours, steps);
    }

    private static double LogSoftmaxAt(ReadOnlySpan<float> row, int index)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (var x in row) max = Math.Max(max, x);
        foreach (var x in row) sum += Math.Exp(x - max);
        return row[index] - max - Math.Log(sum);
    }

    [Fact]
    public void ExportedTransformer_HasTheMiniLmSignature_AndItsTokenTypeIdsChangeNothing()
    {
        var model = Perturbed(G2PConfig("g2p"), 5);
        var bytes = OnnxExport.Transformer(model).ToBytes();
        using var session = Session(bytes);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], session.InputNames);
        Assert.All(session.InputMetadata.Values, meta => Assert.Equal(typeof(long), meta.ElementType));
        Assert.All(session.InputMetadata.Values, meta => Assert.Equal(new[] { -1, -1 }, meta.Dimensions));
        Assert.Equal(["last_hidden_state", "phoneme_ids", "phoneme_lengths", "logits"], session.OutputNames);

        var (source, _) = WordBatch();
        var zeros = RunAll(session, SourceFeeds(source, types: 0));
        var ones = RunAll(session, SourceFeeds(source, types: 1));
        Assert.Equal((float[])zeros["last_hidden_state"].Data, (float[])ones["last_hidden_state"].Data);
        Assert.Equal((long[])zeros["phoneme_ids"].Data, (long[])ones["phoneme_ids"].Data);
    }

    [Fact]
    public void ExportedTransformer_ReadsIdsOutsideTheLetterVocabularyAsUnk_AndRunsSourcesLongerThanMaxLength()
    {
        var model = Perturbed(G2PConfig("g2p"), 7);
        using var session = Session(OnnxExport.Transformer(model).ToBytes());
        long[] shape = [1, 4];
        (string, long[], long[])[] Feed(params long[] ids) =>
            [("input_ids", ids, shape), ("attention_mask", [1, 1, 1, 1], shape), ("token_type_ids", new long[4], shape)];
        var outside = RunAll(session, Feed(5, 30522, -1, 6));                      // a BERT id and a negative one
        var unk = RunAll(session, Feed(5, Vocabulary.Unk, Vocabulary.Unk, 6));
        Assert.Equal((float[])unk["last_hidden_state"].Data, (float[])outside["last_hidden_state"].Data);
        Assert.Equal((long[])unk["phoneme_ids"].Data, (long[])outside["phoneme_ids"].Data);

        int n = model.Config.MaxLength + 20;
        var ids = Enumerable.Range(0, n).Select(i => (long)(Vocabulary.Unk + 1 + i % 20)).ToArray();
        var longer = RunAll(session, [("input_ids", ids, [1, n]), ("attention_mask", Enumerable.Repeat(1L, n).ToArray(), [1, n]), ("token_type_ids", new long[n], [1, n])]);
        Assert.Equal(new long[] { 1, n, model.Config.ModelDim }, longer["last_hidden_state"].Shape);
        Assert.Equal(new long[] { 1, model.Config.MaxLength }, longer["phoneme_ids"].Shape);
        Assert.All((float[])longer["last_hidden_state"].Data, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void ExportedTransformer_ReadsBackThroughOurReader_WithTheLoopBody_AndEveryParameterStoredOnce()
    {
        var model = Perturbed(G2PConfig("post-ln rmsnorm gelu untied"), 3);
        var parsed = OnnxModel.Parse(OnnxExport.Transformer(model).ToBytes());
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], parsed.Graph.Inputs.Select(i => i.Name));
        Assert.Equal(["last_hidden_state", "phoneme_ids", "phoneme_lengths", "logits"], parsed.Graph.Outputs.Select(o => o.Name));
        var loop = Assert.Single(parsed.Graph.Nodes, n => n.OpType == "Loop");
        var body = loop.Attributes["body"].Graph;
        Assert.NotNull(body);
        Assert.Equal(4, body.Inputs.Count);           // step, condition, tokens, done
        Assert.Equal(4, body.Outputs.Count);          // condition, tokens, done, the step's logits
        Assert.Empty(body.Initializers);              // the decoder's weights are read from the outer graph
        Assert.Contains(body.Nodes, n => n.OpType == "ArgMax");
        AssertEveryParameter(model, parsed.Graph.Initializers);
    }

    [Fact]
    public void TeacherForcedTransformer_ReadsBackThroughOurReader_WithEveryParameter()
    {
        var model = Perturbed(G2PConfig("post-ln rmsnorm gelu untied"), 3);
        var parsed = OnnxModel.Parse(OnnxExport.TransformerTeacherForced(model).ToBytes());
        Assert.Equal(["input_ids", "attention_mask", "decoder_input_ids"], parsed.Graph.Inputs.Select(i => i.Name));
        Assert.Equal(["last_hidden_state", "logits", "encoder_last_hidden_state"], parsed.Graph.Outputs.Select(o => o.Name));
        AssertEveryParameter(model, parsed.Graph.Initializers);
    }

    private static void AssertEveryParameter(Transformer model, IReadOnlyDictionary<string, OnnxTensor> inits)
    {
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

    [Theory]
    [InlineData("g2p")]
    [InlineData("post-ln rmsnorm gelu untied")]
    [InlineData("pre-ln swiglu 3+1")]
    public void TeacherForcedTransformer_InOnnxRuntime_MatchesOurTeacherForcedLogits_OnRealWords(string variant)
    {
        var data = G2PData.Load();
        var model = Perturbed(G2PConfig(variant), 17);
        var (source, decoder) = WordBatch();
        using var session = Session(OnnxExport.TransformerTeacherForced(model, data.Letters, data.Phonemes).ToBytes());
        var result = Run(session, Feeds(source, decoder), "logits", "encoder_last_hidden_state", "last_hidden_state");
        var logits = model.Forward(source, decoder).Value;
        var memory = model.Encode(source).Value;
        Assert.Equal(logits.Shape.ToArray().Select(d => (long)d), result[0].Shape);
        Assert.Equal(new long[] { source.Batch, decoder.Time, model.Config.ModelDim }, result[2].Shape);
        double l = MaxDiff(logits.AsSpan(), result[0].Data), m = MaxDiff(memory.AsSpan(), result[1].Data);
        log.WriteLine($"Transformer {variant} teacher-forced, {Words.Length} words (source padded to {source.Time}, target {decoder.Time}): max |ours − ORT| logits {l:E2}, encoder {m:E2}");
        Assert.True(l <= Tolerance, $"logits: max abs diff {l:E2}");
        Assert.True(m <= Tolerance, $"encoder_last_hidden_state: max abs diff {m:E2}");
    }

    [Fact]
    public void TeacherForcedTransformer_OnTheBosTokenAlone_GivesOurFirstDecodingStep()
    {
        var model = Perturbed(G2PConfig("g2p"), 29);
        var (source, _) = WordBatch();
        using var session = Session(OnnxExport.TransformerTeacherForced(model).ToBytes());
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

    [Fact]
    public void Transformer_WithACustomAttentionCore_Throws_SayingWhatItCannotWrite()
    {
        var model = Perturbed(G2PConfig("g2p"), 2);
        model.DecoderLayers[0].CrossAttention.Core = (q, k, v, causal) => v;
        var e = Assert.Throws<ArgumentException>(() => OnnxExport.Transformer(model));
        Assert.Contains("plain multi-head attention", e.Message);
        Assert.Contains("core", e.Message);
        Assert.Throws<ArgumentException>(() => OnnxExport.TransformerTeacherForced(model));
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
