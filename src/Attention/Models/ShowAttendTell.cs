using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Seq2Seq;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>Sizes and choices of a <see cref="ShowAttendTell"/> model.</summary>
public sealed record ShowAttendTellConfig
{
    /// <summary>Cells per strip (the image is 28 × 28·Cells).</summary>
    public int Cells { get; init; } = 5;
    /// <summary>Horizontal stride of the 28 × 28 feature windows (divides 28).</summary>
    public int WindowStride { get; init; } = 7;
    /// <summary>Width D of an annotation vector a_i.</summary>
    public int Features { get; init; } = 64;
    /// <summary>Width of the word embedding E y.</summary>
    public int Embedding { get; init; } = 32;
    /// <summary>LSTM width n.</summary>
    public int Hidden { get; init; } = 96;
    /// <summary>Hidden width of the attention MLP f_att.</summary>
    public int AttentionSize { get; init; } = 64;
    /// <summary>The gate β_t = σ(f_β(h_{t−1})) on the context (Xu et al., 2015, §4.2.1); off: β = 1.</summary>
    public bool Gate { get; init; } = true;
}

/// <summary>Teacher-forced output of <see cref="ShowAttendTell.Forward"/>.</summary>
/// <param name="Logits">(B, T, 11): digits 0–9 and end-of-caption.</param>
/// <param name="Weights">Per step the weights the context was built from (B, L): α_t for soft attention, the one-hot choice for hard.</param>
/// <param name="Alphas">Per step the attention distribution α_t (B, L), soft in both cases (the doubly stochastic penalty reads these).</param>
/// <param name="SampleLogProbs">Per step log α_{t, z_t} (B) when the mechanism samples (REINFORCE hard attention, in training); otherwise empty.</param>
public sealed record CaptionOutput(Var Logits, IReadOnlyList<Var> Weights, IReadOnlyList<Var> Alphas, IReadOnlyList<Var> SampleLogProbs);

/// <summary>One greedy caption: the digits (without end-of-caption) and, for every emitted step (end included), the weights (L) the
/// context was read with: α_t for soft attention, the one-hot location for hard attention (argmax α outside training).</summary>
public sealed record Caption(int[] Digits, float[][] Attention);

/// <summary>
/// "Show, Attend and Tell" (Xu et al., ICML 2015) for <see cref="MnistStrip"/>s: an encoder turns the image into L annotation
/// vectors a_i (here <see cref="StripWindowEncoder"/>'s windows, in the paper a 14 × 14 grid of VGG conv features), an LSTM
/// writes the caption one token per step, and at every step an attention MLP chooses where to look:
/// <code>
///   e_ti = f_att(a_i, h_{t−1}) = v_aᵀ tanh(U_a a_i + W_a h_{t−1})     α_t = softmax_i(e_t)            
///   soft:  ẑ_t = β_t Σ_i α_ti a_i,   β_t = σ(f_β(h_{t−1}))                                 
///   hard:  ẑ_t = β_t a_{z_t},        z_t ~ Categorical(α_t)  (REINFORCE, §4.1) or straight-through Gumbel-softmax
///   h_t, c_t = LSTM([E y_{t−1}; ẑ_t], h_{t−1}, c_{t−1});   h_0, c_0 = tanh(f_init,h/c(mean_i a_i))
///   p(y_t) = softmax(L_o(E y_{t−1} + L_h h_t + L_z ẑ_t))            (the deep output)
/// </code>
/// Training adds the doubly stochastic penalty λ Σ_i (1 − Σ_t α_ti)² (<see cref="DoublyStochasticPenalty"/>), which pushes
/// the attention to visit every location about once over the caption. Tokens: 0–9 the digits, 10 end-of-caption, 11 start.
/// Answer: docs/answers/27-attention-in-image-captioning.md
/// </summary>
public sealed class ShowAttendTell : Module
{
    /// <summary>The end-of-caption token (also the last output class).</summary>
    public const int End = 10;
    /// <summary>The start token (input only).</summary>
    public const int Start = 11;
    /// <summary>Output classes: 10 digits and end-of-caption.</summary>
    public const int Classes = 11;

    private readonly StripWindowEncoder _encoder;
    private readonly IDecoderAttention _attention;
    private readonly bool _soft;
    private readonly Embedding _embedding;
    private readonly Linear _initH, _initC, _gate, _lh, _lz, _lo;
    private readonly LstmCell _cell;

    /// <summary>The configuration.</summary>
    public ShowAttendTellConfig Config { get; }
    /// <summary>Number of feature locations L.</summary>
    public int Locations => _encoder.Locations;

    /// <summary>
    /// Builds the model with every weight from <paramref name="rng"/>. The scorer is <see cref="BahdanauAttention"/> (soft attention);
    /// <paramref name="attention"/>, when given, builds the mechanism instead from (query width n, feature width D, rng) — e.g. a
    /// hard-attention wrapper around a Bahdanau scorer (<c>Alignments.HardAttention</c>: straight-through Gumbel-softmax, or REINFORCE
    /// with the trainer adding its score-function loss on <see cref="CaptionOutput.SampleLogProbs"/>). Such a mechanism must return
    /// its pre-softmax scores, from which <see cref="CaptionOutput.Alphas"/> are computed.
    /// </summary>
    public ShowAttendTell(ShowAttendTellConfig config, Rng rng, Func<int, int, Rng, IDecoderAttention>? attention = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        if (config.Features < 1 || config.Embedding < 1 || config.Hidden < 1 || config.AttentionSize < 1)
            throw new ArgumentException($"expected positive widths, got features {config.Features}, embedding {config.Embedding}, hidden {config.Hidden}, attention {config.AttentionSize}", nameof(config));
        Config = config;
        int d = config.Features, n = config.Hidden, m = config.Embedding;
        _encoder = RegisterModule("encoder", new StripWindowEncoder(config.Cells, config.WindowStride, d, rng));
        _soft = attention is null;
        _attention = attention is null ? new BahdanauAttention(n, d, config.AttentionSize, rng) : attention(n, d, rng);
        if (_attention.QuerySize != n || _attention.EncoderSize != d)
            throw new ArgumentException($"expected an attention with query width {n} and feature width {d}, got {_attention.QuerySize} and {_attention.EncoderSize}", nameof(attention));
        if (_attention is Module module) RegisterModule("attention", module);
        _embedding = RegisterModule("embedding", new Embedding(Classes + 1, m, rng));
        _initH = RegisterModule("init_h", new Linear(d, n, rng));
        _initC = RegisterModule("init_c", new Linear(d, n, rng));
        _gate = RegisterModule("f_beta", new Linear(n, 1, rng));
        _cell = RegisterModule("lstm", new LstmCell(m + d, n, rng));
        _lh = RegisterModule("L_h", new Linear(n, m, rng, bias: false));
        _lz = RegisterModule("L_z", new Linear(d, m, rng, bias: false));
        _lo = RegisterModule("L_o", new Linear(m, Classes, rng));
    }

    /// <summary>Pixels (B, 1, 28, 28·Cells) → annotation vectors (B, L, D).</summary>
    public Var Encode(Tensor pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        return _encoder.Forward(Var.Constant(pixels));
    }

    /// <summary>
    /// Teacher-forced pass over <paramref name="strips"/>: the decoder reads start, y_1 … y_n and predicts y_1 … y_n, end;
    /// the batch runs max(n) + 1 steps and targets past a caption's end are −100 (see <see cref="Targets"/>).
    /// </summary>
    public CaptionOutput Forward(IReadOnlyList<MnistStrip> strips)
    {
        CheckStrips(strips);
        int b = strips.Count, steps = strips.Max(s => s.Digits.Length) + 1;
        var a = Encode(MnistStrips.Batch(strips));
        var (memory, h, c, state) = Begin(a);
        var inputs = new int[b * steps];
        for (int i = 0; i < b; i++)
            for (int t = 0; t < steps; t++)
                inputs[i * steps + t] = t == 0 ? Start : t - 1 < strips[i].Digits.Length ? strips[i].Digits[t - 1] : End;
        var embedded = _embedding.Forward(inputs, b, steps);                                    // (B, T, m)
        var logits = new Var[steps];
        var weights = new List<Var>(steps); var alphas = new List<Var>(steps); var logProbs = new List<Var>();
        for (int t = 0; t < steps; t++)
        {
            var previous = embedded.Slice(1, t, 1).Reshape(b, Config.Embedding);
            (logits[t], h, c, state, var step) = Step(memory, previous, h, c, state);
            weights.Add(step.Weights);
            alphas.Add(Alpha(step, memory));
            if (step.SampleLogProb is not null) logProbs.Add(step.SampleLogProb);
        }
        return new CaptionOutput(Var.Stack(logits, 1), weights, alphas, logProbs);
    }

    /// <summary>Targets of <see cref="Forward"/>: (B·T) ids, y_1 … y_n, end, then −100 (ignored) up to T = max(n) + 1.</summary>
    public static int[] Targets(IReadOnlyList<MnistStrip> strips)
    {
        CheckStrips(strips);
        int b = strips.Count, steps = strips.Max(s => s.Digits.Length) + 1;
        var targets = new int[b * steps];
        for (int i = 0; i < b; i++)
            for (int t = 0; t < steps; t++)
            {
                int n = strips[i].Digits.Length;
                targets[i * steps + t] = t < n ? strips[i].Digits[t] : t == n ? End : -100;
            }
        return targets;
    }

    /// <summary>
    /// The doubly stochastic penalty of Xu et al. (2015, §4.2.1), averaged over the batch: (1/B) Σ_b Σ_i (1 − Σ_{t ≤ n_b} α_bti)²,
    /// the sum over t running over each caption's real steps (its n_b digits and the end token).
    /// alphas: one (B, L) per step; lengths: n_b + 1 per item.
    /// </summary>
    public static Var DoublyStochasticPenalty(IReadOnlyList<Var> alphas, int[] lengths)
    {
        ArgumentNullException.ThrowIfNull(alphas);
        ArgumentNullException.ThrowIfNull(lengths);
        if (alphas.Count == 0) throw new ArgumentException("expected at least one step of attention weights, got none", nameof(alphas));
        int b = alphas[0].Shape[0], l = alphas[0].Shape[1];
        if (lengths.Length != b) throw new ArgumentException($"expected {b} lengths (one per item), got {lengths.Length}", nameof(lengths));
        Var? total = null;
        for (int t = 0; t < alphas.Count; t++)
        {
            if (alphas[t].Rank != 2 || alphas[t].Shape[0] != b || alphas[t].Shape[1] != l)
                throw new ArgumentException($"expected attention weights of shape ({b}, {l}) at step {t}, got {Var.Fmt(alphas[t].Shape)}", nameof(alphas));
            var keep = Tensor.Zeros(b, 1);
            var k = keep.AsSpan();
            for (int i = 0; i < b; i++) k[i] = t < lengths[i] ? 1f : 0f;
            var term = alphas[t] * Var.Constant(keep);
            total = total is null ? term : total + term;
        }
        return (1f - total!).Square().Sum() * (1f / b);
    }

    /// <summary>Greedy captions (argmax token, argmax location for hard attention) of at most <paramref name="maxDigits"/> digits.</summary>
    public List<Caption> Greedy(IReadOnlyList<MnistStrip> strips, int maxDigits)
    {
        CheckStrips(strips);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDigits);
        bool wasTraining = Training;
        Eval();
        try
        {
            using var _ = Var.NoGrad();
            int b = strips.Count;
            var (memory, h, c, state) = Begin(Encode(MnistStrips.Batch(strips)));
            var previous = Enumerable.Repeat(Start, b).ToArray();
            var digits = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
            var attention = Enumerable.Range(0, b).Select(_ => new List<float[]>()).ToArray();
            var done = new bool[b];
            for (int t = 0; t <= maxDigits && done.Contains(false); t++)
            {
                var embedded = _embedding.Forward(previous, b, 1).Reshape(b, Config.Embedding);
                (var logits, h, c, state, var step) = Step(memory, embedded, h, c, state);
                var lv = logits.Value.AsSpan(); var av = step.Weights.Value.AsSpan();
                int l = memory.Source;
                for (int i = 0; i < b; i++)
                {
                    if (done[i]) continue;
                    int best = 0;
                    for (int k = 1; k < Classes; k++) if (lv[i * Classes + k] > lv[i * Classes + best]) best = k;
                    if (t == maxDigits) best = End;                                                 // a caption never runs past maxDigits
                    attention[i].Add(av.Slice(i * l, l).ToArray());
                    if (best == End) done[i] = true; else digits[i].Add(best);
                    previous[i] = best;
                }
            }
            return Enumerable.Range(0, b).Select(i => new Caption(digits[i].ToArray(), attention[i].ToArray())).ToList();
        }
        finally { Train(wasTraining); }
    }

    /// <summary>Attention mass of a (L) weight vector inside <paramref name="cell"/> (each window's weight spread over its columns).</summary>
    public double MassInCell(ReadOnlySpan<float> weights, int cell)
    {
        if (weights.Length != Locations) throw new ArgumentException($"expected {Locations} weights, got {weights.Length}", nameof(weights));
        if ((uint)cell >= (uint)Config.Cells) throw new ArgumentOutOfRangeException(nameof(cell), cell, $"expected a cell in [0, {Config.Cells})");
        return _encoder.MassInCell(weights, cell);
    }

    /// <summary>A (L) weight vector as mass per pixel column of the strip (28·Cells values).</summary>
    public float[] ColumnMass(ReadOnlySpan<float> weights)
    {
        if (weights.Length != Locations) throw new ArgumentException($"expected {Locations} weights, got {weights.Length}", nameof(weights));
        return _encoder.ColumnMass(weights);
    }

    private (AttentionMemory Memory, Var H, Var C, AttentionStepState State) Begin(Var a)
    {
        int b = a.Shape[0], l = a.Shape[1];
        var lengths = Enumerable.Repeat(l, b).ToArray();
        var memory = _attention.Prepare(a, lengths);
        var mean = a.Mean(1);                                                                   // (B, D)
        return (memory, _initH.Forward(mean).Tanh(), _initC.Forward(mean).Tanh(), AttentionStepState.Initial(lengths));
    }

    private (Var Logits, Var H, Var C, AttentionStepState State, AttentionStep Step) Step(AttentionMemory memory, Var previous, Var h, Var c, AttentionStepState state)
    {
        var step = _attention.Step(memory, h, state);                                           // query h_{t−1}
        var z = step.Context;                                                                   // Σ α a, or a_z
        if (Config.Gate) z = _gate.Forward(h).Sigmoid() * z;                                    // β_t ẑ_t
        var (h2, c2) = _cell.Step(_cell.InputGates(Var.Concat([previous, z], 1)), h, c);
        var logits = _lo.Forward(previous + _lh.Forward(h2) + _lz.Forward(z));                  // the deep output
        return (logits, h2, c2, state.Next(step.Weights), step);
    }

    // α_t as a distribution: the soft weights, or for another mechanism (hard attention) the softmax of the scorer's logits
    private Var Alpha(AttentionStep step, AttentionMemory memory) =>
        _soft ? step.Weights
            : AttentionMasks.MaskedSoftmax(step.Scores ?? throw new InvalidOperationException("hard attention returned no scores"), memory.PaddingMask);

    private static void CheckStrips(IReadOnlyList<MnistStrip> strips)
    {
        ArgumentNullException.ThrowIfNull(strips);
        if (strips.Count == 0) throw new ArgumentException("expected at least one strip, got none", nameof(strips));
    }
}
