namespace Attention.Nn;

/// <summary>A learning rate as a function of the 1-based step: set <c>optimizer.LearningRate = schedule.At(step)</c> before each step.</summary>
public interface ILearningRateSchedule
{
    /// <summary>The learning rate for step <paramref name="step"/> (1 = the first update).</summary>
    float At(int step);
}

/// <summary>
/// Linear warm-up then cosine decay (Loshchilov and Hutter, 2017, without restarts; the GPT recipe):
///   step ≤ W:      η = η_max · step / W
///   W &lt; step ≤ T:  η = η_min + ½(η_max − η_min)(1 + cos(π·(step − W)/(T − W)))
///   step > T:      η = η_min
/// </summary>
public sealed class WarmupCosineSchedule : ILearningRateSchedule
{
    /// <summary>η_max, reached at the end of warm-up.</summary>
    public float PeakRate { get; }
    /// <summary>W, warm-up steps (0 starts at the peak).</summary>
    public int WarmupSteps { get; }
    /// <summary>T, the step where the decay reaches η_min.</summary>
    public int TotalSteps { get; }
    /// <summary>η_min, the floor.</summary>
    public float MinRate { get; }

    public WarmupCosineSchedule(float peakRate, int warmupSteps, int totalSteps, float minRate = 0f)
    {
        if (!(peakRate > 0f) || !float.IsFinite(peakRate)) throw new ArgumentOutOfRangeException(nameof(peakRate), peakRate, "expected a finite peak rate > 0");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "expected warm-up steps ≥ 0");
        if (totalSteps <= warmupSteps) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"expected total steps > warm-up steps ({warmupSteps})");
        if (!(minRate >= 0f && minRate <= peakRate)) throw new ArgumentOutOfRangeException(nameof(minRate), minRate, $"expected a min rate in [0, {peakRate}]");
        PeakRate = peakRate; WarmupSteps = warmupSteps; TotalSteps = totalSteps; MinRate = minRate;
    }

    public float At(int step)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "expected a 1-based step ≥ 1");
        if (step <= WarmupSteps) return (float)((double)PeakRate * step / WarmupSteps);
        if (step >= TotalSteps) return MinRate;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return (float)(MinRate + 0.5 * (PeakRate - MinRate) * (1 + Math.Cos(Math.PI * progress)));
    }
}

/// <summary>
/// The inverse-square-root ("Noam") schedule of Vaswani et al. (2017, §5.3):
///   η = factor · d_model^(−½) · min(step^(−½), step · W^(−3/2)),
/// linear warm-up for W steps, then decay as 1/√step; the peak, at step W, is factor/√(d_model·W).
/// </summary>
public sealed class InverseSqrtSchedule : ILearningRateSchedule
{
    /// <summary>d_model, the model width.</summary>
    public int ModelSize { get; }
    /// <summary>W, warm-up steps (4000 in the paper).</summary>
    public int WarmupSteps { get; }
    /// <summary>A constant multiplier (1 in the paper).</summary>
    public float Factor { get; }

    public InverseSqrtSchedule(int modelSize, int warmupSteps, float factor = 1f)
    {
        if (modelSize <= 0) throw new ArgumentOutOfRangeException(nameof(modelSize), modelSize, "expected d_model > 0");
        if (warmupSteps <= 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "expected warm-up steps > 0");
        if (!(factor > 0f) || !float.IsFinite(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "expected a finite factor > 0");
        ModelSize = modelSize; WarmupSteps = warmupSteps; Factor = factor;
    }

    public float At(int step)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "expected a 1-based step ≥ 1");
        double s = step;
        return (float)(Factor / Math.Sqrt(ModelSize) * Math.Min(1 / Math.Sqrt(s), s * Math.Pow(WarmupSteps, -1.5)));
    }
}
