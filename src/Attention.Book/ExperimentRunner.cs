using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Attention.Book;

/// <summary>One run of an experiment: its result (or the exception it threw), setting, seed and wall time.</summary>
public sealed record ExperimentRun(Experiment Experiment, ExperimentResult? Result, Exception? Error,
                                   bool Full, int Seed, TimeSpan Elapsed, string FigureDirectory)
{
    public bool Succeeded => Result is not null && Error is null;

    /// <summary>"quick" or "full".</summary>
    public string Setting => Full ? "full" : "quick";
}

/// <summary>Runs experiments with a fresh figure folder, timing them and catching their failures.</summary>
public static class ExperimentRunner
{
    /// <summary>
    /// Runs <paramref name="experiment"/>. Figures go to <paramref name="figureDirectory"/> (emptied first; default a
    /// per-question folder under the temp directory). An exception thrown by the experiment is captured in the run,
    /// except cancellation, which propagates.
    /// </summary>
    public static ExperimentRun Run(Experiment experiment, bool full = false, int seed = 1234, string? figureDirectory = null,
                                    IProgress<(double Fraction, string Status)>? progress = null, string? input = null,
                                    CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        figureDirectory ??= Path.Combine(Path.GetTempPath(), "attn-figures", $"q{experiment.Question:00}-{Environment.ProcessId}");
        if (Directory.Exists(figureDirectory)) Directory.Delete(figureDirectory, recursive: true);
        Directory.CreateDirectory(figureDirectory);
        var context = new ExperimentContext
        {
            Full = full, Seed = seed, FigureDirectory = figureDirectory, Progress = progress, Cancellation = cancellation, Input = input,
        };
        var clock = Stopwatch.StartNew();
        try
        {
            var result = experiment.Run(context) ?? throw new InvalidOperationException($"{experiment.GetType().Name}.Run returned null.");
            if (result.Question != 0 && result.Question != experiment.Question)
                throw new InvalidOperationException(
                    $"{experiment.GetType().Name} answers question {experiment.Question} but its result says question {result.Question}.");
            return new ExperimentRun(experiment, result, null, full, seed, clock.Elapsed, figureDirectory);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            return new ExperimentRun(experiment, null, e, full, seed, clock.Elapsed, figureDirectory);
        }
    }
}

/// <summary>Names the machine a run happened on, for the footer of each experiment block.</summary>
public static class MachineInfo
{
    private static readonly Lazy<string> Cached = new(Detect);

    /// <summary>e.g. "AMD EPYC 9R14, 2 cores".</summary>
    public static string Describe() => Cached.Value;

    private static string Detect()
    {
        string cpu = RuntimeInformation.ProcessArchitecture.ToString();
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                if (line is not null && line.Contains(':')) cpu = line[(line.IndexOf(':') + 1)..].Trim();
            }
        }
        catch (IOException) { /* keep the architecture name */ }
        catch (UnauthorizedAccessException) { }
        int cores = Environment.ProcessorCount;
        return $"{cpu}, {cores} core{(cores == 1 ? "" : "s")}";
    }
}
