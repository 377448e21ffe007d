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

    public KeyRange(in AttentionShape shape, AttentionOptions options, int batch)
    {
        _queryLength = shape.QueryLength;
        _keyLength = shape.KeyLength;
        _visibleLength = options.KeyLengths is int[] lengths ? lengths[batch] : shape.KeyLength;
        _causal = options.Causal;
        _left = options.WindowLeft ?? long.MaxValue / 4;
        _right = options.WindowRight ?? long.MaxValue / 4;
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
