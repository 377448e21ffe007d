using Attention.Autograd;
using Attention.Mechanisms;
using Attention.Nn;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q01 · The concept of attention, as Nadaraya–Watson kernel regression (Nadaraya, 1964; Watson, 1964; d2l.ai §11.2):
/// a query x attends over training keys xᵢ with weights α(x, xᵢ) = softmax_i(−(x − xᵢ)²/(2σ²)) and pools their
/// values yᵢ. Data y = 2 sin x + x^0.8 + ε, ε ~ N(0, 0.5²), 50 training points in [0, 5]. Compares average pooling,
/// fixed σ = 1, and σ learned by gradient descent on the leave-one-out error; checks the σ → 0 (nearest
/// neighbour) and σ → ∞ (global mean) limits numerically. Page: docs/answers/01-concept-of-attention.md
/// </summary>
public sealed class Q01_ConceptOfAttention : Experiment
{
    public override int Question => 1;
    public override string Title => "The concept of attention: Nadaraya–Watson pooling";

    public const int Train = 50, Test = 50;
    public const double NoiseStd = 0.5;

    public static double Truth(double x) => 2 * Math.Sin(x) + Math.Pow(x, 0.8);

    public override ExperimentResult Run(ExperimentContext context)
    {
        // the published setting repeats the whole comparison on many independent data sets
        int datasets = context.Full ? 200 : 20;
        var result = new ExperimentResult { Question = Question };
        var sigmas = new[] { 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0 };
        var sweep = new double[sigmas.Length];
        double mseAverage = 0, mseFixed = 0, mseLearned = 0, looFixed = 0, looLearned = 0;
        var learnedSigmas = new double[datasets];
        double nnGap = 0, meanGap = 0, rowSumGap = 0;
        int nearTies = 0;
        int learnedBeatsFixedLoo = 0;
        (float[] X, float[] Y, float[] Alpha, float[] Pred, float[] PredFixed, float Sigma)? first = null;

        var xTest = Enumerable.Range(0, Test).Select(i => (float)(i * 0.1)).ToArray();
        var yTruth = xTest.Select(x => (float)Truth(x)).ToArray();
        for (int d = 0; d < datasets; d++)
        {
            context.Cancellation.ThrowIfCancellationRequested();
            context.Report((double)d / datasets, $"data set {d + 1}/{datasets}");
            var rng = new Rng((ulong)(context.Seed + 7919 * d));
            var x = Enumerable.Range(0, Train).Select(_ => rng.Uniform(0f, 5f)).Order().ToArray();
            var y = x.Select(v => (float)(Truth(v) + NoiseStd * rng.NextStandardNormal())).ToArray();

            // average pooling: f(x) = mean(y), the query is ignored
            float mean = y.Average();
            mseAverage += Mse(xTest.Select(_ => mean).ToArray(), yTruth);

            var pred = new float[Test]; var alpha = new float[Test * Train];
            Pool(xTest, x, y, 1.0, pred, alpha);
            mseFixed += Mse(pred, yTruth);
            foreach (var (s, i) in sigmas.Select((s, i) => (s, i)))
            {
                var p = new float[Test];
                Pool(xTest, x, y, s, p);
                sweep[i] += Mse(p, yTruth);
            }

            // learned σ: minimise the leave-one-out error on the training set (a point may not attend to itself)
            var (w, looStart, looEnd) = LearnWidth(x, y, steps: context.Full ? 300 : 150);
            double sigma = 1 / Math.Abs(w);
            learnedSigmas[d] = sigma;
            looFixed += looStart; looLearned += looEnd;
            if (looEnd < looStart) learnedBeatsFixedLoo++;
            var predLearned = new float[Test]; var alphaLearned = new float[Test * Train];
            Pool(xTest, x, y, sigma, predLearned, alphaLearned);
            mseLearned += Mse(predLearned, yTruth);

            // limits: σ → 0 gives the nearest training point's y, σ → ∞ the mean of all y
            var tiny = new float[Test]; var huge = new float[Test];
            Pool(xTest, x, y, 1e-4, tiny);
            Pool(xTest, x, y, 1e4, huge);
            for (int i = 0; i < Test; i++)
            {
                // a query (almost) equidistant from two training points has two nearest neighbours and the limit is
                // their mean; those ties are counted and left out of the comparison
                var order = Enumerable.Range(0, Train).OrderBy(j => Math.Abs(x[j] - xTest[i])).ToArray();
                double d1 = Math.Pow(x[order[0]] - xTest[i], 2), d2 = Math.Pow(x[order[1]] - xTest[i], 2);
                if (d2 - d1 < 1e-6) nearTies++;
                else nnGap = Math.Max(nnGap, Math.Abs(tiny[i] - y[order[0]]));
                meanGap = Math.Max(meanGap, Math.Abs(huge[i] - mean));
                rowSumGap = Math.Max(rowSumGap, Math.Abs(alphaLearned.AsSpan(i * Train, Train).ToArray().Sum() - 1));
            }
            first ??= (x, y, alphaLearned, predLearned, pred, (float)sigma);
        }
        mseAverage /= datasets; mseFixed /= datasets; mseLearned /= datasets; looFixed /= datasets; looLearned /= datasets;
        for (int i = 0; i < sweep.Length; i++) sweep[i] /= datasets;
        Array.Sort(learnedSigmas);
        double medianSigma = learnedSigmas[datasets / 2];
        int best = Array.IndexOf(sweep, sweep.Min());

        var table = new Table($"Test MSE against the noiseless curve, {Test} test points in [0, 4.9], mean over {datasets} data sets of {Train} noisy points",
            "pooling", "weights α(x, xᵢ)", "test MSE");
        table.AddRow("average pooling", "1/n", mseAverage);
        table.AddRow("Nadaraya–Watson, σ = 1", "softmax(−(x − xᵢ)²/2)", mseFixed);
        table.AddRow($"Nadaraya–Watson, σ learned (median σ = {medianSigma:F3})", "softmax(−((x − xᵢ)·w)²/2)", mseLearned);
        result.Tables.Add(table);
        var sweepTable = new Table("Test MSE against the kernel width σ (same data sets)", "σ", "test MSE");
        for (int i = 0; i < sigmas.Length; i++) sweepTable.AddRow(sigmas[i], sweep[i]);
        result.Tables.Add(sweepTable);
        var limits = new Table("The two limits, largest gap over every test point of every data set", "limit", "compared with", "max |difference|");
        limits.AddRow("σ = 1e-4", $"y of the nearest training point ({nearTies} near-tied queries left out)", nnGap);
        limits.AddRow("σ = 1e4", "mean of all y (average pooling)", meanGap);
        result.Tables.Add(limits);

        result.Metrics["mse_average_pooling"] = mseAverage;
        result.Metrics["mse_fixed_sigma"] = mseFixed;
        result.Metrics["mse_learned_sigma"] = mseLearned;
        result.Metrics["loo_mse_fixed_sigma"] = looFixed;
        result.Metrics["loo_mse_learned_sigma"] = looLearned;
        result.Metrics["learned_sigma_median"] = medianSigma;
        result.Metrics["best_sigma_in_sweep"] = sigmas[best];
        result.Metrics["limit_nearest_neighbour_gap"] = nnGap;
        result.Metrics["limit_mean_gap"] = meanGap;
        result.Metrics["limit_near_ties"] = nearTies;
        for (int i = 0; i < sigmas.Length; i++) result.Metrics[$"mse_sigma_{sigmas[i].ToString(System.Globalization.CultureInfo.InvariantCulture).Replace('.', '_')}"] = sweep[i];

        var f = first!.Value;
        var fitPath = context.FigurePath("q01-fit.png");
        var xs = xTest.Select(v => (double)v).ToArray();
        Charts.Lines(fitPath, "Attention pooling on the first data set", "x", "y",
        [
            new Series("truth 2 sin x + x^0.8", xs, yTruth.Select(v => (double)v).ToArray()),
            new Series("average pooling", xs, xs.Select(_ => (double)f.Y.Average()).ToArray()),
            new Series("σ = 1", xs, f.PredFixed.Select(v => (double)v).ToArray()),
            new Series($"σ learned ({f.Sigma:F2})", xs, f.Pred.Select(v => (double)v).ToArray()),
        ]);
        result.Figures.Add(new Figure(fitPath, "Average pooling ignores the query; kernel attention follows the curve."));
        var heat = new float[Test, Train];
        for (int i = 0; i < Test; i++) for (int j = 0; j < Train; j++) heat[i, j] = f.Alpha[i * Train + j];
        var heatPath = context.FigurePath("q01-weights.png");
        Charts.Heatmap(heatPath, heat, $"α(x, xᵢ), learned σ = {f.Sigma:F2}", xLabel: "training key xᵢ (sorted)", yLabel: "test query x");
        result.Figures.Add(new Figure(heatPath, "Each query puts its weight on the training points near it: a soft, differentiable nearest-neighbour lookup.")
        {
            Heatmap = heat,
            RowLabels = xTest.Select(v => v.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            ColumnLabels = f.X.Select(v => v.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
        });
        var sweepPath = context.FigurePath("q01-sigma.png");
        Charts.Lines(sweepPath, "Test MSE against the kernel width", "σ", "test MSE",
            [new Series("Nadaraya–Watson", sigmas, sweep), new Series("average pooling", sigmas, sigmas.Select(_ => mseAverage).ToArray())], logX: true, logY: true);
        result.Figures.Add(new Figure(sweepPath, "Small σ overfits the noise (nearest neighbour), large σ underfits (the mean)."));

        result.Check("attention pooling with σ = 1 has a lower test MSE than average pooling", mseFixed < mseAverage,
            $"{mseFixed:F4} vs {mseAverage:F4}");
        result.Check("learning σ lowers the leave-one-out training MSE below that of σ = 1 on most data sets",
            learnedBeatsFixedLoo > datasets / 2, $"{learnedBeatsFixedLoo}/{datasets}; mean {looLearned:F4} vs {looFixed:F4}");
        result.Check("learned σ has a lower test MSE than average pooling", mseLearned < mseAverage, $"{mseLearned:F4} vs {mseAverage:F4}");
        result.Check("σ → 0 (1e-4) reproduces the nearest neighbour's y within 1e-4", nnGap < 1e-4, $"max gap {nnGap:E2}");
        result.Check("σ → ∞ (1e4) reproduces the mean of y within 1e-4", meanGap < 1e-4, $"max gap {meanGap:E2}");
        result.Check("test MSE is U-shaped in σ: both ends of the sweep are worse than its best σ",
            best > 0 && best < sigmas.Length - 1, $"best σ = {sigmas[best]}");
        result.Check("attention weights sum to 1 over the training points", rowSumGap < 1e-5, $"max |Σα − 1| = {rowSumGap:E2}");
        result.Notes.Add($"x ~ U(0, 5) sorted, ε ~ N(0, {NoiseStd}²), seeds {context.Seed} + 7919·k. Learned σ: Adam (lr 0.05) on w = 1/σ, leave-one-out MSE, start w = 1.");
        return result;
    }

    /// <summary>
    /// Nadaraya–Watson pooling with a Gaussian kernel: scores = −(x − xᵢ)²/(2σ²) (<see cref="AlignmentScores.NegativeSquaredDistance"/>
    /// with D = 1, scaled), output = softmax(scores)·y (<see cref="AttentionPooling.Forward"/>). Queries (L), keys and values (S).
    /// </summary>
    public static void Pool(float[] queries, float[] keys, float[] values, double sigma, float[] output, float[]? weights = null)
    {
        var scores = new float[queries.Length * keys.Length];
        AlignmentScores.NegativeSquaredDistance(queries, keys, scores, queries.Length, keys.Length, 1);
        float c = (float)(1 / (2 * sigma * sigma));
        for (int i = 0; i < scores.Length; i++) scores[i] *= c;
        AttentionPooling.Forward(scores, values, output, queries.Length, keys.Length, 1, weights is null ? default : weights.AsSpan());
    }

    /// <summary>
    /// Learns w in α = softmax(−((x − xᵢ)·w)²/2) (d2l.ai §11.2.4's parametric Nadaraya–Watson) by Adam on the
    /// leave-one-out MSE of the training set. Returns w and the leave-one-out MSE at w = 1 and at the end.
    /// </summary>
    public static (double W, double LooStart, double LooEnd) LearnWidth(float[] x, float[] y, int steps)
    {
        int n = x.Length;
        var sq = new float[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) sq[i * n + j] = (x[i] - x[j]) * (x[i] - x[j]);
        var distances = Var.Constant(Tensor.FromArray(sq, n, n));
        var self = Tensor.Zeros(n, n);
        for (int i = 0; i < n; i++) self[i, i] = 1f;
        var target = Var.Constant(Tensor.FromArray((float[])y.Clone(), n, 1));
        var w = Var.Parameter(Tensor.FromArray([1f], 1), "w");
        var adam = new Adam([w], 0.05f);
        Var Loss()
        {
            var scores = distances * w.Square() * -0.5f;                         // −((xᵢ − xⱼ)·w)²/2  (n, n)
            var alpha = scores.MaskedFill(self, float.NegativeInfinity).Softmax(-1);
            return Var.Mse(alpha.MatMul(target), target);
        }
        double start = 0;
        for (int s = 0; s < steps; s++)
        {
            adam.ZeroGrad();
            var loss = Loss();
            if (s == 0) start = loss.Item();
            loss.Backward();
            adam.Step();
        }
        using var _ = Var.NoGrad();
        return (w.Value[0], start, Loss().Item());
    }

    private static double Mse(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - (double)b[i]) * (a[i] - b[i]);
        return s / a.Length;
    }
}
