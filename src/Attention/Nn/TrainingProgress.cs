using System.Diagnostics;
using System.Globalization;

namespace Attention.Nn;

/// <summary>
/// A one-line progress bar for long training runs: step, smoothed loss, throughput and time left,
/// redrawn in place (carriage return) on a <see cref="TextWriter"/> at most every
/// <see cref="RefreshInterval"/>, plus a final line from <see cref="Finish"/>. The loss shown is an
/// exponential moving average (α = 0.1) with bias correction, so the first steps are not pulled to zero.
/// Library code stays free of console dependencies: pass Console.Error, or a StringWriter in tests.
/// </summary>
public sealed class TrainingProgress
{
    private readonly TextWriter _writer;
    private readonly Func<TimeSpan> _clock;
    private readonly string _unit;
    private TimeSpan? _lastDraw;
    private double _ema, _weight;
    private long _items;

    /// <summary>Steps planned.</summary>
    public int TotalSteps { get; }
    /// <summary>Steps reported.</summary>
    public int Steps { get; private set; }
    /// <summary>Smoothed loss (NaN before the first step).</summary>
    public double SmoothedLoss => _weight == 0 ? double.NaN : _ema / _weight;
    /// <summary>Items (tokens, examples) per second since the start.</summary>
    public double Throughput { get { var s = _clock().TotalSeconds; return s > 0 ? _items / s : 0; } }
    /// <summary>Minimum time between redraws.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Creates the bar.</summary>
    /// <param name="totalSteps">Steps planned (for the bar and the time left).</param>
    /// <param name="writer">Where to draw.</param>
    /// <param name="unit">What an item is ("tok", "ex").</param>
    /// <param name="clock">Elapsed time since the start; default a stopwatch started now (tests pass a fake).</param>
    public TrainingProgress(int totalSteps, TextWriter writer, string unit = "items", Func<TimeSpan>? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalSteps);
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentException.ThrowIfNullOrEmpty(unit);
        TotalSteps = totalSteps; _writer = writer; _unit = unit;
        if (clock is null) { var sw = Stopwatch.StartNew(); _clock = () => sw.Elapsed; }
        else _clock = clock;
    }

    /// <summary>Records one step's loss and how many items it processed; redraws when due.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative item count.</exception>
    public void Step(double loss, long items = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(items);
        const double alpha = 0.1;
        _ema = (1 - alpha) * _ema + alpha * loss;
        _weight = (1 - alpha) * _weight + alpha;
        _items += items;
        Steps++;
        var now = _clock();
        if (_lastDraw is not TimeSpan last || now - last >= RefreshInterval || Steps == TotalSteps)
        {
            _lastDraw = now;
            _writer.Write('\r' + Line());
            _writer.Flush();
        }
    }

    /// <summary>The current status line, e.g. "[######----] 120/200 loss 0.5321 3,410 tok/s eta 12s".</summary>
    public string Line()
    {
        const int width = 20;
        int filled = (int)Math.Min(width, (long)width * Steps / TotalSteps);
        double elapsed = _clock().TotalSeconds;
        double eta = Steps == 0 ? double.NaN : elapsed / Steps * Math.Max(0, TotalSteps - Steps);
        var inv = CultureInfo.InvariantCulture;
        return string.Format(inv, "[{0}{1}] {2}/{3} loss {4:F4} {5:N0} {6}/s eta {7}",
            new string('#', filled), new string('-', width - filled), Steps, TotalSteps, SmoothedLoss, Throughput, _unit,
            double.IsNaN(eta) ? "?" : $"{eta.ToString("F0", inv)}s");
    }

    /// <summary>Draws the final state and ends the line.</summary>
    public void Finish()
    {
        _writer.WriteLine('\r' + Line());
        _writer.Flush();
    }
}
