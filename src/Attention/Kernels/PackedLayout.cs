namespace Attention.Kernels;

/// <summary>
/// Where the work items of a packed variable-length batch (<c>FlashAttention.ForwardVarlen</c>) live: sequence b
/// owns query rows cuSeqlensQ[b]..cuSeqlensQ[b+1]−1 and key rows cuSeqlensK[b]..cuSeqlensK[b+1]−1 of token-major
/// tensors (row t of head h at (t·H + h)·D). Items are (sequence, head, block of query rows), numbered sequence by
/// sequence, each sequence's heads one after another and, within a head, the heaviest (last) causal blocks first,
/// as the dense kernels do; an empty sequence has no items.
/// </summary>
internal sealed class PackedLayout
{
    private readonly int[] _cuQ, _cuK, _itemStart;

    public PackedLayout(ReadOnlySpan<int> cuSeqlensQ, ReadOnlySpan<int> cuSeqlensK, int heads, int blockRows)
    {
        _cuQ = cuSeqlensQ.ToArray();
        _cuK = cuSeqlensK.ToArray();
        int sequences = _cuQ.Length - 1;
        _itemStart = new int[sequences + 1];
        for (int b = 0; b < sequences; b++)
        {
            int blocks = (_cuQ[b + 1] - _cuQ[b] + blockRows - 1) / blockRows;
            _itemStart[b + 1] = checked(_itemStart[b] + heads * blocks);
        }
    }

    public int Items => _itemStart[^1];

    public nint QueryStart(int sequence) => _cuQ[sequence];

    public nint KeyStart(int sequence) => _cuK[sequence];

    /// <summary>The sequence, head and query block of an item, and that sequence's query and key lengths.</summary>
    public void Locate(int item, int blockRows, int heads, out int sequence, out int head, out int block,
                       out int queryLength, out int keyLength)
    {
        // the last sequence whose first item is ≤ item (empty sequences before it share its start and are skipped)
        int a = 0, z = _itemStart.Length - 2;
        while (a < z)
        {
            int mid = (a + z + 1) >>> 1;
            if (_itemStart[mid] <= item) a = mid; else z = mid - 1;
        }
        sequence = a;
        queryLength = _cuQ[a + 1] - _cuQ[a];
        keyLength = _cuK[a + 1] - _cuK[a];
        int blocks = (queryLength + blockRows - 1) / blockRows, local = item - _itemStart[a];
        head = local / blocks;
        block = blocks - 1 - local % blocks;
    }

    /// <summary>Checks offsets: B + 1 ≥ 1 entries each, equal counts, starting at 0, never decreasing.</summary>
    public static void Validate(ReadOnlySpan<int> cuSeqlensQ, ReadOnlySpan<int> cuSeqlensK)
    {
        if (cuSeqlensQ.Length < 1)
            throw new ArgumentException($"cuSeqlensQ: expected B + 1 >= 1 offsets, got {cuSeqlensQ.Length}", nameof(cuSeqlensQ));
        if (cuSeqlensK.Length != cuSeqlensQ.Length)
            throw new ArgumentException($"cuSeqlensK: expected {cuSeqlensQ.Length} offsets (as many as cuSeqlensQ), got {cuSeqlensK.Length}", nameof(cuSeqlensK));
        Check(cuSeqlensQ, nameof(cuSeqlensQ));
        Check(cuSeqlensK, nameof(cuSeqlensK));

        static void Check(ReadOnlySpan<int> cu, string name)
        {
            if (cu[0] != 0) throw new ArgumentException($"{name}[0]: expected 0, got {cu[0]}", name);
            for (int b = 1; b < cu.Length; b++)
                if (cu[b] < cu[b - 1])
                    throw new ArgumentException($"{name}[{b}]: expected >= {name}[{b - 1}] = {cu[b - 1]} (offsets never decrease), got {cu[b]}", name);
        }
    }
}
