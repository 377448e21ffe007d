namespace Attention.Kernels;

/// <summary>
/// A constant-memory KV cache for streaming generation (StreamingLLM, Xiao et al., 2023): it keeps the first
/// <see cref="SinkTokens"/> tokens (the attention sinks) and the last <see cref="Window"/> tokens, evicting the oldest window
/// token as each new one arrives, so memory stays (SinkTokens + 2·Window)·KvHeads·HeadDim floats for K and for V however
/// long the stream runs. Positions are those inside the cache, as StreamingLLM assigns them: the held tokens are numbered
/// 0 … Count − 1 in order (sinks first), so ALiBi distances (and a caller's RoPE, applied with these positions) never grow
/// past the cache size.
/// <para>Layout: per key/value head, rows [start, start + Count) of a (SinkTokens + 2·Window)-row buffer hold the cache in
/// order. Evicting a token moves only the sink rows one step right (O(SinkTokens·D)); when the run reaches the end of the
/// buffer it is copied back to the front (O((SinkTokens + Window)·D) once every Window tokens), so appending costs O(D)
/// amortised and the kernel always reads one contiguous run.</para>
/// </summary>
public sealed class RollingKvCache
{
    private readonly int _rows;    // buffer rows per head: SinkTokens + 2·Window
    private int _start;

    /// <exception cref="ArgumentOutOfRangeException">kvHeads, headDim or window below 1, sinkTokens below 0.</exception>
    public RollingKvCache(int kvHeads, int headDim, int sinkTokens, int window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(kvHeads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headDim, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(sinkTokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        (KvHeads, HeadDim, SinkTokens, Window) = (kvHeads, headDim, sinkTokens, window);
        _rows = checked(sinkTokens + 2 * window);
        Keys = new float[checked(kvHeads * _rows * headDim)];
        Values = new float[Keys.Length];
    }

    public int KvHeads { get; }
    public int HeadDim { get; }
    public int SinkTokens { get; }
    public int Window { get; }

    /// <summary>Tokens held now: min(Seen, SinkTokens + Window).</summary>
    public int Count { get; private set; }

    /// <summary>Tokens appended since the start of the stream.</summary>
    public long Seen { get; private set; }

    /// <summary>The key buffer, (KvHeads, SinkTokens + 2·Window, HeadDim); the live rows of head h are
    /// <see cref="Key(int, int)"/>(h, 0 … Count − 1).</summary>
    public float[] Keys { get; }

    /// <summary>The value buffer, laid out as <see cref="Keys"/>.</summary>
    public float[] Values { get; }

    /// <summary>Key row of cache position j (0 = the first sink) for key/value head h.</summary>
    public ReadOnlySpan<float> Key(int h, int j) => Keys.AsSpan(Row(h, j), HeadDim);

    /// <summary>Value row of cache position j for key/value head h.</summary>
    public ReadOnlySpan<float> Value(int h, int j) => Values.AsSpan(Row(h, j), HeadDim);

    /// <summary>Appends one token: key and value are (KvHeads, HeadDim). Once the cache is full, the oldest token after
    /// the sinks is evicted.</summary>
    /// <exception cref="ArgumentException">A span of the wrong length.</exception>
    public void Append(ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int row = KvHeads * HeadDim;
        if (key.Length != row) throw new ArgumentException($"key: expected KvHeads·HeadDim = {row} floats, got {key.Length}", nameof(key));
        if (value.Length != row) throw new ArgumentException($"value: expected KvHeads·HeadDim = {row} floats, got {value.Length}", nameof(value));
        int capacity = SinkTokens + Window;
        if (Count == capacity)
        {
            // evict window token 0 (cache position SinkTokens): the sinks move one row right over it
            if (_start + capacity == _rows)
            {
                for (int h = 0; h < KvHeads; h++)   // the run reached the end of the buffer: back to the front first
                {
                    Keys.AsSpan(Row(h, 0), capacity * HeadDim).CopyTo(Keys.AsSpan(h * _rows * HeadDim));
                    Values.AsSpan(Row(h, 0), capacity * HeadDim).CopyTo(Values.AsSpan(h * _rows * HeadDim));
                }
                _start = 0;
            }
            for (int h = 0; h < KvHeads; h++)
            {
                Keys.AsSpan(Row(h, 0), SinkTokens * HeadDim).CopyTo(Keys.AsSpan(Row(h, 1)));
                Values.AsSpan(Row(h, 0), SinkTokens * HeadDim).CopyTo(Values.AsSpan(Row(h, 1)));
            }
            _start++;
            Count--;
        }
        for (int h = 0; h < KvHeads; h++)
        {
            key.Slice(h * HeadDim, HeadDim).CopyTo(Keys.AsSpan(Row(h, Count), HeadDim));
            value.Slice(h * HeadDim, HeadDim).CopyTo(Values.AsSpan(Row(h, Count), HeadDim));
        }
        Count++;
        Seen++;
    }

    /// <summary>
    /// Attention of one new token's queries, (heads, HeadDim), over every token held (append the token's own key and value
    /// first), into output (heads, HeadDim); heads is a multiple of KvHeads. The query sits at cache position Count − 1.
    /// Options as in <see cref="DecodeAttention.Forward"/> (AlibiSlopes and SinkLogits have one entry per query head);
    /// masks are rarely wanted here, since the cache already is the window.
    /// </summary>
    /// <exception cref="ArgumentException">Spans of the wrong length, heads not a multiple of KvHeads, or an option check.</exception>
    public void Attend(ReadOnlySpan<float> query, Span<float> output, int heads, AttentionOptions? options = null)
    {
        options ??= AttentionOptions.Default;
        if (heads < 1 || heads % KvHeads != 0)
            throw new ArgumentException($"heads: expected a positive multiple of KvHeads ({KvHeads}), got {heads}", nameof(heads));
        int floats = heads * HeadDim, group = heads / KvHeads;
        if (query.Length != floats) throw new ArgumentException($"query: expected heads·HeadDim = {floats} floats, got {query.Length}", nameof(query));
        if (output.Length != floats) throw new ArgumentException($"output: expected heads·HeadDim = {floats} floats, got {output.Length}", nameof(output));
        if (options.AlibiSlopes is { } a && a.Length != heads)
            throw new ArgumentException($"AlibiSlopes: expected {heads} entries (one per query head), got {a.Length}", nameof(options));
        if (options.SinkLogits is { } s && s.Length != heads)
            throw new ArgumentException($"SinkLogits: expected {heads} entries (one per query head), got {s.Length}", nameof(options));
        var shape = new AttentionShape(1, group, 1, 1, Count, HeadDim);
        for (int h = 0; h < KvHeads; h++)
        {
            // the query heads of one key/value group against that head's contiguous run of rows
            var groupOptions = options.AlibiSlopes is null && options.SinkLogits is null ? options : options with
            {
                AlibiSlopes = options.AlibiSlopes?.AsSpan(h * group, group).ToArray(),
                SinkLogits = options.SinkLogits?.AsSpan(h * group, group).ToArray(),
            };
            DecodeAttention.Forward(query.Slice(h * group * HeadDim, group * HeadDim),
                                    Keys.AsSpan(Row(h, 0), Count * HeadDim), Values.AsSpan(Row(h, 0), Count * HeadDim),
                                    output.Slice(h * group * HeadDim, group * HeadDim), shape, groupOptions);
        }
    }

    private int Row(int h, int j) => (h * _rows + _start + j) * HeadDim;
}
