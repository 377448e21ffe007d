namespace Attention.Kernels;

/// <summary>
/// A block-paged key/value cache for <see cref="DecodeAttention.ForwardPaged"/> (vLLM's PagedAttention, Kwon et al., 2023):
/// one pool of fixed-size blocks, <see cref="Keys"/> and <see cref="Values"/> laid out (NumBlocks, KvHeads, BlockSize, D),
/// and per sequence the list of blocks that hold its tokens in order. Memory is allocated a block at a time, so a
/// sequence wastes at most BlockSize − 1 rows, and a finished sequence returns its blocks to the pool.
/// <see cref="Fork"/> shares a prefix (a prompt, a beam) by reference counting: the new sequence points at the same
/// blocks, and the first append to a partly filled shared last block copies that block first (copy-on-write), so
/// neither sequence sees the other's later tokens. Not thread-safe.
/// <para>Where blocks go: a sequence grows into the block after its last one when that block is free; otherwise (its
/// first block, or the next one is taken) it starts a new run in the middle of the longest free run of the pool, so
/// sequences that grow side by side (decoding a batch token by token) each keep a run of consecutive blocks instead
/// of interleaving block by block. The kernel reads any table; consecutive blocks are simply read faster (the memory
/// system streams them), which bench/results/long-context.md measures against a pool whose blocks are shuffled.</para>
/// </summary>
public sealed class PagedKvCache
{
    private readonly bool[] _isFree;
    private int _freeCount;
    private readonly int[] _refCount;
    private readonly Dictionary<int, (List<int> Blocks, int Length)> _sequences = new();
    private int _nextId;

    /// <exception cref="ArgumentOutOfRangeException">A size below 1.</exception>
    public PagedKvCache(int numBlocks, int kvHeads, int blockSize, int headDim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numBlocks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kvHeads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headDim, 1);
        (NumBlocks, KvHeads, BlockSize, HeadDim) = (numBlocks, kvHeads, blockSize, headDim);
        long floats = checked((long)numBlocks * kvHeads * blockSize * headDim);
        Keys = new float[checked((int)floats)];
        Values = new float[Keys.Length];
        _refCount = new int[numBlocks];
        _isFree = new bool[numBlocks];
        Array.Fill(_isFree, true);
        _freeCount = numBlocks;
    }

    public int NumBlocks { get; }
    public int KvHeads { get; }
    public int BlockSize { get; }
    public int HeadDim { get; }

    /// <summary>The key pool (NumBlocks, KvHeads, BlockSize, HeadDim), the kCache of <see cref="DecodeAttention.ForwardPaged"/>.</summary>
    public float[] Keys { get; }

    /// <summary>The value pool, laid out as <see cref="Keys"/>.</summary>
    public float[] Values { get; }

    /// <summary>Blocks not held by any sequence.</summary>
    public int FreeBlocks => _freeCount;

    /// <summary>How many sequences hold block <paramref name="block"/> (0 = free).</summary>
    public int References(int block) => _refCount[block];

    /// <summary>Starts an empty sequence; returns its id.</summary>
    public int AddSequence()
    {
        int id = _nextId++;
        _sequences[id] = (new List<int>(), 0);
        return id;
    }

    /// <summary>A new sequence that shares every token of <paramref name="sequence"/> (no copy until one of them appends
    /// into a shared, partly filled block).</summary>
    public int Fork(int sequence)
    {
        var (blocks, length) = Get(sequence);
        foreach (int b in blocks) _refCount[b]++;
        int id = _nextId++;
        _sequences[id] = (new List<int>(blocks), length);
        return id;
    }

    /// <summary>Tokens held by a sequence.</summary>
    public int Length(int sequence) => Get(sequence).Length;

    /// <summary>The blocks of a sequence, in token order.</summary>
    public IReadOnlyList<int> Blocks(int sequence) => Get(sequence).Blocks;

    /// <summary>Appends one token: key and value are (KvHeads, HeadDim).</summary>
    /// <exception cref="ArgumentException">A span of the wrong length.</exception>
    /// <exception cref="InvalidOperationException">No free block is left.</exception>
    public void Append(int sequence, ReadOnlySpan<float> key, ReadOnlySpan<float> value)
    {
        int row = KvHeads * HeadDim;
        if (key.Length != row) throw new ArgumentException($"key: expected KvHeads·HeadDim = {row} floats, got {key.Length}", nameof(key));
        if (value.Length != row) throw new ArgumentException($"value: expected KvHeads·HeadDim = {row} floats, got {value.Length}", nameof(value));
        var (blocks, length) = Get(sequence);
        int offset = length % BlockSize;
        if (offset == 0) blocks.Add(Allocate(blocks.Count > 0 ? blocks[^1] : -1));
        else if (_refCount[blocks[^1]] > 1)
        {
            // copy-on-write: the shared last block is copied (its filled rows) before this sequence writes into it
            int shared = blocks[^1], copy = Allocate(blocks.Count > 1 ? blocks[^2] : -1);
            for (int h = 0; h < KvHeads; h++)
            {
                Keys.AsSpan(RowIndex(shared, h, 0), offset * HeadDim).CopyTo(Keys.AsSpan(RowIndex(copy, h, 0)));
                Values.AsSpan(RowIndex(shared, h, 0), offset * HeadDim).CopyTo(Values.AsSpan(RowIndex(copy, h, 0)));
            }
            _refCount[shared]--;
            blocks[^1] = copy;
        }
        int block = blocks[^1];
        for (int h = 0; h < KvHeads; h++)
        {
            key.Slice(h * HeadDim, HeadDim).CopyTo(Keys.AsSpan(RowIndex(block, h, offset), HeadDim));
            value.Slice(h * HeadDim, HeadDim).CopyTo(Values.AsSpan(RowIndex(block, h, offset), HeadDim));
        }
        _sequences[sequence] = (blocks, length + 1);
    }

    /// <summary>Ends a sequence; blocks no other sequence holds return to the pool.</summary>
    public void Free(int sequence)
    {
        var (blocks, _) = Get(sequence);
        foreach (int b in blocks)
            if (--_refCount[b] == 0) { _isFree[b] = true; _freeCount++; }
        _sequences.Remove(sequence);
    }

    /// <summary>The blockTable (B, maxBlocksPerSeq) and seqLens (B) of <see cref="DecodeAttention.ForwardPaged"/> for these
    /// sequences, maxBlocksPerSeq = the most blocks any of them holds (at least 1); unused entries are 0.</summary>
    public (int[] BlockTable, int[] SeqLens, int MaxBlocksPerSeq) Tables(ReadOnlySpan<int> sequences)
    {
        int maxBlocks = 1;
        foreach (int s in sequences) maxBlocks = Math.Max(maxBlocks, Get(s).Blocks.Count);
        var table = new int[sequences.Length * maxBlocks];
        var lens = new int[sequences.Length];
        for (int b = 0; b < sequences.Length; b++)
        {
            var (blocks, length) = Get(sequences[b]);
            blocks.CopyTo(table, b * maxBlocks);
            lens[b] = length;
        }
        return (table, lens, maxBlocks);
    }

    private int RowIndex(int block, int kvHead, int row) => ((block * KvHeads + kvHead) * BlockSize + row) * HeadDim;

    /// <summary>A free block for a sequence whose last block is <paramref name="after"/> (−1: none yet): the next block
    /// when it is free, else <see cref="RoomyBlock"/>.</summary>
    private int Allocate(int after)
    {
        if (_freeCount == 0)
            throw new InvalidOperationException($"PagedKvCache: all {NumBlocks} blocks are in use; free a sequence or make a larger cache");
        int b = after >= 0 && after + 1 < NumBlocks && _isFree[after + 1] ? after + 1 : RoomyBlock();
        _isFree[b] = false;
        _freeCount--;
        _refCount[b] = 1;
        return b;
    }

    /// <summary>The start of a new run: the middle of the longest free run (its first half stays free for the sequence
    /// that may be growing into it from the left), or its start when it begins the pool. One scan of the pool, paid only
    /// when a sequence cannot continue its run.</summary>
    private int RoomyBlock()
    {
        int bestStart = -1, bestLength = 0;
        for (int i = 0; i < NumBlocks;)
        {
            if (!_isFree[i]) { i++; continue; }
            int j = i;
            while (j < NumBlocks && _isFree[j]) j++;
            if (j - i > bestLength) (bestStart, bestLength) = (i, j - i);
            i = j;
        }
        return bestStart == 0 ? 0 : bestStart + bestLength / 2;
    }

    private (List<int> Blocks, int Length) Get(int sequence) =>
        _sequences.TryGetValue(sequence, out var s) ? s
            : throw new ArgumentException($"sequence: expected the id of a live sequence, got {sequence}", nameof(sequence));
}
