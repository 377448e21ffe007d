using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary><see cref="DecodeAttention.ForwardPaged"/> against the float64 reference on each sequence's keys gathered in order,
/// and <see cref="PagedKvCache"/>'s block bookkeeping (sharing, copy-on-write, freeing).</summary>
public class PagedAttentionTests
{
    /// <summary>Sequence b's first n keys (or values) from a paged pool, as a contiguous (1, KvHeads, n, D) tensor.</summary>
    private static float[] Gather(float[] pool, int[] table, int maxBlocks, int b, int n, int kvHeads, int blockSize, int d)
    {
        var y = new float[kvHeads * n * d];
        for (int h = 0; h < kvHeads; h++)
            for (int j = 0; j < n; j++)
            {
                int block = table[b * maxBlocks + j / blockSize];
                Array.Copy(pool, ((block * kvHeads + h) * blockSize + j % blockSize) * d, y, (h * n + j) * d, d);
            }
        return y;
    }

    private static void CheckAgainstReference(int[] seqLens, int queries, int heads, int kvHeads, int d, int blockSize,
                                              AttentionOptions options, int seed)
    {
        int batch = seqLens.Length, maxBlocks = Math.Max(1, (seqLens.Max() + blockSize - 1) / blockSize + 1);
        int numBlocks = batch * maxBlocks + 3;
        // every sequence gets distinct blocks in a shuffled order, so the table really is followed
        var order = Enumerable.Range(0, numBlocks).OrderBy(i => (i * 7919 + seed) % numBlocks).ToArray();
        var table = new int[batch * maxBlocks];
        for (int i = 0; i < table.Length; i++) table[i] = order[i];
        var kCache = NaiveAttention.Random(numBlocks * kvHeads * blockSize * d, seed);
        var vCache = NaiveAttention.Random(kCache.Length, seed + 1);
        var shape = new AttentionShape(batch, heads, kvHeads, queries, maxBlocks * blockSize, d);
        var q = NaiveAttention.Random(batch * heads * queries * d, seed + 2);
        var o = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        DecodeAttention.ForwardPaged(q, kCache, vCache, o, table, seqLens, blockSize, shape, options);
        for (int b = 0; b < batch; b++)
        {
            int s = seqLens[b];
            var one = new AttentionShape(1, heads, kvHeads, queries, s, d);
            var qb = q.AsSpan(b * heads * queries * d, heads * queries * d).ToArray();
            var want = NaiveAttention.Forward(qb, Gather(kCache, table, maxBlocks, b, s, kvHeads, blockSize, d),
                                              Gather(vCache, table, maxBlocks, b, s, kvHeads, blockSize, d), one,
                                              options with { KeyLengths = null });
            NaiveAttention.AssertClose(o.AsSpan(b * heads * queries * d, heads * queries * d), want.Output, $"sequence {b}");
        }
    }

    [Theory]
    [InlineData(16, 1, false), InlineData(16, 1, true), InlineData(5, 3, true), InlineData(64, 2, false), InlineData(1, 1, true)]
    public void Paged_MatchesFloat64Reference_SequencesOfDifferentLengths(int blockSize, int queries, bool causal)
    {
        CheckAgainstReference([100, 0, 17, 1, 64], queries, 4, 2, 64, blockSize, new() { Causal = causal }, seed: blockSize + queries);
        CheckAgainstReference([33, 7], queries, 2, 1, 7, blockSize, new() { Causal = causal }, seed: 3);
    }

    [Fact]
    public void Paged_MatchesFloat64Reference_WithEveryOption()
    {
        var options = new AttentionOptions
        {
            Causal = true, WindowLeft = 20, SinkTokens = 3, SoftCap = 4, AlibiSlopes = [0.5f, 0.25f, 0.125f, 0.0625f],
            SinkLogits = [0.3f, -1f, 2f, float.NegativeInfinity],
        };
        CheckAgainstReference([90, 5, 40], 2, 4, 2, 32, 16, options, seed: 9);
    }

    [Fact]
    public void Paged_MatchesFloat64Reference_WithEveryOptionButSinkTokens_OnTheAllHeadsPath()
    {
        // without sink tokens an item reads every key/value head of a block in turn (the path decoding batches take)
        var options = new AttentionOptions
        {
            Causal = true, WindowLeft = 20, SoftCap = 4, AlibiSlopes = [0.5f, 0.25f, 0.125f, 0.0625f],
            SinkLogits = [0.3f, -1f, 2f, float.NegativeInfinity],
        };
        CheckAgainstReference([90, 5, 40], 2, 4, 2, 32, 16, options, seed: 10);
    }

    [Theory]
    [InlineData(16, 1), InlineData(7, 3)]
    public void Paged_MatchesFloat64Reference_LongSequencesOverManyChunksAndBlocks(int blockSize, int queries)
    {
        // thousands of keys: several chunks per sequence, chunk edges inside blocks, and the prefetch a few blocks ahead
        CheckAgainstReference([1500, 37, 1200], queries, 4, 2, 64, blockSize, new() { Causal = true }, seed: 11 + blockSize);
        CheckAgainstReference([1500, 37, 1200], queries, 4, 2, 64, blockSize, new() { MaxThreads = 1 }, seed: 12 + blockSize);
    }

    [Fact]
    public void Paged_MatchesFloat64Reference_ManyQueryRows_OnThePerHeadPath()
    {
        // Heads·L above the all-heads path's bound (its per-row state lives on the stack): the per-head items take over
        CheckAgainstReference([300, 200], 80, 4, 2, 16, 16, new() { Causal = true }, seed: 13);
    }

    [Fact]
    public void Paged_KeyLengths_MaskWithinEachSequence_NeverPastItsLength()
    {
        // KeyLengths (checked against the KeyLength bound) may exceed a sequence's length: the sequence's length wins
        int[] seqLens = [40, 10];
        var shape = new AttentionShape(2, 2, 1, 1, 64, 8);
        var kCache = NaiveAttention.Random(8 * 16 * 8, 1);
        var vCache = NaiveAttention.Random(kCache.Length, 2);
        var q = NaiveAttention.Random(2 * 2 * 8, 3);
        int[] table = [0, 1, 2, 3, 4, 5, 6, 7];
        float[] a = new float[q.Length], b = new float[q.Length], c = new float[q.Length];
        DecodeAttention.ForwardPaged(q, kCache, vCache, a, table, seqLens, 16, shape, new AttentionOptions());
        DecodeAttention.ForwardPaged(q, kCache, vCache, b, table, seqLens, 16, shape, new AttentionOptions { KeyLengths = [64, 64] });
        DecodeAttention.ForwardPaged(q, kCache, vCache, c, table, [20, 10], 16, shape, new AttentionOptions());
        Assert.Equal(a, b);
        var d = new float[q.Length];
        DecodeAttention.ForwardPaged(q, kCache, vCache, d, table, seqLens, 16, shape, new AttentionOptions { KeyLengths = [20, 64] });
        Assert.Equal(c, d);
    }

    [Fact]
    public void Paged_EqualsContiguousDecode_ForOneFullSequence()
    {
        // one sequence filling its blocks in order is the contiguous layout: the two calls agree to rounding
        const int kvHeads = 2, heads = 4, d = 64, blockSize = 16, s = 256;
        var cache = new PagedKvCache(s / blockSize, kvHeads, blockSize, d);
        int seq = cache.AddSequence();
        var k = NaiveAttention.Random(kvHeads * s * d, 1);
        var v = NaiveAttention.Random(kvHeads * s * d, 2);
        var tokenK = new float[kvHeads * d];
        var tokenV = new float[kvHeads * d];
        for (int j = 0; j < s; j++)
        {
            for (int h = 0; h < kvHeads; h++)
            {
                Array.Copy(k, (h * s + j) * d, tokenK, h * d, d);
                Array.Copy(v, (h * s + j) * d, tokenV, h * d, d);
            }
            cache.Append(seq, tokenK, tokenV);
        }
        Assert.Equal(0, cache.FreeBlocks);
        var (table, lens, maxBlocks) = cache.Tables([seq]);
        var shape = new AttentionShape(1, heads, kvHeads, 1, maxBlocks * blockSize, d);
        var q = NaiveAttention.Random(heads * d, 3);
        float[] paged = new float[q.Length], contiguous = new float[q.Length];
        DecodeAttention.ForwardPaged(q, cache.Keys, cache.Values, paged, table, lens, blockSize, shape, new AttentionOptions { Causal = true });
        DecodeAttention.Forward(q, k, v, contiguous, shape with { KeyLength = s }, new AttentionOptions { Causal = true });
        for (int i = 0; i < q.Length; i++) Assert.Equal(contiguous[i], paged[i], 1e-6f);
    }

    [Fact]
    public void Cache_ForkSharesThePrefix_AndCopiesTheLastBlockOnWrite()
    {
        const int kvHeads = 1, d = 4, blockSize = 4;
        var cache = new PagedKvCache(16, kvHeads, blockSize, d);
        int a = cache.AddSequence();
        float[] Token(int t) => [t, t + 0.5f, -t, 1];
        for (int t = 0; t < 6; t++) cache.Append(a, Token(t), Token(100 + t));   // blocks: [0..3], [4, 5, _, _]
        int b = cache.Fork(a);
        Assert.Equal(cache.Blocks(a), cache.Blocks(b));
        Assert.All(cache.Blocks(a), blk => Assert.Equal(2, cache.References(blk)));
        Assert.Equal(14, cache.FreeBlocks);

        cache.Append(b, Token(50), Token(150));   // b writes into the shared, partly filled block: copied first
        cache.Append(a, Token(6), Token(106));
        Assert.Equal(cache.Blocks(a)[0], cache.Blocks(b)[0]);          // the full block stays shared
        Assert.NotEqual(cache.Blocks(a)[1], cache.Blocks(b)[1]);       // the last one was copied
        Assert.Equal(2, cache.References(cache.Blocks(a)[0]));
        Assert.Equal(1, cache.References(cache.Blocks(a)[1]));
        Assert.Equal(13, cache.FreeBlocks);

        // each sequence reads back its own tokens, in order
        void Expect(int seq, int[] tokens)
        {
            var (table, lens, maxBlocks) = cache.Tables([seq]);
            Assert.Equal(tokens.Length, lens[0]);
            var keys = Gather(cache.Keys, table, maxBlocks, 0, lens[0], kvHeads, blockSize, d);
            var values = Gather(cache.Values, table, maxBlocks, 0, lens[0], kvHeads, blockSize, d);
            for (int j = 0; j < tokens.Length; j++)
            {
                Assert.Equal(Token(tokens[j]), keys.AsSpan(j * d, d).ToArray());
                Assert.Equal(Token(100 + tokens[j]), values.AsSpan(j * d, d).ToArray());
            }
        }
        Expect(a, [0, 1, 2, 3, 4, 5, 6]);
        Expect(b, [0, 1, 2, 3, 4, 5, 50]);

        cache.Free(b);
        Assert.Equal(14, cache.FreeBlocks);                             // b's copied block returns; the shared one stays with a
        Assert.Equal(1, cache.References(cache.Blocks(a)[0]));
        cache.Free(a);
        Assert.Equal(16, cache.FreeBlocks);
        Assert.Throws<ArgumentException>(() => cache.Length(a));
    }

    [Fact]
    public void Cache_SequencesGrowingSideBySide_EachKeepOneRunOfConsecutiveBlocks()
    {
        // a batch decoded token by token: every step appends one token to each sequence. Handing out free blocks in
        // pool order would interleave them (seq 0 gets 0, 4, 8, …); the cache keeps each sequence's blocks consecutive
        const int sequences = 4, blockSize = 4, blocksEach = 15;
        var cache = new PagedKvCache(sequences * 16, 1, blockSize, 2);
        var ids = Enumerable.Range(0, sequences).Select(_ => cache.AddSequence()).ToArray();
        for (int t = 0; t < blocksEach * blockSize; t++)
            foreach (int id in ids) cache.Append(id, [t, id], [id, t]);
        var all = new HashSet<int>();
        foreach (int id in ids)
        {
            var blocks = cache.Blocks(id);
            Assert.Equal(blocksEach, blocks.Count);
            for (int i = 1; i < blocks.Count; i++) Assert.Equal(blocks[i - 1] + 1, blocks[i]);
            Assert.All(blocks, b => Assert.True(all.Add(b), $"block {b} handed to two sequences"));
        }
    }

    [Fact]
    public void Cache_UnderRandomAppendsForksAndFrees_UsesEveryBlock_AndEachSequenceReadsBackItsOwnTokens()
    {
        // the placement policy must never refuse a block while one is free, never hand a held block out again, and keep
        // every sequence's tokens intact through forks (copy-on-write) and frees
        const int numBlocks = 24, blockSize = 3, d = 2;
        var cache = new PagedKvCache(numBlocks, 1, blockSize, d);
        var rng = new Random(7);
        var tokens = new Dictionary<int, List<float>>();
        int next = 0;
        for (int step = 0; step < 3000; step++)
        {
            int op = rng.Next(10);
            if (tokens.Count == 0 || op == 0) tokens[cache.AddSequence()] = [];
            else if (op == 1 && tokens.Count > 1)
            {
                int victim = tokens.Keys.ElementAt(rng.Next(tokens.Count));
                cache.Free(victim);
                tokens.Remove(victim);
            }
            else if (op == 2)
            {
                int parent = tokens.Keys.ElementAt(rng.Next(tokens.Count));
                tokens[cache.Fork(parent)] = [.. tokens[parent]];
            }
            else
            {
                int seq = tokens.Keys.ElementAt(rng.Next(tokens.Count));
                bool needsBlock = cache.Length(seq) % blockSize == 0 || cache.References(cache.Blocks(seq)[^1]) > 1;
                if (needsBlock && cache.FreeBlocks == 0)
                {
                    Assert.Throws<InvalidOperationException>(() => cache.Append(seq, [next, 0], [0, next]));
                    continue;
                }
                cache.Append(seq, [next, 0], [0, next]);
                tokens[seq].Add(next++);
            }
            // bookkeeping: references count the sequences holding each block, and free + held = all
            var held = new int[numBlocks];
            foreach (int seq in tokens.Keys) foreach (int b in cache.Blocks(seq)) held[b]++;
            for (int b = 0; b < numBlocks; b++) Assert.Equal(held[b], cache.References(b));
            Assert.Equal(numBlocks - held.Count(h => h > 0), cache.FreeBlocks);
        }
        foreach (var (seq, expected) in tokens)
        {
            var (table, lens, maxBlocks) = cache.Tables([seq]);
            var keys = Gather(cache.Keys, table, maxBlocks, 0, lens[0], 1, blockSize, d);
            for (int j = 0; j < expected.Count; j++) Assert.Equal(expected[j], keys[j * d]);
        }
    }

    [Fact]
    public void Cache_OutOfBlocks_Throws_AndBadTokenLengthNamesSizes()
    {
        var cache = new PagedKvCache(2, 1, 2, 3);
        int s = cache.AddSequence();
        for (int t = 0; t < 4; t++) cache.Append(s, new float[3], new float[3]);
        Assert.Throws<InvalidOperationException>(() => cache.Append(s, new float[3], new float[3]));
        var e = Assert.Throws<ArgumentException>(() => cache.Append(cache.AddSequence(), new float[2], new float[3]));
        Assert.Contains("expected KvHeads·HeadDim = 3", e.Message);
        Assert.Contains("got 2", e.Message);
    }

    [Fact]
    public void Paged_BadArguments_ThrowNamingExpectedAndActual()
    {
        var shape = new AttentionShape(2, 2, 1, 1, 8, 4);   // 2 blocks of 4 per sequence
        var q = new float[2 * 2 * 4];
        var o = new float[q.Length];
        var cache = new float[3 * 1 * 4 * 4];                // 3 blocks
        void Check(Action call, string expected, string actual)
        {
            var e = Assert.Throws<ArgumentException>(call);
            Assert.Contains(expected, e.Message);
            Assert.Contains(actual, e.Message);
        }
        Check(() => DecodeAttention.ForwardPaged(q, cache, cache, o, [0, 1, 2], [8, 4], 4, shape, new()), "= 4 entries", "got 3");
        Check(() => DecodeAttention.ForwardPaged(q, cache, cache, o, [0, 1, 2, 0], [9, 4], 4, shape, new()), "[0, 8]", "got 9");
        Check(() => DecodeAttention.ForwardPaged(q, cache, cache, o, [0, 3, 2, 0], [8, 4], 4, shape, new()), "[0, 3)", "got 3");
        Check(() => DecodeAttention.ForwardPaged(q, cache, cache, o, [0, 1, 2, 0], [8, 4], 3, shape, new()), "multiple of 3", "got 8");
        Check(() => DecodeAttention.ForwardPaged(q, cache, cache.AsSpan(1).ToArray(), o, [0, 1, 2, 0], [8, 4], 4, shape, new()), "expected the length of kCache", "got 47");
        Check(() => DecodeAttention.ForwardPaged(q, cache, cache, o, [0, 1, 2, 0], [8], 4, shape, new()), "expected 2 entries", "got 1");
    }
}
