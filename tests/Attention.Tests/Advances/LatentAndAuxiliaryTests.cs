using System.Globalization;
using Attention.Autograd;
using Attention.Kernels;
using Attention.Models;
using Attention.Nn.Advances;
using Attention.Positions;
using Attention.Tensors;
using Attention.Tests.Nn;
using Attention.Tests.Reference;
using static Attention.Tests.Advances.AdvancesReference;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Advances;

/// <summary>MLA (explicit and absorbed), z-loss, int8 KV quantisation, ring attention, the IO counter and VariantCharLm.</summary>
public class LatentAndAuxiliaryTests
{
    private static LatentAttention Mla(ulong seed) => new(modelDim: 16, heads: 2, headDim: 6, latentDim: 5, ropeDim: 4, new Rng(seed), new RotaryPositions());

    /// <summary>Float64 explicit MLA (DeepSeek-V2 eq. 9–19 without query compression) at positions 0 … L−1.</summary>
    private static double[] MlaReference(LatentAttention a, Tensor x)
    {
        int b = x.Dim(0), l = x.Dim(1), h = a.Heads, dh = a.HeadDim, dr = a.RopeDim;
        var xd = ToDouble(x);
        var c = RmsNorm(Linear(a.DownKv, xd), a.LatentNorm.Gamma.Value.ToArray(), 1e-6);
        var kc = Linear(a.UpKey, c); var v = Linear(a.UpValue, c); var kr = Linear(a.RopeKey, xd); var q = Linear(a.Q, xd);
        var heads = new double[b * l * h * dh];
        for (int n = 0; n < b; n++)
            for (int hh = 0; hh < h; hh++)
                for (int i = 0; i < l; i++)
                {
                    int qo = ((n * l + i) * h + hh) * (dh + dr);
                    var qr = Rope(a.Rope, q.AsSpan(qo + dh, dr), i);
                    var s = new double[l];
                    for (int j = 0; j < l; j++)
                    {
                        if (j > i) { s[j] = double.NegativeInfinity; continue; }
                        var krj = Rope(a.Rope, kr.AsSpan((n * l + j) * dr, dr), j);
                        s[j] = (Dot(q.AsSpan(qo, dh), kc.AsSpan(((n * l + j) * h + hh) * dh, dh)) + Dot(qr, krj)) / Math.Sqrt(dh + dr);
                    }
                    var p = Softmax(s);
                    for (int j = 0; j <= i; j++)
                        for (int d = 0; d < dh; d++) heads[((n * l + i) * h + hh) * dh + d] += p[j] * v[((n * l + j) * h + hh) * dh + d];
                }
        return Linear(a.O, heads);
    }

    [Fact]
    public void LatentAttention_MatchesFloat64Reference_Causal()
    {
        var a = Mla(1);
        var x = new Rng(2).NormalTensor([2, 7, 16]);
        using var _ = Var.NoGrad();
        AssertClose(MlaReference(a, x), a.Forward(Var.Constant(x), causal: true).Value.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(33)]
    public void LatentAttention_AbsorbedDecode_EqualsExplicitForm_ToFloatRounding(int length)
    {
        var a = Mla(3);
        var x = new Rng(4).NormalTensor([1, length, 16]);
        using var _ = Var.NoGrad();
        var explicitOut = a.Forward(Var.Constant(x), causal: true).Value.ToArray().AsSpan((length - 1) * 16, 16).ToArray();
        var (latent, ropeKey) = a.Cache(Var.Constant(x));
        var last = x.ToArray().AsSpan((length - 1) * 16, 16);
        var absorbed = a.DecodeAbsorbed(last, latent.Value.ToArray(), ropeKey.Value.ToArray(), length - 1);
        for (int i = 0; i < 16; i++)
            Assert.True(Math.Abs(explicitOut[i] - absorbed[i]) <= 1e-5 + 1e-5 * Math.Abs(explicitOut[i]),
                $"element {i}: explicit {explicitOut[i]:G8} vs absorbed {absorbed[i]:G8}");
    }

    [Fact]
    public void LatentAttention_CachesLatentPlusRopeWidthPerToken_AndChecksDecodeLengths()
    {
        var a = Mla(5);
        Assert.Equal(5 + 4, a.KvCacheElementsPerToken);
        var e = Assert.Throws<ArgumentException>(() => a.DecodeAbsorbed(new float[16], new float[10], new float[4], 1));
        Assert.Contains("S·d_R = 8", e.Message);
        Assert.Contains("got 4", e.Message);
        Assert.Throws<ArgumentException>(() => new LatentAttention(16, 2, 6, 5, 3, new Rng(1)));
    }

    [Fact]
    public void LatentAttention_GradientsMatchFiniteDifferences()
    {
        var a = new LatentAttention(8, 2, 4, 3, 2, new Rng(6), new RotaryPositions());
        var x = Var.Parameter(new Rng(7).NormalTensor([1, 5, 8]));
        ParameterGradCheck.Check(() => a.Forward(x, causal: true), [x, .. a.Parameters()]);
    }

    // ----- z-loss -----

    [Fact]
    public void ZLoss_IsMeanSquaredLogPartition_AndItsGradientMatchesFiniteDifferences()
    {
        var logits = new Rng(8).NormalTensor([3, 4, 5], 1f, 2f);
        double expected = 0;
        for (int r = 0; r < 12; r++)
        {
            double z = 0;
            for (int c = 0; c < 5; c++) z += Math.Exp(logits.AsSpan()[r * 5 + c]);
            expected += Math.Log(z) * Math.Log(z) / 12;
        }
        Assert.Equal(expected, Var.Constant(logits).ZLoss().Item(), 4);
        Attention.Tests.Autograd.GradCheck.Check(v => v[0].ZLoss().Reshape(1), [logits]);
        Assert.Throws<ArgumentException>(() => Var.Scalar(1f).Reshape().ZLoss());
    }

    // ----- int8 KV quantisation -----

    [Fact]
    public void KvQuantization_RoundTripErrorIsAtMostHalfAStep_PerGroup()
    {
        var cache = new Rng(9).NormalTensor([2, 3, 11, 7]);
        foreach (var axis in new[] { KvQuantization.Axis.PerChannel, KvQuantization.Axis.PerToken })
        {
            var q = KvQuantization.Quantize(cache, axis);
            var back = KvQuantization.Dequantize(q).ToArray();
            var x = cache.ToArray();
            for (int i = 0; i < x.Length; i++)
            {
                int bg = i / (11 * 7), t = i / 7 % 11, c = i % 7;
                float step = axis == KvQuantization.Axis.PerChannel ? q.Scales[bg * 7 + c] : q.Scales[bg * 11 + t];
                Assert.True(Math.Abs(x[i] - back[i]) <= 0.5f * step * 1.0001f + 1e-7f, $"{axis} element {i}: {x[i]} → {back[i]}, step {step}");
            }
            Assert.Equal(2 * 3 * 11 * 7 + 4L * q.Scales.Length, q.Bytes);
        }
    }

    [Fact]
    public void KvQuantization_PerChannelKeysBeatPerTokenKeys_WhenOneChannelIsAnOutlier()
    {
        // keys with one channel 20× larger than the others (the pattern KIVI reports for real keys)
        var keys = new Rng(10).NormalTensor([1, 1, 64, 16]);
        var span = keys.AsSpan();
        for (int t = 0; t < 64; t++) span[t * 16 + 3] *= 20f;
        var k = keys.ToArray();
        double Error(KvQuantization.Axis axis)
        {
            var back = KvQuantization.RoundTrip(keys, axis).ToArray();
            double e = 0;
            for (int i = 0; i < back.Length; i++) if (i % 16 != 3) e += Math.Abs(back[i] - k[i]);
            return e;
        }
        double perChannel = Error(KvQuantization.Axis.PerChannel), perToken = Error(KvQuantization.Axis.PerToken);
        Assert.True(perChannel < 0.2 * perToken, $"per-channel error {perChannel:G3} should be far below per-token {perToken:G3} on the ordinary channels");
    }

    [Fact]
    public void KvQuantization_RejectsWrongRankAndNonFiniteValues()
    {
        var e = Assert.Throws<ArgumentException>(() => KvQuantization.Quantize(Tensor.Zeros(4, 5), KvQuantization.Axis.PerToken));
        Assert.Contains("(B, G, S, D)", e.Message);
        Assert.Contains("(4, 5)", e.Message);
        var bad = Tensor.Zeros(1, 1, 2, 2);
        bad.AsSpan()[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => KvQuantization.Quantize(bad, KvQuantization.Axis.PerChannel));
    }

    // ----- ring attention -----

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(5, true)]
    [InlineData(5, false)]
    public void RingAttention_EqualsFloat64SingleDeviceAttention_N37(int workers, bool causal)
    {
        var shape = new AttentionShape(2, 4, 2, 37, 37, 8);
        var rng = new Rng(11);
        var q = rng.NormalTensor([2, 4, 37, 8]).ToArray();
        var k = rng.NormalTensor([2, 2, 37, 8]).ToArray();
        var v = rng.NormalTensor([2, 2, 37, 8]).ToArray();
        var options = new AttentionOptions { Causal = causal };
        var output = new float[q.Length];
        var traffic = RingAttention.Forward(q, k, v, output, shape, options, workers);
        var reference = NaiveAttention.Forward(q, k, v, shape, options).Output;
        AssertClose(reference, output, 2e-6, 2e-5, "ring output");
        Assert.Equal(causal ? workers * (workers + 1) / 2 : workers * workers, traffic.BlockComputations);
    }

    [Fact]
    public void RingAttention_EachWorkerSends_PMinusOneKeyValueBlocks()
    {
        var shape = new AttentionShape(1, 2, 1, 64, 64, 16);
        var q = new float[2 * 64 * 16]; var kv = new float[64 * 16];
        var traffic = RingAttention.Forward(q, kv, kv, new float[q.Length], shape, new AttentionOptions(), 4);
        Assert.Equal(3L * 2 * (64 / 4) * 16 * sizeof(float), traffic.BytesSentPerWorker);
        var e = Assert.Throws<ArgumentException>(() => RingAttention.Forward(q, kv, kv, new float[q.Length], shape, new AttentionOptions(), 65));
        Assert.Contains("N = 64", e.Message);
        Assert.Contains("65", e.Message);
    }

    // ----- IO counter -----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IoCounter_BothAlgorithms_ComputeFloat64Attention(bool causal)
    {
        int n = 45, d = 8;
        var rng = new Rng(12);
        var q = rng.NormalTensor([n * d]).ToArray(); var k = rng.NormalTensor([n * d]).ToArray(); var v = rng.NormalTensor([n * d]).ToArray();
        var reference = NaiveAttention.Forward(q, k, v, new AttentionShape(1, 1, 1, n, n, d), new AttentionOptions { Causal = causal }).Output;
        double[] D(float[] a) => a.Select(x => (double)x).ToArray();
        var standard = new double[n * d]; var tiled = new double[n * d];
        var s = AttentionIoCounter.Standard(D(q), D(k), D(v), standard, n, d, 200, causal);
        var t = AttentionIoCounter.Tiled(D(q), D(k), D(v), tiled, n, d, 200, causal);
        for (int i = 0; i < n * d; i++)
        {
            Assert.Equal(reference[i], standard[i], 10);
            Assert.Equal(reference[i], tiled[i], 10);
        }
        Assert.InRange(s.PeakOnChip, 1, 200);
        Assert.InRange(t.PeakOnChip, 1, 200);
    }

    [Fact]
    public void IoCounter_TiledTrafficFollowsN2D2OverM_WhileStandardStaysAboveN2()
    {
        int n = 256, d = 16;
        var rng = new Rng(13);
        var q = rng.NormalTensor([n * d]).ToArray().Select(x => (double)x).ToArray();
        var o = new double[n * d];
        var ratios = new List<double>();
        foreach (long m in new long[] { 512, 1024, 2048, 4096 })
        {
            var tiled = AttentionIoCounter.Tiled(q, q, q, o, n, d, m);
            var standard = AttentionIoCounter.Standard(q, q, q, o, n, d, m);
            ratios.Add(tiled.Total / AttentionIoCounter.Bound(n, d, m));
            Assert.True(standard.Total >= 3L * n * n, $"standard attention writes S and P and reads them: {standard.Total} < 3N²");
        }
        Assert.True(ratios.Max() / ratios.Min() < 2, $"tiled traffic ÷ (N²d²/M) should stay within 2× across M: {string.Join(", ", ratios.Select(r => r.ToString("0.0", CultureInfo.InvariantCulture)))}");
        var big = AttentionIoCounter.Tiled(q, q, q, o, n, d, 4096);
        var bigStandard = AttentionIoCounter.Standard(q, q, q, o, n, d, 4096);
        Assert.True(big.Total * 3 < bigStandard.Total, $"at M = Nd tiled ({big.Total}) should move under a third of standard ({bigStandard.Total})");
        Assert.Throws<ArgumentException>(() => AttentionIoCounter.Tiled(q, q, q, o, n, d, 6 * d));
    }

    // ----- the language model -----

    public static TheoryData<AttentionVariant> Variants => new(Enum.GetValues<AttentionVariant>());

    private static readonly VariantLmConfig Tiny = new(Vocab: 20, Dim: 16, Heads: 4, Layers: 2, GroupedKvHeads: 2, LatentDim: 6, LatentRopeDim: 2);

    [Theory]
    [MemberData(nameof(Variants))]
    public void VariantCharLm_EveryVariant_IsCausal_AndLearnsAPeriodicText(AttentionVariant variant)
    {
        var model = new VariantCharLm(Tiny, variant, new Rng(1));
        var rng = new Rng(2);
        var ids = Enumerable.Range(0, 24).Select(_ => rng.NextInt(20)).ToArray();
        var changed = (int[])ids.Clone();
        for (int t = 10; t < 24; t++) changed[t] = (changed[t] + 7) % 20;
        using (Var.NoGrad())
        {
            model.Eval();
            var a = model.Forward(ids, 1, 24).Value.ToArray();
            var b = model.Forward(changed, 1, 24).Value.ToArray();
            for (int i = 0; i < 10 * 20; i++) Assert.Equal(a[i], b[i]);
            Assert.NotEqual(a[10 * 20], b[10 * 20]);
        }
        // a period-5 text of 20 letters: the next letter is fixed by the previous one
        int[] period = [3, 17, 8, 11, 0];
        var text = Enumerable.Range(0, 400).Select(i => period[i % 5]).ToArray();
        var losses = model.Fit(text, context: 16, steps: 40, batch: 4, learningRate: 1e-2f, new Rng(3), zLossWeight: 1e-4f);
        Assert.True(losses[^5..].Average() < 0.5, $"{variant}: loss after 40 steps {losses[^5..].Average():0.00} (start {losses[0]:0.00})");
    }

    [Fact]
    public void VariantCharLm_KvCachePerToken_FollowsEachVariant()
    {
        int Kv(AttentionVariant v) => new VariantCharLm(Tiny, v, new Rng(1)).KvCacheElementsPerToken;
        Assert.Equal(2 * 2 * 16, Kv(AttentionVariant.Baseline));
        Assert.Equal(2 * 2 * 4, Kv(AttentionVariant.MultiQuery));
        Assert.Equal(2 * 2 * 2 * 4, Kv(AttentionVariant.GroupedQuery));
        Assert.Equal(2 * (6 + 2), Kv(AttentionVariant.Latent));
        Assert.Equal(2 * 2 * 16, Kv(AttentionVariant.Differential));
        var e = Assert.Throws<ArgumentException>(() => new VariantCharLm(Tiny with { Heads = 3 }, AttentionVariant.Baseline, new Rng(1)));
        Assert.Contains("E = 16, H = 3", e.Message);
        Assert.Throws<InvalidOperationException>(() => new VariantCharLm(Tiny, AttentionVariant.Sigmoid, new Rng(1)).QuantizeKvInt8 = true);
    }

    [Fact]
    public void VariantCharLm_MatchParameters_KeepsEveryVariantWithinOneMlpUnitPerLayerOfTheBaseline()
    {
        var matched = Tiny with { MatchParameters = true };
        long baseline = new VariantCharLm(matched, AttentionVariant.Baseline, new Rng(1)).ParameterCount;
        foreach (var v in Enum.GetValues<AttentionVariant>())
        {
            long count = new VariantCharLm(matched, v, new Rng(1)).ParameterCount;
            Assert.True(Math.Abs(count - baseline) <= Tiny.Layers * (2 * Tiny.Dim + 1) / 2 + 1, $"{v}: {count} parameters vs baseline {baseline}");
        }
        Assert.True(new VariantCharLm(Tiny, AttentionVariant.MultiQuery, new Rng(1)).ParameterCount < baseline, "without matching, MQA has fewer parameters");
    }

    [Fact]
    public void ReadmeExample_VariantCharLm_ReportsTheCacheOfMlaAndGqa()
    {
        // the README's example, as written there
        var config = new VariantLmConfig(Vocab: 64, Dim: 32, Heads: 4, Layers: 2, MatchParameters: true);
        var mla = new VariantCharLm(config, AttentionVariant.Latent, new Rng(1));
        var gqa = new VariantCharLm(config, AttentionVariant.GroupedQuery, new Rng(1));
        Assert.Equal(2 * (16 + 4), mla.KvCacheElementsPerToken);        // d_c = E/2, d_R = half the head width, two layers
        Assert.Equal(2 * (2 * 2 * 8), gqa.KvCacheElementsPerToken);     // 2 KV heads of 8, keys and values, two layers
    }
}
