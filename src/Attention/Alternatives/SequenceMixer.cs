using Attention.Autograd;
using Attention.Nn;

namespace Attention.Alternatives;

/// <summary>
/// The state a <see cref="SequenceMixer"/> carries from one token to the next while decoding one sequence:
/// a fixed-size recurrent state (SSMs, RWKV, RetNet, AFT-simple) or a cache that grows with the context
/// (softmax attention's keys and values, Hyena's input history). <see cref="Floats"/> counts what it holds now.
/// </summary>
public abstract class MixerState
{
    /// <summary>Numbers held now (for a growing cache this increases with every token).</summary>
    public abstract long Floats { get; }

    /// <summary>Tokens consumed so far.</summary>
    public int Position { get; internal set; }

    /// <summary><see cref="Floats"/> × 4 (float32).</summary>
    public long Bytes => Floats * sizeof(float);
}

/// <summary>
/// A token-mixing layer, the part of a Transformer block that attention fills and that the alternatives of answer 49
/// replace: x (B, T, E) → y (B, T, E), causal (y[t] depends on x[0..t] only) unless <see cref="IsCausal"/> is false.
/// <para>
/// Two forms of the same function. <see cref="Forward"/> processes a whole sequence at once (the training form:
/// convolution, parallel scan, masked matrix products) and records the autograd graph. <see cref="Step"/> consumes one
/// token at a time with a <see cref="MixerState"/> (the decoding form: a recurrence, or a cache); tests check that the
/// two give the same outputs. <see cref="StateFloats"/> says how big that state is after a context of n tokens, the
/// quantity behind the "recall vs state size" trade-off (Arora et al., 2023, "Zoology").
/// </para>
/// </summary>
public abstract class SequenceMixer : Module
{
    /// <summary>Model width E (input and output).</summary>
    public int Dim { get; }

    /// <summary>Short name for tables ("Mamba", "RetNet", …).</summary>
    public abstract string Name { get; }

    /// <summary>True when y[t] depends on x[0..t] only (every mixer here but FNet).</summary>
    public virtual bool IsCausal => true;

    /// <summary>True when the decoding state has the same size at every context length.</summary>
    public virtual bool ConstantState => true;

    /// <summary>The longest sequence the mixer can process (a learned position table bounds AFT-full), otherwise int.MaxValue.</summary>
    public virtual int MaxLength => int.MaxValue;

    /// <summary>Creates the mixer's common part.</summary>
    protected SequenceMixer(int dim)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        Dim = dim;
    }

    /// <summary>x (B, T, E) → y (B, T, E), the whole sequence at once (the training form).</summary>
    /// <exception cref="ArgumentException">x is not (B, T, E) with this E, or T exceeds <see cref="MaxLength"/>.</exception>
    public abstract Var Forward(Var x);

    /// <summary>A fresh decoding state for one sequence.</summary>
    /// <exception cref="NotSupportedException">The mixer is not causal (FNet) and cannot decode token by token.</exception>
    public abstract MixerState NewState();

    /// <summary>One decoding step: x (E), the next token's input, → y (E); advances <paramref name="state"/>. No gradients.</summary>
    /// <exception cref="ArgumentException">Wrong lengths, or a state made by another mixer.</exception>
    public abstract void Step(MixerState state, ReadOnlySpan<float> x, Span<float> y);

    /// <summary>Numbers in the decoding state after <paramref name="context"/> tokens (per sequence, this layer).</summary>
    public abstract long StateFloats(int context);

    /// <summary>Throws unless x is (B, T, E) with T ≥ 1 and T ≤ <see cref="MaxLength"/>; returns (B, T).</summary>
    protected (int Batch, int Time) CheckSequence(Var x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Dim || x.Shape[1] < 1)
            throw new ArgumentException($"{Name} expects input of shape (B, T, {Dim}), got {Var.Fmt(x.Shape)}", nameof(x));
        if (x.Shape[1] > MaxLength)
            throw new ArgumentException($"{Name} covers at most {MaxLength} positions, got a sequence of {x.Shape[1]}", nameof(x));
        return (x.Shape[0], x.Shape[1]);
    }

    /// <summary>Throws unless the step's spans have length E and the state is a <typeparamref name="T"/>.</summary>
    protected T CheckStep<T>(MixerState state, ReadOnlySpan<float> x, Span<float> y) where T : MixerState
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state is not T typed)
            throw new ArgumentException($"{Name} expects a state it created ({typeof(T).Name}), got {state.GetType().Name}", nameof(state));
        if (x.Length != Dim || y.Length != Dim)
            throw new ArgumentException($"{Name}.Step expects x and y of length {Dim}, got {x.Length} and {y.Length}");
        if (typed.Position >= MaxLength)
            throw new ArgumentException($"{Name} covers at most {MaxLength} positions; the state already holds {typed.Position}", nameof(state));
        return typed;
    }

    /// <summary>Runs <see cref="Step"/> over x (T, E) of one sequence from a fresh state → (T, E); the decoding form of <see cref="Forward"/>.</summary>
    public float[] StepAll(ReadOnlySpan<float> x, int time)
    {
        if (time < 1 || x.Length != time * Dim)
            throw new ArgumentException($"expected {time}×{Dim} inputs (T ≥ 1), got {x.Length}", nameof(x));
        var state = NewState();
        var y = new float[time * Dim];
        for (int t = 0; t < time; t++) Step(state, x.Slice(t * Dim, Dim), y.AsSpan(t * Dim, Dim));
        return y;
    }
}

/// <summary>Span helpers for the decoding steps (no autograd): dense layers, activations, norms.</summary>
internal static class StepMath
{
    /// <summary>y = W·x + b for a <see cref="Linear"/> (weight (out, in)).</summary>
    public static void Apply(Linear layer, ReadOnlySpan<float> x, Span<float> y)
    {
        var w = layer.Weight.Value.AsSpan();
        int n = layer.InFeatures;
        var b = layer.Bias is null ? default : layer.Bias.Value.AsSpan();
        for (int o = 0; o < layer.OutFeatures; o++)
        {
            float s = System.Numerics.Tensors.TensorPrimitives.Dot(w.Slice(o * n, n), x);
            y[o] = b.IsEmpty ? s : s + b[o];
        }
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    public static float Softplus(float x) => x > 20f ? x : MathF.Log(1f + MathF.Exp(x));

    /// <summary>Exact GELU x·Φ(x), as <see cref="Var.Gelu"/> computes it.</summary>
    public static float Gelu(float x) => (float)(0.5 * x * SpecialFunctions.Erfc(-x * SpecialFunctions.InvSqrt2));

    /// <summary>In place layer norm of x without affine parameters (biased variance, as <see cref="Var.LayerNorm"/>).</summary>
    public static void Normalize(Span<float> x, float eps)
    {
        float mean = 0;
        foreach (var v in x) mean += v;
        mean /= x.Length;
        float var = 0;
        foreach (var v in x) var += (v - mean) * (v - mean);
        var /= x.Length;
        float inv = 1f / MathF.Sqrt(var + eps);
        for (int i = 0; i < x.Length; i++) x[i] = (x[i] - mean) * inv;
    }
}
