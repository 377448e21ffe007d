using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Attention.Autograd;
using Attention.Nn;
using Attention.Onnx;
using Attention.Positions;
using Attention.Seq2Seq;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>
/// Writes the project's models to ONNX (opset 17) with <see cref="OnnxGraphBuilder"/>, so an engine built for serving
/// (ONNX Runtime on CPU or GPU) can run what was trained or loaded here. The graphs use plain opset-17 operators only —
/// Gather, MatMul, Add, Softmax, LayerNormalization, Erf, Reshape, Transpose, Loop, ArgMax — no vendor extension.
/// <para>
/// <see cref="Bert"/> — a <see cref="BertModel"/>'s encoder, with the inputs of a Hugging Face / PyTorch BERT export:
/// <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c> (int64, (batch, sequence), right-padded, mask 1 on
/// real tokens); outputs <c>last_hidden_state</c> (batch, sequence, hidden) and <c>sentence_embedding</c>
/// (batch, hidden), the mean over real tokens, L2-normalised (<see cref="BertOutput.Embeddings"/>).
/// Weights keep their Hugging Face names; each Linear weight is stored transposed, (in, out), as
/// <c>transposed.&lt;name&gt;</c>, and feeds a MatMul whose Add reads the named bias, so
/// <see cref="BertWeights.FromOnnx"/> reads an exported file back.
/// </para>
/// <para>
/// <see cref="Transformer"/> — the encoder–decoder as a complete greedy decoder, with the same BERT-style signature:
/// inputs <c>input_ids</c> (batch, source) letter ids, <c>attention_mask</c> (batch, source) 1 on real letters,
/// <c>token_type_ids</c> (batch, source) accepted and unused (the model has no segment embeddings; ONNX Runtime takes
/// an input no node reads); outputs <c>last_hidden_state</c> (batch, source, E), the encoder's output m;
/// <c>phoneme_ids</c> (batch, MaxLength) int64, greedy decoding run inside the graph — the phonemes, then EOS, then PAD;
/// <c>phoneme_lengths</c> (batch) int64, the phonemes before EOS; <c>logits</c> (batch, steps, V), each step's logits
/// (a row that has finished still gets rows, from its PAD-fed prefix: read a word's first phoneme_lengths + 1).
/// The decoding is an ONNX <c>Loop</c> of at most MaxLength steps that stops once every row has emitted EOS (so
/// steps ≤ MaxLength); step i runs the decoder over the prefix BOS y₁ … y_i (no KV cache: O(i²) work per step, cheap
/// for words), takes position i's logits and picks the best of EOS and the symbols (never PAD or BOS; the first of
/// equal maxima), as <see cref="Decoding.Greedy"/> does. A source id outside the letter vocabulary reads as UNK, and
/// sources longer than MaxLength run (up to 512 letters: the sinusoidal positions continue), though the model never
/// saw such lengths and <see cref="Models.Transformer.Encode"/> refuses them.
/// </para>
/// <para>
/// <see cref="TransformerTeacherForced"/> — the encoder–decoder teacher-forced (all target positions in one call):
/// inputs <c>input_ids</c>, <c>attention_mask</c>, <c>decoder_input_ids</c> (batch, target) = BOS y₁ … y_{T−1};
/// outputs <c>last_hidden_state</c> (batch, target, E) the decoder's states (after the final norm), <c>logits</c>
/// (batch, target, V) and <c>encoder_last_hidden_state</c> (batch, source, E), the names of a Hugging Face
/// encoder–decoder export; for scoring given outputs or decoding from outside (beam search).
/// </para>
/// <para>
/// Both store the weights once, in the top-level graph (the Loop body reads them from the outer scope); dropout is left
/// out (the graph is the model in eval mode).
/// </para>
/// </summary>
public static class OnnxExport
{
    private const int I64 = OnnxTensor.Int64, F32 = OnnxTensor.Float, Bool = 9;   // ONNX element types (TensorProto.DataType)

    /// <summary>The additive mask value: exp(s + this − max) is exactly 0 in float32, and (1 − mask)·this never makes 0·∞.</summary>
    private const float Masked = float.MinValue;

    /// <summary>The graph of a BERT encoder (see the class remarks); call <see cref="OnnxGraphBuilder.Save"/> on it.</summary>
    public static OnnxGraphBuilder Bert(BertWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var c = weights.Config;
        var g = new OnnxGraphBuilder("bert_encoder")
        {
            DocString = $"BERT encoder ({c.Layers} layers, {c.Heads} heads of {c.HeadDim}, hidden {c.Hidden}) exported by Attention. " +
                        "Inputs input_ids, attention_mask, token_type_ids: int64 (batch, sequence), right-padded. " +
                        "Outputs last_hidden_state (batch, sequence, hidden), sentence_embedding (batch, hidden): masked mean, L2-normalised.",
        };
        var ids = g.AddInput("input_ids", I64, "batch", "sequence");
        var mask = g.AddInput("attention_mask", I64, "batch", "sequence");
        var types = g.AddInput("token_type_ids", I64, "batch", "sequence");
        string W(string name) => g.AddInitializer(name, weights[name].AsSpan(), Dims(weights[name]));

        // x₀ = LayerNorm(E_word[ids] + E_pos[0..T) + E_type[types])                          (B, T, Hd)
        var length = g.AddNode("Shape", [ids], "sequence_length", OnnxAttributeValue.Int("start", 1), OnnxAttributeValue.Int("end", 2));
        var positions = g.AddNode("Slice", [W("embeddings.position_embeddings.weight"), g.Ints(0), length, g.Ints(0)]);
        var x = g.AddNode("Add", [g.AddNode("Gather", [W("embeddings.word_embeddings.weight"), ids]), positions]);
        x = g.AddNode("Add", [x, g.AddNode("Gather", [W("embeddings.token_type_embeddings.weight"), types])]);
        x = LayerNorm(g, x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), c.LayerNormEps);

        // M (B, 1, 1, T): 0 on real keys, float.MinValue on padded ones
        var maskF = g.AddNode("Cast", [mask], "attention_mask_float", OnnxAttributeValue.Int("to", F32));
        var bias = g.AddNode("Mul", [g.AddNode("Sub", [g.Scalar(1f), maskF]), g.Scalar(Masked)]);
        bias = g.AddNode("Unsqueeze", [bias, g.Ints(1, 2)], "key_padding_bias");
        // (B, T, H·D) → (B, T, H, D): a Concat of four one-element shapes, the form a PyTorch export has and
        // BertWeights.FromOnnx reads the head count from
        var split = g.AddNode("Concat", [g.Ints(0), g.Ints(0), g.Ints(c.Heads), g.Ints(c.HeadDim)], "head_split_shape", OnnxAttributeValue.Int("axis", 0));
        var merge = g.Ints(0, 0, c.Hidden);
        var scale = g.Scalar(1f / MathF.Sqrt(c.HeadDim));

        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            string Lin(string input, string name) => Linear(g, input, weights[name + ".weight"], name, W(name + ".bias"));
            var q = Heads(g, Lin(x, p + "attention.self.query"), split, [0, 2, 1, 3]);     // (B, H, T, D)
            var kT = Heads(g, Lin(x, p + "attention.self.key"), split, [0, 2, 3, 1]);      // (B, H, D, T)
            var v = Heads(g, Lin(x, p + "attention.self.value"), split, [0, 2, 1, 3]);     // (B, H, T, D)
            var context = Attend(g, q, kT, v, scale, bias, merge);                          // (B, T, Hd)
            x = g.AddNode("Add", [Lin(context, p + "attention.output.dense"), x]);
            x = LayerNorm(g, x, W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"), c.LayerNormEps);
            var inner = Gelu(g, Lin(x, p + "intermediate.dense"));
            x = g.AddNode("Add", [Lin(inner, p + "output.dense"), x]);
            x = LayerNorm(g, x, W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), c.LayerNormEps);
        }
        var last = g.AddNode("Identity", [x], "last_hidden_state");
        g.AddOutput(last, F32, "batch", "sequence", c.Hidden);

        // e = Σ_t mask_t·x_t / Σ_t mask_t, e ← e / ‖e‖₂
        var sum = g.AddNode("ReduceSum", [g.AddNode("Mul", [last, g.AddNode("Unsqueeze", [maskF, g.Ints(2)])]), g.Ints(1)], null, OnnxAttributeValue.Int("keepdims", 0));
        var count = g.AddNode("ReduceSum", [maskF, g.Ints(1)], null, OnnxAttributeValue.Int("keepdims", 1));
        var mean = g.AddNode("Div", [sum, count]);
        var norm = g.AddNode("Sqrt", [g.AddNode("ReduceSum", [g.AddNode("Mul", [mean, mean]), g.Ints(1)], null, OnnxAttributeValue.Int("keepdims", 1))]);
        g.AddOutput(g.AddNode("Div", [mean, norm], "sentence_embedding"), F32, "batch", c.Hidden);
        return g;
    }

    /// <summary>Writes <paramref name="model"/>'s encoder to <paramref name="path"/> (see <see cref="Bert"/>).</summary>
    /// <exception cref="IOException">The file cannot be written (the message names it).</exception>
    public static void SaveBert(BertModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var g = Bert(model.Weights);
        g.AddMetadata("model", "bert");
        Save(g, path);
    }

    /// <summary>
    /// The greedy-decoding graph of an encoder–decoder <see cref="Models.Transformer"/> (see the class remarks): inputs
    /// <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>; outputs <c>last_hidden_state</c> (the encoder's),
    /// <c>phoneme_ids</c>, <c>phoneme_lengths</c>, <c>logits</c>. Vocabularies, when given, are stored in the model's
    /// metadata (JSON arrays of symbols by id) beside the reserved ids.
    /// </summary>
    /// <exception cref="ArgumentException">A vocabulary's size is not the model's, or the model has a part the exporter
    /// does not write (a custom attention core, a position scheme inside attention, grouped key/value heads); the message
    /// says which.</exception>
    public static OnnxGraphBuilder Transformer(Transformer model, Vocabulary? source = null, Vocabulary? target = null)
    {
        var w = new TransformerWriter(model, source, target, "transformer_greedy",
            "Inputs input_ids, attention_mask, token_type_ids: int64 (batch, source), right-padded letter ids, mask 1 on real letters; " +
            "token_type_ids is accepted for the BERT-style signature and unused (the model has no segment embeddings); " +
            "ids outside the letter vocabulary read as UNK; sources up to 512 letters. " +
            "Outputs last_hidden_state (batch, source, E): the encoder's output; phoneme_ids (batch, max_length) int64: greedy decoding " +
            "inside the graph (an ONNX Loop), the phonemes, then EOS, then PAD; phoneme_lengths (batch) int64: phonemes before EOS; " +
            "logits (batch, steps, V): each decoding step's logits (steps = until every row has emitted EOS, at most max_length).");
        var g = w.Graph;
        var c = model.Config;
        int max = c.MaxLength, v = c.TargetVocabulary;
        var ids = g.AddInput("input_ids", I64, "batch", "source");
        var mask = g.AddInput("attention_mask", I64, "batch", "source");
        g.AddInput("token_type_ids", I64, "batch", "source");          // unused: the signature of the MiniLM file
        var (memory, padding) = w.Encoder(ids, mask, "last_hidden_state");
        g.AddOutput(memory, F32, "batch", "source", c.ModelDim);

        // the loop state: tokens (B, max + 1) = BOS then zeros, written one column per step; done (B) false
        var batch = g.AddNode("Shape", [ids], "batch_size", OnnxAttributeValue.Int("start", 0), OnnxAttributeValue.Int("end", 1));
        var startRow = new long[max + 1];
        startRow[0] = Vocabulary.Bos;
        var tokens0 = g.AddNode("Expand", [g.AddInitializer("decoder_start_row", startRow, 1, max + 1),
                                           g.AddNode("Concat", [batch, g.Ints(1)], null, OnnxAttributeValue.Int("axis", 0))], "decoder_start_tokens");
        var done0 = g.AddNode("Cast", [g.AddNode("Expand", [g.Ints(0), batch])], "decoder_start_done", OnnxAttributeValue.Int("to", Bool));
        var always = g.AddNode("Cast", [g.Int64Scalar(1)], "loop_start_condition", OnnxAttributeValue.Int("to", Bool));
        var identity = new long[(max + 1) * (max + 1)];
        for (int i = 0; i <= max; i++) identity[i * (max + 1) + i] = 1;
        var columns = g.AddInitializer("one_hot_columns", identity, max + 1, max + 1);

        // one step: run the decoder over the prefix tokens[:, 0..i], take position i's logits, pick the best of EOS and the
        // symbols (never PAD or BOS; the first of equal maxima, as Decoding.Greedy), write it at column i + 1 (PAD once done)
        var body = g.Subgraph("greedy_step");
        var step = body.AddInput("greedy_step_index", I64);
        body.AddInput("greedy_step_condition", Bool);
        var tokens = body.AddInput("greedy_tokens", I64, "batch", max + 1);
        var done = body.AddInput("greedy_done", Bool, "batch");
        var next = body.AddNode("Add", [step, g.Ints(1)], "greedy_prefix_length");                                   // [i + 1]
        var prefix = body.AddNode("Slice", [tokens, g.Ints(0), next, g.Ints(1)], "greedy_prefix");                      // (B, i + 1)
        var states = w.Decoder(body, prefix, memory, padding, "greedy_prefix_shape");                                   // (B, i + 1, E)
        var logits = w.Logits(body, body.AddNode("Gather", [states, step], null, OnnxAttributeValue.Int("axis", 1)));  // (B, V)
        logits = body.AddNode("Identity", [logits], "greedy_step_logits");
        var candidates = body.AddNode("Slice", [logits, g.Ints(Vocabulary.Eos), g.Ints(v), g.Ints(1)]);
        var best = body.AddNode("Add", [body.AddNode("ArgMax", [candidates], null, OnnxAttributeValue.Int("axis", 1), OnnxAttributeValue.Int("keepdims", 0)),
                                        g.Int64Scalar(Vocabulary.Eos)], "greedy_best");                                 // (B)
        var emitted = body.AddNode("Where", [done, g.Int64Scalar(Vocabulary.Pad), best], "greedy_emitted");
        var doneOut = body.AddNode("Or", [done, body.AddNode("Equal", [best, g.Int64Scalar(Vocabulary.Eos)])], "greedy_done_out");
        var write = body.AddNode("Mul", [body.AddNode("Unsqueeze", [emitted, g.Ints(1)]), body.AddNode("Gather", [columns, next])]);
        var tokensOut = body.AddNode("Add", [tokens, write], "greedy_tokens_out");
        var allDone = body.AddNode("ReduceMin", [body.AddNode("Cast", [doneOut], null, OnnxAttributeValue.Int("to", I64))], null, OnnxAttributeValue.Int("keepdims", 0));
        var more = body.AddNode("Equal", [allDone, g.Int64Scalar(0)], "greedy_continue");
        body.AddOutput(more, Bool);
        body.AddOutput(tokensOut, I64, "batch", max + 1);
        body.AddOutput(doneOut, Bool, "batch");
        body.AddOutput(logits, F32, "batch", v);

        var loop = g.AddNode("Loop", [g.Int64Scalar(max), always, tokens0, done0], ["decoded_tokens", "decoded_done", "step_logits"],
                             [OnnxAttributeValue.Graph("body", body)]);
        var phonemes = g.AddNode("Slice", [loop[0], g.Ints(1), g.Ints(max + 1), g.Ints(1)], "phoneme_ids");
        var isPhoneme = g.AddNode("Cast", [g.AddNode("Greater", [phonemes, g.Int64Scalar(Vocabulary.Eos)])], null, OnnxAttributeValue.Int("to", I64));
        var lengths = g.AddNode("ReduceSum", [isPhoneme, g.Ints(1)], "phoneme_lengths", OnnxAttributeValue.Int("keepdims", 0));
        var stepLogits = g.AddNode("Transpose", [loop[2]], "logits", OnnxAttributeValue.Ints("perm", 1, 0, 2));
        g.AddOutput(phonemes, I64, "batch", max);
        g.AddOutput(lengths, I64, "batch");
        g.AddOutput(stepLogits, F32, "batch", "steps", v);
        w.AddMetadata("greedy");
        return g;
    }

    /// <summary>
    /// The teacher-forced graph of an encoder–decoder <see cref="Models.Transformer"/> (all target positions in one call):
    /// inputs <c>input_ids</c>, <c>attention_mask</c> (batch, source), <c>decoder_input_ids</c> (batch, target) = BOS y₁ … y_{T−1};
    /// outputs <c>last_hidden_state</c> (batch, target, E) the decoder's states (after the final norm), <c>logits</c>
    /// (batch, target, V) and <c>encoder_last_hidden_state</c> (batch, source, E), the names of a Hugging Face
    /// encoder–decoder export. Position t's logits depend on decoder inputs 0..t only, so a decoder outside the graph can
    /// call it with the prefix it has and read the last row. It does not have the BERT-style signature of
    /// <see cref="Transformer"/>; use it to score given outputs or to drive beam search from outside.
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="Transformer"/>.</exception>
    public static OnnxGraphBuilder TransformerTeacherForced(Transformer model, Vocabulary? source = null, Vocabulary? target = null)
    {
        var w = new TransformerWriter(model, source, target, "transformer_teacher_forced",
            "Teacher-forced. Inputs input_ids, attention_mask (batch, source); decoder_input_ids (batch, target) = BOS y1 .. y(T-1). " +
            "Outputs last_hidden_state (batch, target, E): the decoder's states, logits (batch, target, V), encoder_last_hidden_state (batch, source, E).");
        var g = w.Graph;
        var c = model.Config;
        var ids = g.AddInput("input_ids", I64, "batch", "source");
        var mask = g.AddInput("attention_mask", I64, "batch", "source");
        var decoderIds = g.AddInput("decoder_input_ids", I64, "batch", "target");
        var (memory, padding) = w.Encoder(ids, mask, "encoder_last_hidden_state");
        var last = g.AddNode("Identity", [w.Decoder(g, decoderIds, memory, padding, "target_length")], "last_hidden_state");
        var logits = g.AddNode("Identity", [w.Logits(g, last)], "logits");
        g.AddOutput(last, F32, "batch", "target", c.ModelDim);
        g.AddOutput(logits, F32, "batch", "target", c.TargetVocabulary);
        g.AddOutput(memory, F32, "batch", "source", c.ModelDim);
        w.AddMetadata("teacher-forced");
        return g;
    }

    /// <summary>Writes a <see cref="Models.Transformer"/>'s encoder and decoder into a graph (and its Loop body).</summary>
    private sealed class TransformerWriter
    {
        /// <summary>Rows of the exported position table: sources up to this long run (or MaxLength, when longer).</summary>
        public const int PositionRows = 512;

        private readonly Transformer _model;
        private readonly TransformerConfig _c;
        private readonly Vocabulary? _source, _target;
        private readonly Dictionary<Var, string> _names = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<string, Module> _children;
        private readonly string _split, _merge, _scale, _positions, _embedScale;
        private string? _causalTable;

        public OnnxGraphBuilder Graph { get; }

        public TransformerWriter(Transformer model, Vocabulary? source, Vocabulary? target, string graphName, string signature)
        {
            ArgumentNullException.ThrowIfNull(model);
            var c = model.Config;
            if (source is not null && source.Count != c.SourceVocabulary)
                throw new ArgumentException($"source vocabulary: expected {c.SourceVocabulary} symbols (the model's), got {source.Count}", nameof(source));
            if (target is not null && target.Count != c.TargetVocabulary)
                throw new ArgumentException($"target vocabulary: expected {c.TargetVocabulary} symbols (the model's), got {target.Count}", nameof(target));
            foreach (var layer in model.EncoderLayers) CheckAttention(layer.SelfAttention, c, nameof(model));
            foreach (var layer in model.DecoderLayers) { CheckAttention(layer.SelfAttention, c, nameof(model)); CheckAttention(layer.CrossAttention, c, nameof(model)); }
            _model = model; _c = c; _source = source; _target = target;
            foreach (var (name, p) in model.NamedParameters()) _names[p] = name;
            _children = model.Children().ToDictionary(p => p.Name, p => p.Module);
            var g = Graph = new OnnxGraphBuilder(graphName)
            {
                DocString = $"Encoder–decoder Transformer ({c.EncoderLayers}+{c.DecoderLayers} layers, E {c.ModelDim}, {c.Heads} heads, " +
                            $"{(c.PreNorm ? "pre" : "post")}-norm {c.Norm}, {c.FeedForward} FFN, max length {c.MaxLength}) exported by Attention. " +
                            signature + " Ids: PAD 0, BOS 1, EOS 2, UNK 3.",
            };
            int e = c.ModelDim, d = e / c.Heads;
            _split = g.Ints(0, 0, c.Heads, d);
            _merge = g.Ints(0, 0, e);
            _scale = g.Scalar(1f / MathF.Sqrt(d));
            // the sinusoid continues past MaxLength (the same formula, row for row), so the encoder runs on longer sources
            int rows = Math.Max(c.MaxLength, PositionRows);
            _positions = g.AddInitializer("sinusoidal_positions", SinusoidalPositions.Table(rows, e), rows, e);
            _embedScale = g.Scalar(MathF.Sqrt(e));
        }

        private static void CheckAttention(MultiHeadAttention mha, TransformerConfig c, string paramName)
        {
            if (mha.Core is not null || mha.Positions is not null || mha.KvHeads != mha.Heads || mha.HeadDim * mha.Heads != c.ModelDim)
                throw new ArgumentException($"expected plain multi-head attention (no custom core, no position scheme inside attention, KvHeads = Heads, " +
                                            $"H·Dh = E = {c.ModelDim}), got core {mha.Core?.GetType().Name ?? "none"}, positions {mha.Positions?.GetType().Name ?? "none"}, " +
                                            $"{mha.Heads} heads of {mha.HeadDim}, {mha.KvHeads} key/value heads", paramName);
        }

        public void AddMetadata(string graph)
        {
            var g = Graph;
            g.AddMetadata("model", "transformer-encoder-decoder");
            g.AddMetadata("graph", graph);
            g.AddMetadata("pad_id", Vocabulary.Pad.ToString(CultureInfo.InvariantCulture));
            g.AddMetadata("bos_id", Vocabulary.Bos.ToString(CultureInfo.InvariantCulture));
            g.AddMetadata("eos_id", Vocabulary.Eos.ToString(CultureInfo.InvariantCulture));
            g.AddMetadata("unk_id", Vocabulary.Unk.ToString(CultureInfo.InvariantCulture));
            g.AddMetadata("max_length", _c.MaxLength.ToString(CultureInfo.InvariantCulture));
            if (_source is not null) g.AddMetadata("source_vocabulary", JsonSerializer.Serialize(_source.Symbols, VocabularyJson.Default.IReadOnlyListString));
            if (_target is not null) g.AddMetadata("target_vocabulary", JsonSerializer.Serialize(_target.Symbols, VocabularyJson.Default.IReadOnlyListString));
        }

        private string Param(OnnxGraphBuilder g, Var v) => g.HasValue(_names[v]) ? _names[v] : g.AddInitializer(_names[v], v.Value.AsSpan(), Dims(v.Value));

        private string Lin(OnnxGraphBuilder g, string input, Linear linear) =>
            Linear(g, input, linear.Weight.Value, _names[linear.Weight][..^".weight".Length], linear.Bias is null ? null : Param(g, linear.Bias));

        private string Norm(OnnxGraphBuilder g, string input, Module norm) => norm switch
        {
            LayerNorm ln => LayerNorm(g, input, ln.Gamma is null ? g.Floats(Enumerable.Repeat(1f, ln.Dim).ToArray()) : Param(g, ln.Gamma),
                                      ln.Beta is null ? null : Param(g, ln.Beta), ln.Eps),
            RmsNorm rms => RmsNorm(g, input, Param(g, rms.Gamma), rms.Eps),
            _ => throw new InvalidOperationException($"expected LayerNorm or RmsNorm (the norms TransformerConfig.Norm makes), got {norm.GetType().Name}"),
        };

        private string Mha(OnnxGraphBuilder g, MultiHeadAttention mha, string query, string memory, string? attentionBias)
        {
            var q = Heads(g, Lin(g, query, mha.Q), _split, [0, 2, 1, 3]);
            var kT = Heads(g, Lin(g, memory, mha.K), _split, [0, 2, 3, 1]);
            var v = Heads(g, Lin(g, memory, mha.V), _split, [0, 2, 1, 3]);
            return Lin(g, Attend(g, q, kT, v, _scale, attentionBias, _merge), mha.O);
        }

        private string Ffn(OnnxGraphBuilder g, string input, FeedForward ffn)
        {
            var parts = ffn.Children().ToDictionary(p => p.Name, p => (Linear)p.Module);
            return ffn.Kind switch
            {
                FeedForwardKind.Relu => Lin(g, g.AddNode("Relu", [Lin(g, input, parts["fc1"])]), parts["fc2"]),
                FeedForwardKind.Gelu => Lin(g, Gelu(g, Lin(g, input, parts["fc1"])), parts["fc2"]),
                _ => Lin(g, SwiGlu(g, Lin(g, input, parts["w1"]), Lin(g, input, parts["w3"])), parts["w2"]),
            };
        }

        /// <summary>√E·Emb(ids) + PE[0..T); <paramref name="lengthName"/> names the (1) tensor holding T.</summary>
        private string Embed(OnnxGraphBuilder g, string input, Embedding table, string lengthName)
        {
            var length = g.AddNode("Shape", [input], lengthName, OnnxAttributeValue.Int("start", 1), OnnxAttributeValue.Int("end", 2));
            var rows = g.AddNode("Mul", [g.AddNode("Gather", [Param(g, table.Weight), input]), _embedScale]);
            return g.AddNode("Add", [rows, g.AddNode("Slice", [_positions, g.Ints(0), length, g.Ints(0)])]);
        }

        /// <summary>The encoder in the top-level graph: m = N_enc(layers(√E·Emb_src + PE)) (B, S, E) named <paramref name="memoryName"/>,
        /// and the key-padding bias (B, 1, 1, S): 0 on real letters, float.MinValue on padding.</summary>
        public (string Memory, string Padding) Encoder(string ids, string mask, string memoryName)
        {
            var g = Graph;
            // an id outside [0, V_src) reads as UNK, as Vocabulary.Encode reads an unknown symbol (Gather would fail on it)
            var known = g.AddNode("And", [g.AddNode("GreaterOrEqual", [ids, g.Int64Scalar(0)]), g.AddNode("Less", [ids, g.Int64Scalar(_c.SourceVocabulary)])]);
            ids = g.AddNode("Where", [known, ids, g.Int64Scalar(Vocabulary.Unk)], "source_ids");
            var x = Embed(g, ids, (Embedding)_children["source_embedding"], "source_length");
            var maskF = g.AddNode("Cast", [mask], "attention_mask_float", OnnxAttributeValue.Int("to", F32));
            var padding = g.AddNode("Mul", [g.AddNode("Sub", [g.Scalar(1f), maskF]), g.Scalar(Masked)]);
            padding = g.AddNode("Unsqueeze", [padding, g.Ints(1, 2)], "key_padding_bias");
            foreach (var layer in _model.EncoderLayers)
            {
                var parts = layer.Children().ToDictionary(p => p.Name, p => p.Module);
                if (layer.Options.PreNorm)
                {
                    var n1 = Norm(g, x, parts["norm1"]);
                    x = g.AddNode("Add", [x, Mha(g, layer.SelfAttention, n1, n1, padding)]);
                    var n2 = Norm(g, x, parts["norm2"]);
                    x = g.AddNode("Add", [x, Ffn(g, n2, layer.FeedForward)]);
                }
                else
                {
                    x = Norm(g, g.AddNode("Add", [x, Mha(g, layer.SelfAttention, x, x, padding)]), parts["norm1"]);
                    x = Norm(g, g.AddNode("Add", [x, Ffn(g, x, layer.FeedForward)]), parts["norm2"]);
                }
            }
            if (_children.TryGetValue("encoder_norm", out var encoderNorm)) x = Norm(g, x, encoderNorm);
            return (g.AddNode("Identity", [x], memoryName), padding);
        }

        /// <summary>The decoder over <paramref name="decoderIds"/> (B, T) in graph <paramref name="g"/> (the top-level graph
        /// or the Loop body): causal self-attention, cross-attention to <paramref name="memory"/>, the final norm → (B, T, E).</summary>
        public string Decoder(OnnxGraphBuilder g, string decoderIds, string memory, string padding, string lengthName)
        {
            var y = Embed(g, decoderIds, (Embedding)_children["target_embedding"], lengthName);
            // causal (T, T) bias sliced from a (MaxLength, MaxLength) table
            int max = _c.MaxLength;
            if (_causalTable is null)
            {
                var table = new float[max * max];
                for (int i = 0; i < max; i++)
                    for (int j = i + 1; j < max; j++) table[i * max + j] = Masked;
                _causalTable = Graph.AddInitializer("causal_bias_table", table, max, max);
            }
            var square = g.AddNode("Concat", [lengthName, lengthName], null, OnnxAttributeValue.Int("axis", 0));
            var causal = g.AddNode("Slice", [_causalTable, g.Ints(0, 0), square, g.Ints(0, 1)]);
            foreach (var layer in _model.DecoderLayers)
            {
                var parts = layer.Children().ToDictionary(p => p.Name, p => p.Module);
                if (layer.Options.PreNorm)
                {
                    var n1 = Norm(g, y, parts["norm1"]);
                    y = g.AddNode("Add", [y, Mha(g, layer.SelfAttention, n1, n1, causal)]);
                    y = g.AddNode("Add", [y, Mha(g, layer.CrossAttention, Norm(g, y, parts["norm2"]), memory, padding)]);
                    y = g.AddNode("Add", [y, Ffn(g, Norm(g, y, parts["norm3"]), layer.FeedForward)]);
                }
                else
                {
                    y = Norm(g, g.AddNode("Add", [y, Mha(g, layer.SelfAttention, y, y, causal)]), parts["norm1"]);
                    y = Norm(g, g.AddNode("Add", [y, Mha(g, layer.CrossAttention, y, memory, padding)]), parts["norm2"]);
                    y = Norm(g, g.AddNode("Add", [y, Ffn(g, y, layer.FeedForward)]), parts["norm3"]);
                }
            }
            return _children.TryGetValue("decoder_norm", out var decoderNorm) ? Norm(g, y, decoderNorm) : y;
        }

        /// <summary>h (…, E) → logits (…, V): h·E_tgtᵀ (tied) or h·W_outᵀ + b.</summary>
        public string Logits(OnnxGraphBuilder g, string h) => _children.TryGetValue("output", out var output)
            ? Lin(g, h, (Linear)output)
            : g.AddNode("MatMul", [h, Transposed(g, ((Embedding)_children["target_embedding"]).Weight.Value, "target_embedding.weight")]);
    }

    /// <summary>Writes a graph to <paramref name="path"/>, turning a file-system failure into an <see cref="IOException"/> that names the file.</summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void Save(OnnxGraphBuilder graph, string path)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentException.ThrowIfNullOrEmpty(path);
        try { graph.Save(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new IOException($"cannot write the ONNX model to '{path}': {ex.Message}", ex);
        }
    }

    // ---------- building blocks ----------

    private static long[] Dims(Tensor t) => Array.ConvertAll(t.Shape.ToArray(), s => (long)s);

    /// <summary>x·Wᵀ + b with W (out, in) stored transposed as transposed.&lt;name&gt;.weight (in, out).</summary>
    private static string Linear(OnnxGraphBuilder g, string x, Tensor weight, string name, string? bias)
    {
        var product = g.AddNode("MatMul", [x, Transposed(g, weight, name + ".weight")]);
        return bias is null ? product : g.AddNode("Add", [product, bias]);
    }

    private static string Transposed(OnnxGraphBuilder g, Tensor weight, string name)
    {
        string key = "transposed." + name;
        if (g.HasValue(key)) return key;
        if (weight.Rank != 2) throw new ArgumentException($"{name}: expected a 2-D weight, got {Tensor.FormatShape(weight.Shape)}", nameof(weight));
        int rows = weight.Shape[0], cols = weight.Shape[1];
        var a = weight.AsSpan();
        var t = new float[a.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) t[k * rows + r] = a[r * cols + k];
        return g.AddInitializer(key, t, cols, rows);
    }

    /// <summary>(B, T, H·D) → (B, T, H, D) → transposed by <paramref name="perm"/>.</summary>
    private static string Heads(OnnxGraphBuilder g, string x, string split, long[] perm) =>
        g.AddNode("Transpose", [g.AddNode("Reshape", [x, split])], null, OnnxAttributeValue.Ints("perm", perm));

    /// <summary>softmax(Q·Kᵀ·scale + bias)·V per head, merged back to (B, L, H·D).</summary>
    private static string Attend(OnnxGraphBuilder g, string q, string kT, string v, string scale, string? bias, string merge)
    {
        var scores = g.AddNode("Mul", [g.AddNode("MatMul", [q, kT]), scale]);                       // (B, H, L, S)
        if (bias is not null) scores = g.AddNode("Add", [scores, bias]);
        var p = g.AddNode("Softmax", [scores], null, OnnxAttributeValue.Int("axis", -1));
        var context = g.AddNode("Transpose", [g.AddNode("MatMul", [p, v])], null, OnnxAttributeValue.Ints("perm", 0, 2, 1, 3));
        return g.AddNode("Reshape", [context, merge]);
    }

    private static string LayerNorm(OnnxGraphBuilder g, string x, string gamma, string? beta, float eps)
    {
        string[] inputs = beta is null ? [x, gamma] : [x, gamma, beta];
        return g.AddNode("LayerNormalization", inputs, null, OnnxAttributeValue.Int("axis", -1), OnnxAttributeValue.Float("epsilon", eps));
    }

    /// <summary>x / √(mean(x²) + ε) · γ (RMSNormalization is an opset-23 operator; this is its opset-17 composition).</summary>
    private static string RmsNorm(OnnxGraphBuilder g, string x, string gamma, float eps)
    {
        var meanSquare = g.AddNode("ReduceMean", [g.AddNode("Mul", [x, x])], null, OnnxAttributeValue.Ints("axes", -1), OnnxAttributeValue.Int("keepdims", 1));
        var rms = g.AddNode("Sqrt", [g.AddNode("Add", [meanSquare, g.Scalar(eps)])]);
        return g.AddNode("Mul", [g.AddNode("Div", [x, rms]), gamma]);
    }

    /// <summary>Exact GELU ½x·(1 + erf(x/√2)) (Gelu is an opset-20 operator; this is its opset-17 composition).</summary>
    private static string Gelu(OnnxGraphBuilder g, string x)
    {
        var erf = g.AddNode("Erf", [g.AddNode("Mul", [x, g.Scalar(0.70710678118654752f)])]);
        return g.AddNode("Mul", [g.AddNode("Mul", [x, g.Scalar(0.5f)]), g.AddNode("Add", [erf, g.Scalar(1f)])]);
    }

    /// <summary>SiLU(a) ⊙ b = a·σ(a)·b.</summary>
    private static string SwiGlu(OnnxGraphBuilder g, string a, string b) =>
        g.AddNode("Mul", [g.AddNode("Mul", [a, g.AddNode("Sigmoid", [a])]), b]);
}

/// <summary>The vocabularies in the export's metadata, serialized by generated code (no reflection: the library stays
/// Native AOT compatible).</summary>
[JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class VocabularyJson : JsonSerializerContext;
