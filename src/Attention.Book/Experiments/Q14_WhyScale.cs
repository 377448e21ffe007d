using System.Globalization;
using Attention.Tensors;
using System.Numerics.Tensors;
using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Q14 · Why scale dot-product attention by 1/√d? Monte Carlo over q, k ~ N(0, I_d) with S = 64 keys:
/// Var(q·k) against d, and the softmax's entropy, top weight and Jacobian norm with and without 1/√d
/// (Vaswani et al., 2017, §3.2.1, footnote 4). Page: docs/answers/14-why-scale.md
/// </summary>
public sealed class Q14_WhyScale : Experiment
{
    public override int Question => 14;
    public override string Title => "Why scale dot-product attention by 1/√d";

    public static readonly int[] Dims = [16, 32, 64, 128, 256, 512, 1024];
    public const int Keys = 64;

    public override ExperimentResult Run(ExperimentContext context)
    {
        int trials = context.Full ? 2000 : 150;
        var rng = new Rng((ulong)context.Seed);
        var result = new ExperimentResult { Question = Question };
        var table = new Table($"Logit variance and softmax sharpness: q, k ~ N(0, I_d), S = {Keys} keys, {trials} draws per d (medians)",
            "d", "Var(q·k)", "Var/d", "entropy unscaled (nats)", "entropy scaled (nats)", "top weight unscaled", "top weight scaled");
        var gradients = new Table("Gradients (medians): J = ∂softmax/∂logits, and ∂p/∂q = J·K·scale",
            "d", "‖J‖_F unscaled", "‖J‖_F scaled", "ratio scaled/unscaled", "‖∂p/∂q‖_F unscaled", "‖∂p/∂q‖_F scaled");
        var entropyUnscaled = new double[Dims.Length]; var entropyScaled = new double[Dims.Length];
        var jacUnscaled = new double[Dims.Length]; var jacScaled = new double[Dims.Length];

        for (int di = 0; di < Dims.Length; di++)
        {
            int d = Dims[di];
            context.Cancellation.ThrowIfCancellationRequested();
            context.Report((double)di / Dims.Length, $"d = {d}");
            var q = new float[d]; var k = new float[Keys * d];
            var logits = new float[Keys]; var p = new float[Keys];
            double sum = 0, sumSq = 0; long n = 0;
            var hU = new double[trials]; var hS = new double[trials];
            var topU = new double[trials]; var topS = new double[trials];
            var jU = new double[trials]; var jS = new double[trials];
            var gU = new double[trials]; var gS = new double[trials];
            for (int t = 0; t < trials; t++)
            {
                rng.FillNormal(q); rng.FillNormal(k);
                // logits = q·Kᵀ, one row of the attention score matrix (1 × S)
                Gemm.Multiply(false, true, 1, Keys, d, 1f, q, d, k, d, 0f, logits, Keys);
                foreach (var x in logits) { sum += x; sumSq += (double)x * x; n++; }
                Softmax.Rows(logits, p, 1, Keys);
                (hU[t], topU[t], jU[t]) = Describe(p);
                gU[t] = QueryGradientNorm(p, k, d, 1.0);
                Softmax.Rows(logits, p, 1, Keys, 1f / MathF.Sqrt(d)); // the same logits, scaled by 1/√d
                (hS[t], topS[t], jS[t]) = Describe(p);
                gS[t] = QueryGradientNorm(p, k, d, 1 / Math.Sqrt(d));
            }
            double mean = sum / n, variance = sumSq / n - mean * mean;
            entropyUnscaled[di] = Median(hU); entropyScaled[di] = Median(hS);
            jacUnscaled[di] = Median(jU); jacScaled[di] = Median(jS);
            double topUnscaled = Median(topU), topScaled = Median(topS);
            double qgU = Median(gU), qgS = Median(gS);
            table.AddRow(d, variance, variance / d, entropyUnscaled[di], entropyScaled[di], topUnscaled, topScaled);
            gradients.AddRow(d, jacUnscaled[di], jacScaled[di], jacScaled[di] / jacUnscaled[di], qgU, qgS);
            result.Metrics[$"query_gradient_norm_unscaled_{d}"] = qgU;
            result.Metrics[$"query_gradient_norm_scaled_{d}"] = qgS;
            result.Metrics[$"var_qk_over_d_{d}"] = variance / d;
            result.Metrics[$"entropy_unscaled_{d}"] = entropyUnscaled[di];
            result.Metrics[$"entropy_scaled_{d}"] = entropyScaled[di];
            result.Metrics[$"top_weight_unscaled_{d}"] = topUnscaled;
            result.Metrics[$"top_weight_scaled_{d}"] = topScaled;
            result.Metrics[$"jacobian_norm_unscaled_{d}"] = jacUnscaled[di];
            result.Metrics[$"jacobian_norm_scaled_{d}"] = jacScaled[di];
        }
        result.Tables.Add(table);
        result.Tables.Add(gradients);

        double lnS = Math.Log(Keys);
        // A softmax of S i.i.d. N(0, σ²) logits has entropy ≈ ln S − σ²/2 when σ is small (second-order expansion).
        result.Metrics["entropy_uniform"] = lnS;
        result.Metrics["entropy_scaled_theory"] = lnS - 0.5;
        int i512 = Array.IndexOf(Dims, 512), i64 = Array.IndexOf(Dims, 64);
        double ratio512 = jacScaled[i512] / jacUnscaled[i512];
        result.Metrics["jacobian_ratio_scaled_over_unscaled_512"] = ratio512;

        var xs = Dims.Select(d => (double)d).ToArray();
        var entropyPath = context.FigurePath("q14-entropy.png");
        Charts.Lines(entropyPath, "Softmax entropy over 64 keys (median)", "d", "entropy (nats)",
            [new Series("unscaled q·k", xs, entropyUnscaled), new Series("scaled q·k/√d", xs, entropyScaled),
             new Series("uniform (ln 64)", xs, xs.Select(_ => lnS).ToArray())], logX: true);
        result.Figures.Add(new Figure(entropyPath, "Without 1/√d the softmax collapses onto one key as d grows; with it the entropy stays put."));
        var jacobianPath = context.FigurePath("q14-jacobian.png");
        Charts.Lines(jacobianPath, "‖∂softmax/∂logits‖_F (median)", "d", "Frobenius norm",
            [new Series("unscaled", xs, jacUnscaled), new Series("scaled", xs, jacScaled)], logX: true, logY: true);
        result.Figures.Add(new Figure(jacobianPath, "The gradient that reaches the logits shrinks as the softmax saturates."));

        bool varianceTracksD = Dims.Select((d, i) => result.Metrics[$"var_qk_over_d_{d}"]).All(r => r is > 0.85 and < 1.15);
        result.Check("Var(q·k)/d lies in [0.85, 1.15] for every d (Var(q·k) ≈ d)", varianceTracksD,
            string.Join(", ", Dims.Select(d => $"d={d}: {result.Metrics[$"var_qk_over_d_{d}"]:F3}")));
        result.Check("unscaled entropy at d = 512 is below 0.5 nats (one key takes almost all the weight)",
            entropyUnscaled[i512] < 0.5, $"measured {entropyUnscaled[i512]:F4} nats");
        result.Check("scaled entropy stays within 0.3 nats of ln S − ½ for every d",
            entropyScaled.All(h => Math.Abs(h - (lnS - 0.5)) < 0.3), string.Join(", ", entropyScaled.Select(h => h.ToString("F3", CultureInfo.InvariantCulture))));
        result.Check("unscaled entropy falls as d grows (16 → 1024)",
            entropyUnscaled.Zip(entropyUnscaled.Skip(1)).All(pair => pair.Second < pair.First),
            string.Join(" → ", entropyUnscaled.Select(h => h.ToString("F3", CultureInfo.InvariantCulture))));
        result.Check("at d = 512 the scaled softmax Jacobian is more than 10× larger than the unscaled one",
            ratio512 > 10, $"ratio {ratio512:F1}");
        result.Check("already at d = 64 the unscaled entropy is below half of the scaled one",
            entropyUnscaled[i64] < 0.5 * entropyScaled[i64], $"{entropyUnscaled[i64]:F3} vs {entropyScaled[i64]:F3} nats");
        result.Notes.Add($"{trials} draws per d; Jacobian J = diag(p) − p·pᵀ, ‖J‖²_F = Σp² − 2Σp³ + (Σp²)².");
        return result;
    }

    /// <summary>Entropy (nats), top weight and ‖diag(p) − ppᵀ‖_F of one probability row.</summary>
    public static (double Entropy, double Top, double JacobianNorm) Describe(ReadOnlySpan<float> p)
    {
        double h = 0, top = 0, s2 = 0, s3 = 0;
        foreach (float x in p)
        {
            if (x > 0) h -= x * Math.Log(x);
            top = Math.Max(top, x);
            s2 += (double)x * x; s3 += (double)x * x * x;
        }
        return (h, top, Math.Sqrt(Math.Max(0, s2 - 2 * s3 + s2 * s2)));
    }

    /// <summary>
    /// ‖∂p/∂q‖_F for p = softmax(scale·K·q): row i of J·K is pᵢ·(kᵢ − k̄) with k̄ = Σⱼ pⱼ·kⱼ, so the norm costs O(S·d).
    /// </summary>
    public static double QueryGradientNorm(ReadOnlySpan<float> p, ReadOnlySpan<float> keys, int d, double scale)
    {
        var mean = new double[d];
        for (int j = 0; j < p.Length; j++)
            for (int c = 0; c < d; c++) mean[c] += p[j] * (double)keys[j * d + c];
        double total = 0;
        for (int j = 0; j < p.Length; j++)
        {
            if (p[j] == 0) continue;
            double row = 0;
            for (int c = 0; c < d; c++) { double t = keys[j * d + c] - mean[c]; row += t * t; }
            total += (double)p[j] * p[j] * row;
        }
        return scale * Math.Sqrt(total);
    }

    public static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : 0.5 * (sorted[m - 1] + sorted[m]);
    }
}
