using System.CommandLine;
using Attention.Book;
using Attention.Book.Experiments;
using Attention.Models;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Cli;

/// <summary>
/// <c>attn export --model minilm|g2p --out FILE.onnx [--weights FILE.safetensors] [--seed S] [--teacher-forced]</c>: a
/// model written to ONNX (opset 17) by the project's own writer (<see cref="OnnxExport"/>), for ONNX Runtime to serve.
/// minilm: the bundled all-MiniLM-L6-v2 from the weights <see cref="BertModel"/> loaded (inputs input_ids,
/// attention_mask, token_type_ids; outputs last_hidden_state, sentence_embedding). g2p: the Transformer G2P model of
/// answers 11, 12, 32 and 44 (quick setting) with the same three inputs (token_type_ids unused) and greedy decoding
/// inside the graph (outputs last_hidden_state, the encoder's; phoneme_ids, phoneme_lengths, logits); with
/// <c>--teacher-forced</c> the teacher-forced graph instead (inputs input_ids, attention_mask, decoder_input_ids; outputs
/// last_hidden_state, logits, encoder_last_hidden_state). The weights are read from <c>--weights</c>, else from the
/// copy cached under the repository's <c>out/models/</c>, else trained quickly (300 steps) and cached there.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(TextWriter stdout, Option<string?> rootOption)
    {
        var model = new Option<string>("--model") { Description = "minilm (the bundled all-MiniLM-L6-v2) or g2p (the Transformer G2P model)", Required = true };
        var output = new Option<string>("--out") { Description = "The .onnx file to write", Required = true };
        var weights = new Option<string?>("--weights") { Description = "g2p: a saved Transformer of the quick G2P configuration (.safetensors, Module.Save); default: the cached one, else trained now" };
        var seed = new Option<int>("--seed") { Description = "g2p: the training seed when the model is trained", DefaultValueFactory = _ => 1234 };
        var teacherForced = new Option<bool>("--teacher-forced")
        {
            Description = "g2p: write the teacher-forced graph (inputs input_ids, attention_mask, decoder_input_ids; outputs the decoder's " +
                          "last_hidden_state, logits, encoder_last_hidden_state) instead of the default, which takes input_ids, attention_mask, " +
                          "token_type_ids (unused) and decodes greedily inside the graph (outputs last_hidden_state: the encoder's, phoneme_ids, phoneme_lengths, logits)",
        };
        var command = new Command("export", "Write a model to ONNX for ONNX Runtime (minilm or g2p)") { model, output, weights, seed, teacherForced };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(output)!, parse.GetValue(weights), parse.GetValue(seed),
                                       parse.GetValue(teacherForced), parse.GetValue(rootOption), stdout));
        return command;
    }

    private static int Run(string model, string output, string? weights, int seed, bool teacherForced, string? rootOverride, TextWriter stdout)
    {
        string kind = model.Trim().ToLowerInvariant();
        if (kind is not ("minilm" or "g2p")) throw new AttnApp.UsageException($"export --model expects minilm or g2p; got '{model}'");
        if (string.IsNullOrWhiteSpace(output)) throw new AttnApp.UsageException("export --out expects a file name");
        if (weights is not null && kind != "g2p") throw new AttnApp.UsageException("export --weights applies to --model g2p only");
        if (teacherForced && kind != "g2p") throw new AttnApp.UsageException("export --teacher-forced applies to --model g2p only");
        if (weights is not null && !File.Exists(weights)) throw new AttnApp.UsageException($"export --weights: no file at '{weights}'");
        string path = Path.GetFullPath(output);
        EnsureWritable(path);   // before any loading or training

        if (kind == "minilm")
        {
            var bert = BertModel.LoadMiniLm();
            OnnxExport.SaveBert(bert, path);
            stdout.WriteLine($"wrote {path} ({Megabytes(path)}): {MiniLm.ModelName}, {bert.Config.Layers} layers, opset 17; " +
                             "inputs input_ids, attention_mask, token_type_ids (int64, batch × sequence); outputs last_hidden_state, sentence_embedding");
            return AttnApp.Ok;
        }

        var transformer = LoadOrTrain(weights, seed, rootOverride, stdout);
        var data = G2PData.Load();
        var graph = teacherForced
            ? OnnxExport.TransformerTeacherForced(transformer, data.Letters, data.Phonemes)
            : OnnxExport.Transformer(transformer, data.Letters, data.Phonemes);
        OnnxExport.Save(graph, path);
        string signature = teacherForced
            ? "teacher-forced; inputs input_ids, attention_mask (letters), decoder_input_ids (BOS + phonemes so far); outputs last_hidden_state (decoder), logits, encoder_last_hidden_state"
            : "greedy decoding inside the graph; inputs input_ids, attention_mask, token_type_ids (int64, batch × letters; token_type_ids unused); " +
              $"outputs last_hidden_state (encoder), phoneme_ids (batch × {transformer.Config.MaxLength}: phonemes, EOS, PAD), phoneme_lengths, logits";
        stdout.WriteLine($"wrote {path} ({Megabytes(path)}): Transformer G2P, {transformer.Config.EncoderLayers}+{transformer.Config.DecoderLayers} layers, " +
                         $"opset 17, {signature}; vocabularies in the model's metadata");
        return AttnApp.Ok;
    }

    private static Transformer LoadOrTrain(string? weights, int seed, string? rootOverride, TextWriter stdout)
    {
        var config = TransformerG2P.Config(full: false);
        if (weights is not null)
        {
            var loaded = new Transformer(config, new Rng(1));
            try { loaded.Load(weights); }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or KeyNotFoundException)
            {
                throw new AttnApp.UsageException($"export --weights: '{weights}' is not a Transformer of the quick G2P configuration ({e.Message})");
            }
            loaded.Eval();
            return loaded;
        }
        string? cache = null;
        try { cache = Path.Combine(RepoPaths.FindRoot(rootOverride), "out", "models", $"transformer-g2p-quick-s{seed}.safetensors"); }
        catch (DirectoryNotFoundException) { }
        if (cache is not null && File.Exists(cache))
        {
            var cached = new Transformer(config, new Rng(1));
            cached.Load(cache);
            stdout.WriteLine($"using the trained model cached at {cache}");
            cached.Eval();
            return cached;
        }
        var training = TransformerG2P.Training(full: false);
        stdout.WriteLine($"no saved Transformer G2P model: training the quick one ({training.Steps} steps, seed {seed}) …");
        var trained = TransformerG2P.Get(full: false, seed);
        stdout.WriteLine($"trained: test PER {trained.TestPer:P1}, WER {trained.TestWer:P1} on {trained.Test.Count} words");
        trained.Model.Eval();
        if (cache is not null)
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(cache)!);
                trained.Model.Save(cache);
                stdout.WriteLine($"cached the weights at {cache} (--weights FILE reads such a file)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { stdout.WriteLine($"could not cache the weights at {cache}: {e.Message}"); }
        }
        return trained.Model;
    }

    /// <summary>Opens the output for writing once, so a bad path is a usage error before any work.</summary>
    private static void EnsureWritable(string path)
    {
        if (Directory.Exists(path)) throw new AttnApp.UsageException($"export --out: '{path}' is a folder; expected a file name such as model.onnx");
        bool existed = File.Exists(path);
        try
        {
            using (new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None)) { }
            if (!existed) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new AttnApp.UsageException($"export --out: cannot write '{path}': {e.Message}");
        }
    }

    private static string Megabytes(string path) =>
        $"{new FileInfo(path).Length / (1024.0 * 1024.0):0.0} MB";
}
