using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>Module bookkeeping (names, modes, counts) and the basic layers against float64 formulas.</summary>
public class ModuleTests
{
    private sealed class Block : Module, ILayer
    {
        public Linear Q { get; }
        public Sequential Mlp { get; }
        public Block(Rng rng)
        {
            Q = RegisterModule("q", new Linear(4, 4, rng));
            Mlp = RegisterModule("mlp", new Sequential(new Linear(4, 8, rng), Activation.Relu(), new Dropout(0.5f, rng), new Linear(8, 4, rng, bias: false)));
        }
        public Var Forward(Var x) => Mlp.Forward(Q.Forward(x));
    }

    private sealed class Net : Module
    {
        public Net(Rng rng)
        {
            RegisterModule("emb", new Embedding(10, 4, rng));
            RegisterModule("blocks", new Sequential(new Block(rng), new Block(rng)));
            RegisterModule("norm", new LayerNorm(4));
        }
    }

    [Fact]
    public void NamedParameters_AreDottedPathsInRegistrationOrder()
    {
        var net = new Net(new Rng(1));
        var names = net.NamedParameters().Select(p => p.Name).ToArray();
        string[] BlockNames(int i) => [$"blocks.{i}.q.weight", $"blocks.{i}.q.bias", $"blocks.{i}.mlp.0.weight", $"blocks.{i}.mlp.0.bias", $"blocks.{i}.mlp.3.weight"];
        Assert.Equal(["emb.weight", .. BlockNames(0), .. BlockNames(1), "norm.weight", "norm.bias"], names);
        long expected = 10 * 4 + 2 * (16 + 4 + 32 + 8 + 32) + 8;
        Assert.Equal(expected, net.ParameterCount);
        Assert.Equal(names.Length, net.Parameters().Count);
    }

    [Fact]
    public void NamedParameters_SharedParameterListedOnce()
    {
        var rng = new Rng(2);
        var lin = new Linear(3, 3, rng);
        var seq = new Sequential(lin, lin);
        Assert.Equal(["0.weight", "0.bias"], seq.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void TrainEval_PropagatesToSubmodules_AndSwitchesDropout()
    {
        var rng = new Rng(3);
        var drop = new Dropout(0.5f, rng);
        var seq = new Sequential(new Linear(5, 5, rng), new Sequential(drop));
        Assert.True(drop.Training);
        var x = Var.Constant(Tensor.Ones(64, 5));
        var trained = drop.Forward(x).Value.ToArray();
        Assert.Contains(0f, trained);
        Assert.Contains(2f, trained);
        seq.Eval();
        Assert.False(drop.Training);
        Assert.Equal(x.Value.ToArray(), drop.Forward(x).Value.ToArray());
        seq.Train();
        Assert.True(drop.Training);
    }

    [Fact]
    public void Register_RejectsDuplicateAndDottedNames()
    {
        var rng = new Rng(4);
        Assert.Throws<ArgumentException>(() => new DupNet(rng, "a.b"));
        Assert.Throws<ArgumentException>(() => new DupNet(rng, "x", twice: true));
    }

    private sealed class DupNet : Module
    {
        public DupNet(Rng rng, string name, bool twice = false)
        {
            RegisterModule(name, new Linear(2, 2, rng));
            if (twice) RegisterParameter(name, Var.Parameter(Tensor.Zeros(1)));
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 5)]
    [InlineData(63, 129)]
    public void Linear_MatchesFloat64Reference(int inF, int outF)
    {
        var rng = new Rng((ulong)(inF * 1000 + outF));
        var lin = new Linear(inF, outF, rng);
        var x = rng.NormalTensor([2, 3, inF]);
        var y = lin.Forward(Var.Constant(x)).Value;
        Assert.Equal([2, 3, outF], y.Shape.ToArray());
        var w = lin.Weight.Value; var b = lin.Bias!.Value;
        for (int n = 0; n < 2; n++)
            for (int t = 0; t < 3; t++)
                for (int o = 0; o < outF; o++)
                {
                    double s = b[o];
                    for (int i = 0; i < inF; i++) s += (double)x[n, t, i] * w[o, i];
                    Assert.True(Math.Abs(y[n, t, o] - s) <= 1e-6 + 1e-5 * Math.Abs(s) * Math.Sqrt(inF), $"y[{n},{t},{o}] = {y[n, t, o]}, ref {s}");
                }
        float bound = 1f / MathF.Sqrt(inF);
        Assert.All(w.ToArray(), v => Assert.InRange(v, -bound, bound));
    }

    [Fact]
    public void Linear_WrongInputWidth_ThrowsNamingBothShapes()
    {
        var lin = new Linear(7, 3, new Rng(5));
        var ex = Assert.Throws<ArgumentException>(() => lin.Forward(Var.Constant(Tensor.Zeros(2, 6))));
        Assert.Contains("7", ex.Message);
        Assert.Contains("(2, 6)", ex.Message.Replace("[", "(").Replace("]", ")"));
    }

    [Fact]
    public void Linear_GradientCheck_WeightsBiasAndInput()
    {
        var rng = new Rng(6);
        var lin = new Linear(5, 3, rng);
        var x = Var.Parameter(rng.NormalTensor([2, 4, 5]), "x");
        ParameterGradCheck.Check(() => lin.Forward(x), [.. lin.Parameters(), x]);
    }

    [Fact]
    public void Sequential_GradientCheck_ThroughNormsAndActivations()
    {
        var rng = new Rng(7);
        var net = new Sequential(new Linear(4, 6, rng), new LayerNorm(6), Activation.Tanh(), new Linear(6, 5, rng), new RmsNorm(5));
        var x = Var.Parameter(rng.NormalTensor([3, 4]), "x");
        // perturb γ, β away from their initial 1, 0 so their gradients are generic
        foreach (var p in net.Parameters()) { var s = p.Value.AsSpan(); for (int i = 0; i < s.Length; i++) s[i] += rng.Uniform(-0.3f, 0.3f); }
        ParameterGradCheck.Check(() => net.Forward(x), [.. net.Parameters(), x]);
    }

    [Fact]
    public void Embedding_ReturnsRows_AndPaddingRowStartsAtZero()
    {
        var emb = new Embedding(6, 3, new Rng(8), paddingIndex: 2);
        int[] ids = [5, 2, 0, 5];
        var y = emb.Forward(ids, 2, 2).Value;
        Assert.Equal([2, 2, 3], y.Shape.ToArray());
        for (int k = 0; k < 4; k++)
            for (int d = 0; d < 3; d++)
                Assert.Equal(emb.Weight.Value[ids[k], d], y[k / 2, k % 2, d]);
        Assert.All(new[] { y[0, 1, 0], y[0, 1, 1], y[0, 1, 2] }, v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => emb.Forward([6]));
    }

    [Fact]
    public void LayerNorm_RowsHaveZeroMeanUnitVariance_RmsNormUnitRms()
    {
        var rng = new Rng(9);
        var x = Var.Constant(rng.NormalTensor([5, 33], 3f, 2f));
        var ln = new LayerNorm(33).Forward(x).Value;
        var rms = new RmsNorm(33).Forward(x).Value;
        for (int r = 0; r < 5; r++)
        {
            double m = 0, v = 0, q = 0;
            for (int j = 0; j < 33; j++) m += ln[r, j];
            m /= 33;
            for (int j = 0; j < 33; j++) { v += (ln[r, j] - m) * (ln[r, j] - m); q += (double)rms[r, j] * rms[r, j]; }
            Assert.True(Math.Abs(m) < 1e-5, $"row {r} mean {m}");
            Assert.True(Math.Abs(v / 33 - 1) < 1e-3, $"row {r} variance {v / 33}");
            Assert.True(Math.Abs(q / 33 - 1) < 1e-4, $"row {r} mean square {q / 33}");
        }
        Assert.Throws<ArgumentException>(() => new LayerNorm(32).Forward(x));
    }

    [Fact]
    public void Init_XavierAndKaiming_HaveTheirVariances()
    {
        var rng = new Rng(10);
        var w = Tensor.Zeros(200, 300);
        double Var(Tensor t) { var a = t.ToArray(); double m = a.Average(v => (double)v); return a.Average(v => (v - m) * (v - m)); }
        Assert.Equal(2.0 / 500, Var(Init.XavierUniform(w, rng)), 4e-4 / 5);
        Assert.Equal(2.0 / 500, Var(Init.XavierNormal(w, rng)), 4e-4 / 5);
        Assert.Equal(2.0 / 300, Var(Init.KaimingUniform(w, rng)), 4e-4);
        Assert.Equal(2.0 / 300, Var(Init.KaimingNormal(w, rng)), 4e-4);
        Assert.Equal((3 * 9, 5 * 9), Init.Fans(Tensor.Zeros(5, 3, 3, 3)));
        Assert.Throws<ArgumentException>(() => Init.Fans(Tensor.Zeros(5)));
    }
}

/// <summary>Parameters to and from safetensors by dotted name.</summary>
public class ModuleStateTests
{
    [Fact]
    public void SaveLoad_RoundTripsExactly_IntoAFreshlyInitialisedModel()
    {
        var a = new Sequential(new Linear(5, 7, new Rng(1)), new LayerNorm(7), new Linear(7, 3, new Rng(2)));
        var b = new Sequential(new Linear(5, 7, new Rng(3)), new LayerNorm(7), new Linear(7, 3, new Rng(4)));
        foreach (var p in a.Parameters()) new Rng(9).FillNormal(p.Value);   // LayerNorm's 1/0 would hide a mix-up
        var path = Path.Combine(Path.GetTempPath(), $"module-{Guid.NewGuid():N}.safetensors");
        try
        {
            a.Save(path);
            Assert.NotEqual(a.Parameters()[0].Value.ToArray(), b.Parameters()[0].Value.ToArray());
            b.Load(path);
            var pa = a.NamedParameters().ToList(); var pb = b.NamedParameters().ToList();
            for (int i = 0; i < pa.Count; i++)
            {
                Assert.Equal(pa[i].Name, pb[i].Name);
                Assert.Equal(pa[i].Parameter.Value.ToArray(), pb[i].Parameter.Value.ToArray());
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LoadStateDict_MissingExtraOrMisshaped_ThrowsAndCopiesNothing()
    {
        var lin = new Linear(3, 2, new Rng(5));
        var before = lin.Weight.Value.ToArray();
        var ex = Assert.Throws<ArgumentException>(() => lin.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = Tensor.Zeros(2, 3) }));
        Assert.Contains("bias", ex.Message);
        Assert.Throws<ArgumentException>(() => lin.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = Tensor.Zeros(2, 3), ["bias"] = Tensor.Zeros(2), ["x"] = Tensor.Zeros(1) }));
        var shape = Assert.Throws<ArgumentException>(() => lin.LoadStateDict(new Dictionary<string, Tensor> { ["weight"] = Tensor.Zeros(3, 2), ["bias"] = Tensor.Zeros(2) }));
        Assert.Contains("weight", shape.Message);
        Assert.Equal(before, lin.Weight.Value.ToArray());
        lin.LoadStateDict(new Dictionary<string, Tensor> { ["bias"] = Tensor.Ones(2) }, strict: false);
        Assert.Equal([1f, 1f], lin.Bias!.Value.ToArray());
        Assert.Equal(before, lin.Weight.Value.ToArray());
    }
}
