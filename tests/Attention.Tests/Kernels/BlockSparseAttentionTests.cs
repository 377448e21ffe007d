using Attention.Kernels;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary><see cref="BlockSparseAttention.Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, BlockSparseLayout, AttentionOptions, Span{float})"/>
/// against the float64 reference with the layout as an extra mask, and the layout builders.</summary>
public class BlockSparseAttentionTests
{
    private static void Check(AttentionShape shape, BlockSparseLayout layout, AttentionOptions options, bool tiled, int seed)
    {
        var (q, k, v) = NaiveAttention.Inputs(shape, seed);
        int bs = layout.BlockSize;
        var want = NaiveAttention.Forward(q, k, v, shape, options, (h, i, j) => layout[h, i / bs, j / bs]);
        var o = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        var lse = Enumerable.Repeat(float.NaN, want.LogSumExp.Length).ToArray();
        BlockSparseAttention.Forward(q, k, v, o, shape, layout, options, lse,
                                     KernelPaths.Of(tiled));
        NaiveAttention.AssertClose(o, want.Output, "output");
        NaiveAttention.AssertClose(lse, want.LogSumExp, "logSumExp", 1e-5, 1e-5);
    }

    public static TheoryData<string, int, bool> Cases()
    {
        var data = new TheoryData<string, int, bool>();
        foreach (var pattern in new[] { "strided", "fixed", "longformer", "bigbird", "random-per-head" })
            foreach (int bs in new[] { 16, 32, 64, 128, 7, 100 })
            {
                data.Add(pattern, bs, true);
                if (bs == 32 || bs == 7) data.Add(pattern, bs, false);
            }
        return data;
    }

    private static BlockSparseLayout Layout(string pattern, int bs, int l, int s, int heads) => pattern switch
    {
        "strided" => BlockSparseLayout.Strided(bs, l, s, stride: 3),
        "fixed" => BlockSparseLayout.Fixed(bs, l, s, chunkBlocks: 3, summaryBlocks: 1),
        "longformer" => BlockSparseLayout.Longformer(bs, l, s, windowBlocks: 1, globalBlocks: [0]),
        "bigbird" => BlockSparseLayout.BigBird(bs, l, s, windowBlocks: 1, globalBlocks: 1, randomBlocks: 2, seed: 5),
        "random-per-head" => RandomLayout(bs, l, s, heads, 0.4, seed: bs),
        _ => throw new ArgumentException(pattern),
    };

    private static BlockSparseLayout RandomLayout(int bs, int l, int s, int heads, double density, int seed)
    {
        int qb = (l + bs - 1) / bs, kb = (s + bs - 1) / bs;
        var rng = new Random(seed);
        var blocks = new bool[heads * qb * kb];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = rng.NextDouble() < density;
        return new BlockSparseLayout(bs, heads, qb, kb, blocks);
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void BlockSparse_MatchesFloat64Reference_WithTheLayoutAsMask(string pattern, int bs, bool tiled)
    {
        var shape = new AttentionShape(1, 2, 1, 300, 300, 16);
        var layout = Layout(pattern, bs, 300, 300, 2);
        Check(shape, layout, new AttentionOptions { Causal = pattern is "strided" or "fixed" }, tiled, seed: bs);
    }

    [SkippableTheory]
    [InlineData(true), InlineData(false)]
    public void BlockSparse_OptionsStillApplyInsideComputedBlocks(bool tiled)
    {
        // L ≠ S, GQA, odd D, window + sinks + ALiBi + soft-cap + sink logits + padding, a random per-head layout
        var shape = new AttentionShape(2, 4, 2, 150, 200, 33);
        var options = new AttentionOptions
        {
            Causal = true, WindowLeft = 60, SinkTokens = 3, AlibiSlopes = Alibi.Slopes(4), SoftCap = 5,
            SinkLogits = [0f, 1f, -1f, float.NegativeInfinity], KeyLengths = [170, 200],
        };
        Check(shape, RandomLayout(32, 150, 200, 4, 0.5, seed: 3), options, tiled, seed: 4);
        Check(shape, RandomLayout(64, 150, 200, 1, 0.5, seed: 4), options, tiled, seed: 5);
    }

    [SkippableFact]
    public void BlockSparse_DenseLayout_EqualsFlashAttention()
    {
        var shape = new AttentionShape(1, 2, 2, 129, 131, 64);
        var (q, k, v) = NaiveAttention.Inputs(shape, 2);
        float[] sparse = new float[q.Length], dense = new float[q.Length];
        var options = new AttentionOptions { Causal = true };
        BlockSparseAttention.Forward(q, k, v, sparse, shape, BlockSparseLayout.Dense(64, 129, 131), options);
        FlashAttention.Forward(q, k, v, dense, shape, options);
        Assert.Equal(dense, sparse);
    }

    [SkippableFact]
    public void BlockSparse_ZeroBlocksAreNeverRead()
    {
        // NaN in the keys and values of a key block no query block attends: a kernel that touched it would return NaN
        var shape = new AttentionShape(1, 1, 1, 256, 256, 16);
        var (q, k, v) = NaiveAttention.Inputs(shape, 6);
        var layout = BlockSparseLayout.Dense(32, 256, 256);
        for (int qb = 0; qb < 8; qb++) layout.Blocks[qb * 8 + 5] = false;
        for (int j = 5 * 32; j < 6 * 32; j++)
            for (int d = 0; d < 16; d++) { k[j * 16 + d] = float.NaN; v[j * 16 + d] = float.NaN; }
        foreach (var path in new[] { FlashAttention.FlashPath.Portable, KernelPaths.Tiled() })
        {
            var o = new float[q.Length];
            BlockSparseAttention.Forward(q, k, v, o, shape, layout, new AttentionOptions(), default, path);
            Assert.DoesNotContain(o, float.IsNaN);
        }
    }

    [SkippableFact]
    public void Layouts_HaveTheirDefiningProperties()
    {
        var strided = BlockSparseLayout.Strided(16, 256, 256, stride: 4);
        for (int q = 0; q < 16; q++)
            for (int k = 0; k < 16; k++)
                Assert.Equal(k <= q && (q - k < 4 || (q - k) % 4 == 0), strided[0, q, k]);
        var fixedLayout = BlockSparseLayout.Fixed(16, 256, 256, chunkBlocks: 4, summaryBlocks: 1);
        Assert.True(fixedLayout[0, 13, 3] && fixedLayout[0, 13, 7] && fixedLayout[0, 13, 12] && fixedLayout[0, 13, 11] && !fixedLayout[0, 13, 10] && !fixedLayout[0, 13, 14]);
        var longformer = BlockSparseLayout.Longformer(16, 256, 256, windowBlocks: 1, globalBlocks: [0]);
        Assert.All(Enumerable.Range(0, 16), i => Assert.True(longformer[0, 0, i] && longformer[0, i, 0]));
        Assert.False(longformer[0, 8, 10]);
        var a = BlockSparseLayout.BigBird(16, 512, 512, 1, 1, 3, seed: 1);
        Assert.Equal(a.Blocks, BlockSparseLayout.BigBird(16, 512, 512, 1, 1, 3, seed: 1).Blocks);
        Assert.NotEqual(a.Blocks, BlockSparseLayout.BigBird(16, 512, 512, 1, 1, 3, seed: 2).Blocks);
        Assert.True(a.Density < 0.35);
        Assert.Equal(1.0, BlockSparseLayout.Dense(7, 20, 30).Density);
    }

    [SkippableFact]
    public void BlockSparse_BadLayout_ThrowsNamingExpectedAndActual()
    {
        var shape = new AttentionShape(1, 2, 1, 100, 70, 8);
        var (q, k, v) = NaiveAttention.Inputs(shape, 1);
        var o = new float[q.Length];
        void Check(BlockSparseLayout layout, string expected, string actual)
        {
            var e = Assert.Throws<ArgumentException>(() => BlockSparseAttention.Forward(q, k, v, o, shape, layout, new AttentionOptions()));
            Assert.Contains(expected, e.Message);
            Assert.Contains(actual, e.Message);
        }
        Check(new BlockSparseLayout(32, 1, 3, 3, new bool[9]), "= 4", "got 3");
        Check(new BlockSparseLayout(32, 1, 4, 2, new bool[8]), "= 3", "got 2");
        Check(new BlockSparseLayout(32, 3, 4, 3, new bool[36]), "expected 1 or 2", "got 3");
        Check(new BlockSparseLayout(32, 1, 4, 3, new bool[11]), "= 12 flags", "got 11");
        Check(new BlockSparseLayout(0, 1, 4, 3, new bool[12]), "BlockSize", "got 0");
    }
}
