using Attention.Book.Experiments;
using Attention.Kernels;

namespace Attention.Tests.Answers;

public class Q19SparsePatternTests
{
    [Fact]
    public void Hops_LocalBand_NeedsOneLayerPerBlockOfDistance()
    {
        // ±1 block over 8 blocks of 16: information moves one block per layer
        var band = BlockSparseLayout.Longformer(16, 128, 128, windowBlocks: 1, globalBlocks: []);
        var hops = Q19_SparsePatterns.Hops(band);
        for (int a = 0; a < 8; a++)
            for (int b = 0; b < 8; b++)
                Assert.Equal(Math.Max(1, Math.Abs(a - b)), hops[a, b]);
    }

    [Fact]
    public void Hops_GlobalBlock_ConnectsEveryPairInTwoLayers_DenseInOne()
    {
        var longformer = BlockSparseLayout.Longformer(16, 160, 160, windowBlocks: 0, globalBlocks: [3]);
        var hops = Q19_SparsePatterns.Hops(longformer);
        int most = 0;
        foreach (int h in hops) most = Math.Max(most, h);
        Assert.Equal(2, most);
        Assert.Equal(1, hops[3, 7]);   // the global block's keys are read by everyone
        Assert.Equal(1, hops[7, 3]);   // and the global block's queries read everyone
        Assert.Equal(2, hops[5, 7]);
        foreach (int h in Q19_SparsePatterns.Hops(BlockSparseLayout.Dense(16, 100, 100))) Assert.Equal(1, h);
    }

    [Fact]
    public void Hops_CausalLayout_NeverReachesBackwards()
    {
        var strided = BlockSparseLayout.Strided(16, 128, 128, stride: 2, causal: true);
        var hops = Q19_SparsePatterns.Hops(strided);
        Assert.Equal(-1, hops[5, 2]);   // a later key never reaches an earlier query
        Assert.True(hops[0, 7] >= 1);
    }

    [Fact]
    public void Hops_FixedPatternWithAPartialLastChunk_LeavesThatChunksKeysUnreachable()
    {
        // 32 blocks in chunks of 6: the last chunk (blocks 30, 31) has no summary block, so its keys reach only their own chunk
        var layout = BlockSparseLayout.Fixed(64, 2048, 2048, chunkBlocks: 6, summaryBlocks: 1, causal: false);
        var hops = Q19_SparsePatterns.Hops(layout);
        int never = 0;
        foreach (int h in hops) if (h < 0) never++;
        Assert.Equal(2 * 30, never);   // keys of blocks 30 and 31 never reach query blocks 0..29
        Assert.Equal(-1, hops[31, 0]);
        Assert.Equal(2, hops[0, 31]);  // the other way round goes through block 5, a summary column
        var tiled = BlockSparseLayout.Fixed(64, 2048, 2048, chunkBlocks: 8, summaryBlocks: 1, causal: false);
        foreach (int h in Q19_SparsePatterns.Hops(tiled)) Assert.InRange(h, 1, 2);
    }

    [Fact]
    public void Hops_RejectsANonSquareLayout()
    {
        var layout = BlockSparseLayout.Dense(16, 32, 64);
        Assert.Throws<ArgumentException>(() => Q19_SparsePatterns.Hops(layout));
    }

    [Fact]
    public void Retrieval_FindsThePlantedKeyExactlyWhereTheLayoutLooks()
    {
        var band = BlockSparseLayout.Longformer(64, 1024, 1024, windowBlocks: 1, globalBlocks: []);
        var (observed, predicted, agree, queries) = Q19_SparsePatterns.Retrieval(band, 1024, 64, seed: 5);
        Assert.Equal(queries, agree);
        Assert.Equal(predicted, observed);
        Assert.Equal(0, observed);   // targets are ≥ N/4 = 4 blocks away, the band reaches 1
        var (denseObserved, _, _, _) = Q19_SparsePatterns.Retrieval(BlockSparseLayout.Dense(64, 1024, 1024), 1024, 64, seed: 5);
        Assert.Equal(1, denseObserved);
    }
}
