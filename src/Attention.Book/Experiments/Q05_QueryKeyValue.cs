using Attention.Tensors;
using System.Numerics.Tensors;
using Attention.Mechanisms;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Q05 · Queries, keys and values: attention as a soft dictionary lookup (Vaswani et al., 2017, §3.2).
/// (a) Random unit keys, Gaussian values, query = noisy key: retrieval error of softmax(β·q·Kᵀ)·V against
/// the inverse temperature β, from the mean of the values (β = 0) to the hard lookup (β → ∞).
/// (b) Queries that live in another space (q = A·k + noise): with W_Q = I retrieval is near chance; a W_Q
/// fitted by least squares on a few pairs maps queries into key space and retrieval recovers.
/// Page: docs/answers/05-query-key-value.md
/// </summary>
public sealed class Q05_QueryKeyValue : Experiment
{
    public override int Question => 5;
    public override string Title => "Queries, keys, values: attention as a soft dictionary";

    public const int Dim = 32, Keys = 64, ValueDim = 16;
    public const double QueryNoise = 1.5;
    /// <summary>With unit keys and q = k_t + N(0, σ²/d·I), the posterior over t is softmax(q·k·d/σ²): the soft
    /// lookup with β* = d/σ² is the posterior mean of the value, the least-squares-optimal answer.</summary>
    public static readonly double BayesBeta = Dim / (QueryNoise * QueryNoise);
    public static readonly double[] Betas = [0, 0.5, 1, 2, 5, 10, BayesBeta, 20, 50, 100, 200, 500, 1000, 1e4];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var rng = new Rng((ulong)context.Seed);
        var result = new ExperimentResult { Question = Question };
        int queries = context.Full ? 20000 : 600;
        SoftLookupSweep(result, context, rng, queries);
        context.Report(0.5, "fitted W_Q");
        Projection(result, rng, queries);
        return result;
    }

    private static void SoftLookupSweep(ExperimentResult result, ExperimentContext context, Rng rng, int queries)
    {
        var keys = UnitRows(rng, Keys, Dim);
        var values = Normal(rng, Keys * ValueDim);
        var mean = new float[ValueDim];
        for (int j = 0; j < Keys; j++) TensorPrimitives.Add(mean, values.AsSpan(j * ValueDim, ValueDim), mean);
        TensorPrimitives.Multiply(mean, 1f / Keys, mean);

        var q = new float[queries * Dim]; var target = new int[queries];
        for (int i = 0; i < queries; i++)
        {
            target[i] = rng.NextInt(Keys);
            NoisyCopy(rng, keys.AsSpan(target[i] * Dim, Dim), q.AsSpan(i * Dim, Dim), QueryNoise);
        }
        // hard lookup: the value of the key with the largest q·k
        var dots = new float[queries * Keys];
        AlignmentScores.Dot(q, keys, dots, queries, Keys, Dim);
        var hard = new int[queries];
        int correct = 0;
        for (int i = 0; i < queries; i++) { hard[i] = TensorPrimitives.IndexOfMax(dots.AsSpan(i * Keys, Keys)); if (hard[i] == target[i]) correct++; }
        double hardError = 0, meanError = 0;
        for (int i = 0; i < queries; i++)
        {
            hardError += Squared(values.AsSpan(hard[i] * ValueDim, ValueDim), values.AsSpan(target[i] * ValueDim, ValueDim));
            meanError += Squared(mean, values.AsSpan(target[i] * ValueDim, ValueDim));
        }
        hardError /= queries; meanError /= queries;

        var table = new Table($"Soft lookup softmax(β·q·Kᵀ)·V: {Keys} random unit keys in R^{Dim}, query = noisy key (noise norm ≈ {QueryNoise}), {queries} queries",
            "β", "mean ‖c − v_target‖²", "mean ‖c − v_hard‖²", "mean top weight");
        double sameAsHard = 0; // after the loop: at the largest β
        var errors = new double[Betas.Length]; var toHard = new double[Betas.Length];
        var output = new float[queries * ValueDim]; var weights = new float[queries * Keys];
        for (int b = 0; b < Betas.Length; b++)
        {
            AttentionPooling.SoftLookup(q, keys, values, output, queries, Keys, Dim, ValueDim, (float)Betas[b], weights);
            double err = 0, dh = 0, top = 0; int same = 0;
            for (int i = 0; i < queries; i++)
            {
                var c = output.AsSpan(i * ValueDim, ValueDim);
                err += Squared(c, values.AsSpan(target[i] * ValueDim, ValueDim));
                double toHardHere = Squared(c, values.AsSpan(hard[i] * ValueDim, ValueDim));
                dh += toHardHere;
                if (toHardHere < 1e-6) same++;
                top += TensorPrimitives.Max(weights.AsSpan(i * Keys, Keys));
            }
            errors[b] = err / queries; toHard[b] = dh / queries;
            sameAsHard = (double)same / queries;
            table.AddRow(b == Array.IndexOf(Betas, BayesBeta) ? $"{Table.FormatNumber(BayesBeta)} (= d/σ²)" : Table.FormatNumber(Betas[b]),
                         errors[b], toHard[b], top / queries);
        }
        table.AddRow("hard lookup (argmax)", hardError, 0.0, 1.0);
        table.AddRow("mean of all values", meanError, "", "");
        result.Tables.Add(table);
        int best = Array.IndexOf(errors, errors.Min());
        result.Metrics["hard_lookup_accuracy"] = (double)correct / queries;
        result.Metrics["hard_lookup_error"] = hardError;
        result.Metrics["mean_of_values_error"] = meanError;
        result.Metrics["soft_error_beta_0"] = errors[0];
        result.Metrics["soft_error_beta_max"] = errors[^1];
        result.Metrics["soft_to_hard_distance_beta_max"] = toHard[^1];
        result.Metrics["best_beta"] = Betas[best];
        result.Metrics["best_soft_error"] = errors[best];

        var path = context.FigurePath("q05-error-vs-beta.png");
        var bx = Betas.Skip(1).ToArray();
        Charts.Lines(path, "Soft dictionary lookup: retrieval error against inverse temperature β", "β", "mean ‖c − v_target‖²",
            [new Series("soft lookup", bx, errors.Skip(1).ToArray()),
             new Series("hard lookup (β → ∞)", bx, bx.Select(_ => hardError).ToArray()),
             new Series("mean of values (β = 0)", bx, bx.Select(_ => meanError).ToArray())], logX: true);
        result.Figures.Add(new Figure(path, "Small β averages every value; large β returns the value of the best-matching key; in between, β = d/σ² is the posterior mean."));
        result.Metrics["bayes_beta"] = BayesBeta;
        int bayes = Array.IndexOf(Betas, BayesBeta);
        result.Metrics["soft_error_bayes_beta"] = errors[bayes];

        result.Check("at β = 0 the soft lookup returns the mean of the values (errors agree within 1e-5 relative)",
            Math.Abs(errors[0] - meanError) <= 1e-5 * meanError, $"{errors[0]:F6} vs {meanError:F6}");
        result.Metrics["same_as_hard_fraction_beta_max"] = sameAsHard;
        result.Check($"at β = {Betas[^1]:G} the soft lookup returns the hard lookup's value (‖c − v_hard‖² < 1e-6) for at least 98% of queries; the rest are near-ties",
            sameAsHard >= 0.98, $"{sameAsHard:P1}; mean ‖c − v_hard‖² {toHard[^1]:E2}");
        result.Check("the noisy queries make the hard lookup imperfect (accuracy between 50% and 99%)",
            correct > 0.5 * queries && correct < 0.99 * queries, $"{(double)correct / queries:P1}");
        result.Check("the soft lookup at β* = d/σ² has a lower squared error than both the hard lookup and the mean",
            errors[bayes] < hardError && errors[bayes] < meanError, $"{errors[bayes]:F3} vs hard {hardError:F3}, mean {meanError:F3}");
        result.Check("the best β on the grid is within a factor 2 of β* = d/σ²",
            Betas[best] >= BayesBeta / 2 && Betas[best] <= 2 * BayesBeta, $"best β = {Betas[best]:G4}, β* = {BayesBeta:G4}");
    }

    public static readonly int[] TrainingPairs = [8, 16, 32, 64, 256];

    private static void Projection(ExperimentResult result, Rng rng, int queries)
    {
        // The queries come from another space: q = A·k + noise, A an unknown random d × d map.
        var a = Normal(rng, Dim * Dim);
        TensorPrimitives.Multiply(a, 1f / MathF.Sqrt(Dim), a);
        var keys = UnitRows(rng, Keys, Dim);
        var values = Normal(rng, Keys * ValueDim);
        var target = new int[queries];
        var q = new float[queries * Dim];
        var scratch = new float[Dim];
        for (int i = 0; i < queries; i++)
        {
            target[i] = rng.NextInt(Keys);
            MapRow(a, keys.AsSpan(target[i] * Dim, Dim), scratch);
            NoisyCopy(rng, scratch, q.AsSpan(i * Dim, Dim), 0.1);
        }
        const float beta = 20f;
        var table = new Table($"Queries from another space, q = A·k + noise. Lookup softmax({beta}·(q·W_Q)·Kᵀ)·V, {queries} queries, {Keys} keys",
            "W_Q", "pairs used to fit", "top-1 retrieval accuracy", "mean ‖c − v_target‖");
        var (accIdentity, errIdentity) = Evaluate(q, keys, values, target, Identity(Dim), beta);
        table.AddRow("identity (no projection)", 0, accIdentity, errIdentity);
        result.Metrics["identity_accuracy"] = accIdentity;
        var accuracies = new double[TrainingPairs.Length];
        for (int t = 0; t < TrainingPairs.Length; t++)
        {
            int n = TrainingPairs[t];
            // training pairs from fresh random unit vectors, never the stored keys: W_Q must generalise
            var x = UnitRows(rng, n, Dim); var qx = new float[n * Dim];
            for (int i = 0; i < n; i++) { MapRow(a, x.AsSpan(i * Dim, Dim), scratch); NoisyCopy(rng, scratch, qx.AsSpan(i * Dim, Dim), 0.1); }
            var w = FitLeastSquares(qx, x, n, Dim, 1e-2);
            var (acc, err) = Evaluate(q, keys, values, target, w, beta);
            accuracies[t] = acc;
            table.AddRow("least squares q·W ≈ k", n, acc, err);
            result.Metrics[$"fitted_accuracy_{n}"] = acc;
        }
        result.Tables.Add(table);
        int at32 = Array.IndexOf(TrainingPairs, 32), at256 = Array.IndexOf(TrainingPairs, 256);
        result.Check("without a projection, queries from another space retrieve near chance (accuracy below 20%)",
            accIdentity < 0.2, $"{accIdentity:P1} (chance {1.0 / Keys:P1})");
        result.Check($"a W_Q fitted on 256 pairs retrieves the right value for over 90% of queries",
            accuracies[at256] > 0.9, $"{accuracies[at256]:P1}");
        result.Check("the fitted W_Q improves on the identity once it has about d = 32 pairs (by more than 30 points)",
            accuracies[at32] > accIdentity + 0.3, $"{accuracies[at32]:P1} vs {accIdentity:P1}");
    }

    /// <summary>Top-1 accuracy of argmax (q·W)·Kᵀ and mean error of the soft lookup with inverse temperature β.</summary>
    private static (double Accuracy, double Error) Evaluate(float[] q, float[] keys, float[] values, int[] target, float[] w, float beta)
    {
        int n = target.Length;
        var projected = new float[n * Dim];
        Attention.Kernels.Gemm.Multiply(false, false, n, Dim, Dim, 1f, q, Dim, w, Dim, 0f, projected, Dim);
        var weights = new float[n * Keys]; var output = new float[n * ValueDim];
        AttentionPooling.SoftLookup(projected, keys, values, output, n, Keys, Dim, ValueDim, beta, weights);
        int correct = 0; double err = 0;
        for (int i = 0; i < n; i++)
        {
            if (TensorPrimitives.IndexOfMax(weights.AsSpan(i * Keys, Keys)) == target[i]) correct++;
            err += TensorPrimitives.Distance(output.AsSpan(i * ValueDim, ValueDim), values.AsSpan(target[i] * ValueDim, ValueDim));
        }
        return ((double)correct / n, err / n);
    }

    /// <summary>
    /// Ridge least squares for W (d × d) in q·W ≈ x over n row pairs: W = (QᵀQ + λI)⁻¹·QᵀX, solved in float64 by Cholesky.
    /// </summary>
    public static float[] FitLeastSquares(float[] q, float[] x, int n, int d, double lambda)
    {
        var g = new double[d, d]; var r = new double[d, d];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < d; a++)
            {
                double qa = q[i * d + a];
                for (int b = 0; b < d; b++) { g[a, b] += qa * q[i * d + b]; r[a, b] += qa * x[i * d + b]; }
            }
        for (int a = 0; a < d; a++) g[a, a] += lambda;
        // Cholesky G = L·Lᵀ (G is symmetric positive definite thanks to λ > 0)
        var l = new double[d, d];
        for (int a = 0; a < d; a++)
            for (int b = 0; b <= a; b++)
            {
                double s = g[a, b];
                for (int k = 0; k < b; k++) s -= l[a, k] * l[b, k];
                l[a, b] = a == b ? Math.Sqrt(s) : s / l[b, b];
            }
        var w = new float[d * d];
        var y = new double[d];
        for (int col = 0; col < d; col++)
        {
            for (int a = 0; a < d; a++) { double s = r[a, col]; for (int k = 0; k < a; k++) s -= l[a, k] * y[k]; y[a] = s / l[a, a]; }
            for (int a = d - 1; a >= 0; a--) { double s = y[a]; for (int k = a + 1; k < d; k++) s -= l[k, a] * y[k]; y[a] = s / l[a, a]; }
            for (int a = 0; a < d; a++) w[a * d + col] = (float)y[a];
        }
        return w;
    }

    private static double Squared(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double d = TensorPrimitives.Distance(a, b);
        return d * d;
    }

    private static float[] Identity(int d)
    {
        var w = new float[d * d];
        for (int i = 0; i < d; i++) w[i * d + i] = 1;
        return w;
    }

    private static void MapRow(float[] a, ReadOnlySpan<float> k, Span<float> output)
    {
        for (int r = 0; r < Dim; r++) output[r] = TensorPrimitives.Dot(a.AsSpan(r * Dim, Dim), k);
    }

    /// <summary>destination = source + noise, noise ~ N(0, σ²/d) per component (norm ≈ σ).</summary>
    private static void NoisyCopy(Rng rng, ReadOnlySpan<float> source, Span<float> destination, double sigma)
    {
        rng.FillNormal(destination);
        TensorPrimitives.Multiply(destination, (float)(sigma / Math.Sqrt(destination.Length)), destination);
        TensorPrimitives.Add(destination, source, destination);
    }

    private static float[] UnitRows(Rng rng, int rows, int d)
    {
        var x = Normal(rng, rows * d);
        for (int i = 0; i < rows; i++)
        {
            var row = x.AsSpan(i * d, d);
            TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Norm(row), row);
        }
        return x;
    }

    private static float[] Normal(Rng rng, int n)
    {
        var x = new float[n];
        rng.FillNormal(x);
        return x;
    }
}
