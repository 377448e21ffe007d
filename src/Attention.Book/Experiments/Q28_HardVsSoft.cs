using Attention.Alignments;
using Attention.Plots;
using Attention.Seq2Seq;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q28 · Hard vs soft attention on T-Perm: the same encoder–decoder with soft Bahdanau attention, hard attention
/// trained by REINFORCE with a moving-average baseline (Xu et al., 2015, §4.1), and hard attention with the
/// straight-through Gumbel-softmax (Jang et al., 2017). Reports exact-match accuracy, AER of the (argmax) alignment,
/// the relative variance of the gradient on a fixed batch, and the time per training step.
/// Page: docs/answers/28-hard-vs-soft.md
/// </summary>
public sealed class Q28_HardVsSoft : Experiment
{
    public override int Question => 28;
    public override string Title => "Hard vs soft attention";

    public static readonly string[] Variants = ["soft", "hard, REINFORCE + baseline", "hard, Gumbel-softmax ST"];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        bool full = context.Full;
        int steps = full ? 800 : 60, train = full ? 4000 : 600, test = full ? 300 : 50, draws = full ? 12 : 4;
        ulong seed = (ulong)context.Seed;
        var task = AlignmentLab.Perm(train, test, seed);
        var table = new Table($"T-Perm, {train} training pairs, {steps} Adam steps (batch 32), {test} test pairs; Bahdanau scorer in all three",
            "attention", "exact match", "AER (argmax)", "gradient variance E‖g − ḡ‖²/‖ḡ‖²", "ms per training step");
        var probe = Seq2SeqBatch.Create(task.TrainPairs.Take(32).ToList());
        var acc = new double[3]; var aer = new double[3]; var noise = new double[3]; var ms = new double[3];
        var curves = new List<Series>();
        for (int v = 0; v < 3; v++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            int at = v;
            Func<int, int, Rng, IDecoderAttention>? factory = v switch
            {
                1 => (h, e, rng) => new HardAttention(new BahdanauAttention(h, e, 32, rng), HardAttentionMode.Reinforce, new Rng(seed + 5)),
                2 => (h, e, rng) => new HardAttention(new BahdanauAttention(h, e, 32, rng), HardAttentionMode.GumbelStraightThrough, new Rng(seed + 5)),
                _ => null,
            };
            var extra = v == 1 ? AlignmentLab.ReinforceTerm() : null;
            var (model, report) = AlignmentLab.Train(task, AttentionKind.Bahdanau, steps, seed + 7, factory, extra,
                (f, s) => context.Report((at + 0.9 * f) / 3, $"{Variants[at]}: {s}"));
            var score = AlignmentLab.Evaluate(model, task);
            // gradient noise at the end of training, on one fixed batch; REINFORCE's includes its surrogate term
            var (variance, _) = AlignmentLab.GradientNoise(model, probe, draws, v == 1 ? AlignmentLab.ReinforceTerm() : null);
            acc[v] = score.Accuracy; aer[v] = score.AerArgmax; noise[v] = variance; ms[v] = 1000 * report.Seconds / report.Steps;
            table.AddRow(Variants[v], acc[v], aer[v], noise[v], ms[v]);
            string key = v switch { 0 => "soft", 1 => "reinforce", _ => "gumbel" };
            result.Metrics[$"accuracy_{key}"] = acc[v];
            result.Metrics[$"aer_{key}"] = aer[v];
            result.Metrics[$"gradient_variance_{key}"] = noise[v];
            result.Metrics[$"ms_per_step_{key}"] = ms[v];
            var smoothed = Smooth(report.Losses, 25);
            curves.Add(new Series(Variants[v], Enumerable.Range(0, smoothed.Length).Select(i => (double)i).ToArray(), smoothed));
        }
        result.Tables.Add(table);
        var path = context.FigurePath("q28-loss.png");
        Charts.Lines(path, "Training cross-entropy (moving average of 25 steps)", "step", "cross-entropy", curves, logY: true);
        result.Figures.Add(new Figure(path, "Soft attention gets an exact gradient and learns fastest; the hard variants learn from noisier signals."));

        result.Check("soft attention's gradient is deterministic (relative variance below 1e-12 over repeated passes)", noise[0] < 1e-12, $"{noise[0]:E2}");
        result.Check("both hard variants have a noisy gradient (relative variance above 1e-3)", noise[1] > 1e-3 && noise[2] > 1e-3,
            $"REINFORCE {noise[1]:E2}, Gumbel-ST {noise[2]:E2}");
        result.Check("soft attention reaches at least the exact-match accuracy of REINFORCE hard attention", acc[0] >= acc[1], $"{acc[0]:P1} vs {acc[1]:P1}");
        result.Check("soft attention's step costs no more than 1.5× a hard step (hard attention saves nothing when the scorer runs over all positions anyway)",
            ms[0] < 1.5 * Math.Min(ms[1], ms[2]), $"{ms[0]:F1} vs {ms[1]:F1} / {ms[2]:F1} ms", timing: true);
        result.Notes.Add($"Gradient variance: {draws} forward/backward passes on one fixed batch of 32 after training, all parameters; 0 means every pass gives the same gradient.");
        result.Notes.Add("REINFORCE reward: log-likelihood of the reference under the sampled alignment; baseline: moving average (0.9) of the batch-mean reward. Gumbel-ST: τ = 1. At test time both hard variants take argmax α.");
        return result;
    }

    private static double[] Smooth(IReadOnlyList<double> xs, int window)
    {
        var result = new double[xs.Count];
        double sum = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            sum += xs[i];
            if (i >= window) sum -= xs[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }
}
