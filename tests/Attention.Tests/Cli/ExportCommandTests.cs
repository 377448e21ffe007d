using Attention.Book.Experiments;
using Attention.Cli;
using Attention.Models;
using Attention.Nn;
using Attention.Onnx;
using Attention.Seq2Seq;
using Attention.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Attention.Tests.Cli;

/// <summary><c>attn export</c>: writes a file our reader and ONNX Runtime load; misuse is one line on stderr and exit 2.</summary>
public class ExportCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = new AttnApp().Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string TempFile(string name) => Path.Combine(Path.GetTempPath(), $"attn-export-{Guid.NewGuid():N}-{name}");

    [Theory]
    [InlineData("export", "--model", "gpt5", "--out", "x.onnx")]
    [InlineData("export", "--model", "minilm")]
    [InlineData("export", "--out", "x.onnx")]
    [InlineData("export", "--model", "minilm", "--out", "/no-such-folder-attn/x.onnx")]
    [InlineData("export", "--model", "minilm", "--out", "/tmp")]
    [InlineData("export", "--model", "minilm", "--weights", "w.safetensors", "--out", "x.onnx")]
    [InlineData("export", "--model", "g2p", "--weights", "/no-such-file-attn.safetensors", "--out", "x.onnx")]
    [InlineData("export", "--model", "minilm", "--teacher-forced", "--out", "x.onnx")]
    public void Misuse_ExitsWith2_AndOneLineOnStderr(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("attn: ", line);
        Assert.False(File.Exists("x.onnx"), "a failed export must not leave a file behind");
    }

    [Fact]
    public void ExportMiniLm_WritesTheEncoder_WithTheOriginalInputNames()
    {
        string path = TempFile("minilm.onnx");
        try
        {
            var (code, output, error) = Run("export", "--model", "minilm", "--out", path);
            Assert.True(code == 0, error);
            Assert.Contains(path, output);
            var graph = OnnxModel.Load(path).Graph;
            Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], graph.Inputs.Select(i => i.Name));
            Assert.Equal("last_hidden_state", graph.Outputs[0].Name);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ExportG2P_FromSavedWeights_WritesAGreedyDecoder_WithTheMiniLmInputs_ThatOnnxRuntimeRuns()
    {
        string weights = TempFile("g2p.safetensors"), path = TempFile("g2p.onnx");
        try
        {
            var model = new Transformer(TransformerG2P.Config(full: false), new Rng(3));
            model.Save(weights);
            var (code, output, error) = Run("export", "--model", "g2p", "--weights", weights, "--out", path);
            Assert.True(code == 0, error);
            Assert.Contains(path, output);
            using var session = Models.OnnxExportTests.Session(File.ReadAllBytes(path));
            Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], session.InputNames);
            Assert.Equal("last_hidden_state", session.OutputNames[0]);
            Assert.Contains("phoneme_ids", session.OutputNames);

            // "cat": the letters, as the three int64 inputs an outside check feeds
            var source = PaddedBatch.Pad([G2PData.Load().Example("cat").Source], Vocabulary.Pad);
            var feeds = Models.OnnxExportTests.SourceFeeds(source);
            var values = feeds.Select(f => OrtValue.CreateTensorValueFromMemory(f.Item2, f.Item3)).ToArray();
            try
            {
                using var run = new RunOptions();
                using var results = session.Run(run, feeds.Select(f => f.Item1).ToArray(), values, ["last_hidden_state", "phoneme_ids"]);
                Assert.Equal(new long[] { 1, source.Time, model.Config.ModelDim }, results[0].GetTensorTypeAndShape().Shape);
                var ids = results[1].GetTensorDataAsSpan<long>().ToArray();
                var ours = Decoding.Greedy(model, [source.Ids], model.Config.MaxLength)[0].Tokens;
                Assert.Equal(ours.Select(t => (long)t), ids.Take(ours.Length));
            }
            finally { foreach (var v in values) v.Dispose(); }
        }
        finally { File.Delete(weights); File.Delete(path); }
    }

    [Fact]
    public void ExportG2P_TeacherForced_WritesTheGraphWithDecoderInputs()
    {
        string weights = TempFile("g2p-tf.safetensors"), path = TempFile("g2p-tf.onnx");
        try
        {
            new Transformer(TransformerG2P.Config(full: false), new Rng(4)).Save(weights);
            var (code, output, error) = Run("export", "--model", "g2p", "--weights", weights, "--teacher-forced", "--out", path);
            Assert.True(code == 0, error);
            Assert.Contains("teacher-forced", output);
            var graph = OnnxModel.Load(path).Graph;
            Assert.Equal(["input_ids", "attention_mask", "decoder_input_ids"], graph.Inputs.Select(i => i.Name));
            Assert.Equal(["last_hidden_state", "logits", "encoder_last_hidden_state"], graph.Outputs.Select(o => o.Name));
        }
        finally { File.Delete(weights); File.Delete(path); }
    }

    [Fact]
    public void ExportG2P_FromWeightsOfAnotherShape_ExitsWith2()
    {
        string weights = TempFile("other.safetensors");
        try
        {
            var other = TransformerG2P.Config(full: false) with { ModelDim = 32, FeedForwardDim = 48 };
            new Transformer(other, new Rng(3)).Save(weights);
            var (code, _, error) = Run("export", "--model", "g2p", "--weights", weights, "--out", TempFile("x.onnx"));
            Assert.Equal(2, code);
            Assert.Contains("quick G2P configuration", error);
        }
        finally { File.Delete(weights); }
    }
}
