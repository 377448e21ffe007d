using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Nn;

/// <summary>GRU/LSTM cells against the PyTorch gate formulas in float64; sequences over padded batches; gradients.</summary>
public class RecurrentTests
{
    private static double Sig(double v) => 1 / (1 + Math.Exp(-v));

    // row `row` of W·x + b (W (G·H, n)) in float64
    private static double Dot(Tensor w, Tensor? bias, int row, Tensor x, int bi)
    {
        double s = bias is null ? 0 : bias[row];
        for (int k = 0; k < w.Dim(1); k++) s += (double)w[row, k] * x[bi, k];
        return s;
    }

    [Fact]
    public void GRUCell_MatchesPyTorchGateFormulas_Float64()
    {
        var rng = new Rng(31);
        const int b = 3, i = 5, hs = 7;
        var cell = new GruCell(i, hs, rng);
        var x = rng.NormalTensor([b, i]); var h = rng.NormalTensor([b, hs]);
        var y = cell.Forward(Var.Constant(x), Var.Constant(h)).Value;
        Tensor wi = cell.WeightIh.Value, wh = cell.WeightHh.Value, bi = cell.BiasIh!.Value, bh = cell.BiasHh!.Value;
        for (int n = 0; n < b; n++)
            for (int j = 0; j < hs; j++)
            {
                double r = Sig(Dot(wi, bi, j, x, n) + Dot(wh, bh, j, h, n));
                double z = Sig(Dot(wi, bi, hs + j, x, n) + Dot(wh, bh, hs + j, h, n));
                double c = Math.Tanh(Dot(wi, bi, 2 * hs + j, x, n) + r * Dot(wh, bh, 2 * hs + j, h, n));
                double expected = (1 - z) * c + z * h[n, j];
                Assert.True(Math.Abs(y[n, j] - expected) <= 1e-6 + 1e-5 * Math.Abs(expected), $"h'[{n},{j}] = {y[n, j]}, expected {expected}");
            }
    }

    [Fact]
    public void LSTMCell_MatchesPyTorchGateFormulas_Float64()
    {
        var rng = new Rng(32);
        const int b = 2, i = 4, hs = 6;
        var cell = new LstmCell(i, hs, rng);
        var x = rng.NormalTensor([b, i]); var h = rng.NormalTensor([b, hs]); var c = rng.NormalTensor([b, hs]);
        var (h2, c2) = cell.Forward(Var.Constant(x), Var.Constant(h), Var.Constant(c));
        Tensor wi = cell.WeightIh.Value, wh = cell.WeightHh.Value, bi = cell.BiasIh!.Value, bh = cell.BiasHh!.Value;
        for (int n = 0; n < b; n++)
            for (int j = 0; j < hs; j++)
            {
                double G(int gate) => Dot(wi, bi, gate * hs + j, x, n) + Dot(wh, bh, gate * hs + j, h, n);
                double ig = Sig(G(0)), fg = Sig(G(1)), gg = Math.Tanh(G(2)), og = Sig(G(3));
                double cc = fg * c[n, j] + ig * gg, hh = og * Math.Tanh(cc);
                Assert.True(Math.Abs(c2.Value[n, j] - cc) <= 1e-6 + 1e-5 * Math.Abs(cc), $"c'[{n},{j}] = {c2.Value[n, j]}, expected {cc}");
                Assert.True(Math.Abs(h2.Value[n, j] - hh) <= 1e-6 + 1e-5 * Math.Abs(hh), $"h'[{n},{j}] = {h2.Value[n, j]}, expected {hh}");
            }
    }

    [Fact]
    public void GRU_Bidirectional_EqualsCellsSteppedByHand()
    {
        var rng = new Rng(33);
        const int b = 2, t = 4, i = 3, hs = 5;
        var gru = new Gru(i, hs, rng, bidirectional: true);
        var x = rng.NormalTensor([b, t, i]);
        var (y, hn) = gru.Forward(Var.Constant(x));
        Assert.Equal([b, t, 2 * hs], y.Shape.ToArray());
        Assert.Equal([2, b, hs], hn.Shape.ToArray());
        var cells = gru.Children().Select(c => (GruCell)c.Module).ToArray();
        Assert.Equal(["l0", "l0_reverse"], gru.Children().Select(c => c.Name));
        for (int d = 0; d < 2; d++)
        {
            var h = Var.Constant(Tensor.Zeros(b, hs));
            for (int k = 0; k < t; k++)
            {
                int s = d == 0 ? k : t - 1 - k;
                h = cells[d].Forward(Var.Constant(x.Select(1, s).Contiguous()), h);
                for (int n = 0; n < b; n++)
                    for (int j = 0; j < hs; j++)
                        Assert.True(Math.Abs(y.Value[n, s, d * hs + j] - h.Value[n, j]) <= 1e-6, $"dir {d} step {s}");
            }
            for (int n = 0; n < b; n++)
                for (int j = 0; j < hs; j++) Assert.Equal(h.Value[n, j], hn.Value[d, n, j], 6);
        }
    }

    /// <summary>
    /// Item 1 has length 3 inside a batch of length 6 whose padded steps hold garbage; its outputs,
    /// final states (both directions, both layers) must equal a run of the 3 real steps alone, and its
    /// outputs past the length must be zero.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Recurrent_PaddingDoesNotChangeTheShorterSequence(bool lstm)
    {
        var rng = new Rng(34);
        const int t = 6, len = 3, i = 4, hs = 5;
        var x = rng.NormalTensor([2, t, i]);
        for (int s = len; s < t; s++) for (int k = 0; k < i; k++) x[1, s, k] = 50f;
        var alone = Tensor.Zeros(1, len, i);
        for (int s = 0; s < len; s++) for (int k = 0; k < i; k++) alone[0, s, k] = x[1, s, k];
        Var yBatch, yAlone; Var[] statesBatch, statesAlone;
        if (lstm)
        {
            var net = new Lstm(i, hs, rng, numLayers: 2, bidirectional: true);
            var (y0, h0, c0) = net.Forward(Var.Constant(x), [t, len]);
            var (y1, h1, c1) = net.Forward(Var.Constant(alone));
            (yBatch, yAlone, statesBatch, statesAlone) = (y0, y1, [h0, c0], [h1, c1]);
        }
        else
        {
            var net = new Gru(i, hs, rng, numLayers: 2, bidirectional: true);
            var (y0, h0) = net.Forward(Var.Constant(x), [t, len]);
            var (y1, h1) = net.Forward(Var.Constant(alone));
            (yBatch, yAlone, statesBatch, statesAlone) = (y0, y1, [h0], [h1]);
        }
        for (int s = 0; s < t; s++)
            for (int j = 0; j < 2 * hs; j++)
            {
                float got = yBatch.Value[1, s, j];
                if (s >= len) Assert.Equal(0f, got);
                else Assert.True(Math.Abs(got - yAlone.Value[0, s, j]) <= 1e-6, $"output ({s}, {j}): batch {got}, alone {yAlone.Value[0, s, j]}");
            }
        for (int k = 0; k < statesBatch.Length; k++)
            for (int l = 0; l < 4; l++)
                for (int j = 0; j < hs; j++)
                    Assert.True(Math.Abs(statesBatch[k].Value[l, 1, j] - statesAlone[k].Value[l, 0, j]) <= 1e-6, $"state {k} layer·dir {l} unit {j}");
    }

    [Fact]
    public void GRU_GradientCheck_BidirectionalPadded()
    {
        var rng = new Rng(35);
        var gru = new Gru(2, 3, rng, bidirectional: true);
        var x = Var.Parameter(rng.NormalTensor([2, 3, 2]), "x");
        var h0 = Var.Parameter(rng.NormalTensor([2, 2, 3]), "h0");
        ParameterGradCheck.Check(() =>
        {
            var (y, h) = gru.Forward(x, [3, 2], h0);
            return Var.Concat([y.Reshape(-1), h.Reshape(-1)], 0);
        }, [.. gru.Parameters(), x, h0]);
    }

    [Fact]
    public void LSTM_GradientCheck_TwoLayersPadded()
    {
        var rng = new Rng(36);
        var lstm = new Lstm(2, 3, rng, numLayers: 2, bidirectional: true);
        var x = Var.Parameter(rng.NormalTensor([2, 3, 2]), "x");
        ParameterGradCheck.Check(() =>
        {
            var (y, h, c) = lstm.Forward(x, [2, 3]);
            return Var.Concat([y.Reshape(-1), h.Reshape(-1), c.Reshape(-1)], 0);
        }, [.. lstm.Parameters(), x]);
    }

    [Fact]
    public void Recurrent_BadShapesThrowNamingExpectedAndActual()
    {
        var rng = new Rng(37);
        var gru = new Gru(3, 4, rng);
        var ex = Assert.Throws<ArgumentException>(() => gru.Forward(Var.Constant(Tensor.Zeros(2, 5, 2))));
        Assert.Contains("3", ex.Message); Assert.Contains("2", ex.Message);
        Assert.Throws<ArgumentException>(() => gru.Forward(Var.Constant(Tensor.Zeros(2, 5, 3)), [5]));
        Assert.Throws<ArgumentException>(() => gru.Forward(Var.Constant(Tensor.Zeros(2, 5, 3)), [5, 6]));
        Assert.Throws<ArgumentException>(() => gru.Forward(Var.Constant(Tensor.Zeros(2, 5, 3)), null, Var.Constant(Tensor.Zeros(1, 2, 5))));
        Assert.Throws<ArgumentException>(() => new LstmCell(3, 4, rng).Forward(Var.Constant(Tensor.Zeros(2, 3)), Var.Constant(Tensor.Zeros(3, 4))));
    }
}
