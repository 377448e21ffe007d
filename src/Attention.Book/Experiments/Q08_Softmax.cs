using System.Globalization;
using Attention.Tensors;
using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Q08 · Softmax normalisation in attention: where naive exp overflows (float32 and float16), why the
/// max-subtracted form is exact, temperature against entropy, fully masked rows (−∞ → NaN, −1e9 →
/// silent uniform leak, safe softmax → zeros) and the Jacobian diag(p) − ppᵀ checked by finite
/// differences (Bridle, 1990; Milakov &amp; Gimelshein, 2018). Page: docs/answers/08-softmax.md
/// </summary>
public sealed class Q08_Softmax : Experiment
{
    public override int Question => 8;
    public override string Title => "Softmax normalisation: stability, temperature, masking, Jacobian";

    public static readonly double[] Temperatures = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var rng = new Rng((ulong)context.Seed);
        var result = new ExperimentResult { Question = Question };
        Overflow(result);
        context.Report(0.3, "temperature");
        Temperature(result, context);
        context.Report(0.6, "masking");
        Masking(result, context, rng);
        context.Report(0.8, "Jacobian");
        Jacobian(result, rng, context.Full ? 200 : 20);
        return result;
    }

    // ---- 1. overflow ------------------------------------------------------------------------------

    /// <summary>The smallest float x ≥ start for which <paramref name="overflows"/> holds, stepping one ulp at a time.</summary>
    public static float FirstFloat(float start, Func<float, bool> overflows)
    {
        float x = start;
        while (!overflows(x)) x = MathF.BitIncrement(x);
        return x;
    }

    /// <summary>Textbook softmax without the max subtraction, in float32: exp(zⱼ) / Σₖ exp(zₖ).</summary>
    public static float[] NaiveSoftmax(ReadOnlySpan<float> z)
    {
        var p = new float[z.Length];
        float sum = 0;
        for (int j = 0; j < z.Length; j++) sum += p[j] = MathF.Exp(z[j]);
        for (int j = 0; j < z.Length; j++) p[j] /= sum;
        return p;
    }

    /// <summary>The same naive softmax with every exp and sum rounded to float16 (System.Half).</summary>
    public static float[] NaiveSoftmaxHalf(ReadOnlySpan<float> z)
    {
        var e = new Half[z.Length];
        Half sum = (Half)0;
        for (int j = 0; j < z.Length; j++) { e[j] = (Half)MathF.Exp((float)(Half)z[j]); sum += e[j]; }
        return e.Select(x => (float)(x / sum)).ToArray();
    }

    /// <summary>Max-subtracted softmax in float32, the textbook way: a row of all −∞ gives (−∞) − (−∞) = NaN.</summary>
    public static float[] MaxSubtractedSoftmax(ReadOnlySpan<float> z)
    {
        float max = float.NegativeInfinity;
        foreach (var x in z) max = MathF.Max(max, x);
        var p = new float[z.Length];
        float sum = 0;
        for (int j = 0; j < z.Length; j++) sum += p[j] = MathF.Exp(z[j] - max);
        for (int j = 0; j < z.Length; j++) p[j] /= sum;
        return p;
    }

    private static void Overflow(ExperimentResult result)
    {
        float overflow32 = FirstFloat(80f, x => float.IsPositiveInfinity(MathF.Exp(x)));
        float overflow16 = FirstFloat(10f, x => Half.IsPositiveInfinity((Half)MathF.Exp(x)));
        float underflow32 = -FirstFloat(80f, x => MathF.Exp(-x) == 0f);
        result.Metrics["exp_overflow_float32"] = overflow32;
        result.Metrics["exp_overflow_float16"] = overflow16;
        result.Metrics["exp_underflow_float32"] = underflow32;
        result.Metrics["ln_float32_max"] = Math.Log(float.MaxValue);
        result.Metrics["ln_float16_max"] = Math.Log((double)Half.MaxValue);

        var table = new Table("Softmax of the row z = (x, x − 1, 0): first weight p₁ by method (reference: float64)",
            "x", "naive float16", "naive float32", "max-subtracted float32 (Softmax.Rows)", "float64 reference");
        double worstStable = 0; int naiveBroken32 = 0, stableBroken = 0;
        float[] xs = [5f, 11f, 11.1f, 50f, 88f, 88.72f, 88.73f, 100f, 1000f, -50f, -104f, -1000f];
        foreach (float x in xs)
        {
            float[] z = [x, x - 1, 0];
            if (x < 0) z = [x, x - 1, x - 2]; // every logit very negative: the naive sum underflows to 0
            var naive16 = NaiveSoftmaxHalf(z);
            var naive32 = NaiveSoftmax(z);
            var stable = new float[3];
            Softmax.Rows(z, stable, 1, 3);
            var reference = Reference(z);
            if (naive32.Any(v => !float.IsFinite(v))) naiveBroken32++;
            if (stable.Any(v => !float.IsFinite(v))) stableBroken++;
            for (int j = 0; j < 3; j++) worstStable = Math.Max(worstStable, Math.Abs(stable[j] - reference[j]));
            table.AddRow(x < 0 ? $"{x} (row x, x−1, x−2)" : x.ToString(System.Globalization.CultureInfo.InvariantCulture),
                         naive16[0], naive32[0], stable[0], reference[0]);
        }
        result.Tables.Add(table);
        result.Metrics["naive_float32_broken_rows"] = naiveBroken32;
        result.Metrics["stable_max_abs_error"] = worstStable;

        result.Check("float32 exp overflows first at x = 88.72… = ln(float.MaxValue)",
            Math.Abs(overflow32 - Math.Log(float.MaxValue)) < 1e-4, $"first overflowing x = {overflow32:R}, ln(max) = {Math.Log(float.MaxValue):F5}");
        result.Check("float16 exp overflows near x = 11.09 (ln 65504)",
            Math.Abs(overflow16 - Math.Log(65504)) < 0.01, $"first overflowing x = {overflow16:R}");
        float sumOverflow = NaiveSoftmax([88.72f, 87.72f, 0f])[0];
        result.Metrics["naive_float32_p1_at_88_72"] = sumOverflow;
        result.Check("naive float32 softmax is already wrong at x = 88.72: each exp is finite but their sum overflows, so p₁ = 0",
            sumOverflow == 0f, $"p₁ = {sumOverflow}");
        result.Check("naive float32 softmax gives NaN for x ≥ 88.73 (∞/∞) and for rows whose every logit is below −104 (0/0)",
            NaiveSoftmax([88.73f, 87.73f, 0f]).Any(float.IsNaN) && NaiveSoftmax([-104f, -105f, -106f]).Any(float.IsNaN),
            $"{naiveBroken32} of {xs.Length} rows not finite");
        result.Check("the max-subtracted softmax is finite on every row and within 1e-6 of float64",
            stableBroken == 0 && worstStable < 1e-6, $"max |error| {worstStable:E2}");
    }

    private static double[] Reference(ReadOnlySpan<float> z)
    {
        double max = double.NegativeInfinity;
        foreach (var x in z) max = Math.Max(max, x);
        var p = new double[z.Length]; double sum = 0;
        for (int j = 0; j < z.Length; j++) sum += p[j] = Math.Exp(z[j] - max);
        for (int j = 0; j < z.Length; j++) p[j] /= sum;
        return p;
    }

    // ---- 2. temperature ---------------------------------------------------------------------------

    private static void Temperature(ExperimentResult result, ExperimentContext context)
    {
        const int s = 32;
        // Evenly spaced logits in [−2, 2]: every gap is 4/31, so the limits are the same for any seed.
        var z = Enumerable.Range(0, s).Select(j => -2f + 4f * j / (s - 1)).ToArray();
        var table = new Table($"Temperature T on {s} evenly spaced logits in [−2, 2] (ln {s} = {Math.Log(s):F3} nats)",
            "T", "entropy (nats)", "top weight", "‖J‖_F = ‖∂p/∂(z/T)‖_F", "‖∂p/∂z‖_F = ‖J‖_F / T");
        var entropy = new double[Temperatures.Length]; var top = new double[Temperatures.Length];
        var jac = new double[Temperatures.Length];
        var p = new float[s];
        for (int i = 0; i < Temperatures.Length; i++)
        {
            double t = Temperatures[i];
            Softmax.RowsWithTemperature(z, p, 1, s, (float)t);
            (entropy[i], top[i], jac[i]) = Q14_WhyScale.Describe(p);
            table.AddRow(t, entropy[i], top[i], jac[i], jac[i] / t);
            result.Metrics[$"entropy_t_{t.ToString(System.Globalization.CultureInfo.InvariantCulture).Replace('.', '_')}"] = entropy[i];
        }
        result.Tables.Add(table);
        var path = context.FigurePath("q08-temperature.png");
        Charts.Lines(path, "Softmax entropy and top weight against temperature", "temperature T", "nats / weight",
            [new Series("entropy (nats)", Temperatures, entropy), new Series("top weight", Temperatures, top),
             new Series($"ln {s}", Temperatures, Temperatures.Select(_ => Math.Log(s)).ToArray())], logX: true);
        result.Figures.Add(new Figure(path, "Low T → one-hot (argmax); high T → uniform."));

        result.Check("entropy rises strictly with temperature", entropy.Zip(entropy.Skip(1)).All(e => e.Second > e.First),
            string.Join(" → ", entropy.Select(h => h.ToString("F3", CultureInfo.InvariantCulture))));
        result.Check($"at T = 100 the entropy is within 0.01 nats of ln {s} (uniform)", Math.Abs(entropy[^1] - Math.Log(s)) < 0.01,
            $"{entropy[^1]:F4} vs {Math.Log(s):F4}");
        result.Check("at T = 0.01 the top weight exceeds 0.99 (argmax limit)", top[0] > 0.99, $"{top[0]:F6}");
        double uniformNorm = Math.Sqrt(s - 1) / s; // ‖(I − 11ᵀ/S)/S‖_F
        result.Metrics["jacobian_norm_uniform"] = uniformNorm;
        result.Check("‖J‖_F → 0 as T → 0 (one-hot): below 1e-3 at T = 0.01", jac[0] < 1e-3, $"{jac[0]:E2}");
        result.Check($"‖J‖_F → √(S−1)/S = {uniformNorm:F4} as T → ∞ (uniform): within 1e-3 at T = 100",
            Math.Abs(jac[^1] - uniformNorm) < 1e-3, $"{jac[^1]:F4}");
        result.Check("the gradient w.r.t. the raw logits, ‖J‖_F / T, is small at both ends: below a tenth of its peak at T = 0.01 and T = 100",
            jac[0] / Temperatures[0] < 0.1 * jac.Zip(Temperatures).Max(x => x.First / x.Second)
            && jac[^1] / Temperatures[^1] < 0.1 * jac.Zip(Temperatures).Max(x => x.First / x.Second));
    }

    // ---- 3. fully masked rows ---------------------------------------------------------------------

    private static void Masking(ExperimentResult result, ExperimentContext context, Rng rng)
    {
        const int n = 6, padded = 4; // a length-4 sequence padded to 6: keys 4, 5 masked; queries 4, 5 are padding too
        var scores = new float[n * n];
        rng.FillNormal(scores);
        var values = new float[n * 2];
        rng.FillNormal(values);
        bool Masked(int i, int j) => j >= padded || i >= padded; // padding queries see nothing

        float[] Add(float mask)
        {
            var z = (float[])scores.Clone();
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (Masked(i, j)) z[i * n + j] += mask;
            return z;
        }
        var inf = Add(float.NegativeInfinity);
        var big = Add(-1e9f);
        var textbook = new float[n * n]; var leaky = new float[n * n]; var safe = new float[n * n];
        for (int i = 0; i < n; i++)
        {
            MaxSubtractedSoftmax(inf.AsSpan(i * n, n)).CopyTo(textbook, i * n);
            MaxSubtractedSoftmax(big.AsSpan(i * n, n)).CopyTo(leaky, i * n);
        }
        Softmax.Rows(inf, safe, n, n);

        var table = new Table($"A length-{padded} sequence padded to {n}: one padding query row (all keys masked) and one real row",
            "masking", "padding row weights", "padding row output ‖c‖", "real row: weight on masked keys", "NaN anywhere");
        double leakWeight = 0, safeMax = 0, leakOnRealRows = 0;
        foreach (var (name, w) in new[] { ("−∞, max-subtracted softmax", textbook), ("−1e9, max-subtracted softmax", leaky), ("−∞, Softmax.Rows (safe)", safe) })
        {
            var row = w.AsSpan(padded * n, n).ToArray();
            var c = new double[2];
            for (int j = 0; j < n; j++) for (int t = 0; t < 2; t++) c[t] += row[j] * (double)values[j * 2 + t];
            double masked = 0;
            for (int i = 0; i < padded; i++) for (int j = padded; j < n; j++) masked += w[i * n + j];
            table.AddRow(name, string.Join(" ", row.Select(x => Table.FormatNumber(x))), Math.Sqrt(c[0] * c[0] + c[1] * c[1]),
                         masked, w.Any(float.IsNaN) ? "yes" : "no");
            if (ReferenceEquals(w, leaky)) { leakWeight = row.Max(); leakOnRealRows = masked; }
            if (ReferenceEquals(w, safe)) safeMax = w.AsSpan(padded * n).ToArray().Max();
        }
        result.Tables.Add(table);
        bool absorbed = -1e9f + 3.7f == -1e9f && -1e9f - 31f == -1e9f; // float32 ulp at 1e9 is 64
        result.Metrics["masked_leak_weight"] = leakWeight;
        result.Metrics["safe_padding_row_max_weight"] = safeMax;

        result.Check("−∞ masking with the textbook max-subtracted softmax turns a fully masked row into NaN",
            textbook.AsSpan(padded * n, n).ToArray().All(float.IsNaN));
        result.Check($"−1e9 masking gives a fully masked row exactly uniform weights 1/{n} (scores are absorbed: −1e9 + z == −1e9 in float32)",
            absorbed && leaky.AsSpan(padded * n, n).ToArray().All(x => x == 1f / n), $"weight {leakWeight:R}");
        result.Check("−1e9 masking still puts exactly zero weight on masked keys in rows with a visible key", leakOnRealRows == 0,
            $"sum {leakOnRealRows:R}");
        result.Check("Softmax.Rows returns zeros (no NaN) for fully masked rows and matches float64 elsewhere",
            safeMax == 0 && !safe.Any(float.IsNaN) && RowsMatchReference(inf, safe, padded, n), $"max weight on padding rows {safeMax}");

        var path = context.FigurePath("q08-masked-rows.png");
        var heat = new float[n * 2, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { heat[i, j] = leaky[i * n + j]; heat[n + i, j] = safe[i * n + j]; }
        var rows = Enumerable.Range(0, n).Select(i => $"−1e9 q{i}").Concat(Enumerable.Range(0, n).Select(i => $"safe q{i}")).ToArray();
        var cols = Enumerable.Range(0, n).Select(j => $"k{j}").ToArray();
        Charts.Heatmap(path, heat, "Padding rows: −1e9 leaks, safe gives zeros", rows, cols, "key", "query");
        result.Figures.Add(new Figure(path, "Top: −1e9 masking (padding queries q4, q5 spread weight evenly over every key, masked ones included). Bottom: Softmax.Rows with −∞.")
            { Heatmap = heat, RowLabels = rows, ColumnLabels = cols });
    }

    private static bool RowsMatchReference(float[] z, float[] p, int rows, int n)
    {
        for (int i = 0; i < rows; i++)
        {
            var r = Reference(z.AsSpan(i * n, n));
            for (int j = 0; j < n; j++) if (Math.Abs(r[j] - p[i * n + j]) > 1e-6 + 1e-5 * r[j]) return false;
        }
        return true;
    }

    // ---- 4. Jacobian ------------------------------------------------------------------------------

    /// <summary>J = diag(p) − p·pᵀ (S × S), float64.</summary>
    public static double[,] Jacobian(ReadOnlySpan<double> p)
    {
        int s = p.Length;
        var j = new double[s, s];
        for (int a = 0; a < s; a++) for (int b = 0; b < s; b++) j[a, b] = (a == b ? p[a] : 0) - p[a] * p[b];
        return j;
    }

    private static void Jacobian(ExperimentResult result, Rng rng, int trials)
    {
        double worst = 0, worstRowSum = 0;
        const double h = 1e-5;
        for (int t = 0; t < trials; t++)
        {
            int s = 2 + rng.NextInt(15);
            var z = new float[s];
            rng.FillNormal(z);
            var zd = z.Select(x => (double)x).ToArray();
            var p = SoftmaxD(zd);
            var jac = Jacobian(p);
            for (int b = 0; b < s; b++)
            {
                var plus = (double[])zd.Clone(); plus[b] += h;
                var minus = (double[])zd.Clone(); minus[b] -= h;
                var pp = SoftmaxD(plus); var pm = SoftmaxD(minus);
                for (int a = 0; a < s; a++) worst = Math.Max(worst, Math.Abs((pp[a] - pm[a]) / (2 * h) - jac[a, b]));
            }
            for (int a = 0; a < s; a++)
            {
                double rowSum = 0;
                for (int b = 0; b < s; b++) rowSum += jac[a, b];
                worstRowSum = Math.Max(worstRowSum, Math.Abs(rowSum));
            }
        }
        result.Metrics["jacobian_max_abs_error_vs_finite_differences"] = worst;
        result.Check($"diag(p) − ppᵀ matches central finite differences within 1e-8 ({trials} random rows, S = 2..16)",
            worst < 1e-8, $"max |Δ| {worst:E2}");
        result.Check("every row of the Jacobian sums to 0 (softmax ignores a constant shift of the logits)",
            worstRowSum < 1e-15, $"max |row sum| {worstRowSum:E2}");
    }

    private static double[] SoftmaxD(double[] z)
    {
        double max = z.Max(), sum = 0;
        var p = new double[z.Length];
        for (int j = 0; j < z.Length; j++) sum += p[j] = Math.Exp(z[j] - max);
        for (int j = 0; j < z.Length; j++) p[j] /= sum;
        return p;
    }
}
