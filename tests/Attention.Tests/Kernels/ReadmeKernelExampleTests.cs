using Attention.Autograd;
using Attention.Kernels;
using Attention.Tensors;
using Attention.Tests.Reference;

namespace Attention.Tests.Kernels;

/// <summary>The "Using the kernels" examples of README.md, run as written (with small inputs), so that they keep compiling
/// and produce finite results.</summary>
public class ReadmeKernelExampleTests
{
    [Fact]
    public void ReadmeVariantsExample_Runs()
    {
        var shape = new AttentionShape(1, 8, 2, 300, 300, 64);
        var (q, k, v) = NaiveAttention.Inputs(shape, 1);
        var o = new float[q.Length];
        var lse = new float[8 * 300];
        var options = new AttentionOptions
        {
            Causal = true, WindowLeft = 255, SinkTokens = 4,
            AlibiSlopes = Alibi.Slopes(8), SoftCap = 50,
            SinkLogits = new float[8],
        };
        FlashAttention.Forward(q, k, v, o, shape, options, lse);
        var want = NaiveAttention.Forward(q, k, v, shape, options);
        NaiveAttention.AssertClose(o, want.Output, "output");

        var small = new AttentionShape(1, 8, 2, 6, 6, 4);
        var (qs, ks, vs) = NaiveAttention.Inputs(small, 2);
        var qv = Var.Parameter(Tensor.FromArray(qs, 1, 8, 6, 4));
        var kv = Var.Parameter(Tensor.FromArray(ks, 1, 2, 6, 4));
        var vv = Var.Parameter(Tensor.FromArray(vs, 1, 2, 6, 4));
        var sinkVar = Var.Parameter(Tensor.Zeros(8));
        var y = Var.Attention(qv, kv, vv, sinkVar, options);
        y.Backward(Tensor.FromArray(NaiveAttention.Random(qs.Length, 3), 1, 8, 6, 4));
        Assert.Contains(sinkVar.Grad!.ToArray(), g => g != 0);
    }

    [Fact]
    public void ReadmeVarlenPagedAndBlockSparseExamples_Run()
    {
        var qPacked = NaiveAttention.Random(12 * 8 * 64, 1);
        var kPacked = NaiveAttention.Random(12 * 2 * 64, 2);
        var vPacked = NaiveAttention.Random(12 * 2 * 64, 3);
        var oPacked = new float[qPacked.Length];
        FlashAttention.ForwardVarlen(qPacked, kPacked, vPacked, oPacked, cuSeqlensQ: [0, 5, 12], cuSeqlensK: [0, 5, 12],
                                     heads: 8, kvHeads: 2, headDim: 64, new AttentionOptions { Causal = true });
        Assert.DoesNotContain(oPacked, float.IsNaN);

        var cache = new PagedKvCache(numBlocks: 256, kvHeads: 2, blockSize: 16, headDim: 64);
        int a = cache.AddSequence();
        for (int t = 0; t < 20; t++) cache.Append(a, NaiveAttention.Random(128, t), NaiveAttention.Random(128, 100 + t));
        int b = cache.Fork(a);
        cache.Append(b, NaiveAttention.Random(128, 7), NaiveAttention.Random(128, 8));
        var (table, lens, maxBlocks) = cache.Tables([a, b]);
        var qNew = NaiveAttention.Random(2 * 8 * 64, 9);
        var oNew = new float[qNew.Length];
        DecodeAttention.ForwardPaged(qNew, cache.Keys, cache.Values, oNew, table, lens, 16,
                                     new AttentionShape(2, 8, 2, 1, maxBlocks * 16, 64), new AttentionOptions { Causal = true });
        Assert.DoesNotContain(oNew, float.IsNaN);

        var rolling = new RollingKvCache(kvHeads: 2, headDim: 64, sinkTokens: 4, window: 1024);
        var outRow = new float[8 * 64];
        for (int t = 0; t < 1100; t++)
        {
            rolling.Append(NaiveAttention.Random(128, t), NaiveAttention.Random(128, t + 5000));
            if (t % 100 == 0) rolling.Attend(NaiveAttention.Random(8 * 64, t), outRow, heads: 8);
        }
        Assert.Equal(1028, rolling.Count);
        Assert.DoesNotContain(outRow, float.IsNaN);

        var layout = BlockSparseLayout.BigBird(blockSize: 64, queryLength: 512, keyLength: 512,
                                               windowBlocks: 1, globalBlocks: 1, randomBlocks: 2, seed: 1);
        var shape = new AttentionShape(1, 8, 8, 512, 512, 64);
        var (q4k, k4k, v4k) = NaiveAttention.Inputs(shape, 4);
        var o4k = new float[q4k.Length];
        BlockSparseAttention.Forward(q4k, k4k, v4k, o4k, shape, layout, new AttentionOptions());
        Assert.DoesNotContain(o4k, float.IsNaN);
    }
}
