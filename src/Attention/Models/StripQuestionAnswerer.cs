using Attention.Autograd;
using Attention.Data;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>Which evidence a <see cref="StripQuestionAnswerer"/> combines.</summary>
public enum StripAnswererKind
{
    /// <summary>The question alone (its GRU's last state): a blind baseline.</summary>
    QuestionOnly,
    /// <summary>The image alone, pooled by a learned (unguided) attention: a deaf baseline.</summary>
    ImageOnly,
    /// <summary><see cref="Mechanisms.ParallelCoAttention"/>.</summary>
    ParallelCoAttention,
    /// <summary><see cref="Mechanisms.AlternatingCoAttention"/>.</summary>
    AlternatingCoAttention,
}

/// <summary>Sizes and choices of a <see cref="StripQuestionAnswerer"/>.</summary>
public sealed record StripAnswererConfig
{
    /// <summary>Which model.</summary>
    public StripAnswererKind Kind { get; init; } = StripAnswererKind.ParallelCoAttention;
    /// <summary>Feature width D of both modalities.</summary>
    public int Features { get; init; } = 64;
    /// <summary>Hidden width k of the co-attention layers.</summary>
    public int Hidden { get; init; } = 64;
    /// <summary>Horizontal stride of the feature windows (default 14: 9 windows, 5 on the cells and 4 straddling two).</summary>
    public int WindowStride { get; init; } = 14;
}

/// <summary>Answer logits (B, 12) and, where the model has them, the image (B, L) and question (B, T) attention maps.</summary>
public sealed record StripAnswer(Var Logits, Var? ImageWeights, Var? QuestionWeights);

/// <summary>
/// A small visual question answerer for <see cref="StripQuestions"/>, in the layout of Lu et al. (NeurIPS 2016) at one level of
/// their hierarchy: image features V are <see cref="StripWindowEncoder"/>'s windows read by a bidirectional GRU along the strip
/// (so a window knows its neighbours, which "right of" needs), question features Q a GRU over word embeddings; a co-attention
/// layer gives v̂ and q̂, and the answer is p = softmax(W_h tanh(W_w (q̂ + v̂))) (their eq. 7 with one level). The two baselines
/// use the same encoders and head with only one modality. Answer: docs/answers/43-co-attention.md
/// </summary>
public sealed class StripQuestionAnswerer : Module
{
    private readonly StripWindowEncoder _encoder;
    private readonly Gru _imageContext;
    private readonly Embedding _words;
    private readonly Gru _questionReader;
    private readonly ParallelCoAttention? _parallel;
    private readonly AlternatingCoAttention? _alternating;
    private readonly Linear? _poolHidden;
    private readonly Var? _poolScore;
    private readonly Linear _ww, _wh;

    /// <summary>The configuration.</summary>
    public StripAnswererConfig Config { get; }
    /// <summary>Feature locations L.</summary>
    public int Locations => _encoder.Locations;

    /// <summary>Builds the model with weights from <paramref name="rng"/>.</summary>
    public StripQuestionAnswerer(StripAnswererConfig config, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        if (config.Features < 2 || config.Features % 2 != 0 || config.Hidden < 1)
            throw new ArgumentException($"expected an even feature width ≥ 2 and a positive hidden width, got {config.Features} and {config.Hidden}", nameof(config));
        Config = config;
        int d = config.Features;
        _encoder = RegisterModule("encoder", new StripWindowEncoder(5, config.WindowStride, d, rng));
        _imageContext = RegisterModule("image_context", new Gru(d, d / 2, rng, bidirectional: true));
        _words = RegisterModule("words", new Embedding(StripQuestions.Vocabulary.Count, d, rng));
        _questionReader = RegisterModule("question_reader", new Gru(d, d, rng));
        switch (config.Kind)
        {
            case StripAnswererKind.ParallelCoAttention: _parallel = RegisterModule("co_attention", new ParallelCoAttention(d, config.Hidden, rng)); break;
            case StripAnswererKind.AlternatingCoAttention: _alternating = RegisterModule("co_attention", new AlternatingCoAttention(d, config.Hidden, rng)); break;
            case StripAnswererKind.ImageOnly:
                _poolHidden = RegisterModule("pool_hidden", new Linear(d, config.Hidden, rng, bias: false));
                float k = 1f / MathF.Sqrt(config.Hidden);
                _poolScore = RegisterParameter("pool_score", Var.Parameter(rng.UniformTensor([config.Hidden, 1], -k, k)));
                break;
            case StripAnswererKind.QuestionOnly: break;
            default: throw new ArgumentOutOfRangeException(nameof(config), config.Kind, "unknown answerer kind");
        }
        _ww = RegisterModule("W_w", new Linear(d, d, rng));
        _wh = RegisterModule("W_h", new Linear(d, StripQuestions.Answers.Count, rng));
    }

    /// <summary>Answers a batch of questions: logits (B, 12) and the attention maps.</summary>
    public StripAnswer Forward(IReadOnlyList<StripQuestion> questions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        if (questions.Count == 0) throw new ArgumentException("expected at least one question, got none", nameof(questions));
        int b = questions.Count, d = Config.Features;
        var padded = PaddedBatch.Pad(questions.Select(q => q.TokenIds).ToList());
        var (words, lastState) = _questionReader.Forward(_words.Forward(padded.Ids, b, padded.Time), padded.Lengths);   // (B, T, D), (1, B, D)
        Var fused;
        Var? imageWeights = null, questionWeights = null;
        if (Config.Kind == StripAnswererKind.QuestionOnly) fused = lastState.Reshape(b, d);
        else
        {
            var strips = questions.Select(q => q.Strip).ToList();
            var (image, _) = _imageContext.Forward(_encoder.Forward(Var.Constant(MnistStrips.Batch(strips))));          // V (B, L, D)
            if (Config.Kind == StripAnswererKind.ImageOnly)
            {
                var scores = _poolHidden!.Forward(image).Tanh().MatMul(_poolScore!).Reshape(b, Locations);
                imageWeights = scores.Softmax(-1);
                fused = imageWeights.Unsqueeze(1).MatMul(image).Reshape(b, d);
            }
            else
            {
                var padding = Tensor.Zeros(b, padded.Time);
                var p = padding.AsSpan();
                for (int i = 0; i < b; i++) for (int t = padded.Lengths[i]; t < padded.Time; t++) p[i * padded.Time + t] = 1f;
                var co = _parallel is not null ? _parallel.Forward(image, words, padding) : _alternating!.Forward(image, words, padding);
                (imageWeights, questionWeights) = (co.ImageWeights, co.QuestionWeights);
                fused = co.Image + co.Question;
            }
        }
        return new StripAnswer(_wh.Forward(_ww.Forward(fused).Tanh()), imageWeights, questionWeights);
    }

    /// <summary>
    /// Pretrains the window encoder alone as a cell classifier, the role ImageNet pretraining plays for the VGG and ResNet
    /// features of Lu et al.: on strips with gaps (<see cref="MnistStrips.Generate"/>), every window that sits exactly on a cell
    /// predicts that cell's digit or "blank" (11 classes) through a linear head that is then thrown away. Adam, lr 3e-3.
    /// Returns the cell accuracy of the last 20 steps. Does nothing for the question-only model, which has no image input.
    /// </summary>
    public double PretrainEncoder(MnistDigits digits, int steps, int batch, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(digits);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        if (Config.Kind == StripAnswererKind.QuestionOnly || steps == 0) return double.NaN;
        int d = Config.Features, cells = _encoder.Cells, perCell = MnistStrip.CellWidth / _encoder.Stride;
        var head = new Linear(d, 11, rng);
        var parameters = _encoder.Parameters().Concat(head.Parameters()).ToList();
        var optimizer = new Adam(parameters, 3e-3f);
        int right = 0, seen = 0;
        var aligned = Enumerable.Range(0, cells).Select(c => c * perCell).ToArray();             // the window on cell c
        for (int s = 0; s < steps; s++)
        {
            var strips = MnistStrips.Generate(digits, batch, rng);
            optimizer.ZeroGrad();
            var features = _encoder.Forward(Var.Constant(MnistStrips.Batch(strips))).IndexSelect(1, aligned);   // (B, cells, D)
            var logits = head.Forward(features);                                                              // (B, cells, 11)
            var targets = strips.SelectMany(x => Enumerable.Range(0, cells).Select(c => x.DigitInCell(c) < 0 ? 10 : x.DigitInCell(c))).ToArray();
            var loss = Var.CrossEntropy(logits, targets);
            loss.Backward();
            optimizer.Step();
            if (s >= steps - 20)
            {
                var lv = logits.Value.AsSpan();
                for (int i = 0; i < targets.Length; i++)
                {
                    int best = 0;
                    for (int k = 1; k < 11; k++) if (lv[i * 11 + k] > lv[i * 11 + best]) best = k;
                    right += best == targets[i] ? 1 : 0; seen++;
                }
            }
        }
        return (double)right / seen;
    }

    /// <summary>Image attention mass (weights (L)) inside the given cells.</summary>
    public double MassInCells(ReadOnlySpan<float> weights, IEnumerable<int> cells)
    {
        if (weights.Length != Locations) throw new ArgumentException($"expected {Locations} weights, got {weights.Length}", nameof(weights));
        ArgumentNullException.ThrowIfNull(cells);
        double mass = 0;
        foreach (int c in cells.Distinct()) mass += _encoder.MassInCell(weights, c);
        return mass;
    }

    /// <summary>A (L) weight vector as mass per pixel column of the strip (140 values).</summary>
    public float[] ColumnMass(ReadOnlySpan<float> weights)
    {
        if (weights.Length != Locations) throw new ArgumentException($"expected {Locations} weights, got {weights.Length}", nameof(weights));
        return _encoder.ColumnMass(weights);
    }
}
