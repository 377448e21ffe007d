using System.Globalization;
using Attention.Autograd;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Book.Experiments;

/// <summary>
/// Q17 · How does attention help with the vanishing gradient problem? A copy task (target y_t = x_t, t = 1..T)
/// solved by three models of similar size: a GRU encoder–decoder whose decoder sees the source only through the
/// encoder's last state, the same with one-head cross-attention from the decoder states to every encoder state
/// (Bahdanau et al., 2015; scored like Luong et al., 2015), and a causal two-block Transformer reading
/// [x₁..x_T, ⟨s⟩, y₁..y_{T−1}]. For each T it measures ‖∂L_T/∂x₁‖ — the gradient of the loss on the last output
/// with respect to the first source embedding, read with <see cref="Var.RetainGrad"/> — at initialisation,
/// fits log‖g‖ against T, and trains each model briefly to report copy accuracy.
/// Page: docs/answers/17-vanishing-gradients.md
/// </summary>
public sealed class Q17_VanishingGradients : Experiment
{
    public override int Question => 17;
    public override string Title => "How attention helps with vanishing gradients";

    public static readonly int[] QuickLengths = [10, 25, 50];
    public static readonly int[] FullLengths = [10, 25, 50, 100, 200];

    /// <summary>Copy symbols are ids 1..Symbols; id 0 is the start (decoder) / separator (Transformer) token.</summary>
    public const int Symbols = 8;
    public const int StartId = 0;
    public const int Vocabulary = Symbols + 1;
    /// <summary>Embedding and hidden width E = H of every model.</summary>
    public const int Width = 32;

    public static readonly string[] ModelNames = ["GRU, no attention", "GRU + attention", "Transformer"];

    public override ExperimentResult Run(ExperimentContext context)
    {
        bool full = context.Full;
        int[] lengths = full ? FullLengths : QuickLengths;
        int initSeeds = full ? 5 : 2, gradBatch = full ? 16 : 8;
        int trainSteps = full ? 200 : 30, trainBatch = full ? 32 : 16, testCount = full ? 256 : 128;
        int[] trainLengths = full ? lengths : [lengths[0], lengths[1]];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var master = new Rng((ulong)context.Seed);
        var result = new ExperimentResult { Question = Question };

        // 1. Gradient reaching x₁ from the last output, at initialisation (median over seeds × sequences).
        var grad = new double[ModelNames.Length, lengths.Length];
        var own = new double[ModelNames.Length, lengths.Length];   // ∂L_T/∂x_T: the token the last output copies
        var parameters = new long[ModelNames.Length];
        for (int ti = 0; ti < lengths.Length; ti++)
        {
            int t = lengths[ti];
            context.Cancellation.ThrowIfCancellationRequested();
            context.Report(0.3 * ti / lengths.Length, $"gradients at initialisation, T = {t}");
            for (int m = 0; m < ModelNames.Length; m++)
            {
                var norms = new List<double>(); var ownNorms = new List<double>();
                for (int s = 0; s < initSeeds; s++)
                {
                    var model = Create(m, new Rng(master.NextUInt64()));
                    parameters[m] = model.ParameterCount;
                    var source = RandomSequences(gradBatch, t, new Rng(master.NextUInt64()));
                    norms.AddRange(FirstInputGradientNorms(model, PaddedBatch.Pad(source)));
                    ownNorms.AddRange(FirstInputGradientNorms(model, PaddedBatch.Pad(source), t - 1));
                }
                own[m, ti] = Q14_WhyScale.Median(ownNorms.ToArray());
                result.Metrics[$"grad_own_token_init_{Slug(m)}_T{t}"] = own[m, ti];
                grad[m, ti] = Q14_WhyScale.Median(norms.ToArray());
                result.Metrics[$"grad_init_{Slug(m)}_T{t}"] = grad[m, ti];
            }
        }

        var gradTable = new Table($"‖∂L_T/∂x₁‖ at initialisation: loss on the last output, gradient at the first source embedding (median of {initSeeds} inits × {gradBatch} sequences; 0 = below float32's range)",
            "T", ModelNames[0], ModelNames[1], ModelNames[2], "attention / no attention");
        for (int ti = 0; ti < lengths.Length; ti++)
            gradTable.AddRow(lengths[ti], grad[0, ti], grad[1, ti], grad[2, ti],
                grad[0, ti] > 0 ? grad[1, ti] / grad[0, ti] : double.PositiveInfinity);
        result.Tables.Add(gradTable);
        var ownTable = new Table("‖∂L_T/∂x_T‖ at initialisation: the gradient reaching the token the last output must copy (same models and sequences)",
            "T", ModelNames[0], ModelNames[1], ModelNames[2]);
        for (int ti = 0; ti < lengths.Length; ti++)
            ownTable.AddRow(lengths[ti], own[0, ti], own[1, ti], own[2, ti]);
        result.Tables.Add(ownTable);

        // 2. Fits: ln‖g‖ = a + b·T (exponential decay, factor e^b per step of T) and ln‖g‖ = a + p·ln T (power law).
        var fitTable = new Table("Fits of ‖g‖ against T (points below 1e-35, where float32 runs out, left out)",
            "model", "parameters", "factor per unit of T (e^b)", "R² exponential", "power-law slope p", "R² power law", $"‖g‖(T={lengths[0]}) / ‖g‖(T={lengths[^1]})");
        for (int m = 0; m < ModelNames.Length; m++)
        {
            var xs = new List<double>(); var ys = new List<double>();
            for (int ti = 0; ti < lengths.Length; ti++)
                if (grad[m, ti] > 1e-35) { xs.Add(lengths[ti]); ys.Add(grad[m, ti]); }
            var (b, r2Exp) = FitLine(xs, ys.Select(v => Math.Log(v)).ToList());
            var (p, r2Pow) = FitLine(xs.Select(v => Math.Log(v)).ToList(), ys.Select(v => Math.Log(v)).ToList());
            double ratio = grad[m, lengths.Length - 1] > 0 ? grad[m, 0] / grad[m, lengths.Length - 1] : double.PositiveInfinity;
            fitTable.AddRow(ModelNames[m], parameters[m], Math.Exp(b), r2Exp, p, r2Pow, ratio);
            result.Metrics[$"decay_factor_per_step_{Slug(m)}"] = Math.Exp(b);
            result.Metrics[$"r2_exponential_{Slug(m)}"] = r2Exp;
            result.Metrics[$"power_slope_{Slug(m)}"] = p;
            result.Metrics[$"parameters_{Slug(m)}"] = parameters[m];
        }
        result.Tables.Add(fitTable);

        double probeSeconds = clock.Elapsed.TotalSeconds;

        // 3. A short training run per model and T: copy accuracy on fresh sequences, and the gradient again.
        var trainTable = new Table($"After {trainSteps} Adam steps (batch {trainBatch}, lr 3e-3, clip 1): copy accuracy on {testCount} fresh sequences (chance {1.0 / Symbols:0.###})",
            "T", "model", "training loss (smoothed)", "copy accuracy", "‖∂L_T/∂x_T‖ after training (the token it copies)");
        var accuracy = new double[ModelNames.Length, trainLengths.Length];
        for (int ti = 0; ti < trainLengths.Length; ti++)
        {
            int t = trainLengths[ti];
            for (int m = 0; m < ModelNames.Length; m++)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                var model = Create(m, new Rng(master.NextUInt64()));
                var rng = new Rng(master.NextUInt64());
                double loss = Train(model, t, trainSteps, trainBatch, rng, (done, line) =>
                    context.Report(0.3 + 0.7 * (ti * ModelNames.Length + m + done) / (trainLengths.Length * ModelNames.Length),
                                   $"{ModelNames[m]}, T = {t}: {line}"));
                var test = PaddedBatch.Pad(RandomSequences(testCount, t, rng));
                accuracy[m, ti] = CopyAccuracy(model, test);
                double after = Q14_WhyScale.Median(FirstInputGradientNorms(model, PaddedBatch.Pad(RandomSequences(gradBatch, t, rng)), t - 1));
                trainTable.AddRow(t, ModelNames[m], loss, accuracy[m, ti], after);
                result.Metrics[$"accuracy_{Slug(m)}_T{t}"] = accuracy[m, ti];
                result.Metrics[$"grad_own_token_trained_{Slug(m)}_T{t}"] = after;
            }
        }
        result.Tables.Add(trainTable);
        double trainSeconds = clock.Elapsed.TotalSeconds - probeSeconds;

        var x = lengths.Select(t => (double)t).ToArray();
        var path = context.FigurePath("q17-gradient-vs-length.png");
        Charts.Lines(path, "‖∂L_T/∂x₁‖ at initialisation (copy task)", "sequence length T", "gradient norm (log scale)",
            Enumerable.Range(0, ModelNames.Length).Select(m => new Series(ModelNames[m], x,
                Enumerable.Range(0, lengths.Length).Select(ti => grad[m, ti]).ToArray())).ToList(), logY: true);
        result.Figures.Add(new Figure(path, "Without attention the gradient from the last output to x₁ falls exponentially in T; with a path of length one through attention it falls only slowly."));

        int i50 = Array.IndexOf(lengths, 50), i10 = Array.IndexOf(lengths, 10);
        double gruRatio = grad[0, i10] / Math.Max(grad[0, i50], double.Epsilon);
        result.Check("GRU without attention: ‖∂L_T/∂x₁‖ at T = 50 is at least 10× smaller than at T = 10",
            gruRatio >= 10, $"{grad[0, i10]:G3} → {grad[0, i50]:G3} (÷{gruRatio:G3})");
        for (int m = 1; m < ModelNames.Length; m++)
        {
            double ratio = grad[m, i10] / grad[m, i50];
            result.Check($"{ModelNames[m]}: ‖∂L_T/∂x₁‖ changes by less than 10× from T = 10 to T = 50",
                ratio is > 0.1 and < 10, $"{grad[m, i10]:G3} → {grad[m, i50]:G3} (÷{ratio:G3})");
        }
        result.Check("at T = 50 both attention models pass at least 1000× more gradient to x₁ than the GRU without attention",
            grad[1, i50] >= 1000 * grad[0, i50] && grad[2, i50] >= 1000 * grad[0, i50],
            $"{grad[1, i50]:G3} and {grad[2, i50]:G3} vs {grad[0, i50]:G3}");
        // Exponential (or faster) decay means a fixed factor lost per unit of T on every interval, not just overall.
        var local = Enumerable.Range(0, lengths.Length - 1)
            .Where(ti => grad[0, ti + 1] > 0)
            .Select(ti => Math.Pow(grad[0, ti + 1] / grad[0, ti], 1.0 / (lengths[ti + 1] - lengths[ti]))).ToList();
        result.Check("GRU without attention: on every interval of T the gradient loses at least 10% per unit of T (exponential decay, factor < 0.9)",
            local.Count > 0 && local.All(f => f < 0.9), "factors " + string.Join(", ", local.Select(f => f.ToString("G3", CultureInfo.InvariantCulture))));
        for (int m = 1; m < ModelNames.Length; m++)
        {
            double p = result.Metrics[$"power_slope_{Slug(m)}"];
            result.Check($"{ModelNames[m]}: the decay is at most polynomial: the fit ‖g‖ ∝ T^p has p > −2 (a uniform softmax alone gives p = −1)",
                p > -2, $"p = {p:F2}");
        }
        result.Notes.Add($"Copy task over {Symbols} symbols; every model has width {Width} and sinusoidal positions added to its inputs; " +
            $"the GRU models are encoder–decoders with teacher forcing, the Transformer is decoder-only (two pre-LN blocks, 2 heads, causal). " +
            $"Per unit of T the no-attention path crosses two recurrent steps (one in the encoder, one in the decoder).");
        result.Notes.Add($"Training lengths: {string.Join(", ", trainLengths)}; {trainSteps} steps is a short budget, so the accuracies compare how fast each model starts to learn, not what it can reach. " +
            $"Wall time: gradient probes {probeSeconds:F1} s, training {trainSeconds:F1} s.");
        return result;
    }

    // ---- models ----

    /// <summary>A copy model: source ids (B, T) → logits (B, T, V) for y_t = x_t, and the embedding node whose position 0 is x₁.</summary>
    public abstract class CopyModel : Module
    {
        /// <summary>Logits (B, T, V) and the retained input embedding (B, ≥T, E) with x₁ at position 0.</summary>
        public abstract (Var Logits, Var InputEmbedding) Forward(PaddedBatch source);
    }

    /// <summary>Model <paramref name="index"/> of <see cref="ModelNames"/> with weights from <paramref name="rng"/>.</summary>
    public static CopyModel Create(int index, Rng rng) => index switch
    {
        0 => new GruCopy(Width, rng, attention: false),
        1 => new GruCopy(Width, rng, attention: true),
        2 => new TransformerCopy(Width, rng),
        _ => throw new ArgumentOutOfRangeException(nameof(index), index, $"expected a model index in [0, {ModelNames.Length})"),
    };

    /// <summary>
    /// GRU encoder–decoder: the encoder reads x₁..x_T, its last state starts the decoder, which reads ⟨s⟩, y₁..y_{T−1}
    /// (teacher forcing). Without attention the output is tanh(W·d_t); with attention, c_t = Attn(d_t, e_1..e_T) over
    /// the encoder states and the output is tanh(W·[d_t; c_t]) (Luong et al.'s attentional hidden state).
    /// </summary>
    public sealed class GruCopy : CopyModel
    {
        private readonly Embedding _embed;
        private readonly Gru _encoder, _decoder;
        private readonly MultiHeadAttention? _attention;
        private readonly Linear _combine, _output;

        public GruCopy(int width, Rng rng, bool attention)
        {
            _embed = RegisterModule("embed", new Embedding(Vocabulary, width, rng));
            _encoder = RegisterModule("encoder", new Gru(width, width, rng));
            _decoder = RegisterModule("decoder", new Gru(width, width, rng));
            if (attention) _attention = RegisterModule("attention", new MultiHeadAttention(width, 1, rng));
            _combine = RegisterModule("combine", new Linear(attention ? 2 * width : width, width, rng));
            _output = RegisterModule("output", new Linear(width, Vocabulary, rng));
        }

        public override (Var Logits, Var InputEmbedding) Forward(PaddedBatch source)
        {
            int b = source.Batch, t = source.Time;
            var positions = Var.Constant(Positions(t, _embed.Dim));                             // (T, E)
            var x = _embed.Forward(source.Ids, b, t).RetainGrad();                                // (B, T, E)
            var (encoded, final) = _encoder.Forward(x + positions, source.Lengths);               // (B, T, H), (1, B, H)
            var y = _embed.Forward(ShiftRight(source), b, t);                                     // ⟨s⟩, y₁..y_{T−1}
            var decoded = _decoder.Forward(y + positions, source.Lengths, final).Output;         // (B, T, H)
            var features = _attention is null
                ? decoded
                : Var.Concat([decoded, _attention.Forward(decoded, encoded, keyLengths: source.Lengths)], 2);   // (B, T, 2H)
            return (_output.Forward(_combine.Forward(features).Tanh()), x);
        }
    }

    /// <summary>
    /// Decoder-only Transformer over [x₁..x_T, ⟨s⟩, y₁..y_{T−1}] (length 2T) with a causal mask: two pre-LN blocks
    /// (2 heads, MLP width 2E), a final LayerNorm, and logits read at positions T..2T−1.
    /// </summary>
    public sealed class TransformerCopy : CopyModel
    {
        private readonly Embedding _embed;
        private readonly TransformerBlock[] _blocks;
        private readonly LayerNorm _norm;
        private readonly Linear _output;

        public TransformerCopy(int width, Rng rng, int layers = 2)
        {
            _embed = RegisterModule("embed", new Embedding(Vocabulary, width, rng));
            _blocks = Enumerable.Range(0, layers).Select(i => RegisterModule($"block{i}", new TransformerBlock(width, 2, 2 * width, rng))).ToArray();
            _norm = RegisterModule("norm", new LayerNorm(width));
            _output = RegisterModule("output", new Linear(width, Vocabulary, rng));
        }

        public override (Var Logits, Var InputEmbedding) Forward(PaddedBatch source)
        {
            int b = source.Batch, t = source.Time;
            var ids = new int[b * 2 * t];
            var shifted = ShiftRight(source);
            for (int i = 0; i < b; i++)
            {
                source.Ids.AsSpan(i * t, t).CopyTo(ids.AsSpan(i * 2 * t));
                shifted.AsSpan(i * t, t).CopyTo(ids.AsSpan(i * 2 * t + t));
            }
            var x = _embed.Forward(ids, b, 2 * t).RetainGrad();                                  // (B, 2T, E)
            var h = x + Var.Constant(Positions(2 * t, _embed.Dim));
            foreach (var block in _blocks) h = block.Forward(h, causal: true);
            var logits = _output.Forward(_norm.Forward(h.Slice(1, t, t)));                         // (B, T, V)
            return (logits, x);
        }
    }

    // ---- measurement and training ----

    /// <summary>
    /// For each sequence b: ‖∂ℓ_b/∂x_{p+1}⁽ᵇ⁾‖ where ℓ_b is the cross-entropy of the last output (predicting x_T) and
    /// x_{p+1}⁽ᵇ⁾ the source embedding at 0-based position <paramref name="position"/> (default 0, the first token).
    /// The loss is summed over the batch, so each item's gradient is its own.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The position is outside [0, T).</exception>
    public static double[] FirstInputGradientNorms(CopyModel model, PaddedBatch source, int position = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(source);
        int b = source.Batch, t = source.Time;
        if ((uint)position >= (uint)t)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"expected a source position in [0, {t})");
        model.ZeroGrad();
        var (logits, x) = model.Forward(source);
        var last = logits.Slice(1, t - 1, 1).Reshape(b, Vocabulary);
        var targets = Enumerable.Range(0, b).Select(i => source.Ids[i * t + t - 1]).ToArray();
        (Var.CrossEntropy(last, targets) * b).Backward();
        var norms = new double[b];
        if (x.Grad is Tensor g)
        {
            var span = g.AsSpan();
            int perItem = g.Length / b, e = g.Dim(-1);
            for (int i = 0; i < b; i++)
            {
                double s = 0;
                foreach (float v in span.Slice(i * perItem + position * e, e)) s += (double)v * v;
                norms[i] = Math.Sqrt(s);
            }
        }
        model.ZeroGrad();
        return norms;
    }

    /// <summary>Adam on the full copy loss over a pool of sequences visited in shuffled batches; returns the smoothed final loss.</summary>
    public static double Train(CopyModel model, int length, int steps, int batchSize, Rng rng, Action<double, string>? report = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        var pool = RandomSequences(Math.Max(4 * batchSize, 512), length, rng);
        var optimizer = new Adam(model.Parameters(), 3e-3f);
        var progress = new TrainingProgress(steps, TextWriter.Null, "tok");
        model.Train();
        while (progress.Steps < steps)
            foreach (var indices in Batching.Batches(pool.Count, batchSize, rng))
            {
                var batch = PaddedBatch.Pad(indices.Select(i => pool[i]).ToList());
                optimizer.ZeroGrad();
                var (logits, _) = model.Forward(batch);
                var loss = Var.CrossEntropy(logits.Reshape(batch.Batch * batch.Time, Vocabulary), batch.Ids);
                loss.Backward();
                GradClip.ByGlobalNorm(model.Parameters(), 1f);
                optimizer.Step();
                progress.Step(loss.Item(), batch.Batch * batch.Time);
                if (progress.Steps % 10 == 0) report?.Invoke((double)progress.Steps / steps, progress.Line());
                if (progress.Steps == steps) break;
            }
        model.Eval();
        return progress.SmoothedLoss;
    }

    /// <summary>Fraction of target positions whose arg-max logit is the right symbol (teacher-forced decoding).</summary>
    public static double CopyAccuracy(CopyModel model, PaddedBatch test)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(test);
        using var _ = Var.NoGrad();
        var logits = model.Forward(test).Logits.Value.AsSpan();
        int correct = 0, rows = test.Batch * test.Time;
        for (int r = 0; r < rows; r++)
        {
            var row = logits.Slice(r * Vocabulary, Vocabulary);
            int best = 0;
            for (int c = 1; c < Vocabulary; c++) if (row[c] > row[best]) best = c;
            if (best == test.Ids[r]) correct++;
        }
        return (double)correct / rows;
    }

    /// <summary><paramref name="count"/> sequences of <paramref name="length"/> symbols drawn uniformly from 1..<see cref="Symbols"/>.</summary>
    public static List<int[]> RandomSequences(int count, int length, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentNullException.ThrowIfNull(rng);
        var list = new List<int[]>(count);
        for (int i = 0; i < count; i++)
        {
            var s = new int[length];
            for (int j = 0; j < length; j++) s[j] = 1 + rng.NextInt(Symbols);
            list.Add(s);
        }
        return list;
    }

    /// <summary>Decoder inputs: each row shifted right by one with ⟨s⟩ in front (⟨s⟩, y₁..y_{T−1}).</summary>
    public static int[] ShiftRight(PaddedBatch batch)
    {
        var ids = new int[batch.Ids.Length];
        for (int i = 0; i < batch.Batch; i++)
        {
            ids[i * batch.Time] = StartId;
            batch.Ids.AsSpan(i * batch.Time, batch.Time - 1).CopyTo(ids.AsSpan(i * batch.Time + 1));
        }
        return ids;
    }

    /// <summary>Sinusoidal positions (Vaswani et al., 2017, §3.5): PE[p, 2i] = sin(p/10000^{2i/E}), PE[p, 2i+1] = cos(…); (L, E).</summary>
    public static Tensor Positions(int length, int width)
    {
        var pe = Tensor.Zeros(length, width);
        var s = pe.AsSpan();
        for (int p = 0; p < length; p++)
            for (int i = 0; i < width; i += 2)
            {
                double angle = p / Math.Pow(10000, (double)i / width);
                s[p * width + i] = (float)Math.Sin(angle);
                if (i + 1 < width) s[p * width + i + 1] = (float)Math.Cos(angle);
            }
        return pe;
    }

    /// <summary>Least-squares slope of y on x and the R² of that line.</summary>
    public static (double Slope, double R2) FitLine(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count || x.Count < 2) return (double.NaN, double.NaN);
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx); syy += (y[i] - my) * (y[i] - my);
        }
        double slope = sxy / sxx;
        return (slope, syy == 0 ? 1 : sxy * sxy / (sxx * syy));
    }

    private static string Slug(int model) => model switch { 0 => "gru", 1 => "gru_attention", _ => "transformer" };
}
