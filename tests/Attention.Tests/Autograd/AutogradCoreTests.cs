using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Autograd;

/// <summary>The tape itself: accumulation, NoGrad, retain-graph, errors, broadcasting reductions.</summary>
public class AutogradCoreTests
{
    private readonly Rng _rng = new(31);

    [Fact]
    public void Gradients_AccumulateAcrossTwoBackwardCalls()
    {
        var x = Var.Parameter(Tensor.FromArray([1f, -2f, 3f], 3));
        (x * x).Sum().Backward();
        Assert.Equal([2f, -4f, 6f], x.Grad!.ToArray());
        (x * 3f).Sum().Backward();
        Assert.Equal([5f, -1f, 9f], x.Grad!.ToArray());
        x.ZeroGrad();
        Assert.Null(x.Grad);
    }

    [Fact]
    public void RetainGraph_SecondBackwardAddsTheSameGradientAgain()
    {
        var x = Var.Parameter(Tensor.FromArray([0.5f, 2f], 2));
        var loss = (x.Exp() * x).Sum();
        loss.Backward(retainGraph: true);
        var once = x.Grad!.ToArray();
        loss.Backward();
        var twice = x.Grad!.ToArray();
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal((MathF.Exp(x.Value[i]) * (1 + x.Value[i])), once[i], 5);
            Assert.Equal(2 * once[i], twice[i], 5);
        }
    }

    [Fact]
    public void Backward_SecondCallWithoutRetainGraph_ThrowsNamingTheOp()
    {
        var x = Var.Parameter(Tensor.FromArray([1f, 2f], 2));
        var loss = x.Tanh().Sum();
        loss.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("retainGraph", e.Message);
        Assert.Contains("sum", e.Message);
    }

    [Fact]
    public void NoGrad_BuildsNoGraph_AndRestoresOnDispose()
    {
        var w = Var.Parameter(_rng.NormalTensor([3, 4]));
        Var y;
        using (Var.NoGrad())
        {
            Assert.False(Var.IsGradEnabled);
            using (Var.NoGrad()) y = w.MatMul(w, transposeB: true).Relu();
            Assert.False(Var.IsGradEnabled);
        }
        Assert.True(Var.IsGradEnabled);
        Assert.False(y.RequiresGrad);
        Assert.True(y.IsLeaf);
        Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
        Assert.True((w * 2f).RequiresGrad);
    }

    [Fact]
    public void NoGrad_IsPerThread()
    {
        var w = Var.Parameter(Tensor.Ones(2));
        using (Var.NoGrad())
        {
            bool other = false;
            var thread = new Thread(() => other = (w * 2f).RequiresGrad);
            thread.Start();
            thread.Join();
            Assert.True(other);
            Assert.False((w * 2f).RequiresGrad);
        }
    }

    [Fact]
    public void Backward_OutputGradientShapeMismatch_ThrowsNamingBothShapes()
    {
        var x = Var.Parameter(Tensor.Zeros(3, 5));
        var y = x.Exp();
        var e = Assert.Throws<ArgumentException>(() => y.Backward(Tensor.Zeros(5, 3)));
        Assert.Contains("(3, 5)", e.Message);
        Assert.Contains("(5, 3)", e.Message);
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void CustomOp_AccumulatingWrongShape_ThrowsNamingShapes()
    {
        var x = Var.Parameter(Tensor.Zeros(2, 3), "x");
        var y = Var.FromOp(Tensor.Zeros(2, 3), "broken", [x], o => x.AccumulateGrad(Tensor.Zeros(3, 2)));
        var e = Assert.Throws<ArgumentException>(() => y.Sum().Backward());
        Assert.Contains("(3, 2)", e.Message);
        Assert.Contains("(2, 3)", e.Message);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void CustomOp_JoinsTheGraph()
    {
        // y = 3x as a custom op, then y²: dL/dx = 2·y·3 = 18x.
        var x = Var.Parameter(Tensor.FromArray([1f, -2f], 2));
        var t = Tensor.FromArray([3f, -6f], 2);
        var y = Var.FromOp(t, "triple", [x], o =>
        {
            var dx = x.GradBuffer();
            var dy = o.Grad!.AsSpan();
            for (int i = 0; i < dx.Length; i++) dx[i] += 3f * dy[i];
        });
        (y * y).Sum().Backward();
        Assert.Equal([18f, -36f], x.Grad!.ToArray());
    }

    [Fact]
    public void Broadcasting_GradientsReduceToInputShape()
    {
        // a (3, 1, 5) + b (4, 1) → (3, 4, 5): each a element is used 4 times, each b element 15 times.
        var a = Var.Parameter(_rng.NormalTensor([3, 1, 5]));
        var b = Var.Parameter(_rng.NormalTensor([4, 1]));
        (a + b).Sum().Backward();
        Assert.Equal([3, 1, 5], a.Grad!.Shape.ToArray());
        Assert.Equal([4, 1], b.Grad!.Shape.ToArray());
        Assert.All(a.Grad.ToArray(), g => Assert.Equal(4f, g));
        Assert.All(b.Grad.ToArray(), g => Assert.Equal(15f, g));
    }

    [Fact]
    public void Broadcasting_MultiplyGradientIsSumOfOtherOverBroadcastAxes()
    {
        var a = Var.Parameter(_rng.NormalTensor([2, 3]));
        var b = Var.Parameter(_rng.NormalTensor([3]));
        (a * b).Sum().Backward();
        for (int j = 0; j < 3; j++)
            Assert.Equal(a.Value[0, j] + a.Value[1, j], b.Grad![j], 5);
    }

    [Fact]
    public void Broadcasting_IncompatibleShapes_ThrowNamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => Var.Constant(Tensor.Zeros(3, 4)) + Var.Constant(Tensor.Zeros(5)));
        Assert.Contains("(3, 4)", e.Message);
        Assert.Contains("(5,)", e.Message);
    }

    [Fact]
    public void SharedSubexpression_ReceivesBothContributions()
    {
        // y = x·x + x, used twice downstream: d/dx Σ (y + y) = 2(2x + 1).
        var x = Var.Parameter(Tensor.FromArray([0.5f, -1f, 2f], 3));
        var y = x * x + x;
        (y + y).Sum().Backward();
        Assert.Equal([4f, -2f, 10f], x.Grad!.ToArray());
    }

    [Fact]
    public void RetainGrad_KeepsIntermediateGradient_OthersAreDropped()
    {
        var x = Var.Parameter(Tensor.FromArray([1f, 2f], 2));
        var h = (x * 2f).RetainGrad();
        var g = h * 3f;
        (g * g).Sum().Backward();
        // L = Σ (6x)², dL/dh = 2·g·3 = 36x
        Assert.Equal([36f, 72f], h.Grad!.ToArray());
        Assert.Null(g.Grad);
    }

    [Fact]
    public void DeepChain_BackwardDoesNotOverflowTheStack()
    {
        var x = Var.Parameter(Tensor.FromArray([1f], 1));
        var y = x;
        for (int i = 0; i < 100_000; i++) y = y * 1f;
        y.Sum().Backward();
        Assert.Equal(1f, x.Grad![0]);
    }

    [Fact]
    public void Detach_StopsTheGradient()
    {
        // L = Σ x·stop(x): only the first factor carries gradient, so dL/dx = x, not 2x.
        var x = Var.Parameter(Tensor.FromArray([1.5f, -2f], 2));
        (x * x.Detach()).Sum().Backward();
        Assert.Equal([1.5f, -2f], x.Grad!.ToArray());
    }

    [Fact]
    public void ConstantInputs_GetNoGradient()
    {
        var w = Var.Parameter(Tensor.Ones(2, 2));
        var c = Var.Constant(Tensor.Ones(2, 2));
        (w.MatMul(c) * c).Sum().Backward();
        Assert.Null(c.Grad);
        Assert.NotNull(w.Grad);
    }

    [Fact]
    public void Dropout_SameSeedSameMask_InvertedScaling()
    {
        var x = Var.Constant(Tensor.Ones(10_000));
        var a = x.Dropout(0.25f, new Rng(5)).Value.ToArray();
        var b = x.Dropout(0.25f, new Rng(5)).Value.ToArray();
        Assert.Equal(a, b);
        Assert.All(a, v => Assert.True(v == 0f || Math.Abs(v - 1f / 0.75f) < 1e-6f));
        double kept = a.Count(v => v != 0f) / 10_000.0;
        // Binomial(10⁴, 0.75): σ ≈ 0.0043, so 5σ is 0.022.
        Assert.InRange(kept, 0.75 - 0.022, 0.75 + 0.022);
        Assert.Same(x, x.Dropout(0.25f, new Rng(5), training: false));
    }

    [Fact]
    public void MatMul_InnerSizeMismatch_ThrowsNamingShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Var.Constant(Tensor.Zeros(2, 3)).MatMul(Var.Constant(Tensor.Zeros(4, 5))));
        Assert.Contains("(2, 3)", e.Message);
        Assert.Contains("(4, 5)", e.Message);
    }
}

/// <summary>The finite-difference checker itself must reject wrong backwards, or the op tests prove nothing.</summary>
public class GradCheckTests
{
    // y = x³ written as a custom op whose backward is off by a factor (0.9·3x²) or by an index shift.
    private static Var Cube(Var x, bool shift, float factor)
    {
        var v = x.Value.ToArray();
        var y = Tensor.FromArray(v.Select(a => a * a * a).ToArray(), v.Length);
        return Var.FromOp(y, "cube", [x], o =>
        {
            var dx = x.GradBuffer();
            var dy = o.Grad!.AsSpan();
            for (int i = 0; i < dx.Length; i++)
            {
                int j = shift ? (i + 1) % dx.Length : i;
                dx[i] += factor * 3 * v[j] * v[j] * dy[j];
            }
        });
    }

    [Fact]
    public void GradCheck_AcceptsCorrectCustomBackward() =>
        GradCheck.Check(v => Cube(v[0], false, 1f), [new Rng(3).NormalTensor([7])]);

    [Fact]
    public void GradCheck_RejectsBackwardOffByTenPercent() =>
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => GradCheck.Check(v => Cube(v[0], false, 0.9f), [new Rng(3).NormalTensor([7])]));

    [Fact]
    public void GradCheck_RejectsBackwardWithShiftedIndex() =>
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => GradCheck.Check(v => Cube(v[0], true, 1f), [new Rng(3).NormalTensor([7])]));
}
