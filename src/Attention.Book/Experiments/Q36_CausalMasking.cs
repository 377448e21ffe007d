using System.Diagnostics;
using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 36: the causal mask of a decoder-only language model (Vaswani et al., 2017, §3.2.3; GPT,
/// Radford et al., 2018), shown on a character model of English words from the CMU dictionary.
/// Two copies of one model — same initial weights, same batches — are trained with teacher forcing,
/// one with the causal mask and one without. The experiment (a) changes the letters after position t
/// and measures how far the change reaches, (b) draws P for a real word, (c) compares the two
/// models' training loss with their loss when they see only the prefix, as in generation (the
/// mask-free model reads the next letter during training and has nothing to read when generating),
/// and (d) samples words from both.
/// Page: docs/answers/36-causal-masking.md
/// </summary>
public sealed class Q36_CausalMasking : Experiment
{
    public override int Question => 36;
    public override string Title => "Masked attention in causal language models";

    /// <summary>Token ids: padding, beginning and end of word, then the letters a–z.</summary>
    public const int Pad = 0, Bos = 1, Eos = 2, FirstLetter = 3, Vocab = FirstLetter + 26;

    /// <summary>The word whose attention is drawn.</summary>
    public const string ShownWord = "attention";

    /// <summary>The sizes of one run.</summary>
    /// <param name="TrainWords">Words sampled from the dictionary's train split.</param>
    /// <param name="DevWords">Words sampled from its dev split (all evaluation is on these).</param>
    /// <param name="MaxLetters">Longest word used; words have at least 3 letters.</param>
    /// <param name="Dim">Model width E.</param>
    /// <param name="Heads">Attention heads per layer.</param>
    /// <param name="Layers">Transformer blocks.</param>
    /// <param name="Steps">AdamW steps per model.</param>
    /// <param name="BatchSize">Words per step.</param>
    /// <param name="LearningRate">Peak of the warm-up + cosine schedule.</param>
    /// <param name="EvalEvery">Steps between held-out evaluations for the loss curves.</param>
    /// <param name="PerturbedWords">Held-out words cut at every position for the perturbation test.</param>
    public sealed record Settings(int TrainWords, int DevWords, int MaxLetters, int Dim, int Heads, int Layers,
                                  int Steps, int BatchSize, float LearningRate, int EvalEvery, int PerturbedWords);

    /// <summary>Quick: a few seconds on two cores. Full: every alphabetic train word of 3–12 letters, a larger model, a few minutes.</summary>
    public static Settings For(bool full) => full
        ? new Settings(TrainWords: int.MaxValue, DevWords: 2000, MaxLetters: 12, Dim: 64, Heads: 4, Layers: 2,
                       Steps: 3000, BatchSize: 64, LearningRate: 3e-3f, EvalEvery: 250, PerturbedWords: 40)
        : new Settings(TrainWords: 3000, DevWords: 300, MaxLetters: 10, Dim: 32, Heads: 2, Layers: 1,
                       Steps: 300, BatchSize: 32, LearningRate: 5e-3f, EvalEvery: 60, PerturbedWords: 12);

    /// <summary>"cat" → input [BOS, c, a, t] and target [c, a, t, EOS]: position t predicts token t + 1.</summary>
    public static (int[] Input, int[] Target) Encode(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word.Length == 0 || word.AsSpan().IndexOfAnyExceptInRange('a', 'z') >= 0)
            throw new ArgumentException($"expected a non-empty word of letters a–z, got '{word}'", nameof(word));
        var input = new int[word.Length + 1];
        var target = new int[word.Length + 1];
        input[0] = Bos;
        for (int i = 0; i < word.Length; i++) input[i + 1] = target[i] = FirstLetter + (word[i] - 'a');
        target[^1] = Eos;
        return (input, target);
    }

    /// <summary>The display form of a token.</summary>
    public static string TokenText(int id) => id switch
    {
        Pad => "·", Bos => "<s>", Eos => "</s>",
        >= FirstLetter and < Vocab => ((char)('a' + id - FirstLetter)).ToString(),
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, $"expected a token id in [0, {Vocab})"),
    };

    /// <summary>
    /// A GPT-style character model (Radford et al., 2018): token and learned position embeddings, pre-LN
    /// <see cref="TransformerBlock"/>s, a final layer norm and a linear readout to the vocabulary.
    /// ids (B, T) → logits (B, T, V); logits[b, t] scores token t + 1. Whether attention is causal is an
    /// argument of <see cref="Forward"/>, so one set of weights can be run both ways.
    /// </summary>
    public sealed class CharLm : Module
    {
        private readonly TransformerBlock[] _blocks;

        /// <summary>The longest input (positions have a learned embedding each).</summary>
        public int MaxLength { get; }
        public Embedding Tokens { get; }
        public Embedding Positions { get; }
        public IReadOnlyList<TransformerBlock> Blocks => _blocks;
        public LayerNorm Final { get; }
        public Linear Head { get; }

        public CharLm(int maxLength, int dim, int heads, int layers, Rng rng)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
            ArgumentNullException.ThrowIfNull(rng);
            MaxLength = maxLength;
            Tokens = RegisterModule("tok", new Embedding(Vocab, dim, rng));
            Positions = RegisterModule("pos", new Embedding(maxLength, dim, rng));
            _blocks = new TransformerBlock[layers];
            for (int i = 0; i < layers; i++) _blocks[i] = RegisterModule($"block{i}", new TransformerBlock(dim, heads, 4 * dim, rng));
            Final = RegisterModule("ln_f", new LayerNorm(dim));
            Head = RegisterModule("head", new Linear(dim, Vocab, rng));
        }

        /// <summary>
        /// ids (B·T, row-major) → logits (B, T, V). <paramref name="lengths"/> (B) masks padded keys; <paramref name="causal"/>
        /// adds the causal mask. With <paramref name="probabilities"/> the attention runs on the composed path and each
        /// layer's P (B, H, T, T) is appended; otherwise it runs on the fused FlashAttention path.
        /// </summary>
        public Var Forward(int[] ids, int batch, int time, int[]? lengths, bool causal, List<Var>? probabilities = null)
        {
            ArgumentNullException.ThrowIfNull(ids);
            if (batch <= 0 || time <= 0 || ids.Length != batch * time)
                throw new ArgumentException($"expected {batch}×{time} token ids (B, T > 0), got {ids.Length}", nameof(ids));
            if (time > MaxLength)
                throw new ArgumentException($"expected at most {MaxLength} positions, got {time}", nameof(time));
            var x = Tokens.Forward(ids, batch, time) + Positions.Forward(Enumerable.Range(0, time).ToArray());   // (B, T, E)
            foreach (var block in _blocks)
            {
                if (probabilities is null) { x = block.Forward(x, lengths, causal); continue; }
                // TransformerBlock.Forward's pre-LN steps, written out to keep the attention's P
                var attention = block.Attention.ForwardWithProbabilities(block.Ln1.Forward(x), keyLengths: lengths, causal: causal);
                probabilities.Add(attention.Probabilities);
                x = x + attention.Output;
                x = x + block.Fc2.Forward(block.Fc1.Forward(block.Ln2.Forward(x)).Gelu());
            }
            return Head.Forward(Final.Forward(x));                                                               // (B, T, V)
        }

        /// <summary>Logits (T, V) for one sequence, without recording gradients.</summary>
        public float[] Logits(int[] ids, bool causal, List<Var>? probabilities = null)
        {
            using var _ = Var.NoGrad();
            return Forward(ids, 1, ids.Length, null, causal, probabilities).Value.ToArray();
        }
    }

    private sealed record Words(List<string> Text, List<int[]> Inputs, List<int[]> Targets)
    {
        public static Words Of(IEnumerable<string> words)
        {
            var list = words.ToList();
            var encoded = list.Select(Encode).ToList();
            return new Words(list, encoded.Select(e => e.Input).ToList(), encoded.Select(e => e.Target).ToList());
        }
    }

    /// <summary>What one training run recorded.</summary>
    private sealed record TrainingRun(string Name, bool Causal, CharLm Model, double[] Losses, List<(int Step, double Loss)> PrefixDev, double Seconds);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var s = For(context.Full);
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var rng = new Rng((ulong)context.Seed);

        // Data: alphabetic words of 3..MaxLetters letters from the fixed split of the vendored dictionary.
        var dict = CmuDict.LoadRepoCopy();
        var split = dict.Split();
        bool Usable(CmuEntry e) => e.IsAlphabetic && e.Word.Length >= 3 && e.Word.Length <= s.MaxLetters;
        var trainPool = split.Train.Where(Usable).Select(e => e.Word).ToList();
        var devPool = split.Dev.Where(Usable).Select(e => e.Word).ToList();
        var train = Words.Of(Sample(trainPool, s.TrainWords, rng));
        var dev = Words.Of(Sample(devPool, s.DevWords, rng));
        int maxLength = s.MaxLetters + 1;

        // (c) two copies of one model, trained on the same batches; only the mask differs
        var runs = new List<TrainingRun>();
        foreach (var (name, causal) in new[] { ("causal mask", true), ("no mask", false) })
        {
            var model = new CharLm(maxLength, s.Dim, s.Heads, s.Layers, new Rng((ulong)context.Seed + 1));
            runs.Add(Train(name, causal, model, train, dev, s, new Rng((ulong)context.Seed + 2), context, runs.Count / 2.0 * 0.85));
        }
        var (masked, unmasked) = (runs[0], runs[1]);
        context.Report(0.86, "evaluating");

        double unigram = UnigramLoss(train, dev);
        var lossTable = new Table($"Next-letter loss (nats per token, {dev.Text.Count} held-out words; uniform over 27 outputs = {Math.Log(27):0.00})",
            "model", "train loss (mean of last 10% of steps)", "held-out, teacher forcing as trained", "held-out, prefix only (as when generating)");
        var summary = new Dictionary<bool, (double Train, double Forced, double Prefix)>();
        foreach (var run in runs)
        {
            double trainLoss = run.Losses.Skip(run.Losses.Length * 9 / 10).Average();
            double forced = TeacherForcedLoss(run.Model, run.Causal, dev);
            double prefix = PrefixLoss(run.Model, run.Causal, dev);
            summary[run.Causal] = (trainLoss, forced, prefix);
            lossTable.AddRow(run.Name, trainLoss, forced, prefix);
        }
        lossTable.AddRow("letter frequencies (unigram, no context)", "—", unigram, unigram);
        result.Tables.Add(lossTable);
        var (mTrain, mForced, mPrefix) = summary[true];
        var (uTrain, uForced, uPrefix) = summary[false];
        LossFigure(context, result, runs);

        // (a) perturbation: change the letters after t, see which logits move
        context.Report(0.9, "perturbation test");
        var perturbRng = new Rng((ulong)context.Seed + 3);
        var perturbWords = dev.Inputs.Take(s.PerturbedWords).ToList();
        var causalFused = Perturb(masked.Model, true, perturbWords, perturbRng, composed: false);
        var causalComposed = Perturb(masked.Model, true, perturbWords, new Rng((ulong)context.Seed + 3), composed: true);
        var openFused = Perturb(unmasked.Model, false, perturbWords, new Rng((ulong)context.Seed + 3), composed: false);
        result.Tables.Add(PerturbationTable(masked.Model, unmasked.Model, perturbRng));

        // (b) the mask drawn
        var (maskZero, rowsSumToOne, nextMass) = DrawAttention(context, result, runs);

        // (d) samples
        context.Report(0.95, "sampling");
        var samples = new Table("Words sampled from each model (temperature 0.8, seeded; ✓ marks a dictionary word)", "#", "causal mask", "no mask");
        int real = 0, empty = 0, count = 8;
        var sampleRng = new Rng((ulong)context.Seed + 4);
        var sampleRngOpen = new Rng((ulong)context.Seed + 4);
        for (int i = 0; i < count; i++)
        {
            var a = SampleWord(masked.Model, true, sampleRng, 0.8f);
            var b = SampleWord(unmasked.Model, false, sampleRngOpen, 0.8f);
            bool aReal = a.Length > 0 && dict.Find(a) is not null;
            if (aReal) real++;
            if (b.Length == 0) empty++;
            samples.AddRow(i + 1, Show(a, aReal), Show(b, b.Length > 0 && dict.Find(b) is not null));
        }
        result.Tables.Add(samples);

        result.Metrics["perturbation_max_abs_change_before_t_causal"] = Math.Max(causalFused.Before, causalComposed.Before);
        result.Metrics["perturbation_max_abs_change_after_t_causal"] = causalFused.After;
        result.Metrics["perturbation_max_abs_change_before_t_no_mask"] = openFused.Before;
        result.Metrics["train_loss_causal"] = mTrain;
        result.Metrics["train_loss_no_mask"] = uTrain;
        result.Metrics["dev_loss_teacher_forced_causal"] = mForced;
        result.Metrics["dev_loss_teacher_forced_no_mask"] = uForced;
        result.Metrics["dev_loss_prefix_only_causal"] = mPrefix;
        result.Metrics["dev_loss_prefix_only_no_mask"] = uPrefix;
        result.Metrics["dev_loss_unigram"] = unigram;
        result.Metrics["no_mask_attention_on_next_token"] = nextMass;
        result.Metrics["causal_samples_in_dictionary"] = real;
        result.Metrics["no_mask_samples_empty"] = empty;
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;

        int cases = perturbWords.Sum(w => w.Length - 1);
        result.Check($"causal model: changing the letters after position t leaves every logit at positions ≤ t bit-identical ({cases} cuts of {perturbWords.Count} words, fused and composed attention)",
            causalFused.Before == 0 && causalComposed.Before == 0, $"largest change {Math.Max(causalFused.Before, causalComposed.Before):e2}");
        result.Check("causal model: the same change does move the logits after t (the test can see a change)", causalFused.After > 1e-3, $"largest change {causalFused.After:0.###}");
        result.Check("without the mask, the change reaches positions ≤ t (the future leaks backwards)", openFused.Before > 1e-3, $"largest change {openFused.Before:0.###}");
        result.Check($"P of the causal model is exactly 0 above the diagonal for '{ShownWord}', every layer and head", maskZero);
        result.Check("every row of P sums to 1 (within 1e-5)", rowsSumToOne);
        result.Check("the mask-free model's training loss ends below the causal model's (it reads the letter it must predict)",
            uTrain < mTrain, $"{F(uTrain)} vs {F(mTrain)} nats");
        result.Check("on prefixes alone, as in generation, the mask-free model is worse than the causal one",
            uPrefix > mPrefix, $"{F(uPrefix)} vs {F(mPrefix)} nats");
        result.Check("the mask-free model's prefix-only loss is far above its own teacher-forced loss (> 0.5 nats): what it learned does not exist at generation time",
            uPrefix - uForced > 0.5, $"{F(uPrefix)} vs {F(uForced)} nats");
        result.Check("with the mask, teacher forcing measures what generation sees: the causal model's two held-out losses agree within 1e-4",
            Math.Abs(mPrefix - mForced) <= 1e-4, $"{mPrefix:0.######} vs {mForced:0.######}");
        result.Check("the mask-free model puts most of its attention on the next token (mean weight > 0.5 in some head): it copies the answer",
            nextMass > 0.5, $"mean P[i, i+1] {nextMass:0.###} in its most next-looking head");
        result.Check($"on prefixes alone the mask-free model is worse than guessing uniformly (ln 27 = {Math.Log(27):0.##} nats): it is confidently wrong",
            uPrefix > Math.Log(27), $"{F(uPrefix)} nats");
        result.Check("the mask-free model ends at least half of its sampled words before the first letter (nothing to its right reads as the end of the word)",
            empty * 2 >= count, $"{empty} of {count} samples empty");
        result.Check("the causal model predicts better than letter frequencies alone", mPrefix < unigram, $"{F(mPrefix)} vs {F(unigram)} nats");

        result.Notes.Add($"Model: {s.Layers} pre-LN block(s), width {s.Dim}, {s.Heads} heads, learned positions, {masked.Model.ParameterCount:N0} parameters; " +
                         $"{s.Steps} AdamW steps of {s.BatchSize} words (length-bucketed, padded), warm-up + cosine to {s.LearningRate}; " +
                         $"{train.Text.Count:N0} train and {dev.Text.Count:N0} held-out words of 3–{s.MaxLetters} letters from the CMU dictionary's fixed split.");
        result.Notes.Add($"Training took {masked.Seconds:0.0} s with the mask and {unmasked.Seconds:0.0} s without; run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}.");
        if (empty > 0)
            result.Notes.Add($"{empty} of {count} samples from the mask-free model are empty. At the last position of a prefix there is no letter to its right " +
                             "to copy; in training that happened only where the word ends (the padding after it is masked), so it predicts the end of the word.");
        result.Notes.Add("Prefix only: the loss at position t is computed from a forward pass over tokens 0..t alone, one pass per prefix length — what a model has when it generates.");
        return result;
    }

    private static List<string> Sample(List<string> pool, int count, Rng rng)
    {
        if (count >= pool.Count) return pool;
        var order = Batching.Permutation(pool.Count, rng);
        return order.Take(count).Select(i => pool[i]).ToList();
    }

    private static TrainingRun Train(string name, bool causal, CharLm model, Words train, Words dev, Settings s, Rng batchRng,
                                     ExperimentContext context, double progressStart)
    {
        var clock = Stopwatch.StartNew();
        var optimizer = new AdamW(model.Parameters(), s.LearningRate, weightDecay: 0.01f);
        var schedule = new WarmupCosineSchedule(s.LearningRate, Math.Max(1, s.Steps / 20), s.Steps, s.LearningRate / 10);
        // the progress line (smoothed loss, tokens/s, time left) goes to the runner's status, not the console
        var progress = new TrainingProgress(s.Steps, TextWriter.Null, "tok");
        var lengths = train.Inputs.Select(x => x.Length).ToList();
        var losses = new double[s.Steps];
        var prefixDev = new List<(int, double)> { (0, PrefixLoss(model, causal, dev)) };
        IEnumerator<int[]>? batches = null;
        for (int step = 1; step <= s.Steps; step++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            if (batches is null || !batches.MoveNext())
            {
                // a new epoch: words of similar length together, batch order shuffled
                batches = Batching.BucketByLength(lengths, s.BatchSize, batchRng).GetEnumerator();
                batches.MoveNext();
            }
            var batch = batches.Current;
            var x = PaddedBatch.Pad(batch.Select(i => train.Inputs[i]).ToList(), Pad);
            var y = PaddedBatch.Pad(batch.Select(i => train.Targets[i]).ToList(), Pad);
            var logits = model.Forward(x.Ids, x.Batch, x.Time, x.Lengths, causal);                 // (B, T, V)
            var loss = Var.CrossEntropy(logits, y.TargetsIgnoringPadding());
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ByGlobalNorm(optimizer.Parameters, 1f);
            optimizer.LearningRate = schedule.At(step);
            optimizer.Step();
            losses[step - 1] = loss.Item();
            progress.Step(losses[step - 1], x.Lengths.Sum());
            if (step % 10 == 0) context.Report(progressStart + 0.425 * step / s.Steps, $"{name}: {progress.Line()}");
            if (step % s.EvalEvery == 0 || step == s.Steps)
            {
                model.Eval();
                prefixDev.Add((step, PrefixLoss(model, causal, dev)));
                model.Train();
            }
        }
        model.Eval();
        return new TrainingRun(name, causal, model, losses, prefixDev, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Held-out loss with the whole word visible to the model and its own mask (how it was trained).</summary>
    private static double TeacherForcedLoss(CharLm model, bool causal, Words words)
    {
        using var _ = Var.NoGrad();
        double total = 0; long tokens = 0;
        foreach (var batch in Batching.Batches(words.Inputs.Count, 256))
        {
            var x = PaddedBatch.Pad(batch.Select(i => words.Inputs[i]).ToList(), Pad);
            var y = PaddedBatch.Pad(batch.Select(i => words.Targets[i]).ToList(), Pad);
            var loss = Var.CrossEntropy(model.Forward(x.Ids, x.Batch, x.Time, x.Lengths, causal), y.TargetsIgnoringPadding());
            int n = x.Lengths.Sum();
            total += loss.Item() * (double)n; tokens += n;
        }
        return total / tokens;
    }

    /// <summary>
    /// Held-out loss as generation meets it: the prediction at position t comes from a forward pass over tokens
    /// 0..t only, so no later token exists to be read, mask or no mask. One batched pass per prefix length.
    /// </summary>
    private static double PrefixLoss(CharLm model, bool causal, Words words)
    {
        using var _ = Var.NoGrad();
        double total = 0; long tokens = 0;
        int longest = words.Inputs.Max(x => x.Length);
        for (int k = 1; k <= longest; k++)
        {
            var rows = Enumerable.Range(0, words.Inputs.Count).Where(i => words.Inputs[i].Length >= k).ToList();
            if (rows.Count == 0) continue;
            var ids = new int[rows.Count * k];
            for (int r = 0; r < rows.Count; r++) Array.Copy(words.Inputs[rows[r]], 0, ids, r * k, k);
            var logits = model.Forward(ids, rows.Count, k, null, causal).Value.ToArray();             // (n, k, V)
            for (int r = 0; r < rows.Count; r++)
            {
                total += NegativeLogLikelihood(logits.AsSpan(((r * k) + k - 1) * Vocab, Vocab), words.Targets[rows[r]][k - 1]);
                tokens++;
            }
        }
        return total / tokens;
    }

    private static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return Math.Log(sum) + max - logits[target];
    }

    /// <summary>Cross-entropy of held-out targets under add-one-smoothed letter (and end) frequencies of the train words.</summary>
    private static double UnigramLoss(Words train, Words dev)
    {
        var counts = new double[Vocab];
        foreach (var t in train.Targets) foreach (var id in t) counts[id]++;
        double total = 0;
        for (int id = Eos; id < Vocab; id++) total += counts[id] + 1;
        double loss = 0; long n = 0;
        foreach (var t in dev.Targets) foreach (var id in t) { loss -= Math.Log((counts[id] + 1) / total); n++; }
        return loss / n;
    }

    /// <summary>
    /// For every cut t of every word: replace the tokens after t by other letters, and return the largest
    /// |Δlogit| at positions ≤ t (Before) and after t (After).
    /// </summary>
    private static (double Before, double After) Perturb(CharLm model, bool causal, List<int[]> words, Rng rng, bool composed)
    {
        double before = 0, after = 0;
        foreach (var input in words)
        {
            var original = model.Logits(input, causal, composed ? new List<Var>() : null);
            for (int t = 0; t < input.Length - 1; t++)
            {
                var changed = (int[])input.Clone();
                for (int p = t + 1; p < changed.Length; p++) changed[p] = OtherLetter(changed[p], rng);
                var logits = model.Logits(changed, causal, composed ? new List<Var>() : null);
                for (int i = 0; i < logits.Length; i++)
                {
                    double d = Math.Abs(logits[i] - original[i]);
                    if (i / Vocab <= t) before = Math.Max(before, d); else after = Math.Max(after, d);
                }
            }
        }
        return (before, after);
    }

    private static int OtherLetter(int id, Rng rng) => FirstLetter + (id - FirstLetter + 1 + rng.NextInt(25)) % 26;

    /// <summary>One cut drawn out: ShownWord with the letters after t = 3 changed; largest |Δlogit| per position for both models.</summary>
    private static Table PerturbationTable(CharLm causal, CharLm open, Rng rng)
    {
        const int t = 3;
        var input = Encode(ShownWord).Input;
        var changed = (int[])input.Clone();
        for (int p = t + 1; p < changed.Length; p++) changed[p] = OtherLetter(changed[p], rng);
        string Text(int[] ids) => string.Concat(ids.Skip(1).Select(TokenText));
        var table = new Table($"'{Text(input)}' → '{Text(changed)}': letters after position {t} changed; largest |Δlogit| at each position",
            "position", "input", "causal mask", "no mask");
        var (c0, c1) = (causal.Logits(input, true), causal.Logits(changed, true));
        var (o0, o1) = (open.Logits(input, false), open.Logits(changed, false));
        for (int i = 0; i < input.Length; i++)
        {
            double dc = 0, dopen = 0;
            for (int v = 0; v < Vocab; v++)
            {
                dc = Math.Max(dc, Math.Abs(c1[i * Vocab + v] - c0[i * Vocab + v]));
                dopen = Math.Max(dopen, Math.Abs(o1[i * Vocab + v] - o0[i * Vocab + v]));
            }
            string token = i <= t ? TokenText(input[i]) : $"{TokenText(input[i])}→{TokenText(changed[i])}";
            table.AddRow(i, token, dc, dopen);
        }
        return table;
    }

    /// <summary>
    /// Reads P of every layer and head for ShownWord in both models and draws two heads per model: the causal
    /// model's first two, and the two of the mask-free model that put most weight on the next token. Returns the
    /// causal model's mask and row-sum checks (over every layer and head) and the mask-free model's largest mean
    /// P[i, i+1] over heads.
    /// </summary>
    private static (bool MaskZero, bool RowsSumToOne, double NextTokenMass) DrawAttention(ExperimentContext context, ExperimentResult result, List<TrainingRun> runs)
    {
        const int drawn = 2;
        var input = Encode(ShownWord).Input;
        int n = input.Length;
        var labels = input.Select(TokenText).ToList();
        bool maskZero = true, rowsSum = true;
        double nextMass = 0;
        foreach (var run in runs)
        {
            var probabilities = new List<Var>();
            var composed = run.Model.Logits(input, run.Causal, probabilities);
            var fused = run.Model.Logits(input, run.Causal);
            double pathGap = composed.Zip(fused, (a, b) => Math.Abs(a - b)).Max();
            var heads = new List<(int Layer, int Head, float[] P, double Next)>();
            for (int layer = 0; layer < probabilities.Count; layer++)
            {
                var p = probabilities[layer].Value.ToArray();                                      // (1, H, n, n)
                for (int h = 0; h < probabilities[layer].Shape[1]; h++)
                {
                    var ph = p.AsSpan(h * n * n, n * n).ToArray();
                    double next = 0;
                    for (int i = 0; i < n; i++)
                    {
                        double sum = 0;
                        for (int j = 0; j < n; j++)
                        {
                            sum += ph[i * n + j];
                            if (run.Causal && j > i && ph[i * n + j] != 0f) maskZero = false;
                        }
                        if (Math.Abs(sum - 1) > 1e-5) rowsSum = false;
                        if (i + 1 < n) next += ph[i * n + i + 1];
                    }
                    heads.Add((layer, h, ph, next / (n - 1)));
                }
            }
            if (!run.Causal) nextMass = heads.Max(x => x.Next);
            var shown = (run.Causal ? heads.Take(drawn) : heads.OrderByDescending(x => x.Next).Take(drawn))
                .OrderBy(x => x.Layer).ThenBy(x => x.Head).ToList();
            var heat = new float[shown.Count * (n + 1) - 1, n];
            var rows = new List<string>();
            for (int g = 0; g < shown.Count; g++)
            {
                int top = g * (n + 1);
                for (int i = 0; i < n; i++)
                {
                    for (int j = 0; j < n; j++) heat[top + i, j] = shown[g].P[i * n + j];
                    rows.Add(i == 0 ? $"L{shown[g].Layer + 1} H{shown[g].Head + 1}  {labels[i]}" : labels[i]);
                }
                if (g + 1 < shown.Count)
                {
                    for (int j = 0; j < n; j++) heat[top + n, j] = float.NaN;                     // a blank separator row
                    rows.Add("");
                }
            }
            string file = run.Causal ? "q36-attention-causal.png" : "q36-attention-no-mask.png";
            string path = context.FigurePath(file);
            Charts.Heatmap(path, heat, $"P for '{ShownWord}', {run.Name}", rows, labels, "key (token read)", "query (position predicting the next letter)");
            string which = heads.Count > shown.Count ? $" ({shown.Count} of its {heads.Count} heads)" : "";
            string caption = run.Causal
                ? $"Causal model{which}: row i may read keys 0..i only, so the upper triangle is exactly 0. (Composed and fused attention agree to {pathGap:e1}.)"
                : $"Mask-free model, same word{(which.Length > 0 ? $", the {shown.Count} heads with most weight on the next token" : "")}: rows put their weight on the key to their right — the next letter, which is the answer during training.";
            result.Figures.Add(new Figure(path, caption) { Heatmap = heat, RowLabels = rows, ColumnLabels = labels });
        }
        return (maskZero, rowsSum, nextMass);
    }

    private static void LossFigure(ExperimentContext context, ExperimentResult result, List<TrainingRun> runs)
    {
        var series = new List<Series>();
        foreach (var run in runs)
        {
            // training loss averaged over windows of 10 steps (single batches are noisy)
            int window = 10;
            var xs = new List<double>(); var ys = new List<double>();
            for (int start = 0; start + window <= run.Losses.Length; start += window)
            {
                xs.Add(start + window);
                ys.Add(run.Losses.Skip(start).Take(window).Average());
            }
            series.Add(new Series($"{run.Name}: training loss (teacher forcing)", xs.ToArray(), ys.ToArray()));
            series.Add(new Series($"{run.Name}: held-out loss, prefix only", run.PrefixDev.Select(p => (double)p.Step).ToArray(), run.PrefixDev.Select(p => p.Loss).ToArray()));
        }
        string path = context.FigurePath("q36-loss-curves.png");
        Charts.Lines(path, "Training with and without the causal mask", "step", "nats per token", series);
        result.Figures.Add(new Figure(path, "Without the mask the training loss falls far below the causal model's, while the loss that matters — predicting from the prefix alone — gets worse, not better."));
    }

    /// <summary>Samples a word: from &lt;s&gt;, draw the next token from softmax(logits / temperature) over letters and &lt;/s&gt; until &lt;/s&gt; or the length limit.</summary>
    public static string SampleWord(CharLm model, bool causal, Rng rng, float temperature)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "expected a temperature > 0");
        var ids = new List<int> { Bos };
        var weights = new double[Vocab];
        while (ids.Count < model.MaxLength)
        {
            var logits = model.Logits(ids.ToArray(), causal);
            var last = logits.AsSpan((ids.Count - 1) * Vocab, Vocab);
            // padding and <s> are never targets, so only </s> and the letters are candidates
            double max = double.NegativeInfinity;
            for (int v = Eos; v < Vocab; v++) max = Math.Max(max, last[v] / temperature);
            double sum = 0;
            for (int v = Eos; v < Vocab; v++) sum += weights[v] = Math.Exp(last[v] / temperature - max);
            double u = rng.NextDouble() * sum;
            int next = Vocab - 1;
            for (int v = Eos; v < Vocab; v++) { u -= weights[v]; if (u < 0) { next = v; break; } }
            if (next == Eos) break;
            ids.Add(next);
        }
        return string.Concat(ids.Skip(1).Select(TokenText));
    }

    private static string F(double nats) => Table.FormatNumber(nats);

    private static string Show(string word, bool real) => word.Length == 0 ? "(empty)" : real ? $"{word} ✓" : word;
}
