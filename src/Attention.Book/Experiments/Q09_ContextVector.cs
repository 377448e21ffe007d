using Attention.Tensors;
using System.Numerics.Tensors;
using Attention.Mechanisms;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Q09 · The context vector c = Σⱼ αⱼ·vⱼ (Bahdanau et al., 2014, eq. 5). Measures over random draws that
/// c lies in the convex hull of the values (‖c‖ ≤ maxⱼ‖vⱼ‖, every coordinate within the values' range),
/// that c is linear in V to float precision, and that it is not linear in q or K.
/// Page: docs/answers/09-context-vector.md
/// </summary>
public sealed class Q09_ContextVector : Experiment
{
    public override int Question => 9;
    public override string Title => "The context vector: a convex combination of the values";

    public static readonly double[] LogitSpreads = [0, 0.3, 1, 3, 10, 100];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var rng = new Rng((ulong)context.Seed);
        var result = new ExperimentResult { Question = Question };
        int draws = context.Full ? 4000 : 300;
        ConvexHull(result, rng, draws);
        context.Report(0.4, "linearity");
        Linearity(result, rng, draws);
        context.Report(0.8, "figure");
        Path(result, context, rng);
        return result;
    }

    private static void ConvexHull(ExperimentResult result, Rng rng, int draws)
    {
        var table = new Table($"c = softmax(z)·V over {draws} draws per row: S ∈ [2, 64] keys, Dv ∈ [1, 32], z ~ N(0, σ²)",
            "logit std σ", "mean entropy of α (nats)", "mean ‖c‖ / maxⱼ‖vⱼ‖", "max ‖c‖ / maxⱼ‖vⱼ‖", "coordinates outside [minⱼ, maxⱼ]");
        double worstRatio = 0; long outside = 0, coordinates = 0;
        var meanRatios = new double[LogitSpreads.Length];
        for (int si = 0; si < LogitSpreads.Length; si++)
        {
            double sigma = LogitSpreads[si];
            double ratioSum = 0, ratioMax = 0, entropySum = 0; long outsideHere = 0;
            for (int t = 0; t < draws; t++)
            {
                int s = 2 + rng.NextInt(63), dv = 1 + rng.NextInt(32);
                var z = new float[s]; var v = new float[s * dv];
                rng.FillNormal(z);
                TensorPrimitives.Multiply(z, (float)sigma, z);
                rng.FillNormal(v);
                for (int j = 0; j < s; j++) // values of very different sizes, so the bound is not trivially loose
                    TensorPrimitives.Multiply(v.AsSpan(j * dv, dv), (float)Math.Exp(2 * rng.NextDouble() - 1), v.AsSpan(j * dv, dv));
                var c = new float[dv]; var alpha = new float[s];
                AttentionPooling.Forward(z, v, c, 1, s, dv, alpha);

                double maxNorm = 0, maxAbs = 0;
                for (int j = 0; j < s; j++) maxNorm = Math.Max(maxNorm, TensorPrimitives.Norm(v.AsSpan(j * dv, dv)));
                foreach (var x in v) maxAbs = Math.Max(maxAbs, Math.Abs(x));
                double ratio = TensorPrimitives.Norm(c) / maxNorm;
                ratioSum += ratio; ratioMax = Math.Max(ratioMax, ratio);
                entropySum += Q14_WhyScale.Describe(alpha).Entropy;
                // A float32 weighted sum may overshoot the range by rounding: allow a few ulps of the largest value.
                double tol = 4e-7 * maxAbs;
                for (int col = 0; col < dv; col++)
                {
                    float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
                    for (int j = 0; j < s; j++) { lo = MathF.Min(lo, v[j * dv + col]); hi = MathF.Max(hi, v[j * dv + col]); }
                    if (c[col] < lo - tol || c[col] > hi + tol) outsideHere++;
                    coordinates++;
                }
            }
            meanRatios[si] = ratioSum / draws;
            worstRatio = Math.Max(worstRatio, ratioMax);
            outside += outsideHere;
            table.AddRow(sigma, entropySum / draws, meanRatios[si], ratioMax, outsideHere);
        }
        result.Tables.Add(table);
        result.Metrics["max_norm_ratio"] = worstRatio;
        result.Metrics["coordinates_outside_range"] = outside;
        result.Metrics["coordinates_tested"] = coordinates;
        result.Metrics["mean_norm_ratio_uniform"] = meanRatios[0];
        result.Metrics["mean_norm_ratio_sharp"] = meanRatios[^1];

        result.Check("‖c‖ ≤ maxⱼ‖vⱼ‖ in every draw (up to float rounding, ratio ≤ 1 + 1e-6)", worstRatio <= 1 + 1e-6, $"max ratio {worstRatio:F7}");
        result.Check("every coordinate of c lies within [minⱼ vⱼ, maxⱼ vⱼ] of its column (a few ulps allowed)", outside == 0,
            $"{outside} of {coordinates} outside");
        result.Check("spreading the weights shrinks the context: mean ‖c‖/max‖v‖ at σ = 0 is below that at σ = 100",
            meanRatios[0] < meanRatios[^1], $"{meanRatios[0]:F3} vs {meanRatios[^1]:F3}");
    }

    private static void Linearity(ExperimentResult result, Rng rng, int draws)
    {
        double worstLinear = 0, meanQuery = 0, meanKey = 0, worstScoreMidpoint = 0;
        const int s = 16, d = 8, dv = 8;
        for (int t = 0; t < draws; t++)
        {
            float[] q1 = Normal(rng, d), q2 = Normal(rng, d), k1 = Normal(rng, s * d), k2 = Normal(rng, s * d);
            float[] v1 = Normal(rng, s * dv), v2 = Normal(rng, s * dv);
            float a = (float)(4 * rng.NextDouble() - 2), b = (float)(4 * rng.NextDouble() - 2);

            // linear in V: c(a·V₁ + b·V₂) = a·c(V₁) + b·c(V₂)
            var mixed = new float[s * dv];
            for (int i = 0; i < mixed.Length; i++) mixed[i] = a * v1[i] + b * v2[i];
            var lhs = Context(q1, k1, mixed, s, d, dv);
            var c1 = Context(q1, k1, v1, s, d, dv); var c2 = Context(q1, k1, v2, s, d, dv);
            double scale = 0, err = 0;
            for (int i = 0; i < dv; i++)
            {
                double rhs = a * (double)c1[i] + b * (double)c2[i];
                err = Math.Max(err, Math.Abs(lhs[i] - rhs));
                scale = Math.Max(scale, Math.Abs(a * c1[i]) + Math.Abs(b * c2[i]));
            }
            worstLinear = Math.Max(worstLinear, err / Math.Max(scale, 1e-30));

            // not linear in q or K: compare c at the midpoint with the midpoint of the c's
            var qm = q1.Zip(q2, (x, y) => 0.5f * (x + y)).ToArray();
            var km = k1.Zip(k2, (x, y) => 0.5f * (x + y)).ToArray();
            var cq2 = Context(q2, k1, v1, s, d, dv);
            meanQuery += MidpointGap(Context(qm, k1, v1, s, d, dv), c1, cq2);
            var ck2 = Context(q1, k2, v1, s, d, dv);
            meanKey += MidpointGap(Context(q1, km, v1, s, d, dv), c1, ck2);

            // the scores themselves are linear in q: only the softmax bends
            float[] e1 = Scores(q1, k1, s, d), e2 = Scores(q2, k1, s, d), em = Scores(qm, k1, s, d);
            for (int j = 0; j < s; j++)
                worstScoreMidpoint = Math.Max(worstScoreMidpoint, Math.Abs(em[j] - 0.5 * (e1[j] + e2[j])) / (1 + Math.Abs(em[j])));
        }
        meanQuery /= draws; meanKey /= draws;
        result.Metrics["linearity_in_v_max_relative_error"] = worstLinear;
        result.Metrics["midpoint_gap_query"] = meanQuery;
        result.Metrics["midpoint_gap_key"] = meanKey;
        result.Metrics["score_midpoint_max_error"] = worstScoreMidpoint;
        result.Tables.Add(new Table($"Linearity tests over {draws} draws (S = {s}, D = {d}, Dv = {dv}, scaled dot scores)", "property", "measured")
            .AddRow("max |c(aV₁+bV₂) − a·c(V₁) − b·c(V₂)| / (|a·c(V₁)| + |b·c(V₂)|)", worstLinear)
            .AddRow("mean ‖c(q̄) − ½(c(q₁)+c(q₂))‖ / ‖½(c(q₁)+c(q₂))‖, q̄ = ½(q₁+q₂)", meanQuery)
            .AddRow("mean ‖c(K̄) − ½(c(K₁)+c(K₂))‖ / ‖½(c(K₁)+c(K₂))‖, K̄ = ½(K₁+K₂)", meanKey)
            .AddRow("max relative error of the scores' own midpoint rule (they are linear in q)", worstScoreMidpoint));

        result.Check("c is linear in V to float32 precision (relative error below 1e-5)", worstLinear < 1e-5, $"{worstLinear:E2}");
        result.Check("c is not linear in q: the midpoint rule misses by more than 1% on average (1e5× float rounding)",
            meanQuery > 0.01, $"{meanQuery:F3}");
        result.Check("c is not linear in K: the midpoint rule misses by more than 1% on average", meanKey > 0.01, $"{meanKey:F3}");
        result.Check("the scores q·kⱼ/√d do satisfy the midpoint rule (error below 1e-5): the nonlinearity is the softmax",
            worstScoreMidpoint < 1e-5, $"{worstScoreMidpoint:E2}");
    }

    private static void Path(ExperimentResult result, ExperimentContext context, Rng rng)
    {
        const int s = 6, d = 4;
        var k = Normal(rng, s * d); var q = Normal(rng, d);
        var v = new float[s * 2];
        for (int j = 0; j < s; j++) { double angle = 2 * Math.PI * (j + 0.3 * rng.NextDouble()) / s; double r = 0.5 + rng.NextDouble(); v[2 * j] = (float)(r * Math.Cos(angle)); v[2 * j + 1] = (float)(r * Math.Sin(angle)); }
        var betas = Enumerable.Range(0, 41).Select(i => i == 0 ? 0.0 : Math.Pow(10, -1.5 + 3.5 * i / 40)).ToArray();
        var px = new double[betas.Length]; var py = new double[betas.Length];
        var c = new float[2];
        for (int i = 0; i < betas.Length; i++)
        {
            AttentionPooling.SoftLookup(q, k, v, c, 1, s, d, 2, (float)betas[i]);
            px[i] = c[0]; py[i] = c[1];
        }
        var hull = Hull(Enumerable.Range(0, s).Select(j => ((double)v[2 * j], (double)v[2 * j + 1])).ToList());
        hull.Add(hull[0]);
        var path = context.FigurePath("q09-context-path.png");
        Charts.Lines(path, "Context vector as the inverse temperature β grows from 0", "value dimension 1", "value dimension 2",
            [new Series("convex hull of the values", hull.Select(h => h.X).ToArray(), hull.Select(h => h.Y).ToArray()),
             new Series("c(β), β = 0 → 10²", px, py)]);
        result.Figures.Add(new Figure(path, "c starts at the mean of the values (β = 0) and walks to the value of the best-matching key; it never leaves the hull."));
        result.Metrics["path_start_distance_to_mean"] = Math.Sqrt(Math.Pow(px[0] - Enumerable.Range(0, s).Average(j => v[2 * j]), 2)
                                                                + Math.Pow(py[0] - Enumerable.Range(0, s).Average(j => v[2 * j + 1]), 2));
        result.Check("at β = 0 the context vector is the mean of the values (within 1e-5)", result.Metrics["path_start_distance_to_mean"] < 1e-5,
            $"distance {result.Metrics["path_start_distance_to_mean"]:E2}");
    }

    /// <summary>Andrew's monotone chain; counter-clockwise hull of 2-D points.</summary>
    public static List<(double X, double Y)> Hull(List<(double X, double Y)> points)
    {
        var p = points.OrderBy(a => a.X).ThenBy(a => a.Y).ToList();
        if (p.Count < 3) return p;
        var h = new List<(double X, double Y)>();
        static double Cross((double X, double Y) o, (double X, double Y) a, (double X, double Y) b) => (a.X - o.X) * (b.Y - o.Y) - (a.Y - o.Y) * (b.X - o.X);
        foreach (var pass in new[] { p, Enumerable.Reverse(p).ToList() })
        {
            int start = h.Count;
            foreach (var pt in pass)
            {
                while (h.Count >= start + 2 && Cross(h[^2], h[^1], pt) <= 0) h.RemoveAt(h.Count - 1);
                h.Add(pt);
            }
            h.RemoveAt(h.Count - 1);
        }
        return h;
    }

    private static float[] Context(float[] q, float[] k, float[] v, int s, int d, int dv)
    {
        var c = new float[dv];
        AttentionPooling.Forward(Scores(q, k, s, d), v, c, 1, s, dv);
        return c;
    }

    private static float[] Scores(float[] q, float[] k, int s, int d)
    {
        var e = new float[s];
        AlignmentScores.ScaledDot(q, k, e, 1, s, d);
        return e;
    }

    private static double MidpointGap(float[] atMidpoint, float[] c1, float[] c2)
    {
        double gap = 0, norm = 0;
        for (int i = 0; i < c1.Length; i++)
        {
            double mid = 0.5 * ((double)c1[i] + c2[i]);
            gap += (atMidpoint[i] - mid) * (atMidpoint[i] - mid);
            norm += mid * mid;
        }
        return Math.Sqrt(gap / Math.Max(norm, 1e-30));
    }

    private static float[] Normal(Rng rng, int n)
    {
        var x = new float[n];
        rng.FillNormal(x);
        return x;
    }
}
