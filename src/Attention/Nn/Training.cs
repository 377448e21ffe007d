using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>
/// Variable-length sequences padded into one (B, T) batch: <see cref="Ids"/> row-major with
/// <see cref="PadId"/> past each length, <see cref="Lengths"/> (B) for the layers' keyLengths/lengths
/// arguments, and <see cref="Mask"/> (B, T) = 1 on real tokens, 0 on padding.
/// </summary>
public sealed record PaddedBatch(int[] Ids, int[] Lengths, int Batch, int Time, int PadId)
{
    /// <summary>(B, T): 1 where t &lt; Lengths[b].</summary>
    public Tensor Mask
    {
        get
        {
            var m = Tensor.Zeros(Batch, Time);
            var s = m.AsSpan();
            for (int b = 0; b < Batch; b++) s.Slice(b * Time, Lengths[b]).Fill(1f);
            return m;
        }
    }

    /// <summary>Ids with padding positions replaced by <paramref name="ignoreIndex"/> (targets for <see cref="Var.CrossEntropy"/>).</summary>
    public int[] TargetsIgnoringPadding(int ignoreIndex = -100)
    {
        var t = (int[])Ids.Clone();
        for (int b = 0; b < Batch; b++)
            for (int i = Lengths[b]; i < Time; i++) t[b * Time + i] = ignoreIndex;
        return t;
    }

    /// <summary>
    /// Pads <paramref name="sequences"/> to the longest (or to <paramref name="length"/>, which must
    /// hold every sequence) with <paramref name="padId"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No sequences, or a sequence longer than <paramref name="length"/>.</exception>
    public static PaddedBatch Pad(IReadOnlyList<int[]> sequences, int padId = 0, int? length = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0) throw new ArgumentException("expected at least one sequence, got none", nameof(sequences));
        int longest = 0;
        for (int i = 0; i < sequences.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(sequences[i], nameof(sequences));
            longest = Math.Max(longest, sequences[i].Length);
        }
        int t = length ?? longest;
        if (t < longest)
            throw new ArgumentException($"expected a length ≥ the longest sequence ({longest}), got {t}", nameof(length));
        var ids = new int[sequences.Count * t];
        Array.Fill(ids, padId);
        var lengths = new int[sequences.Count];
        for (int b = 0; b < sequences.Count; b++)
        {
            sequences[b].CopyTo(ids, b * t);
            lengths[b] = sequences[b].Length;
        }
        return new PaddedBatch(ids, lengths, sequences.Count, t, padId);
    }
}

/// <summary>Deterministic batching: seeded shuffles, fixed-size batches, and length bucketing.</summary>
public static class Batching
{
    /// <summary>A permutation of 0..n−1 (Fisher–Yates); the same seed gives the same order.</summary>
    public static int[] Permutation(int n, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentNullException.ThrowIfNull(rng);
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (p[i], p[j]) = (p[j], p[i]); }
        return p;
    }

    /// <summary>Indices 0..n−1 in batches of <paramref name="batchSize"/> (the last may be smaller), shuffled when <paramref name="rng"/> is given.</summary>
    public static IReadOnlyList<int[]> Batches(int n, int batchSize, Rng? rng = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var order = rng is null ? Enumerable.Range(0, Math.Max(0, n)).ToArray() : Permutation(n, rng);
        return order.Chunk(batchSize).ToList();
    }

    /// <summary>
    /// Length bucketing: indices sorted by length (ties in seeded random order), cut into batches of
    /// <paramref name="batchSize"/> so each batch holds similar lengths and little padding, then the
    /// batch order shuffled so training does not see lengths in a trend.
    /// </summary>
    public static IReadOnlyList<int[]> BucketByLength(IReadOnlyList<int> lengths, int batchSize, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentNullException.ThrowIfNull(rng);
        var order = Permutation(lengths.Count, rng);
        var sorted = order.OrderBy(i => lengths[i]).ToArray();    // stable: ties keep the random order
        var batches = sorted.Chunk(batchSize).ToArray();
        var batchOrder = Permutation(batches.Length, rng);
        return batchOrder.Select(i => batches[i]).ToList();
    }

    /// <summary>Padding cells over real cells for these batches (0 = no padding), to compare batching schemes.</summary>
    public static double PaddingFraction(IReadOnlyList<int[]> batches, IReadOnlyList<int> lengths)
    {
        ArgumentNullException.ThrowIfNull(batches);
        ArgumentNullException.ThrowIfNull(lengths);
        long real = 0, padded = 0;
        foreach (var batch in batches)
        {
            int longest = batch.Max(i => lengths[i]);
            foreach (var i in batch) { real += lengths[i]; padded += longest - lengths[i]; }
        }
        return real == 0 ? 0 : (double)padded / real;
    }
}

/// <summary>
/// Early stopping on a validation metric (lower is better): <see cref="Report"/> after each epoch
/// returns true once the metric has not improved by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> reports in a row. With a module it keeps a copy of the best parameters,
/// which <see cref="RestoreBest"/> writes back.
/// </summary>
public sealed class EarlyStopping
{
    private float[][]? _best;

    /// <summary>Reports without improvement tolerated.</summary>
    public int Patience { get; }
    /// <summary>Smallest decrease that counts as an improvement.</summary>
    public double MinDelta { get; }
    /// <summary>Best metric so far (+∞ before the first report).</summary>
    public double Best { get; private set; } = double.PositiveInfinity;
    /// <summary>0-based index of the report that gave <see cref="Best"/> (−1 before any).</summary>
    public int BestEpoch { get; private set; } = -1;
    /// <summary>Reports so far.</summary>
    public int Epochs { get; private set; }
    /// <summary>Consecutive reports without improvement.</summary>
    public int Stale { get; private set; }

    /// <summary>Creates the rule.</summary>
    public EarlyStopping(int patience, double minDelta = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(patience);
        if (!(minDelta >= 0)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "expected minDelta ≥ 0");
        Patience = patience; MinDelta = minDelta;
    }

    /// <summary>Records this epoch's metric (and, when improved, a copy of <paramref name="module"/>'s parameters); true means stop.</summary>
    /// <exception cref="ArgumentException">The metric is NaN.</exception>
    public bool Report(double metric, Module? module = null)
    {
        if (double.IsNaN(metric)) throw new ArgumentException("expected a metric, got NaN (training diverged?)", nameof(metric));
        if (metric < Best - MinDelta)
        {
            Best = metric; BestEpoch = Epochs; Stale = 0;
            if (module is not null) _best = module.Parameters().Select(p => p.Value.ToArray()).ToArray();
        }
        else Stale++;
        Epochs++;
        return Stale > Patience;
    }

    /// <summary>Copies the best parameters recorded by <see cref="Report"/> back into <paramref name="module"/>.</summary>
    /// <exception cref="InvalidOperationException">No snapshot was recorded.</exception>
    /// <exception cref="ArgumentException">The module's parameters do not match the snapshot.</exception>
    public void RestoreBest(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (_best is null) throw new InvalidOperationException("no parameters recorded: pass the module to Report");
        var ps = module.Parameters();
        if (ps.Count != _best.Length)
            throw new ArgumentException($"expected a module with {_best.Length} parameters (the snapshot), got {ps.Count}", nameof(module));
        for (int i = 0; i < ps.Count; i++)
        {
            if (ps[i].Length != _best[i].Length)
                throw new ArgumentException($"parameter {i} has {ps[i].Length} elements, the snapshot {_best[i].Length}", nameof(module));
            _best[i].CopyTo(ps[i].Value.AsSpan());
        }
    }
}
