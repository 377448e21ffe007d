using System.Diagnostics;
using System.Globalization;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Plots;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Book.Experiments;

/// <summary>
/// Q24 · Attention in computer vision. On real MNIST digits: a small Vision Transformer (Dosovitskiy et al., 2021; 4×4 patches,
/// [CLS], learned positions) beside a CNN with about as many parameters, and the same CNN with a non-local block
/// (Wang et al., 2018) at 14×14. Then what the ViT's attention does: the mean attention distance of every head in every
/// layer (local heads look a few pixels away, global ones across the digit), and the [CLS] token's attention over the patch
/// grid drawn over digits; and the non-local block's attention for one query position.
/// Page: docs/answers/24-attention-in-vision.md
/// </summary>
public sealed class Q24_AttentionInVision : Experiment
{
    public override int Question => 24;
    public override string Title => "Attention mechanisms in computer vision";

    private static readonly int[] CnnChannels = [16, 32, 80];

    public override ExperimentResult Run(ExperimentContext context)
    {
        var clock = Stopwatch.StartNew();
        var result = new ExperimentResult { Question = Question };
        int trainCount = context.Full ? 6000 : 2000, testCount = context.Full ? 2000 : 500, epochs = context.Full ? 8 : 3;
        var (train, test) = VisionLab.Digits(trainCount, testCount);

        var vitOptions = new VisionTransformerOptions { ImageSize = 28, PatchSize = 4, Dim = 32, Depth = 3, Heads = 4, MlpDim = 64 };
        var vit = new VisionTransformer(vitOptions, new Rng((ulong)context.Seed + 24));
        var cnn = new SmallCnn(new SmallCnnOptions { Channels = CnnChannels }, new Rng((ulong)context.Seed + 24));
        var nonLocal = new SmallCnn(new SmallCnnOptions { Channels = CnnChannels, NonLocalStage = 1 }, new Rng((ulong)context.Seed + 24));

        var table = new Table($"{train.Count:N0} MNIST digits, {epochs} epochs each, tested on {test.Count:N0} held-out digits",
                              "model", "parameters", "test accuracy", "training time (s)");
        double Run<TModel>(TModel model, string name, string key, int index, float lr) where TModel : Attention.Nn.Module, IImageClassifier
        {
            var report = VisionLab.Train(model, train, epochs, (ulong)context.Seed, context, 0.8 * index / 3, 0.8 * (index + 1) / 3, name, lr);
            double accuracy = ImageClassification.Accuracy(model, test);
            table.AddRow(name, model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture), $"{accuracy:0.0000}", $"{report.Seconds:0.0}");
            result.Metrics[$"{key}_accuracy"] = accuracy;
            result.Metrics[$"{key}_parameters"] = model.ParameterCount;
            return accuracy;
        }
        double cnnAcc = Run(cnn, $"CNN ({string.Join("-", CnnChannels)} channels, 3×3 convs)", "cnn", 0, 6e-3f);
        double vitAcc = Run(vit, $"ViT ({vitOptions.Depth} blocks, D = {vitOptions.Dim}, {vitOptions.Heads} heads, 4×4 patches)", "vit", 1, 2e-3f);
        double nlAcc = Run(nonLocal, "CNN + non-local block at 14×14", "nonlocal", 2, 6e-3f);
        result.Tables.Add(table);
        double ratio = result.Metrics["vit_parameters"] / result.Metrics["cnn_parameters"];
        result.Notes.Add($"Parameter ratio ViT / CNN = {ratio:0.00}; the non-local block adds {result.Metrics["nonlocal_parameters"] - result.Metrics["cnn_parameters"]:N0} parameters (θ, φ, g: 32 → 16, W_z: 16 → 32, zero-initialised).");
        double floor = context.Full ? 0.93 : 0.75, vitFloor = context.Full ? 0.85 : 0.4;
        result.Check($"both CNNs learn the digits (test accuracy above {floor:0.00})", cnnAcc > floor && nlAcc > floor,
                     $"CNN {cnnAcc:0.000}, CNN + non-local {nlAcc:0.000}");
        result.Check($"the ViT learns them too, more slowly (test accuracy above {vitFloor:0.00}; chance 0.10)", vitAcc > vitFloor, $"ViT {vitAcc:0.000}");
        result.Check("at about equal parameters and a few thousand images, the CNN is more accurate than the ViT (the ViT paper's small-data finding)",
                     cnnAcc > vitAcc, $"CNN {cnnAcc:0.000}, ViT {vitAcc:0.000}");

        // ---- what the ViT attends to ----
        context.Report(0.85, "ViT attention");
        int layers = vitOptions.Depth, heads = vitOptions.Heads, g = vit.GridSide, n = g * g;
        var distance = new double[layers, heads];
        var clsInk = new double[layers];
        double inkPatchShare = 0;
        int batches = 0;
        for (int start = 0; start < test.Count; start += 100)
        {
            int count = Math.Min(100, test.Count - start);
            var (images, _) = test.Batch(Enumerable.Range(start, count).ToArray());
            IReadOnlyList<Tensor> maps;
            using (Var.NoGrad()) maps = vit.ForwardWithAttention(Var.Constant(images)).Attention;
            for (int l = 0; l < layers; l++)
            {
                var d = VisionTransformer.MeanAttentionDistance(maps[l], g, vitOptions.PatchSize);
                for (int h = 0; h < heads; h++) distance[l, h] += d[h] * count;
            }
            // [CLS] → patches, head-averaged, renormalised over patches: mass on patches that hold ink
            for (int i = 0; i < count; i++)
            {
                var ink = InkPatches(test.Image(start + i), g, vitOptions.PatchSize);
                inkPatchShare += ink.Count(b => b) / (double)n;
                for (int l = 0; l < layers; l++) clsInk[l] += ClsMassOn(maps[l], i, heads, n, ink);
            }
            batches++;
        }
        var distTable = new Table($"ViT mean attention distance in pixels (Σ_j a_ij·‖p_i − p_j‖ over patch queries, averaged over {test.Count:N0} test digits; patches are 4 px apart, the 28 px digit's diagonal is 34 px)",
                                  ["layer", .. Enumerable.Range(0, heads).Select(h => $"head {h}"), "mean", "[CLS] mass on ink patches"]);
        var series = new List<Series>();
        for (int l = 0; l < layers; l++)
        {
            var row = new List<object> { $"{l + 1}" };
            for (int h = 0; h < heads; h++) { distance[l, h] /= test.Count; row.Add($"{distance[l, h]:0.00}"); result.Metrics[$"vit_distance_layer{l + 1}_head{h}"] = distance[l, h]; }
            double mean = Enumerable.Range(0, heads).Average(h => distance[l, h]);
            clsInk[l] /= test.Count;
            row.Add($"{mean:0.00}"); row.Add($"{clsInk[l]:0.000}");
            result.Metrics[$"vit_distance_layer{l + 1}_mean"] = mean;
            result.Metrics[$"vit_cls_ink_mass_layer{l + 1}"] = clsInk[l];
            distTable.AddRow([.. row]);
        }
        inkPatchShare /= test.Count;
        result.Metrics["ink_patch_share"] = inkPatchShare;
        result.Tables.Add(distTable);
        result.Notes.Add($"Patches with ink (mean pixel above 0.1) are {inkPatchShare:0.000} of the 49 on average: a [CLS] token that ignored content would put that share of its mass on them.");
        result.Check("in the last layer, [CLS] puts more of its attention on patches with ink than their share of the grid",
                     clsInk[layers - 1] > inkPatchShare, $"{clsInk[layers - 1]:0.000} against {inkPatchShare:0.000}");
        double minD = Enumerable.Range(0, layers).SelectMany(l => Enumerable.Range(0, heads).Select(h => distance[l, h])).Min();
        double maxD = Enumerable.Range(0, layers).SelectMany(l => Enumerable.Range(0, heads).Select(h => distance[l, h])).Max();
        result.Metrics["vit_distance_min"] = minD; result.Metrics["vit_distance_max"] = maxD;
        for (int h = 0; h < heads; h++)
            series.Add(new Series($"head {h}", Enumerable.Range(1, layers).Select(l => (double)l).ToArray(), Enumerable.Range(0, layers).Select(l => distance[l, h]).ToArray()));
        string distPath = context.FigurePath("q24-vit-attention-distance.png");
        Charts.Scatter(distPath, "ViT on MNIST: mean attention distance per head", "layer", "mean attention distance (pixels)", series);
        result.Figures.Add(new Figure(distPath, "Mean attention distance of every head by layer (the measure of Dosovitskiy et al., Fig. 7): how far, in pixels, a patch looks on average."));

        // [CLS] attention of the last layer over one digit per class
        var picks = VisionLab.OnePerClass(test);
        var (pickImages, _) = test.Batch(picks);
        IReadOnlyList<Tensor> pickMaps;
        using (Var.NoGrad()) pickMaps = vit.ForwardWithAttention(Var.Constant(pickImages)).Attention;
        var panels = new List<OverlayPanel>();
        for (int i = 0; i < picks.Length; i++)
        {
            var grid = new float[g, g];
            var p = pickMaps[layers - 1].AsSpan();
            int l1 = n + 1;
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < n; j++) grid[j / g, j % g] += p[((i * heads + h) * l1 + 0) * l1 + j + 1] / heads;
            panels.Add(new OverlayPanel(VisionLab.Grid(test.Image(picks[i]), 28), grid, $"{test.Label(picks[i])}"));
        }
        result.Figures.Add(VisionLab.Overlay(context, "q24-vit-cls-attention.png", $"ViT layer {layers}: [CLS] attention over the 7×7 patches", panels,
            $"The [CLS] token's attention in the last layer (mean of the {heads} heads) over the 7×7 patch grid, drawn over one test digit per class."));

        // the non-local block: where one position looks
        using (Var.NoGrad()) nonLocal.Forward(Var.Constant(pickImages));
        var f = nonLocal.NonLocal!.LastAttention!.AsSpan();   // (B, 196, 196) at 14×14
        int side = 14, npos = side * side;
        var nlPanels = new List<OverlayPanel>();
        double nlInk = 0, nlInkShare = 0;
        for (int i = 0; i < picks.Length; i++)
        {
            var img = test.Image(picks[i]);
            int query = CentreOfInk(img, 28, 2);
            var grid = new float[side, side];
            for (int j = 0; j < npos; j++) grid[j / side, j % side] = f[(i * npos + query) * npos + j];
            nlPanels.Add(new OverlayPanel(VisionLab.Grid(img, 28), grid, $"{test.Label(picks[i])}"));
            var ink = InkPatches(img, side, 2);
            double mass = 0;
            for (int j = 0; j < npos; j++) if (ink[j]) mass += grid[j / side, j % side];
            nlInk += mass; nlInkShare += ink.Count(b => b) / (double)npos;
        }
        result.Metrics["nonlocal_ink_mass"] = nlInk / picks.Length;
        result.Metrics["nonlocal_ink_share"] = nlInkShare / picks.Length;
        result.Figures.Add(VisionLab.Overlay(context, "q24-nonlocal-attention.png", "Non-local block at 14×14: where the centre position looks", nlPanels,
            $"The non-local block's attention f_ij for the query at the digit's centre of ink (one row of the 196×196 matrix), over one test digit per class; " +
            $"{nlInk / picks.Length:0.000} of its mass is on inked 2×2 cells, which are {nlInkShare / picks.Length:0.000} of the cells."));

        result.Notes.Add($"ViT: 4×4 patches (49 + [CLS] tokens), D = {vitOptions.Dim}, {vitOptions.Depth} pre-LN blocks of {vitOptions.Heads} heads, MLP {vitOptions.MlpDim}, Adam lr 2e-3; " +
                         $"CNNs: Adam lr 6e-3; all with cosine decay, batch 16, seed {context.Seed}. Training times are wall-clock on a shared machine.");
        result.Notes.Add($"Run {clock.Elapsed.TotalSeconds:0.0} s on {Measure.Machine()}; load average at the end {VisionLab.LoadAverage()}.");
        return result;
    }

    /// <summary>Cells of a side×side grid (cell = block of the image) whose mean pixel is above 0.1.</summary>
    private static bool[] InkPatches(ReadOnlySpan<float> image, int grid, int cell)
    {
        int w = grid * cell;
        var ink = new bool[grid * grid];
        for (int r = 0; r < grid; r++)
            for (int c = 0; c < grid; c++)
            {
                double s = 0;
                for (int u = 0; u < cell; u++)
                    for (int v = 0; v < cell; v++) s += image[(r * cell + u) * w + c * cell + v];
                ink[r * grid + c] = s / (cell * cell) > 0.1;
            }
        return ink;
    }

    // [CLS]'s head-averaged attention to the patches, renormalised over the patches, summed over the ink patches
    private static double ClsMassOn(Tensor map, int image, int heads, int n, bool[] ink)
    {
        var p = map.AsSpan();
        int l = n + 1;
        double onInk = 0, all = 0;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < n; j++)
            {
                double a = p[((image * heads + h) * l + 0) * l + j + 1];
                all += a;
                if (ink[j]) onInk += a;
            }
        return all > 0 ? onInk / all : 0;
    }

    // the grid cell (cell × cell pixels) holding the ink-weighted centre of the image
    private static int CentreOfInk(ReadOnlySpan<float> image, int side, int cell)
    {
        double sr = 0, sc = 0, m = 0;
        for (int r = 0; r < side; r++)
            for (int c = 0; c < side; c++) { double v = image[r * side + c]; sr += v * r; sc += v * c; m += v; }
        int gr = (int)(sr / m) / cell, gc = (int)(sc / m) / cell, g = side / cell;
        return Math.Clamp(gr, 0, g - 1) * g + Math.Clamp(gc, 0, g - 1);
    }
}
