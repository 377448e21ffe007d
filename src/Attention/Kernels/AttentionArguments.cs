using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Attention.Kernels;

/// <summary>
/// Argument checks and the visible-key interval shared by the flash, decode and math attention paths.
/// Every mask the options can express (causal, sliding window, key padding) leaves each query row a single
/// contiguous interval of visible keys [lo, hi), and both ends never decrease as the query index grows;
/// the kernels rely on that to skip whole tiles and to mask only the tiles that straddle an edge.
/// </summary>
internal static class AttentionArguments
{
    /// <summary>Throws ArgumentException naming expected and actual sizes; returns the logit scale to use.</summary>
    [SuppressMessage("Usage", "CA2208", Justification = "names the parameters of the public entry point it validates for (query, key, value, output)")]
    public static float Validate(int queryLength, int keyLength, int valueLength, int outputLength,
                                 in AttentionShape shape, AttentionOptions? options,
                                 int extraLength, string extraName, long extraExpected)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (b, h, kvh, l, s, d) = shape;
        if (b < 0) throw new ArgumentException($"Batch: expected >= 0, got {b}", nameof(shape));
        if (h < 1) throw new ArgumentException($"Heads: expected >= 1, got {h}", nameof(shape));
        if (kvh < 1) throw new ArgumentException($"KvHeads: expected >= 1, got {kvh}", nameof(shape));
        if (h % kvh != 0)
            throw new ArgumentException($"Heads: expected a multiple of KvHeads ({kvh}), got {h}", nameof(shape));
        if (l < 0) throw new ArgumentException($"QueryLength: expected >= 0, got {l}", nameof(shape));
        if (s < 0) throw new ArgumentException($"KeyLength: expected >= 0, got {s}", nameof(shape));
        if (d < 1) throw new ArgumentException($"HeadDim: expected >= 1, got {d}", nameof(shape));

        long qExpected = (long)b * h * l * d, kvExpected = (long)b * kvh * s * d;
        if (queryLength != qExpected)
            throw new ArgumentException($"query: expected length B·H·L·D = {qExpected}, got {queryLength}", "query");
        if (keyLength != kvExpected)
            throw new ArgumentException($"key: expected length B·KvHeads·S·D = {kvExpected}, got {keyLength}", "key");
        if (valueLength != kvExpected)
            throw new ArgumentException($"value: expected length B·KvHeads·S·D = {kvExpected}, got {valueLength}", "value");
        if (outputLength != qExpected)
            throw new ArgumentException($"output: expected length B·H·L·D = {qExpected}, got {outputLength}", "output");
        if (extraLength != 0 && extraLength != extraExpected)
            throw new ArgumentException($"{extraName}: expected empty or length {extraExpected}, got {extraLength}", extraName);

        if (options.MaxThreads < 0)
            throw new ArgumentException($"MaxThreads: expected >= 0 (0 = all cores), got {options.MaxThreads}", nameof(options));
        if (options.WindowLeft is int wl && wl < 0)
            throw new ArgumentException($"WindowLeft: expected >= 0 or null, got {wl}", nameof(options));
        if (options.WindowRight is int wr && wr < 0)
            throw new ArgumentException($"WindowRight: expected >= 0 or null, got {wr}", nameof(options));
        if (options.KeyLengths is int[] lengths)
        {
            if (lengths.Length != b)
                throw new ArgumentException($"KeyLengths: expected {b} entries (one per batch), got {lengths.Length}", nameof(options));
            for (int i = 0; i < lengths.Length; i++)
                if ((uint)lengths[i] > (uint)s)
                    throw new ArgumentException($"KeyLengths[{i}]: expected a value in [0, {s}], got {lengths[i]}", nameof(options));
        }
        if (!(options.SoftCap >= 0) || float.IsPositiveInfinity(options.SoftCap))
            throw new ArgumentException($"SoftCap: expected a finite value >= 0 (0 = off), got {options.SoftCap}", nameof(options));
        if (options.SinkTokens < 0)
            throw new ArgumentException($"SinkTokens: expected >= 0, got {options.SinkTokens}", nameof(options));
        if (options.AlibiSlopes is float[] slopes)
        {
            if (slopes.Length != h)
                throw new ArgumentException($"AlibiSlopes: expected {h} entries (one per query head), got {slopes.Length}", nameof(options));
            for (int i = 0; i < slopes.Length; i++)
                if (!float.IsFinite(slopes[i]))
                    throw new ArgumentException($"AlibiSlopes[{i}]: expected a finite number, got {slopes[i]}", nameof(options));
        }
        if (options.SinkLogits is float[] sinks)
        {
            if (sinks.Length != h)
                throw new ArgumentException($"SinkLogits: expected {h} entries (one per query head), got {sinks.Length}", nameof(options));
            for (int i = 0; i < sinks.Length; i++)
                if (float.IsNaN(sinks[i]) || float.IsPositiveInfinity(sinks[i]))
                    throw new ArgumentException($"SinkLogits[{i}]: expected a finite number or −∞, got {sinks[i]}", nameof(options));
        }
        float scale = options.Scale ?? 1f / MathF.Sqrt(d);
        if (!float.IsFinite(scale))
            throw new ArgumentException($"Scale: expected a finite number, got {scale}", nameof(options));
        return scale;
    }

    /// <summary>Threads to use: MaxThreads, or all cores when 0, never more than there are work items.</summary>
    public static int Threads(AttentionOptions options, long items)
    {
        int t = options.MaxThreads == 0 ? Environment.ProcessorCount : options.MaxThreads;
        return (int)Math.Max(1, Math.Min(t, items));
    }
}

/// <summary>The mask of one batch entry as an interval per query row.</summary>
internal readonly struct KeyRange
{
    private readonly int _queryLength, _keyLength, _visibleLength;
    private readonly bool _causal;
    private readonly long _left, _right;   // window sizes, long.MaxValue when unbounded
    private readonly int _sinks;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // built per work item
    public KeyRange(in AttentionShape shape, AttentionOptions options, int batch)
    {
        _queryLength = shape.QueryLength;
        _keyLength = shape.KeyLength;
        // clamped: the paged decode passes each sequence's own length as KeyLength, below the bound KeyLengths was checked against
        _visibleLength = options.KeyLengths is int[] lengths ? Math.Min(lengths[batch], shape.KeyLength) : shape.KeyLength;
        _causal = options.Causal;
        _left = options.WindowLeft ?? long.MaxValue / 4;
        _right = options.WindowRight ?? long.MaxValue / 4;
        _sinks = options.SinkTokens;
    }

    /// <summary>Whether <see cref="AttentionOptions.SinkTokens"/> adds keys outside the window interval.</summary>
    public bool HasSinks => _sinks > 0;

    /// <summary>End of row i's sink keys [0, SinkEnd): min(SinkTokens, visible length, p + 1 when causal), at least 0.
    /// Never decreases as i grows.</summary>
    public int SinkEnd(int i)
    {
        if (_sinks == 0) return 0;
        long p = (long)i + _keyLength - _queryLength;
        long e = Math.Min(_sinks, _visibleLength);
        if (_causal) e = Math.Min(e, p + 1);
        return (int)Math.Max(0, e);
    }

    /// <summary>Every visible key of row i, sinks included, as [0, sinkEnd) ∪ [lo, hi): either sinkEnd = 0 (one interval,
    /// possibly empty) or 0 &lt; sinkEnd &lt; lo &lt; hi (two disjoint non-empty intervals). Unlike <see cref="Of"/>, lo may
    /// fall back to 0 as i grows (when the window and the sinks touch), so only per-row code uses it.</summary>
    public void Visible(int i, out int lo, out int hi, out int sinkEnd)
    {
        Of(i, out lo, out hi);
        sinkEnd = 0;
        if (_sinks == 0) return;
        int e = SinkEnd(i);
        if (e == 0) return;
        if (lo >= hi) { lo = 0; hi = e; }
        else if (e >= lo) { lo = 0; hi = Math.Max(hi, e); }
        else sinkEnd = e;
    }

    /// <summary>Visible keys of query row i: lo ≤ j &lt; hi (lo == hi when the row is fully masked).
    /// The aligned position p = i + S − L puts the last query on the last key (bottom-right alignment).</summary>
    public void Of(int i, out int lo, out int hi)
    {
        long p = (long)i + _keyLength - _queryLength;
        long h = _visibleLength;
        if (_causal) h = Math.Min(h, p + 1);
        h = Math.Min(h, p + _right + 1);
        long l = Math.Max(0, p - _left);
        l = Math.Min(l, _visibleLength);
        if (h < l) h = l;
        lo = (int)l; hi = (int)h;
    }
}

/// <summary>ALiBi slopes (Press et al., 2022, "Train Short, Test Long: Attention with Linear Biases Enables Input Length
/// Extrapolation"), for <see cref="AttentionOptions.AlibiSlopes"/>.</summary>
public static class Alibi
{
    /// <summary>The paper's per-head slopes. H a power of two: the geometric sequence 2^(−8/H), 2^(−16/H), …, 2^(−8) (head h
    /// gets 2^(−8(h+1)/H)). Otherwise, as in the authors' code: the slopes for the largest power of two c &lt; H, followed by
    /// every other slope of the 2c-head sequence (its 1st, 3rd, 5th, …) until there are H.</summary>
    /// <exception cref="ArgumentOutOfRangeException">heads &lt; 1.</exception>
    public static float[] Slopes(int heads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        var slopes = new float[heads];
        int c = 1;
        while (c * 2 <= heads) c *= 2;
        for (int h = 0; h < c; h++) slopes[h] = (float)Math.Pow(2, -8.0 * (h + 1) / c);
        for (int h = c; h < heads; h++)
        {
            int k = 2 * (h - c);                                   // 0, 2, 4, … in the 2c-head sequence
            slopes[h] = (float)Math.Pow(2, -8.0 * (k + 1) / (2 * c));
        }
        return slopes;
    }
}
