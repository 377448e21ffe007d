using System.Globalization;
using Attention.Tensors;
using System.Numerics.Tensors;
using Attention.Kernels;
using Attention.Mechanisms;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Q07 · How are attention weights computed? The alignment score zoo side by side (dot, scaled dot,
/// general, additive, negative squared distance): parameters, FLOPs per score, measured time and the
/// spread of the scores at initialisation; then −‖q − k‖² against q·k: identical softmax when key norms
/// are equal, diverging as the norms spread (Luong et al., 2015, eq. 8; Bahdanau et al., 2014).
/// Page: docs/answers/07-alignment-scores.md
/// </summary>
public sealed class Q07_AlignmentScores : Experiment
{
    public override int Question => 7;
    public override string Title => "Alignment scores: dot, scaled, general, additive, distance";

    public static readonly double[] NormSpreads = [0, 0.05, 0.1, 0.2, 0.5, 1];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var rng = new Rng((ulong)context.Seed);
        var result = new ExperimentResult { Question = Question };
        Zoo(result, rng, context.Full);
        context.Report(0.5, "distance vs dot");
        DistanceVersusDot(result, context, rng, context.Full ? 4000 : 300);
        return result;
    }

    private static void Zoo(ExperimentResult result, Rng rng, bool full)
    {
        int n = full ? 512 : 128; const int d = 64, da = 64; // L = S = n queries and keys, head size d, additive hidden size Da
        int repeats = full ? 5 : 3;
        var q = Normal(rng, n * d, 1); var k = Normal(rng, n * d, 1);
        var w = Normal(rng, d * d, 1 / Math.Sqrt(d));                     // general: W (d, d)
        var wq = Normal(rng, da * d, 1 / Math.Sqrt(d)); var uk = Normal(rng, da * d, 1 / Math.Sqrt(d));
        var v = Normal(rng, da, 1 / Math.Sqrt(da));
        var scores = new float[n * n];

        var runs = new (string Name, string Formula, string Parameters, string PairFlops, double FlopsPerScore, Action Run)[]
        {
            ("dot", "q·k", "0", "2d", 2.0 * d, () => AlignmentScores.Dot(q, k, scores, n, n, d)),
            ("scaled dot", "q·k/√d", "0", "2d (scale folded into the GEMM)", 2.0 * d, () => AlignmentScores.ScaledDot(q, k, scores, n, n, d)),
            ("general", "qᵀ·W·k", "d·d", "2d + 2d²/S (q·W once per query)", 2.0 * d + 2.0 * d * d / n,
                () => AlignmentScores.General(q, k, w, scores, n, n, d, d)),
            ("additive", "vᵀ·tanh(W·q + U·k)", "2·Da·d + Da", "3·Da + Da tanh + 2·Da·d·(1/S + 1/L)", 3.0 * da + da + 2.0 * da * d * 2 / n,
                () => AlignmentScores.Additive(q, k, wq, uk, v, scores, n, n, d, d, da)),
            ("neg. sq. distance", "−‖q − k‖²", "0", "3d (difference, square, add)", 3.0 * d,
                () => AlignmentScores.NegativeSquaredDistance(q, k, scores, n, n, d)),
        };
        var table = new Table($"Score functions on L = S = {n}, d = {d}, Da = {da}; random N(0, 1) inputs, weights N(0, 1/fan-in); time = median of {repeats}",
            "score", "formula", "parameters", "FLOPs per score", "FLOPs per score at d = 64", "time (ms)", "time / dot", "score std", "softmax entropy (nats)");
        double dotMs = 0;
        foreach (var r in runs)
        {
            double ms = Measure.MedianMilliseconds(r.Run, repeats);
            if (r.Name == "dot") dotMs = ms;
            double std = Math.Sqrt(scores.Select(x => (double)x * x).Average() - Math.Pow(scores.Average(x => (double)x), 2));
            var p = new float[n * n];
            Softmax.Rows(scores, p, n, n);
            double entropy = 0;
            for (int i = 0; i < n; i++) entropy += Q14_WhyScale.Describe(p.AsSpan(i * n, n)).Entropy;
            entropy /= n;
            string key = r.Name.Replace(". ", "_").Replace(' ', '_');
            result.Metrics[$"time_ratio_{key}"] = ms / dotMs;
            result.Metrics[$"flops_per_score_{key}"] = r.FlopsPerScore;
            result.Metrics[$"score_std_{key}"] = std;
            result.Metrics[$"entropy_{key}"] = entropy;
            table.AddRow(r.Name, r.Formula, r.Parameters, r.PairFlops, r.FlopsPerScore, ms, ms / dotMs, std, entropy);
        }
        result.Tables.Add(table);
        result.Notes.Add("Times are single runs on a shared machine: compare ratios within one run, not across runs. " +
                         "Dot, scaled dot and general use Gemm.Multiply; additive cannot be written as a GEMM. FLOPs count a tanh as one.");
        double lnS = Math.Log(n);
        result.Check("unscaled dot scores of unit-variance inputs have std ≈ √d (within 15%)",
            Math.Abs(result.Metrics["score_std_dot"] / Math.Sqrt(d) - 1) < 0.15, $"{result.Metrics["score_std_dot"]:F2} vs √{d} = {Math.Sqrt(d):F1}");
        result.Check("scaled dot scores have std ≈ 1 (within 15%)", Math.Abs(result.Metrics["score_std_scaled_dot"] - 1) < 0.15,
            $"{result.Metrics["score_std_scaled_dot"]:F3}");
        result.Check("additive scores are bounded by ‖v‖₁ and their softmax stays flatter than the unscaled dot's",
            ScoresBounded(wq, uk, v, q, k, n, d, da) && result.Metrics["entropy_additive"] > result.Metrics["entropy_dot"],
            $"entropy additive {result.Metrics["entropy_additive"]:F3} vs dot {result.Metrics["entropy_dot"]:F3} (ln S = {lnS:F3})");
        result.Check("measured: additive scores take longer than dot-product scores on the same inputs",
            result.Metrics["time_ratio_additive"] > 1, $"ratio {result.Metrics["time_ratio_additive"]:F1}", timing: true);
        // a FLOP count is arithmetic on the formulas, not a measurement: a note, not a check
        result.Notes.Add($"FLOPs per score (counted from the formulas, not measured): dot {result.Metrics["flops_per_score_dot"]:0}, " +
                         $"additive {result.Metrics["flops_per_score_additive"]:0} (3·Da + Da tanh at Da = d, against 2d).");

        static bool ScoresBounded(float[] wq, float[] uk, float[] v, float[] q, float[] k, int n, int d, int da)
        {
            var e = new float[n * n];
            AlignmentScores.Additive(q, k, wq, uk, v, e, n, n, d, d, da);
            float bound = TensorPrimitives.SumOfMagnitudes(v) * (1 + 1e-6f);
            return e.All(x => Math.Abs(x) <= bound);
        }
    }

    private static void DistanceVersusDot(ExperimentResult result, ExperimentContext context, Rng rng, int queries)
    {
        const int s = 64, d = 64;
        float scale = 1f / MathF.Sqrt(d);
        var table = new Table($"softmax(q·k/√d) against softmax(−‖q − k‖²/(2√d)): {queries} queries, {s} keys, d = {d}; key norms exp(σ·g), g ~ N(0, 1)",
            "norm spread σ", "argmax disagreement", "max |Δ weight|", "mean KL(dot ‖ distance) (nats)", "mean ‖k‖/√d picked by dot", "mean ‖k‖/√d picked by distance");
        var disagreement = new double[NormSpreads.Length]; var kl = new double[NormSpreads.Length];
        double equalMaxDelta = 0, equalShiftSpread = 0;
        double naturalDisagreement = 0;
        for (int si = 0; si <= NormSpreads.Length; si++)
        {
            bool natural = si == NormSpreads.Length; // last row: plain N(0, I) keys, whose norms spread by themselves
            double sigma = natural ? double.NaN : NormSpreads[si];
            var k = Normal(rng, s * d, 1);
            var norms = new double[s];
            for (int j = 0; j < s; j++)
            {
                var row = k.AsSpan(j * d, d);
                norms[j] = TensorPrimitives.Norm(row);
                if (natural) continue;
                double target = Math.Sqrt(d) * Math.Exp(sigma * Normal(rng, 1, 1)[0]); // equal norms √d when σ = 0
                TensorPrimitives.Multiply(row, (float)(target / norms[j]), row);
                norms[j] = target;
            }
            var q = Normal(rng, queries * d, 1);
            float[] dot = new float[queries * s], dist = new float[queries * s];
            AlignmentScores.ScaledDot(q, k, dot, queries, s, d);
            AlignmentScores.NegativeSquaredDistance(q, k, dist, queries, s, d);
            TensorPrimitives.Multiply(dist, 0.5f * scale, dist);
            float[] pDot = new float[queries * s], pDist = new float[queries * s];
            Softmax.Rows(dot, pDot, queries, s);
            Softmax.Rows(dist, pDist, queries, s);
            int differ = 0; double maxDelta = 0, klSum = 0, normDot = 0, normDist = 0, shiftSpread = 0;
            for (int i = 0; i < queries; i++)
            {
                var a = pDot.AsSpan(i * s, s); var b = pDist.AsSpan(i * s, s);
                int ia = TensorPrimitives.IndexOfMax(a), ib = TensorPrimitives.IndexOfMax(b);
                if (ia != ib) differ++;
                normDot += norms[ia]; normDist += norms[ib];
                for (int j = 0; j < s; j++)
                {
                    maxDelta = Math.Max(maxDelta, Math.Abs(a[j] - b[j]));
                    if (a[j] > 0) klSum += a[j] * Math.Log(a[j] / Math.Max(b[j], 1e-45));
                }
                // −½‖q−k‖²/√d − q·k/√d = −(‖q‖² + ‖k‖²)/(2√d): with equal key norms the same for every key of the row
                double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
                for (int j = 0; j < s; j++) { double g = dist[i * s + j] - dot[i * s + j]; lo = Math.Min(lo, g); hi = Math.Max(hi, g); }
                shiftSpread = Math.Max(shiftSpread, (hi - lo) / Math.Max(1, Math.Abs(lo)));
            }
            if (natural)
            {
                double meanNorm = norms.Average(), normStd = Math.Sqrt(norms.Select(x => (x - meanNorm) * (x - meanNorm)).Average());
                naturalDisagreement = (double)differ / queries;
                table.AddRow($"N(0, I) keys (relative norm std {normStd / meanNorm:F3})", naturalDisagreement, maxDelta, klSum / queries,
                             normDot / queries / Math.Sqrt(d), normDist / queries / Math.Sqrt(d));
                result.Metrics["argmax_disagreement_gaussian_keys"] = naturalDisagreement;
                result.Metrics["relative_norm_std_gaussian_keys"] = normStd / meanNorm;
                continue;
            }
            disagreement[si] = (double)differ / queries; kl[si] = klSum / queries;
            if (sigma == 0) { equalMaxDelta = maxDelta; equalShiftSpread = shiftSpread; }
            table.AddRow(sigma, disagreement[si], maxDelta, kl[si], normDot / queries / Math.Sqrt(d), normDist / queries / Math.Sqrt(d));
            string key = sigma.ToString(System.Globalization.CultureInfo.InvariantCulture).Replace('.', '_');
            result.Metrics[$"argmax_disagreement_{key}"] = disagreement[si];
            result.Metrics[$"kl_dot_distance_{key}"] = kl[si];
        }
        result.Tables.Add(table);
        result.Notes.Add("Key norms in the table are divided by √d, so equal norms read 1.");
        result.Metrics["equal_norms_max_weight_difference"] = equalMaxDelta;

        result.Check("with equal key norms the two softmaxes agree to float precision (max |Δ weight| below 1e-5) and pick the same key for every query",
            equalMaxDelta < 1e-5 && disagreement[0] == 0, $"max |Δ| {equalMaxDelta:E2}, disagreement {disagreement[0]:P1}");
        result.Check("with equal key norms the scores differ by a constant per row (relative spread below 1e-5)",
            equalShiftSpread < 1e-5, $"{equalShiftSpread:E2}");
        result.Check("with norm spread σ = 1 the two pick different keys for more than 20% of queries",
            disagreement[^1] > 0.2, $"{disagreement[^1]:P1}");
        result.Check("plain N(0, I) keys, whose norms differ only by chance, already make the two disagree for more than 10% of queries",
            naturalDisagreement > 0.1, $"{naturalDisagreement:P1}");
        result.Check("the KL divergence between the two grows with the norm spread (σ = 0.1 → 0.5 → 1)",
            kl[Array.IndexOf(NormSpreads, 0.1)] < kl[Array.IndexOf(NormSpreads, 0.5)] && kl[Array.IndexOf(NormSpreads, 0.5)] < kl[^1],
            string.Join(" → ", kl.Select(x => x.ToString("G3", CultureInfo.InvariantCulture))));

        var path = context.FigurePath("q07-distance-vs-dot.png");
        Charts.Lines(path, "Negative squared distance vs dot product as key norms spread", "key-norm spread σ", "fraction / nats",
            [new Series("argmax disagreement", NormSpreads, disagreement), new Series("KL(dot ‖ distance)", NormSpreads, kl)]);
        result.Figures.Add(new Figure(path, "Equal norms: identical attention. Unequal norms: dot favours long keys, distance penalises them."));
    }

    private static float[] Normal(Rng rng, int n, double scale)
    {
        var x = new float[n];
        rng.FillNormal(x);
        if (scale != 1) TensorPrimitives.Multiply(x, (float)scale, x);
        return x;
    }
}
