using Attention.Data;
using Attention.Models;
using Attention.Plots;

namespace Attention.Book.Experiments;

/// <summary>What the vision answers (24, 25, 26) share: the MNIST split, the training setting, and drawing maps over digits.</summary>
internal static class VisionLab
{
    /// <summary><paramref name="train"/> and <paramref name="test"/> digits drawn at random (fixed seeds) from the two parts of the
    /// fixed MNIST split (the vendored copy is stored class by class, so a prefix would hold only zeros).</summary>
    public static (ImageSet Train, ImageSet Test) Digits(int train, int test)
    {
        var split = Mnist.Split(Mnist.LoadRepoCopy());
        return (ImageSet.From(split.Train).Sample(train, 241), ImageSet.From(split.Test).Sample(test, 242));
    }

    /// <summary>Cluttered canvases made from <paramref name="train"/> and <paramref name="test"/> digits drawn at random (fixed seeds)
    /// from the two parts of the MNIST split; clutter for each part comes from digits of the same part.</summary>
    public static (ClutteredMnist Train, ClutteredMnist Test) Cluttered(int train, int test, int canvas, int fragments, int fragmentSize)
    {
        var split = Mnist.Split(Mnist.LoadRepoCopy());
        static MnistDigits Pick(MnistDigits d, int n, ulong seed)
        {
            var rng = new Attention.Tensors.Rng(seed);
            var order = Enumerable.Range(0, d.Count).ToArray();
            for (int i = order.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
            return d.Subset(order.Take(n).ToArray());
        }
        return (ClutteredMnist.Build(Pick(split.Train, train, 251), canvas, fragments, fragmentSize, seed: 2511),
                ClutteredMnist.Build(Pick(split.Test, test, 252), canvas, fragments, fragmentSize, seed: 2521));
    }

    /// <summary>Trains <paramref name="model"/> with the shared setting (Adam, batch 16, cosine-decayed learning rate; 6e-3 suited the CNNs in a short sweep); progress mapped into [from, to].</summary>
    public static ImageTrainReport Train<TModel>(TModel model, ImageSet data, int epochs, ulong seed, ExperimentContext context, double from, double to, string name,
                                                 float learningRate = 6e-3f) where TModel : Attention.Nn.Module, IImageClassifier
        => ImageClassification.Train(model, data, new ImageTrainOptions
        {
            Epochs = epochs, BatchSize = 16, LearningRate = learningRate, Seed = seed,
            Progress = (f, s) => context.Report(from + (to - from) * f, $"{name}: {s}"),
        });

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg), or "unknown": timings on a loaded machine say so.</summary>
    public static string LoadAverage()
    {
        try { return string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>An image of a set as a rows × cols array.</summary>
    public static float[,] Grid(ReadOnlySpan<float> pixels, int side)
    {
        var g = new float[side, side];
        for (int i = 0; i < side; i++)
            for (int j = 0; j < side; j++) g[i, j] = pixels[i * side + j];
        return g;
    }

    /// <summary>Indices of the first test image of each class 0..9 (fewer if a class is missing).</summary>
    public static int[] OnePerClass(ImageSet set)
    {
        var picked = new List<int>();
        for (int k = 0; k < 10; k++)
            for (int i = 0; i < set.Count; i++)
                if (set.Label(i) == k) { picked.Add(i); break; }
        return picked.ToArray();
    }

    /// <summary>Writes an overlay figure and returns it.</summary>
    public static Figure Overlay(ExperimentContext context, string file, string title, IReadOnlyList<OverlayPanel> panels, string caption, int columns = 5)
    {
        string path = context.FigurePath(file);
        ImageOverlays.Write(path, title, panels, columns);
        return new Figure(path, caption);
    }
}
