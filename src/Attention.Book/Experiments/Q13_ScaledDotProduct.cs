using Attention.Kernels;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>
/// Answer 13: the formula softmax(Q·Kᵀ/√d + M)·V computed four ways — the materialised math path, the
/// tiled FlashAttention kernel, the decode kernel, and ONNX Runtime's MultiHeadAttention — each held to
/// a float64 reference on the same random inputs, for every mask the page describes.
/// Page: docs/answers/13-scaled-dot-product.md
/// </summary>
public sealed class Q13_ScaledDotProduct : Experiment
{
    public override int Question => 13;
    public override string Title => "The scaled dot-product attention formula";

    private sealed record Case(string Name, AttentionShape Shape, AttentionOptions Options, float InputScale = 1f);

    /// <summary>P for a KV-cache step (L = 4 new queries, S = 10 keys), causal bottom-right plus a window of 3:
    /// the masks of the page's table, drawn as the probabilities the math path returns.</summary>
    private static void DrawMask(ExperimentContext context, Random random, ExperimentResult result)
    {
        const int L = 4, S = 10, d = 16;
        var shape = new AttentionShape(1, 1, 1, L, S, d);
        var q = new float[L * d]; var k = new float[S * d]; var v = new float[S * d];
        Measure.FillNormal(q, random); Measure.FillNormal(k, random); Measure.FillNormal(v, random);
        var heat = new float[2 * L + 1, S];
        var rows = new List<string>();
        var p = new float[L * S];
        var o = new float[L * d];
        foreach (var (name, options, offset) in new[] { ("causal", new AttentionOptions { Causal = true }, 0),
                                                        ("causal+window 3", new AttentionOptions { Causal = true, WindowLeft = 2 }, L + 1) })
        {
            MathAttention.Forward(q, k, v, o, shape, options, p);
            for (int i = 0; i < L; i++)
            {
                for (int j = 0; j < S; j++) heat[offset + i, j] = p[i * S + j];
                rows.Add($"{name} q{i}");
            }
            if (offset == 0) rows.Add("");
        }
        for (int j = 0; j < S; j++) heat[L, j] = float.NaN;    // a blank separator row
        var cols = Enumerable.Range(0, S).Select(j => $"k{j}").ToList();
        string path = context.FigurePath("q13-masks.png");
        Charts.Heatmap(path, heat, "P for 4 new queries against 10 cached keys", rows, cols, "key", "query");
        result.Figures.Add(new Figure(path, "Bottom-right causal mask: the last query sees every key, query i sees keys j ≤ i + S − L. Below, a sliding window of 3 keys. Masked entries are exactly 0.")
            { Heatmap = heat, RowLabels = rows, ColumnLabels = cols });
        bool zeros = true;
        for (int i = 0; i < L; i++)
            for (int j = 0; j < S; j++)
                if (j > i + S - L && heat[i, j] != 0) zeros = false;
        result.Check("the probabilities above the bottom-right diagonal are exactly zero", zeros);
    }

    public override ExperimentResult Run(ExperimentContext context)
    {
        int n = context.Full ? 257 : 129;
        var cases = new List<Case>
        {
            new("full", new(2, 4, 4, n, n, 64), new()),
            new("causal, L = S", new(2, 4, 4, n, n, 64), new() { Causal = true }),
            new("causal, L < S (KV cache)", new(2, 4, 4, 7, n, 64), new() { Causal = true }),
            new("causal, L > S (top rows fully masked)", new(1, 4, 4, n, 63, 64), new() { Causal = true }),
            new("key padding, lengths {n, 40, 0}", new(3, 2, 2, 33, n, 64), new() { KeyLengths = [n, 40, 0] }),
            new("sliding window (16 left, causal)", new(1, 4, 4, n, n, 64), new() { Causal = true, WindowLeft = 16 }),
            new("window both sides (8, 8)", new(1, 2, 2, n, n, 32), new() { WindowLeft = 8, WindowRight = 8 }),
            new("grouped-query, H = 8, Hkv = 2", new(1, 8, 2, 65, n, 64), new() { Causal = true }),
            new("multi-query, H = 8, Hkv = 1", new(1, 8, 1, 65, n, 64), new()),
            new("odd head dim d = 7", new(1, 3, 3, 63, 127, 7), new()),
            new("large logits (scale 1, inputs × 3)", new(1, 2, 2, 64, n, 64), new() { Scale = 1f }, 3f),
            new("decode: 1 query vs S keys", new(1, 8, 8, 1, 4 * n, 64), new() { Causal = true }),
        };
        var random = new Random(context.Seed);
        var result = new ExperimentResult { Question = Question };
        var table = new Table("Max |error| against the float64 reference (same inputs)",
            "case", "B, H, Hkv, L, S, d", "math path", "flash", "decode", "ORT MultiHeadAttention", "plain float32 loop");
        double worstFlashRatio = 0, worstOrt = 0, worstAll = 0;
        var peers = PeerKernels.Current;
        for (int c = 0; c < cases.Count; c++)
        {
            var (name, shape, options, inputScale) = cases[c];
            context.Report((double)c / cases.Count, name);
            var q = new float[shape.Batch * shape.Heads * shape.QueryLength * shape.HeadDim];
            var k = new float[shape.Batch * shape.KvHeads * shape.KeyLength * shape.HeadDim];
            var v = new float[k.Length];
            Measure.FillNormal(q, random); Measure.FillNormal(k, random); Measure.FillNormal(v, random);
            for (int i = 0; i < q.Length; i++) q[i] *= inputScale;
            for (int i = 0; i < k.Length; i++) k[i] *= inputScale;

            var (reference, referenceLse) = ReferenceAttention.Forward(q, k, v, shape, options);
            var (plain, _) = ReferenceAttention.Forward<float>(q, k, v, shape, options);
            var o = new float[q.Length];
            MathAttention.Forward(q, k, v, o, shape, options);
            double math = ReferenceAttention.MaxAbsDiff(o, reference);
            FlashAttention.Forward(q, k, v, o, shape, options);
            double flash = ReferenceAttention.MaxAbsDiff(o, reference);
            int maskedRows = 0, maskedRowsZero = 0;
            for (int row = 0; row < referenceLse.Length; row++)
                if (double.IsNegativeInfinity(referenceLse[row]))
                {
                    maskedRows++;
                    if (!o.AsSpan(row * shape.HeadDim, shape.HeadDim).ContainsAnyExcept(0f)) maskedRowsZero++;
                }
            if (maskedRows > 0)
                result.Check($"{name}: flash returns zeros on all {maskedRows} fully masked rows", maskedRowsZero == maskedRows, $"{maskedRowsZero} of {maskedRows}");
            double decode = double.NaN;
            if (shape.QueryLength <= 8)
            {
                DecodeAttention.Forward(q, k, v, o, shape, options);
                decode = ReferenceAttention.MaxAbsDiff(o, reference);
            }
            double ort = double.NaN;
            string ortCell = "—";
            if (peers is not null && shape.KvHeads == shape.Heads && options.KeyLengths is null && options.WindowLeft is null && options.WindowRight is null && options.Scale is null)
            {
                using var peer = peers.OrtMultiHeadAttention(shape, options.Causal, threads: 1);
                peer.Run(q, k, v, o);
                // Rows whose every key is masked have no softmax; count what the peer returns there
                // (this library returns zeros) and measure the error on the other rows.
                int d = shape.HeadDim, nanRows = 0;
                float firstBad = 0;
                ort = 0;
                for (int row = 0; row < referenceLse.Length; row++)
                {
                    var got = o.AsSpan(row * d, d);
                    if (double.IsNegativeInfinity(referenceLse[row])) { if (got.ContainsAnyExcept(0f)) { if (nanRows++ == 0) firstBad = got[got.IndexOfAnyExcept(0f)]; } continue; }
                    for (int x = 0; x < d; x++) ort = Math.Max(ort, Math.Abs(got[x] - reference[row * d + x]));
                }
                worstOrt = Math.Max(worstOrt, ort);
                ortCell = Table.FormatNumber(ort) + (nanRows > 0 ? $" (+{nanRows} fully masked rows give {firstBad})" : "");
                if (referenceLse.Any(double.IsNegativeInfinity))
                {
                    result.Metrics["ort_fully_masked_rows_not_zero"] = nanRows;
                    result.Notes.Add(nanRows == 0 ? $"{name}: ONNX Runtime also returns zeros on fully masked rows."
                        : $"{name}: ONNX Runtime returns {firstBad} on {nanRows} fully masked rows, where this library returns zeros (answer 8).");
                }
            }
            double plainErr = plain.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
            // The FlashAttention authors' rule: the fast kernel's error is at most twice the plain
            // implementation's (plus a floor for cases where the plain loop happens to be exact).
            double ratio = flash / (plainErr + 1e-7);
            worstFlashRatio = Math.Max(worstFlashRatio, ratio);
            worstAll = Math.Max(worstAll, Math.Max(math, Math.Max(flash, double.IsNaN(decode) ? 0 : decode)));
            table.AddRow(name, $"{shape.Batch}, {shape.Heads}, {shape.KvHeads}, {shape.QueryLength}, {shape.KeyLength}, {shape.HeadDim}",
                math, flash, double.IsNaN(decode) ? "—" : Table.FormatNumber(decode), ortCell, plainErr);
            result.Check($"{name}: flash error ≤ 2 × the plain float32 loop's error (+1e-7)", flash <= 2 * plainErr + 1e-7,
                $"flash {flash:e2}, plain {plainErr:e2}");
        }
        result.Tables.Add(table);
        DrawMask(context, random, result);
        result.Metrics["max_abs_error_ours"] = worstAll;
        if (peers is not null) result.Metrics["max_abs_error_ort"] = worstOrt;
        result.Metrics["flash_error_over_plain_float32_worst"] = worstFlashRatio;
        result.Check("all our kernels agree with the float64 reference within 1e-4 in every case", worstAll <= 1e-4, $"worst {worstAll:e2}");
        if (peers is not null)
            result.Check("ONNX Runtime agrees with the same reference within 1e-4 on every row that has a visible key (the formula, not our reading of it)", worstOrt <= 1e-4, $"worst {worstOrt:e2}");
        else
            result.Notes.Add($"ORT column: {PeerKernels.NotAvailable}.");
        result.Notes.Add("— : the kernel does not take this case (decode is for a few queries; ORT's MultiHeadAttention has no grouped heads, window or per-batch lengths without extra mask inputs).");
        return result;
    }
}
