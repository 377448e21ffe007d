using System.Diagnostics;
using Attention.Autograd;
using Attention.Models;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 45: relative position encodings side by side — Shaw et al. (2018), the T5 bucketed bias (Raffel et al., 2020),
/// ALiBi (Press et al., 2022) and RoPE (Su et al., 2021) — on the KJV character models of answer 44 (shared through
/// <see cref="PositionLms"/>; only Shaw is trained here). It measures (1) the relative property: every position shifted
/// by the same amount leaves the logits unchanged, against the two absolute schemes, and what that shift does to
/// perplexity; (2) what each scheme costs: parameters, the attention path, the extra memory and the forward time at a
/// long window; (3) length extrapolation from 128 to 1024 characters.
/// Page: docs/answers/45-relative-positions.md
/// </summary>
public sealed class Q45_RelativePositions : Experiment
{
    public override int Question => 45;
    public override string Title => "Relative position encodings";

    /// <summary>The relative schemes, then the absolute ones they are compared with.</summary>
    public static readonly PositionKind[] Relative = [PositionKind.Shaw, PositionKind.T5, PositionKind.Alibi, PositionKind.Rotary];
    private static readonly PositionKind[] Absolute = [PositionKind.Sinusoidal, PositionKind.Learned];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        var s = PositionLms.Settings(context.Full);
        var kinds = Relative.Concat(Absolute).ToArray();
        var models = new Dictionary<PositionKind, TrainedPositionLm>();
        for (int i = 0; i < kinds.Length; i++)
            models[kinds[i]] = PositionLms.Get(kinds[i], context.Full, context.Seed, context, 0.7 * i / kinds.Length, 0.7 * (i + 1) / kinds.Length);
        var test = PositionLms.Text.Test;

        // (1) shift: the same held-out windows of half the training context, positions starting at 0 and at half the context
        context.Report(0.72, "shifted positions");
        int half = s.Context / 2, shift = s.Context / 2;
        var window = test[..half];
        var shiftTable = new Table($"Every position shifted by {shift}: the same {half}-character held-out windows read at positions 0 … {half - 1} and {shift} … {shift + half - 1}",
            "scheme", "kind", "max |Δ logit| on one window", $"perplexity at 0 … {half - 1}", $"perplexity at {shift} … {shift + half - 1}", "change");
        var delta = new Dictionary<PositionKind, double>();
        var shiftPpl = new Dictionary<PositionKind, (double At0, double Shifted)>();
        foreach (var k in kinds)
        {
            var m = models[k].Model;
            double d;
            using (Var.NoGrad())
            {
                var a = m.Forward(window, 1, half).Value.ToArray();
                var b = m.Forward(window, 1, half, positionOffset: shift).Value.ToArray();
                d = a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
            }
            double p0 = PositionLms.Perplexity(m, half, s), p1 = PositionLms.Perplexity(m, half, s, positionOffset: shift);
            delta[k] = d; shiftPpl[k] = (p0, p1);
            shiftTable.AddRow(PositionLms.Label(k), Relative.Contains(k) ? "relative" : "absolute", d, p0, p1, $"{(p1 / p0 - 1) * 100:+0.0;−0.0;0.0}%");
            result.Metrics[$"shift_max_logit_change_{Q44_PositionAwareAttention.Key(k)}"] = d;
        }
        result.Tables.Add(shiftTable);

        // (2) cost: parameters, path, extra memory of one layer's position term, forward time of a long window
        context.Report(0.8, "cost");
        int h = s.Heads, dh = s.Dim / s.Heads, longL = 8 * s.Context, shawK = PositionLms.Config(context.Full).ShawDistance;
        var costTable = new Table($"What each scheme costs (model width {s.Dim}, {h} heads of {dh}, {s.Layers} layers; one window of {longL} characters)",
            "scheme", "position parameters", "where it acts", "attention path", $"extra floats per layer at L = S = {longL}", "forward ms (median of 3)");
        var ms = new Dictionary<PositionKind, double>();
        var timedWindow = test[..longL];
        foreach (var k in Relative.Append(PositionKind.Sinusoidal))
        {
            var m = models[k].Model;
            using (Var.NoGrad()) m.Forward(timedWindow, 1, longL);    // warm-up
            ms[k] = Measure.MedianMilliseconds(() => { using var _ = Var.NoGrad(); m.Forward(timedWindow, 1, longL); }, 3);
            var (where, path, extraFloats) = k switch
            {
                PositionKind.Shaw => ("scores (q·a^K) and values (Σ P·a^V)", "materialised", $"{(long)h * longL * (2 * shawK + 1) + (long)h * longL * longL:N0} (q·wᴷ per distance + scores)"),
                PositionKind.T5 => ("scores (+ w[bucket, h])", "materialised", $"{(long)h * longL * longL:N0} (bias H·L·S, + scores)"),
                PositionKind.Alibi => ("scores (− m_h·|i − j|)", "fused (kernel's AlibiSlopes)", "0 (the kernel adds the bias per tile)"),
                PositionKind.Rotary => ("q and k (rotation)", "fused", "0 (q, k rotated in place of the originals)"),
                _ => ("input embeddings", "fused", "0"),
            };
            costTable.AddRow(PositionLms.Label(k), Q44_PositionAwareAttention.PositionParameters(m), where, path, extraFloats, ms[k]);
            result.Metrics[$"forward_ms_{Q44_PositionAwareAttention.Key(k)}_{longL}"] = ms[k];
        }
        result.Tables.Add(costTable);

        // (3) extrapolation, from the models answer 44 trains
        context.Report(0.9, "extrapolation");
        var extra = new Table($"Length extrapolation: held-out perplexity, trained at {s.Context}",
            ["scheme", .. s.EvalLengths.Select(l => $"L = {l}"), $"L = {longL} ÷ L = {s.Context}"]);
        var ratio = new Dictionary<PositionKind, double>();
        foreach (var k in Relative)
        {
            var row = new List<object> { PositionLms.Label(k) };
            var p = s.EvalLengths.Select(l => PositionLms.Perplexity(models[k].Model, l, s)).ToArray();
            row.AddRange(p.Cast<object>());
            ratio[k] = p[^1] / p[0];
            row.Add(ratio[k]);
            extra.AddRow([.. row]);
            result.Metrics[$"ppl_{Q44_PositionAwareAttention.Key(k)}_{s.Context}"] = p[0];
            result.Metrics[$"ppl_{Q44_PositionAwareAttention.Key(k)}_{longL}"] = p[^1];
        }
        result.Tables.Add(extra);

        result.Check("Shaw, T5 and ALiBi see positions only as j − i: shifting every position leaves the logits bit-identical",
            delta[PositionKind.Shaw] == 0 && delta[PositionKind.T5] == 0 && delta[PositionKind.Alibi] == 0,
            $"max |Δ| {delta[PositionKind.Shaw]:e1}, {delta[PositionKind.T5]:e1}, {delta[PositionKind.Alibi]:e1}");
        result.Check("RoPE rotates by absolute angles, but q·k depends on m − n: the logits move only by float rounding (< 1e-3)",
            delta[PositionKind.Rotary] < 1e-3, $"max |Δ| {delta[PositionKind.Rotary]:e2}");
        result.Check("absolute schemes change their predictions when every position shifts (max |Δ logit| > 0.1)",
            Absolute.All(k => delta[k] > 0.1), string.Join(", ", Absolute.Select(k => $"{PositionLms.Label(k)} {delta[k]:0.###}")));
        result.Check("the shift makes both absolute models worse on the same text",
            Absolute.All(k => shiftPpl[k].Shifted > shiftPpl[k].At0),
            string.Join(", ", Absolute.Select(k => $"{PositionLms.Label(k)} {shiftPpl[k].At0:0.###} → {shiftPpl[k].Shifted:0.###}")));
        result.Check("RoPE adds no parameters, ALiBi none, T5 one scalar per bucket and head, Shaw 2·(2k + 1)·Dh per layer",
            Q44_PositionAwareAttention.PositionParameters(models[PositionKind.Rotary].Model) == 0 &&
            Q44_PositionAwareAttention.PositionParameters(models[PositionKind.Alibi].Model) == 0 &&
            Q44_PositionAwareAttention.PositionParameters(models[PositionKind.T5].Model) == 32 * h &&
            Q44_PositionAwareAttention.PositionParameters(models[PositionKind.Shaw].Model) == s.Layers * 2 * (2 * shawK + 1) * dh);
        result.Check($"the materialising schemes (Shaw, T5) are slower than the fused ones (RoPE, ALiBi) at L = {longL}",
            Math.Min(ms[PositionKind.Shaw], ms[PositionKind.T5]) > Math.Max(ms[PositionKind.Rotary], ms[PositionKind.Alibi]),
            $"{ms[PositionKind.Shaw]:0.#}, {ms[PositionKind.T5]:0.#} vs {ms[PositionKind.Rotary]:0.#}, {ms[PositionKind.Alibi]:0.#} ms", timing: true);

        result.Notes.Add($"Models: those of answer 44 ({s.Layers} layers, width {s.Dim}, {s.Steps} steps at context {s.Context}), plus Shaw with clipping distance k = {shawK}; Shaw trained in {models[PositionKind.Shaw].Seconds:0.0} s.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()} (forward times are from this run and this machine only).");
        result.Metrics["seconds"] = clock.Elapsed.TotalSeconds;
        return result;
    }
}
