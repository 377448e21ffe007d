using Attention.Alternatives;
using Attention.Autograd;
using Attention.Data;
using Attention.Models;
using Attention.Tensors;
using Attention.Tests.Autograd;
using Attention.Tests.Reference;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Alternatives;

public class AlternativesKernelTests
{
    private static void Close(double[] expected, ReadOnlySpan<float> actual, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= rtol * (1 + scale),
                $"{what}[{i}]: expected {expected[i]:G7}, got {actual[i]:G7}");
    }

    [Theory]
    [InlineData(2, 37, 3, 37)]   // a long filter: the whole sequence
    [InlineData(1, 64, 2, 64)]
    [InlineData(2, 13, 5, 4)]    // Mamba's short filter
    [InlineData(1, 1, 1, 1)]
    public void LongConvolution_DirectAndFft_MatchFloat64Reference(int batch, int time, int channels, int kernel)
    {
        var rng = new Rng(11);
        var u = rng.NormalArray(batch * time * channels);
        var k = rng.NormalArray(channels * kernel);
        var expected = NaiveAlternatives.CausalConv(u, k, batch, time, channels, kernel);
        var direct = new float[u.Length]; var fft = new float[u.Length];
        LongConvolution.Direct(u, k, direct, batch, time, channels, kernel);
        LongConvolution.ViaFft(u, k, fft, batch, time, channels, kernel);
        Close(expected, direct, 1e-5, "direct");
        Close(expected, fft, 1e-5, "fft");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LongConvolution_Gradients_MatchFiniteDifferences(bool fft)
    {
        var rng = new Rng(3);
        GradCheck.Check(v => LongConvolution.Apply(v[0], v[1], fft), [GradCheck.Normal(rng, 2, 7, 3), GradCheck.Normal(rng, 3, 5)]);
    }

    [Fact]
    public void LongConvolution_WrongFilterShape_ThrowsNamingExpected()
    {
        var u = Var.Constant(Tensor.Zeros(1, 4, 3));
        var ex = Assert.Throws<ArgumentException>(() => LongConvolution.Apply(u, Var.Constant(Tensor.Zeros(2, 4))));
        Assert.Contains("(3, K)", ex.Message);
    }

    private static (float[] U, float[] Delta, float[] A, float[] B, float[] C, float[] D) ScanInputs(Rng rng, int batch, int time, int dn, int n)
    {
        var u = rng.NormalArray(batch * time * dn);
        var delta = Enumerable.Range(0, batch * time * dn).Select(_ => rng.Uniform(0.05f, 0.6f)).ToArray();
        var a = Enumerable.Range(0, dn * n).Select(_ => -rng.Uniform(0.2f, 2f)).ToArray();
        return (u, delta, a, rng.NormalArray(batch * time * n), rng.NormalArray(batch * time * n), rng.NormalArray(dn));
    }

    [Theory]
    [InlineData(2, 13, 3, 4)]
    [InlineData(1, 64, 2, 3)]
    [InlineData(1, 1, 1, 1)]
    public void SelectiveScan_ParallelScanAndSequential_MatchFloat64Reference(int batch, int time, int dn, int n)
    {
        var (u, delta, a, b, c, d) = ScanInputs(new Rng(5), batch, time, dn, n);
        var expected = NaiveAlternatives.SelectiveScan(u, delta, a, b, c, d, batch, time, dn, n);
        var seq = new float[u.Length]; var par = new float[u.Length];
        SelectiveScan.Sequential(u, delta, a, b, c, d, seq, batch, time, dn, n);
        SelectiveScan.Parallel(u, delta, a, b, c, d, par, batch, time, dn, n);
        Close(expected, seq, 1e-5, "sequential");
        Close(expected, par, 1e-5, "parallel scan");
    }

    [Fact]
    public void SelectiveScan_Gradients_MatchFiniteDifferences()
    {
        var rng = new Rng(6);
        var (u, delta, a, b, c, d) = ScanInputs(rng, 2, 6, 3, 2);
        GradCheck.Check(v => SelectiveScan.Apply(v[0], v[1], v[2], v[3], v[4], v[5]),
            [Tensor.FromArray(u, 2, 6, 3), Tensor.FromArray(delta, 2, 6, 3), Tensor.FromArray(a, 3, 2),
             Tensor.FromArray(b, 2, 6, 2), Tensor.FromArray(c, 2, 6, 2), Tensor.FromArray(d, 3)], h: 1e-2);
    }

    [Fact]
    public void SelectiveScan_MismatchedShapes_ThrowNamingExpected()
    {
        var x = Var.Constant(Tensor.Zeros(1, 4, 3));
        var ex = Assert.Throws<ArgumentException>(() => SelectiveScan.Apply(x, x, Var.Constant(Tensor.Zeros(3, 2)),
            Var.Constant(Tensor.Zeros(1, 4, 5)), Var.Constant(Tensor.Zeros(1, 4, 2)), Var.Constant(Tensor.Zeros(3))));
        Assert.Contains("(1, 4, 2)", ex.Message);
        Assert.Contains("(1, 4, 5)", ex.Message);
    }

    [Theory]
    [InlineData(2, 17, 3)]
    [InlineData(1, 1, 2)]
    public void Wkv_ParallelAndRecurrent_MatchFloat64Reference(int batch, int time, int channels)
    {
        var rng = new Rng(8);
        var k = rng.NormalArray(batch * time * channels); var v = rng.NormalArray(batch * time * channels);
        var w = Enumerable.Range(0, channels).Select(_ => rng.Uniform(0.01f, 2f)).ToArray();
        var u = rng.NormalArray(channels);
        var expected = NaiveAlternatives.Wkv(k, v, w, u, batch, time, channels);
        var par = new float[k.Length]; var rec = new float[k.Length];
        Wkv.Parallel(k, v, w, u, par, batch, time, channels);
        Wkv.Recurrent(k, v, w, u, rec, batch, time, channels);
        Close(expected, par, 1e-5, "parallel");
        Close(expected, rec, 1e-5, "recurrent");
    }

    [Fact]
    public void Wkv_RecurrentForm_StaysFiniteWhereTheNaiveExponentialsOverflow()
    {
        // k ≈ 100: e^k overflows float32, the running-maximum form does not
        var rng = new Rng(9);
        var k = rng.NormalArray(20).Select(x => 100 + 5 * x).ToArray();
        var v = rng.NormalArray(20);
        float[] w = [0.5f, 0.1f], u = [0.3f, -0.2f];
        var par = new float[20]; var rec = new float[20];
        Wkv.Parallel(k, v, w, u, par, 1, 10, 2);
        Wkv.Recurrent(k, v, w, u, rec, 1, 10, 2);
        for (int i = 0; i < 20; i++)
        {
            Assert.True(float.IsFinite(rec[i]), $"wkv[{i}] = {rec[i]}");
            Assert.True(Math.Abs(rec[i] - par[i]) <= 1e-4 * (1 + Math.Abs(par[i])), $"wkv[{i}]: parallel {par[i]}, recurrent {rec[i]}");
        }
    }

    [Fact]
    public void Wkv_Gradients_MatchFiniteDifferences()
    {
        var rng = new Rng(10);
        GradCheck.Check(x => Wkv.Apply(x[0], x[1], x[2], x[3]),
            [GradCheck.Normal(rng, 2, 7, 3), GradCheck.Normal(rng, 2, 7, 3), GradCheck.Uniform(rng, 0.1f, 1.5f, 3), GradCheck.Normal(rng, 3)]);
    }

    [Theory]
    [InlineData(2, 2, 13, 4, 4)]
    [InlineData(1, 3, 16, 3, 5)]
    [InlineData(1, 1, 7, 2, 64)]
    public void Retention_ParallelRecurrentAndChunkwise_MatchFloat64Reference(int batch, int heads, int time, int dim, int chunk)
    {
        var rng = new Rng(12);
        int n = batch * heads * time * dim;
        var q = rng.NormalArray(n); var k = rng.NormalArray(n); var v = rng.NormalArray(n);
        var g = Retention.DefaultGammas(heads);
        var expected = NaiveAlternatives.Retention(q, k, v, g, batch, heads, time, dim);
        var par = new float[n]; var rec = new float[n]; var chk = new float[n];
        Retention.Parallel(q, k, v, g, par, batch, heads, time, dim);
        Retention.Recurrent(q, k, v, g, rec, batch, heads, time, dim);
        Retention.Chunkwise(q, k, v, g, chk, batch, heads, time, dim, chunk);
        Close(expected, par, 1e-5, "parallel");
        Close(expected, rec, 1e-5, "recurrent");
        Close(expected, chk, 1e-5, "chunkwise");
    }

    [Fact]
    public void FNet_FftAndMatrixForms_MatchFloat64Dft()
    {
        var rng = new Rng(13);
        var x = rng.NormalArray(2 * 8 * 4);
        var expected = NaiveAlternatives.FourierMix(x, 2, 8, 4);
        var fft = new float[x.Length];
        FNetMixer.ViaFft(x, fft, 2, 8, 4);
        Close(expected, fft, 1e-5, "fft");
        using var _ = Var.NoGrad();
        Close(expected, new FNetMixer(4).Forward(Var.Constant(Tensor.FromArray(x, 2, 8, 4))).Value.AsSpan(), 1e-5, "matrix form");
        // any length with the matrix form
        var y = rng.NormalArray(6 * 3);
        Close(NaiveAlternatives.FourierMix(y, 1, 6, 3), new FNetMixer(3).Forward(Var.Constant(Tensor.FromArray(y, 1, 6, 3))).Value.AsSpan(), 1e-5, "T = 6");
    }

    [Fact]
    public void FNet_Gradient_MatchesFiniteDifferences()
    {
        var rng = new Rng(14);
        var mixer = new FNetMixer(3);
        GradCheck.Check(v => mixer.Forward(v[0]), [GradCheck.Normal(rng, 2, 5, 3)]);
    }
}

public class SequenceMixerTests
{
    public static TheoryData<MixerKind> CausalKinds => new(Enum.GetValues<MixerKind>().Where(k => k != MixerKind.FNet));

    private static SequenceMixer Make(MixerKind kind, int dim = 4, ulong seed = 21) =>
        SequenceMixers.Create(kind, dim, new Rng(seed), new MixerOptions(Heads: 2, StateDim: 3, MaxLength: 16));

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void Mixer_TrainingForm_EqualsTokenByTokenDecoding(MixerKind kind)
    {
        var mixer = Make(kind, dim: 6);
        int b = 2, t = 11, e = 6;
        var x = new Rng(22).NormalArray(b * t * e);
        float[] full;
        using (Var.NoGrad()) full = mixer.Forward(Var.Constant(Tensor.FromArray(x, b, t, e))).Value.ToArray();
        double scale = full.Max(Math.Abs);
        for (int s = 0; s < b; s++)
        {
            var stepped = mixer.StepAll(x.AsSpan(s * t * e, t * e), t);
            for (int i = 0; i < t * e; i++)
                Assert.True(Math.Abs(stepped[i] - full[s * t * e + i]) <= 2e-5 * (1 + scale),
                    $"{kind}, sequence {s}, t = {i / e}, channel {i % e}: forward {full[s * t * e + i]:G7}, step {stepped[i]:G7}");
        }
    }

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void Mixer_OutputIgnoresFutureTokens(MixerKind kind)
    {
        var mixer = Make(kind);
        var rng = new Rng(23);
        var x = rng.NormalArray(9 * 4);
        var changed = (float[])x.Clone();
        for (int i = 6 * 4; i < changed.Length; i++) changed[i] += 3f;
        using var _ = Var.NoGrad();
        var a = mixer.Forward(Var.Constant(Tensor.FromArray(x, 1, 9, 4))).Value.ToArray();
        var c = mixer.Forward(Var.Constant(Tensor.FromArray(changed, 1, 9, 4))).Value.ToArray();
        for (int i = 0; i < 6 * 4; i++) Assert.True(Math.Abs(a[i] - c[i]) <= 1e-5 * (1 + Math.Abs(a[i])), $"{kind}: output {i} moved from {a[i]} to {c[i]}");
        Assert.True(Enumerable.Range(6 * 4, 3 * 4).Any(i => Math.Abs(a[i] - c[i]) > 1e-3), $"{kind}: the changed tokens changed nothing");
    }

    [Fact]
    public void FNet_IsNotCausal_AndRefusesToDecode()
    {
        var mixer = Make(MixerKind.FNet);
        var x = new Rng(24).NormalArray(8 * 4);
        var changed = (float[])x.Clone();
        changed[^1] += 3f;
        using var _ = Var.NoGrad();
        var a = mixer.Forward(Var.Constant(Tensor.FromArray(x, 1, 8, 4))).Value.ToArray();
        var c = mixer.Forward(Var.Constant(Tensor.FromArray(changed, 1, 8, 4))).Value.ToArray();
        Assert.True(Math.Abs(a[0] - c[0]) > 1e-3, "the first output should move when the last token changes");
        Assert.False(mixer.IsCausal);
        Assert.Throws<NotSupportedException>(() => mixer.NewState());
    }

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void Mixer_ParameterGradients_MatchFiniteDifferences(MixerKind kind)
    {
        var mixer = Make(kind, dim: 4, seed: 25);
        var x = Var.Parameter(new Rng(26).NormalTensor([2, 5, 4]));
        var leaves = new List<Var> { x };
        leaves.AddRange(mixer.Parameters());
        // steps large enough that the decay parameters matter at T = 5 (at initialisation Δ ≤ 0.1)
        if (mixer is S4DMixer s4) s4.LogStep.Value.Fill(MathF.Log(0.4f));
        if (mixer is MambaMixer mamba)
        {
            // larger steps and stronger B, C and Δ maps, so that every parameter's gradient clears the floor at T = 5
            mamba.StepUp.Bias!.Value.Fill(1.0f);
            foreach (var w in new[] { mamba.ProjB.Weight, mamba.ProjC.Weight, mamba.StepDown.Weight, mamba.StepUp.Weight })
            {
                var span = w.Value.AsSpan();
                for (int i = 0; i < span.Length; i++) span[i] *= 4f;
            }
        }
        // a key bias shifts every score of a row (attention) or every k of a channel (AFT) equally: softmax ignores it
        var zero = mixer switch
        {
            SoftmaxAttentionMixer a => new List<Var> { a.K.Bias! },
            AftMixer aft => new List<Var> { aft.K.Bias! },
            _ => null,
        };
        // ×20 lifts small but real gradients (filters behind a window, log-steps) above the check's floor of 1e-2
        float gain = mixer is S4DMixer or MambaMixer or HyenaMixer ? 20f : 1f;
        GradCheck.CheckLeaves(() => mixer.Forward(x) * gain, leaves, seed: 27, zeroGradient: zero);
    }

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void Mixer_WrongWidth_ThrowsNamingExpectedShape(MixerKind kind)
    {
        var mixer = Make(kind);
        var ex = Assert.Throws<ArgumentException>(() => mixer.Forward(Var.Constant(Tensor.Zeros(1, 3, 5))));
        Assert.Contains("(B, T, 4)", ex.Message);
        Assert.Contains("(1, 3, 5)", ex.Message);
        var st = mixer.NewState();
        Assert.Throws<ArgumentException>(() => mixer.Step(st, new float[5], new float[4]));
    }

    [Fact]
    public void AftFull_PastItsBiasTable_Throws()
    {
        var mixer = Make(MixerKind.AftFull);
        var ex = Assert.Throws<ArgumentException>(() => mixer.Forward(Var.Constant(Tensor.Zeros(1, 17, 4))));
        Assert.Contains("16", ex.Message);
        Assert.Contains("17", ex.Message);
    }

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void Mixer_StateFloats_CountsWhatTheStateHolds(MixerKind kind)
    {
        var mixer = Make(kind);
        var st = mixer.NewState();
        var y = new float[4];
        var rng = new Rng(28);
        for (int t = 1; t <= 12; t++)
        {
            mixer.Step(st, rng.NormalArray(4), y);
            Assert.Equal(mixer.StateFloats(t), st.Floats);
        }
        Assert.Equal(mixer.ConstantState, mixer.StateFloats(12) == mixer.StateFloats(1));
    }

    [Fact]
    public void S4D_ConvolutionKernel_IsTheUnrolledRecurrence()
    {
        var s4 = new S4DMixer(3, 4, new Rng(29));
        using var _ = Var.NoGrad();
        var kernel = s4.Kernel(20).Value.ToArray();
        var (abar, bbar) = s4.Discretised();
        var c = s4.C.Value.ToArray();
        for (int ch = 0; ch < 3; ch++)
            for (int l = 0; l < 20; l++)
            {
                // impulse response of h[t] = Ā h[t−1] + B̄ u[t], y = C·h at lag l: Σ C B̄ Ā^l
                double expected = 0;
                for (int n = 0; n < 4; n++) expected += (double)c[ch * 4 + n] * bbar[ch * 4 + n] * Math.Pow(abar[ch * 4 + n], l);
                Assert.True(Math.Abs(kernel[ch * 20 + l] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"K[{ch}, {l}]: expected {expected}, got {kernel[ch * 20 + l]}");
            }
    }

    [Fact]
    public void S4D_FftAndDirectConvolution_GiveTheSameSsmOutput()
    {
        var s4 = new S4DMixer(3, 4, new Rng(30));
        var x = Var.Constant(new Rng(31).NormalTensor([2, 40, 3]));
        using var _ = Var.NoGrad();
        var a = s4.Ssm(x, useFft: true).Value.ToArray();
        var b = s4.Ssm(x, useFft: false).Value.ToArray();
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * (1 + Math.Abs(b[i])), $"{i}: fft {a[i]}, direct {b[i]}");
    }
}

public class MixerLmTests
{
    public static TheoryData<MixerKind> CausalKinds => SequenceMixerTests.CausalKinds;

    private static MixerLmConfig Config => new(Vocab: 11, Dim: 8, Layers: 2, FfDim: 16, new MixerOptions(Heads: 2, StateDim: 4, MaxLength: 32));

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void MixerLm_DecodeSteps_GiveTheForwardLogits(MixerKind kind)
    {
        var lm = new MixerLm(Config, kind, new Rng(41));
        lm.Eval();
        var rng = new Rng(42);
        var ids = Enumerable.Range(0, 12).Select(_ => rng.NextInt(11)).ToArray();
        float[] full;
        using (Var.NoGrad()) full = lm.Forward(ids, 1, 12).Value.ToArray();
        var dec = lm.NewDecoder();
        var logits = new float[11];
        for (int t = 0; t < 12; t++)
        {
            lm.DecodeStep(dec, ids[t], logits);
            for (int v = 0; v < 11; v++)
                Assert.True(Math.Abs(logits[v] - full[t * 11 + v]) <= 1e-4 * (1 + Math.Abs(full[t * 11 + v])),
                    $"{kind}, t = {t}, token {v}: forward {full[t * 11 + v]}, decode {logits[v]}");
        }
        Assert.Equal(12, dec.Position);
        Assert.Equal(lm.Mixers.Sum(m => m.StateFloats(12)) * 4, dec.StateBytes);
    }

    [Theory]
    [MemberData(nameof(CausalKinds))]
    public void MixerLm_WithBudget_MatchesTheTargetParameterCount(MixerKind kind)
    {
        long target = new MixerLm(Config with { FfDim = 32 }, MixerKind.Attention, new Rng(1)).ParameterCount;
        var config = MixerLm.WithBudget(Config, kind, target);
        long got = new MixerLm(config, kind, new Rng(1)).ParameterCount;
        // one hidden unit costs 2E + 1 = 17 parameters per layer, so the nearest width is within 2·17 / 2 of the target
        Assert.True(Math.Abs(got - target) <= Config.Layers * (2 * Config.Dim + 1) || config.FfDim == 1,
            $"{kind}: target {target}, got {got} with FfDim {config.FfDim}");
    }

    [Fact]
    public void MixerLm_RejectsANonCausalMixer()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixerLm(Config, MixerKind.FNet, new Rng(1)));
        Assert.Contains("causal", ex.Message);
    }

    [Fact]
    public void MixerLm_LearnsMqarWithAttention_LossFalls()
    {
        var task = new MqarTask(keys: 8, values: 8, length: 16);
        var lm = new MixerLm(new MixerLmConfig(task.Vocab, 16, 2, 32, new MixerOptions(Heads: 2, StateDim: 4, MaxLength: 16)), MixerKind.Attention, new Rng(43));
        var rng = new Rng(44);
        var losses = lm.Fit(_ => { var b = task.Sample(16, 2, rng); return (b.Inputs, b.Targets); }, 16, 16, 60, 3e-3f);
        Assert.True(losses.Skip(50).Average() < 0.8 * losses.Take(10).Average(), $"loss {losses.Take(10).Average():0.###} → {losses.Skip(50).Average():0.###}");
    }
}

public class MqarTaskTests
{
    [Fact]
    public void Mqar_EveryQueryTargetIsTheValuePairedWithItsKeyEarlier()
    {
        var task = new MqarTask(keys: 20, values: 10, length: 40);
        var batch = task.Sample(8, 7, new Rng(51));
        int scored = 0;
        for (int b = 0; b < 8; b++)
        {
            var x = batch.Inputs.AsSpan(b * 40, 40);
            var y = batch.Targets.AsSpan(b * 40, 40);
            var pairs = new Dictionary<int, int>();
            for (int i = 0; i < 7; i++)
            {
                Assert.InRange(x[2 * i], 1, 20);
                Assert.InRange(x[2 * i + 1], 21, 30);
                Assert.True(pairs.TryAdd(x[2 * i], x[2 * i + 1]), "keys within a sequence are distinct");
            }
            for (int t = 0; t < 40; t++)
                if (y[t] != -100)
                {
                    scored++;
                    Assert.True(t >= 14, "queries come after the pairs");
                    Assert.Equal(pairs[x[t]], y[t]);
                    Assert.Equal(y[t], x[t + 1]);
                }
        }
        Assert.Equal(8 * 7, scored);
    }

    [Fact]
    public void Mqar_SameSeed_SameBatch_AndTooManyPairsThrow()
    {
        var task = new MqarTask(16, 16, 32);
        Assert.Equal(task.Sample(4, 5, new Rng(1)).Inputs, task.Sample(4, 5, new Rng(1)).Inputs);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => task.Sample(4, 9, new Rng(1)));
        Assert.Contains("1 … 8", ex.Message);
    }
}
