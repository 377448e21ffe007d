using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>
/// Gated recurrent unit cell (Cho et al., 2014) with PyTorch's gate conventions, so weights map one to one
/// onto torch.nn.GRUCell (weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H); rows in gate order r, z, n):
/// <code>
///   r  = σ(W_ir·x + b_ir + W_hr·h + b_hr)
///   z  = σ(W_iz·x + b_iz + W_hz·h + b_hz)
///   n  = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))      (r gates the hidden projection, bias included)
///   h' = (1 − z) ⊙ n + z ⊙ h
/// </code>
/// x (B, I), h (B, H) → h' (B, H). All weights ~ U(−1/√H, 1/√H) as in PyTorch.
/// </summary>
public sealed class GruCell : Module
{
    /// <summary>Input width I.</summary>
    public int InputSize { get; }
    /// <summary>Hidden width H.</summary>
    public int HiddenSize { get; }
    /// <summary>(3H, I), rows r, z, n.</summary>
    public Var WeightIh { get; }
    /// <summary>(3H, H), rows r, z, n.</summary>
    public Var WeightHh { get; }
    /// <summary>(3H) or null.</summary>
    public Var? BiasIh { get; }
    /// <summary>(3H) or null.</summary>
    public Var? BiasHh { get; }

    /// <summary>Creates the cell with weights from <paramref name="rng"/>.</summary>
    public GruCell(int inputSize, int hiddenSize, Rng rng, bool bias = true)
    {
        (InputSize, HiddenSize) = RecurrentCommon.CheckSizes(inputSize, hiddenSize, rng);
        (WeightIh, WeightHh, BiasIh, BiasHh) = RecurrentCommon.Register(this, 3, inputSize, hiddenSize, rng, bias);
    }

    /// <summary>x (B, I), h (B, H) or null (zeros) → h' (B, H).</summary>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public Var Forward(Var x, Var? h = null)
    {
        int b = RecurrentCommon.CheckStep(x, h, null, InputSize, HiddenSize, "GRUCell");
        return Step(InputGates(x), h ?? Var.Constant(Tensor.Zeros(b, HiddenSize)));
    }

    /// <summary>W_ih·x + b_ih for x (…, I) → (…, 3H): done for a whole sequence in one GEMM by <see cref="Gru"/>.</summary>
    internal Var InputGates(Var x) => RecurrentCommon.Affine(x, WeightIh, BiasIh);

    /// <summary>One step from precomputed input gates gi (B, 3H).</summary>
    internal Var Step(Var gi, Var h)
    {
        int n = HiddenSize;
        var gh = RecurrentCommon.Affine(h, WeightHh, BiasHh);                       // (B, 3H)
        var r = (gi.Slice(1, 0, n) + gh.Slice(1, 0, n)).Sigmoid();
        var z = (gi.Slice(1, n, n) + gh.Slice(1, n, n)).Sigmoid();
        var cand = (gi.Slice(1, 2 * n, n) + r * gh.Slice(1, 2 * n, n)).Tanh();
        return cand + z * (h - cand);                                               // (1 − z)·n + z·h
    }
}

/// <summary>
/// Long short-term memory cell (Hochreiter and Schmidhuber, 1997; with the forget gate of Gers et al., 2000)
/// in PyTorch's conventions: weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H), rows in gate order i, f, g, o:
/// <code>
///   i = σ(W_ii·x + b_ii + W_hi·h + b_hi)      f = σ(W_if·x + b_if + W_hf·h + b_hf)
///   g = tanh(W_ig·x + b_ig + W_hg·h + b_hg)   o = σ(W_io·x + b_io + W_ho·h + b_ho)
///   c' = f ⊙ c + i ⊙ g                         h' = o ⊙ tanh(c')
/// </code>
/// x (B, I), h and c (B, H) → (h', c'). All weights ~ U(−1/√H, 1/√H) as in PyTorch (no forget-bias offset).
/// </summary>
public sealed class LstmCell : Module
{
    /// <summary>Input width I.</summary>
    public int InputSize { get; }
    /// <summary>Hidden width H.</summary>
    public int HiddenSize { get; }
    /// <summary>(4H, I), rows i, f, g, o.</summary>
    public Var WeightIh { get; }
    /// <summary>(4H, H), rows i, f, g, o.</summary>
    public Var WeightHh { get; }
    /// <summary>(4H) or null.</summary>
    public Var? BiasIh { get; }
    /// <summary>(4H) or null.</summary>
    public Var? BiasHh { get; }

    /// <summary>Creates the cell with weights from <paramref name="rng"/>.</summary>
    public LstmCell(int inputSize, int hiddenSize, Rng rng, bool bias = true)
    {
        (InputSize, HiddenSize) = RecurrentCommon.CheckSizes(inputSize, hiddenSize, rng);
        (WeightIh, WeightHh, BiasIh, BiasHh) = RecurrentCommon.Register(this, 4, inputSize, hiddenSize, rng, bias);
    }

    /// <summary>x (B, I), h and c (B, H) or null (zeros) → (h', c').</summary>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public (Var H, Var C) Forward(Var x, Var? h = null, Var? c = null)
    {
        int b = RecurrentCommon.CheckStep(x, h, c, InputSize, HiddenSize, "LSTMCell");
        return Step(InputGates(x), h ?? Var.Constant(Tensor.Zeros(b, HiddenSize)), c ?? Var.Constant(Tensor.Zeros(b, HiddenSize)));
    }

    internal Var InputGates(Var x) => RecurrentCommon.Affine(x, WeightIh, BiasIh);

    internal (Var H, Var C) Step(Var gi, Var h, Var c)
    {
        int n = HiddenSize;
        var gates = gi + RecurrentCommon.Affine(h, WeightHh, BiasHh);                // (B, 4H)
        var i = gates.Slice(1, 0, n).Sigmoid();
        var f = gates.Slice(1, n, n).Sigmoid();
        var g = gates.Slice(1, 2 * n, n).Tanh();
        var o = gates.Slice(1, 3 * n, n).Sigmoid();
        var c2 = f * c + i * g;
        return (o * c2.Tanh(), c2);
    }
}

internal static class RecurrentCommon
{
    public static (int, int) CheckSizes(int inputSize, int hiddenSize, Rng rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        ArgumentNullException.ThrowIfNull(rng);
        return (inputSize, hiddenSize);
    }

    public static (Var, Var, Var?, Var?) Register(Module m, int gates, int inputSize, int hiddenSize, Rng rng, bool bias)
    {
        float k = 1f / MathF.Sqrt(hiddenSize);
        var reg = m.RegisterParameter;
        var wih = reg("weight_ih", Var.Parameter(rng.UniformTensor([gates * hiddenSize, inputSize], -k, k)));
        var whh = reg("weight_hh", Var.Parameter(rng.UniformTensor([gates * hiddenSize, hiddenSize], -k, k)));
        Var? bih = bias ? reg("bias_ih", Var.Parameter(rng.UniformTensor([gates * hiddenSize], -k, k))) : null;
        Var? bhh = bias ? reg("bias_hh", Var.Parameter(rng.UniformTensor([gates * hiddenSize], -k, k))) : null;
        return (wih, whh, bih, bhh);
    }

    public static Var Affine(Var x, Var w, Var? b)
    {
        var y = x.MatMul(w, transposeB: true);
        return b is null ? y : y + b;
    }

    public static int CheckStep(Var x, Var? h, Var? c, int inputSize, int hiddenSize, string layer)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 2 || x.Shape[1] != inputSize)
            throw new ArgumentException($"{layer} expects x of shape (B, {inputSize}), got {Var.Fmt(x.Shape)}", nameof(x));
        int b = x.Shape[0];
        foreach (var (s, name) in new[] { (h, "h"), (c, "c") })
            if (s is not null && (s.Rank != 2 || s.Shape[0] != b || s.Shape[1] != hiddenSize))
                throw new ArgumentException($"{layer} expects {name} of shape ({b}, {hiddenSize}), got {Var.Fmt(s.Shape)}", name);
        return b;
    }

    public static (int B, int T) CheckSequence(Var input, int[]? lengths, int inputSize, string layer)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 3 || input.Shape[2] != inputSize)
            throw new ArgumentException($"{layer} expects input of shape (B, T, {inputSize}), got {Var.Fmt(input.Shape)}", nameof(input));
        int b = input.Shape[0], t = input.Shape[1];
        if (lengths is not null)
        {
            if (lengths.Length != b)
                throw new ArgumentException($"{layer}: expected {b} lengths (one per batch item), got {lengths.Length}", nameof(lengths));
            for (int i = 0; i < b; i++)
                if ((uint)lengths[i] > (uint)t)
                    throw new ArgumentException($"{layer}: expected lengths in [0, {t}], got {lengths[i]} for batch item {i}", nameof(lengths));
        }
        return (b, t);
    }

    public static void CheckState(Var? s, int count, int b, int hidden, string name)
    {
        if (s is not null && (s.Rank != 3 || s.Shape[0] != count || s.Shape[1] != b || s.Shape[2] != hidden))
            throw new ArgumentException($"expected {name} of shape ({count}, {b}, {hidden}), got {Var.Fmt(s.Shape)}", name);
    }

    /// <summary>Per step t, a (B, 1) constant that is 1 where t &lt; lengths[b]; null entries where every item is live (and null when no lengths).</summary>
    public static Var?[]? StepMasks(int[]? lengths, int b, int t)
    {
        if (lengths is null) return null;
        var masks = new Var?[t];
        for (int s = 0; s < t; s++)
        {
            if (lengths.All(n => s < n)) continue;
            var m = Tensor.Zeros(b, 1);
            for (int i = 0; i < b; i++) m.AsSpan()[i] = s < lengths[i] ? 1f : 0f;
            masks[s] = Var.Constant(m);
        }
        return masks;
    }

    public static IEnumerable<int> Order(int t, bool reverse)
    {
        for (int i = 0; i < t; i++) yield return reverse ? t - 1 - i : i;
    }

    /// <summary>(state, output) after a step: where the mask is 0 the state keeps its old value and the output is 0.</summary>
    public static (Var State, Var Output) Freeze(Var next, Var previous, Var? mask)
    {
        if (mask is null) return (next, next);
        var output = next * mask;
        return (output + previous * (1f - mask), output);
    }

    /// <summary>
    /// The sequence loop of <see cref="Gru"/> and <see cref="Lstm"/>: for each layer and direction (cell k = layer·dirs
    /// + direction), the input projection of all T steps as one product (<paramref name="inputGates"/>: x (B, T, ·) →
    /// (B, T, gates·H)), then <paramref name="step"/> from t = 0 up, or from T − 1 down for the reverse direction, with
    /// every state frozen past each item's length (<see cref="Freeze"/>). States: GRU's h, LSTM's h and c; the first is
    /// the output. <paramref name="initial"/>[i] is state i's (layers·dirs, B, H) start, or null for zeros.
    /// Returns the last layer's output (B, T, dirs·H) and each state's final values (layers·dirs, B, H).
    /// </summary>
    public static (Var Output, Var[] Finals) Run(Var input, int[]? lengths, int b, int t, int numLayers, int dirs, int hidden, int gates,
                                                 Var?[] initial, Func<int, Var, Var> inputGates, Func<int, Var, Var[], Var[]> step)
    {
        var masks = StepMasks(lengths, b, t);
        var finals = initial.Select(_ => new List<Var>()).ToArray();
        var x = input;
        for (int l = 0; l < numLayers; l++)
        {
            var outs = new List<Var>();
            for (int d = 0; d < dirs; d++)
            {
                int k = l * dirs + d;
                var gi = inputGates(k, x);                                              // (B, T, gates·H)
                var state = initial.Select(s0 => s0?.Slice(0, k, 1).Reshape(b, hidden) ?? Var.Constant(Tensor.Zeros(b, hidden))).ToArray();
                var steps = new Var[t];
                foreach (int s in Order(t, reverse: d == 1))
                {
                    var next = step(k, gi.Slice(1, s, 1).Reshape(b, gates * hidden), state);
                    (state[0], steps[s]) = Freeze(next[0], state[0], masks?[s]);
                    for (int i = 1; i < state.Length; i++) (state[i], _) = Freeze(next[i], state[i], masks?[s]);
                }
                for (int i = 0; i < state.Length; i++) finals[i].Add(state[i]);
                outs.Add(t == 0 ? Var.Constant(Tensor.Zeros(b, 0, hidden)) : Var.Stack(steps, 1));   // (B, T, H)
            }
            x = dirs == 1 ? outs[0] : Var.Concat(outs, 2);
        }
        return (x, finals.Select(f => Var.Stack(f, 0)).ToArray());
    }
}

/// <summary>
/// A GRU over a padded batch (batch-first), uni- or bi-directional, one or more layers, built from
/// <see cref="GruCell"/>s named "l0", "l0_reverse", "l1", … (so "l0.weight_ih" ↔ PyTorch's weight_ih_l0).
/// input (B, T, I), lengths (B) with values in [0, T] (null = all T) → output (B, T, dirs·H) and final
/// hidden state (layers·dirs, B, H), ordered like PyTorch (layer-major, forward before reverse).
/// Padding: at t ≥ lengths[b] the state of item b stays frozen and its output is zero, so the final
/// state is the state after its last real token, and the reverse direction starts at its last real
/// token — outputs of a shorter sequence equal those of running it alone (what PyTorch's packed
/// sequences give). The input projection W_ih·x of all T steps is one GEMM per layer and direction.
/// </summary>
public sealed class Gru : Module
{
    private readonly GruCell[] _cells;
    /// <summary>Input width I.</summary>
    public int InputSize { get; }
    /// <summary>Hidden width H per direction.</summary>
    public int HiddenSize { get; }
    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }
    /// <summary>True for two directions (outputs concatenated forward ‖ reverse).</summary>
    public bool Bidirectional { get; }

    /// <summary>Creates the layers with weights from <paramref name="rng"/>.</summary>
    public Gru(int inputSize, int hiddenSize, Rng rng, int numLayers = 1, bool bidirectional = false, bool bias = true)
    {
        RecurrentCommon.CheckSizes(inputSize, hiddenSize, rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numLayers);
        InputSize = inputSize; HiddenSize = hiddenSize; NumLayers = numLayers; Bidirectional = bidirectional;
        int dirs = bidirectional ? 2 : 1;
        _cells = new GruCell[numLayers * dirs];
        for (int l = 0; l < numLayers; l++)
            for (int d = 0; d < dirs; d++)
                _cells[l * dirs + d] = RegisterModule($"l{l}{(d == 1 ? "_reverse" : "")}", new GruCell(l == 0 ? inputSize : dirs * hiddenSize, hiddenSize, rng, bias));
    }

    /// <summary>input (B, T, I), lengths (B) or null, h0 (layers·dirs, B, H) or null (zeros) → (output (B, T, dirs·H), hidden (layers·dirs, B, H)).</summary>
    /// <exception cref="ArgumentException">A shape or length does not match.</exception>
    public (Var Output, Var Hidden) Forward(Var input, int[]? lengths = null, Var? h0 = null)
    {
        var (b, t) = RecurrentCommon.CheckSequence(input, lengths, InputSize, "GRU");
        int dirs = Bidirectional ? 2 : 1;
        RecurrentCommon.CheckState(h0, NumLayers * dirs, b, HiddenSize, "h0");
        var (output, finals) = RecurrentCommon.Run(input, lengths, b, t, NumLayers, dirs, HiddenSize, gates: 3, [h0],
            (k, x) => _cells[k].InputGates(x), (k, gi, state) => [_cells[k].Step(gi, state[0])]);
        return (output, finals[0]);
    }
}

/// <summary>
/// An LSTM over a padded batch (batch-first), uni- or bi-directional, one or more layers, built from
/// <see cref="LstmCell"/>s named like <see cref="Gru"/>'s; padding semantics as there (h and c both freeze).
/// input (B, T, I), lengths (B) → output (B, T, dirs·H), final h and c (layers·dirs, B, H).
/// </summary>
public sealed class Lstm : Module
{
    private readonly LstmCell[] _cells;
    /// <summary>Input width I.</summary>
    public int InputSize { get; }
    /// <summary>Hidden width H per direction.</summary>
    public int HiddenSize { get; }
    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }
    /// <summary>True for two directions (outputs concatenated forward ‖ reverse).</summary>
    public bool Bidirectional { get; }

    /// <summary>Creates the layers with weights from <paramref name="rng"/>.</summary>
    public Lstm(int inputSize, int hiddenSize, Rng rng, int numLayers = 1, bool bidirectional = false, bool bias = true)
    {
        RecurrentCommon.CheckSizes(inputSize, hiddenSize, rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numLayers);
        InputSize = inputSize; HiddenSize = hiddenSize; NumLayers = numLayers; Bidirectional = bidirectional;
        int dirs = bidirectional ? 2 : 1;
        _cells = new LstmCell[numLayers * dirs];
        for (int l = 0; l < numLayers; l++)
            for (int d = 0; d < dirs; d++)
                _cells[l * dirs + d] = RegisterModule($"l{l}{(d == 1 ? "_reverse" : "")}", new LstmCell(l == 0 ? inputSize : dirs * hiddenSize, hiddenSize, rng, bias));
    }

    /// <summary>input (B, T, I), lengths (B) or null, h0 and c0 (layers·dirs, B, H) or null → (output (B, T, dirs·H), h, c (layers·dirs, B, H)).</summary>
    /// <exception cref="ArgumentException">A shape or length does not match.</exception>
    public (Var Output, Var Hidden, Var Cell) Forward(Var input, int[]? lengths = null, Var? h0 = null, Var? c0 = null)
    {
        var (b, t) = RecurrentCommon.CheckSequence(input, lengths, InputSize, "LSTM");
        int dirs = Bidirectional ? 2 : 1;
        RecurrentCommon.CheckState(h0, NumLayers * dirs, b, HiddenSize, "h0");
        RecurrentCommon.CheckState(c0, NumLayers * dirs, b, HiddenSize, "c0");
        var (output, finals) = RecurrentCommon.Run(input, lengths, b, t, NumLayers, dirs, HiddenSize, gates: 4, [h0, c0],
            (k, x) => _cells[k].InputGates(x), (k, gi, state) =>
            {
                var (h, c) = _cells[k].Step(gi, state[0], state[1]);
                return [h, c];
            });
        return (output, finals[0], finals[1]);
    }
}
