using Attention.Autograd;
using Attention.Data;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>An image classifier: images (B, 1, H, W) → logits (B, classes).</summary>
public interface IImageClassifier
{
    /// <summary>images (B, 1, H, W) → logits (B, classes).</summary>
    Var Forward(Var images);
}

/// <summary>Settings of <see cref="ImageClassification.Train"/>: a fixed number of epochs, so results do not depend on machine speed.</summary>
public sealed record ImageTrainOptions
{
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Images per step.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Adam's peak learning rate (cosine decay to a tenth over all steps).</summary>
    public float LearningRate { get; init; } = 3e-3f;
    /// <summary>Decoupled weight decay (AdamW); 0 for plain Adam.</summary>
    public float WeightDecay { get; init; }
    /// <summary>Seed of the batch order.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Progress (fraction, status); may be null.</summary>
    public Action<double, string>? Progress { get; init; }
}

/// <summary>The outcome of <see cref="ImageClassification.Train"/>.</summary>
public sealed record ImageTrainReport(int Steps, double FinalLoss, double Seconds);

/// <summary>Trains and evaluates <see cref="IImageClassifier"/>s on an <see cref="ImageSet"/> (Adam, cross-entropy, shuffled mini-batches).</summary>
public static class ImageClassification
{
    /// <summary>Trains <paramref name="model"/> in place for <see cref="ImageTrainOptions.Epochs"/> epochs.</summary>
    public static ImageTrainReport Train<TModel>(TModel model, ImageSet data, ImageTrainOptions options) where TModel : Module, IImageClassifier
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Epochs, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BatchSize, nameof(options));
        if (data.Count == 0) throw new ArgumentException("expected a non-empty training set", nameof(data));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var optimizer = options.WeightDecay > 0
            ? new AdamW(model.Parameters(), options.LearningRate, weightDecay: options.WeightDecay)
            : new Adam(model.Parameters(), options.LearningRate);
        var rng = new Rng(options.Seed);
        int perEpoch = (data.Count + options.BatchSize - 1) / options.BatchSize, total = perEpoch * options.Epochs, step = 0;
        double loss = double.NaN, ema = double.NaN;
        model.Train();
        for (int epoch = 0; epoch < options.Epochs; epoch++)
            foreach (var batch in Batching.Batches(data.Count, options.BatchSize, rng))
            {
                optimizer.LearningRate = options.LearningRate * (float)(0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * step / total)));
                var (images, labels) = data.Batch(batch);
                var l = Var.CrossEntropy(model.Forward(Var.Constant(images)), labels);
                optimizer.ZeroGrad(); l.Backward(); optimizer.Step();
                loss = l.Item();
                ema = double.IsNaN(ema) ? loss : 0.95 * ema + 0.05 * loss;
                step++;
                if (step % 20 == 0) options.Progress?.Invoke((double)step / total, $"epoch {epoch + 1}/{options.Epochs}, loss {ema:0.000}");
            }
        model.Eval();
        return new ImageTrainReport(step, ema, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Accuracy of <paramref name="model"/> on <paramref name="data"/> (eval mode, no gradients).</summary>
    public static double Accuracy<TModel>(TModel model, ImageSet data, int batchSize = 100) where TModel : Module, IImageClassifier
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        int correct = 0;
        Predict(model, data, batchSize, (index, logits, classes) =>
        {
            int best = 0;
            for (int c = 1; c < classes; c++) if (logits[c] > logits[best]) best = c;
            if (best == data.Label(index)) correct++;
        });
        return data.Count == 0 ? double.NaN : (double)correct / data.Count;
    }

    /// <summary>Runs the model over <paramref name="data"/> in batches and hands each image's logits to <paramref name="visit"/>
    /// (image index, logits, classes); <paramref name="afterBatch"/>, when given, sees the batch's first index and size right after its forward pass.</summary>
    public static void Predict<TModel>(TModel model, ImageSet data, int batchSize, Action<int, ReadOnlySpan<float>, int> visit,
                                       Action<int, int>? afterBatch = null) where TModel : Module, IImageClassifier
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(visit);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        model.Eval();
        using var _ = Var.NoGrad();
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, data.Count - start);
            var (images, _) = data.Batch(Enumerable.Range(start, n).ToArray());
            var logits = model.Forward(Var.Constant(images)).Value;
            afterBatch?.Invoke(start, n);
            int classes = logits.Dim(1);
            var span = logits.Contiguous().AsSpan();
            for (int i = 0; i < n; i++) visit(start + i, span.Slice(i * classes, classes), classes);
        }
    }
}
