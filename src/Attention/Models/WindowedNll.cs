using Attention.Autograd;
using Attention.Nn;

namespace Attention.Models;

/// <summary>
/// The evaluation the character language models share (<see cref="CharLm"/>, <see cref="VariantCharLm"/>,
/// <see cref="MixerLm"/>): mean next-token NLL over up to <c>maxWindows</c> evenly spaced, non-overlapping windows of
/// <c>context</c> tokens, every position scored, windows batched <c>windowsPerBatch</c> at a time, in eval mode without
/// gradients (the model's training flag is restored).
/// </summary>
internal static class WindowedNll
{
    /// <summary>batchLoss: (inputs, targets, windows in the batch) → mean cross-entropy of that batch.</summary>
    /// <exception cref="ArgumentException">Too few tokens for one window, or a non-positive size.</exception>
    public static double Mean(Module model, int[] tokens, int context, int maxWindows, int windowsPerBatch, Func<int[], int[], int, Var> batchLoss)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxWindows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(windowsPerBatch);
        int available = (tokens.Length - 1) / context;
        if (available < 1) throw new ArgumentException($"expected at least {context + 1} tokens for a window of {context}, got {tokens.Length}", nameof(tokens));
        int windows = Math.Min(available, maxWindows);
        using var _ = Var.NoGrad();
        bool wasTraining = model.Training;
        model.Eval();
        double total = 0;
        long count = 0;
        for (int w0 = 0; w0 < windows; w0 += windowsPerBatch)
        {
            int nb = Math.Min(windowsPerBatch, windows - w0);
            var x = new int[nb * context];
            var y = new int[nb * context];
            for (int b = 0; b < nb; b++)
            {
                // evenly spaced windows over the whole text
                int start = (int)((long)(w0 + b) * available / windows) * context;
                Array.Copy(tokens, start, x, b * context, context);
                Array.Copy(tokens, start + 1, y, b * context, context);
            }
            total += batchLoss(x, y, nb).Item() * nb * context;
            count += nb * context;
        }
        model.Train(wasTraining);
        return total / count;
    }
}
