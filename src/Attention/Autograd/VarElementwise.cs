using System.Numerics;
using System.Numerics.Tensors;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;
using static Attention.Autograd.Broadcast;

namespace Attention.Autograd;

// Elementwise operations: binary ones with numpy broadcasting (gradients summed back to each
// input's shape), scalar ones, and the activations. Each backward quotes the forward line.
public sealed partial class Var
{
    /// <summary>a + b with numpy broadcasting; the result has the broadcast shape.</summary>
    public static Var operator +(Var a, Var b) => Elementwise(Broadcast.BinaryOp.Add, a, b);

    /// <summary>a − b with numpy broadcasting.</summary>
    public static Var operator -(Var a, Var b) => Elementwise(Broadcast.BinaryOp.Subtract, a, b);

    /// <summary>a ⊙ b (elementwise) with numpy broadcasting.</summary>
    public static Var operator *(Var a, Var b) => Elementwise(Broadcast.BinaryOp.Multiply, a, b);

    /// <summary>a / b (elementwise) with numpy broadcasting.</summary>
    public static Var operator /(Var a, Var b) => Elementwise(Broadcast.BinaryOp.Divide, a, b);

    /// <summary>a + s.</summary>
    public static Var operator +(Var a, float s) => a.AffineScalar(1f, s, "add_scalar");
    /// <summary>s + a.</summary>
    public static Var operator +(float s, Var a) => a.AffineScalar(1f, s, "add_scalar");
    /// <summary>a − s.</summary>
    public static Var operator -(Var a, float s) => a.AffineScalar(1f, -s, "add_scalar");
    /// <summary>s − a.</summary>
    public static Var operator -(float s, Var a) => a.AffineScalar(-1f, s, "rsub_scalar");
    /// <summary>a · s.</summary>
    public static Var operator *(Var a, float s) => a.AffineScalar(s, 0f, "mul_scalar");
    /// <summary>s · a.</summary>
    public static Var operator *(float s, Var a) => a.AffineScalar(s, 0f, "mul_scalar");
    /// <summary>a / s.</summary>
    public static Var operator /(Var a, float s) => a.AffineScalar(1f / s, 0f, "div_scalar");
    /// <summary>−a.</summary>
    public static Var operator -(Var a) => a.AffineScalar(-1f, 0f, "neg");

    /// <summary>Same as <c>a + b</c>.</summary>
    public Var Add(Var other) => this + other;
    /// <summary>Same as <c>a − b</c>.</summary>
    public Var Sub(Var other) => this - other;
    /// <summary>Same as <c>a ⊙ b</c>.</summary>
    public Var Mul(Var other) => this * other;
    /// <summary>Same as <c>a / b</c>.</summary>
    public Var Div(Var other) => this / other;

    private static Var Elementwise(Broadcast.BinaryOp op, Var a, Var b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        string name = op.ToString().ToLowerInvariant();
        int[] aShape = a.Shape.ToArray(), bShape = b.Shape.ToArray();
        int[] outShape = Broadcast.Shape(aShape, bShape, name);
        var y = NewTensor(outShape);
        Binary(op, a.Data, aShape, b.Data, bShape, y.AsSpan(), outShape);
        bool sameA = aShape.AsSpan().SequenceEqual(outShape), sameB = bShape.AsSpan().SequenceEqual(outShape);
        return Make(y, name, [a, b], o =>
        {
            var dy = o._grad!.AsSpan();
            switch (op)
            {
                case Broadcast.BinaryOp.Add:
                    // forward: y = a + b  ⇒  da += dy, db += dy (summed over broadcast axes)
                    if (a.RequiresGrad) ReduceAdd(dy, outShape, a.GradBuffer(), aShape);
                    if (b.RequiresGrad) ReduceAdd(dy, outShape, b.GradBuffer(), bShape);
                    break;
                case Broadcast.BinaryOp.Subtract:
                    // forward: y = a − b  ⇒  da += dy, db −= dy
                    if (a.RequiresGrad) ReduceAdd(dy, outShape, a.GradBuffer(), aShape);
                    if (b.RequiresGrad && sameB)
                    {
                        var db = b.GradBuffer();
                        TensorPrimitives.Subtract(db, dy, db);
                    }
                    else if (b.RequiresGrad)
                    {
                        var neg = new float[dy.Length];
                        TensorPrimitives.Negate(dy, neg);
                        ReduceAdd(neg, outShape, b.GradBuffer(), bShape);
                    }
                    break;
                case Broadcast.BinaryOp.Multiply:
                    // forward: y = a ⊙ b  ⇒  da += dy ⊙ b, db += dy ⊙ a
                    if (a.RequiresGrad) MulGrad(dy, b.Data, bShape, sameB, outShape, a.GradBuffer(), aShape, sameA);
                    if (b.RequiresGrad) MulGrad(dy, a.Data, aShape, sameA, outShape, b.GradBuffer(), bShape, sameB);
                    break;
                default:
                    // forward: y = a / b  ⇒  da += dy / b, db += −dy ⊙ a / b² = −dy ⊙ y / b
                    if (a.RequiresGrad)
                    {
                        var t = new float[dy.Length];
                        Binary(Broadcast.BinaryOp.Divide, dy, outShape, b.Data, bShape, t, outShape);
                        ReduceAdd(t, outShape, a.GradBuffer(), aShape);
                    }
                    if (b.RequiresGrad)
                    {
                        var t = new float[dy.Length];
                        TensorPrimitives.Multiply(dy, y.AsSpan(), t);
                        Binary(Broadcast.BinaryOp.Divide, t, outShape, b.Data, bShape, t, outShape);
                        TensorPrimitives.Negate(t, t);
                        ReduceAdd(t, outShape, b.GradBuffer(), bShape);
                    }
                    break;
            }
        });
    }

    // dx += reduce(dy ⊙ other), fused when no broadcasting is involved.
    private static void MulGrad(ReadOnlySpan<float> dy, ReadOnlySpan<float> other, int[] otherShape, bool otherFull,
                                int[] outShape, Span<float> dx, int[] xShape, bool xFull)
    {
        if (otherFull && xFull) { TensorPrimitives.FusedMultiplyAdd(dy, other, dx, dx); return; }
        var t = new float[dy.Length];
        Binary(Broadcast.BinaryOp.Multiply, dy, outShape, other, otherShape, t, outShape);
        ReduceAdd(t, outShape, dx, xShape);
    }

    // y = scale·x + shift
    private Var AffineScalar(float scale, float shift, string op)
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Multiply(Data, scale, y.AsSpan());
        if (shift != 0f) TensorPrimitives.Add(y.AsSpan(), shift, y.AsSpan());
        return Make(y, op, [this], o =>
        {
            // forward: y = scale·x + shift  ⇒  dx += scale·dy
            var dx = GradBuffer();
            TensorPrimitives.MultiplyAdd(o._grad!.AsSpan(), scale, dx, dx);
        });
    }

    /// <summary>exp(x) elementwise.</summary>
    public Var Exp()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Exp(Data, y.AsSpan());
        return Make(y, "exp", [this], o =>
        {
            // forward: y = exp(x)  ⇒  dx += dy ⊙ y
            var dx = GradBuffer();
            TensorPrimitives.FusedMultiplyAdd(o._grad!.AsSpan(), y.AsSpan(), dx, dx);
        });
    }

    /// <summary>Natural logarithm elementwise (−∞ at 0, NaN below).</summary>
    public Var Log()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Log(Data, y.AsSpan());
        return Make(y, "log", [this], o =>
        {
            // forward: y = log(x)  ⇒  dx += dy / x
            var t = new float[Length];
            TensorPrimitives.Divide(o._grad!.AsSpan(), Data, t);
            var dx = GradBuffer();
            TensorPrimitives.Add(dx, t, dx);
        });
    }

    /// <summary>√x elementwise.</summary>
    public Var Sqrt()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Sqrt(Data, y.AsSpan());
        return Make(y, "sqrt", [this], o =>
        {
            // forward: y = √x  ⇒  dx += dy / (2y)
            var t = new float[Length];
            TensorPrimitives.Divide(o._grad!.AsSpan(), y.AsSpan(), t);
            var dx = GradBuffer();
            TensorPrimitives.MultiplyAdd(t, 0.5f, dx, dx);
        });
    }

    /// <summary>x² elementwise.</summary>
    public Var Square()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Multiply(Data, Data, y.AsSpan());
        return Make(y, "square", [this], o =>
        {
            // forward: y = x·x  ⇒  dx += 2·x ⊙ dy
            var t = new float[Length];
            TensorPrimitives.Multiply(o._grad!.AsSpan(), Data, t);
            var dx = GradBuffer();
            TensorPrimitives.MultiplyAdd(t, 2f, dx, dx);
        });
    }

    /// <summary>tanh(x) elementwise.</summary>
    public Var Tanh()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Tanh(Data, y.AsSpan());
        return Make(y, "tanh", [this], o =>
        {
            // forward: y = tanh(x)  ⇒  dx += dy ⊙ (1 − y²)
            var ys = y.AsSpan();
            var t = new float[Length];
            TensorPrimitives.Multiply(ys, ys, t);
            TensorPrimitives.Subtract(1f, t, t);
            var dx = GradBuffer();
            TensorPrimitives.FusedMultiplyAdd(o._grad!.AsSpan(), t, dx, dx);
        });
    }

    /// <summary>σ(x) = 1 / (1 + e^(−x)) elementwise.</summary>
    public Var Sigmoid()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Sigmoid(Data, y.AsSpan());
        return Make(y, "sigmoid", [this], o =>
        {
            // forward: y = σ(x)  ⇒  dx += dy ⊙ y ⊙ (1 − y)
            var ys = y.AsSpan();
            var t = new float[Length];
            TensorPrimitives.Subtract(1f, ys, t);
            TensorPrimitives.Multiply(t, ys, t);
            var dx = GradBuffer();
            TensorPrimitives.FusedMultiplyAdd(o._grad!.AsSpan(), t, dx, dx);
        });
    }

    /// <summary>max(x, 0) elementwise; the gradient at exactly 0 is taken as 0.</summary>
    public Var Relu()
    {
        var y = NewTensor(Shape);
        TensorPrimitives.Max(Data, 0f, y.AsSpan());
        return Make(y, "relu", [this], o =>
        {
            // forward: y = max(x, 0)  ⇒  dx += x > 0 ? dy : 0
            var dy = o._grad!.AsSpan();
            var x = Data;
            var dx = GradBuffer();
            int i = 0;
            if (Vector.IsHardwareAccelerated)
                for (; i <= dx.Length - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var xv = new Vector<float>(x[i..]);
                    var g = Vector.ConditionalSelect(Vector.GreaterThan(xv, Vector<float>.Zero), new Vector<float>(dy[i..]), Vector<float>.Zero);
                    (new Vector<float>(dx[i..]) + g).CopyTo(dx[i..]);
                }
            for (; i < dx.Length; i++)
                if (x[i] > 0f) dx[i] += dy[i];
        });
    }

    /// <summary>
    /// Exact GELU (Hendrycks and Gimpel, 2016): x·Φ(x) = ½·x·erfc(−x/√2), Φ the standard normal CDF
    /// (not the tanh approximation). Computed in double with a relative error of about 1e-7.
    /// </summary>
    public Var Gelu()
    {
        var y = NewTensor(Shape);
        var x = Data;
        var ys = y.AsSpan();
        for (int i = 0; i < ys.Length; i++)
            ys[i] = (float)(0.5 * x[i] * SpecialFunctions.Erfc(-x[i] * SpecialFunctions.InvSqrt2));
        return Make(y, "gelu", [this], o =>
        {
            // forward: y = x·Φ(x)  ⇒  dx += dy ⊙ (Φ(x) + x·φ(x)),  φ(x) = exp(−x²/2)/√(2π)
            var dy = o._grad!.AsSpan();
            var xs = Data;
            var dx = GradBuffer();
            for (int i = 0; i < dx.Length; i++)
            {
                double v = xs[i];
                double cdf = 0.5 * SpecialFunctions.Erfc(-v * SpecialFunctions.InvSqrt2);
                double pdf = Math.Exp(-0.5 * v * v) * SpecialFunctions.InvSqrt2Pi;
                dx[i] += (float)(dy[i] * (cdf + v * pdf));
            }
        });
    }

    /// <summary>softplus(x) = log(1 + eˣ), computed as max(x, 0) + log1p(e^(−|x|)) so it never overflows.</summary>
    public Var Softplus()
    {
        var y = NewTensor(Shape);
        var x = Data;
        var ys = y.AsSpan();
        for (int i = 0; i < ys.Length; i++)
            ys[i] = MathF.Max(x[i], 0f) + (float)Math.Log(1.0 + Math.Exp(-Math.Abs((double)x[i])));
        return Make(y, "softplus", [this], o =>
        {
            // forward: y = log(1 + eˣ)  ⇒  dx += dy ⊙ σ(x)
            var t = new float[Length];
            TensorPrimitives.Sigmoid(Data, t);
            var dx = GradBuffer();
            TensorPrimitives.FusedMultiplyAdd(o._grad!.AsSpan(), t, dx, dx);
        });
    }
}

/// <summary>Special functions the activations need and .NET lacks.</summary>
internal static class SpecialFunctions
{
    public const double InvSqrt2 = 0.70710678118654752440;
    public const double InvSqrt2Pi = 0.39894228040143267794;

    /// <summary>
    /// Complementary error function with relative error below 1.2e-7 everywhere: the Chebyshev-fitted
    /// form erfc(z) ≈ t·exp(−z² + P(t)), t = 1/(1 + z/2), of Press et al., Numerical Recipes §6.2,
    /// and erfc(−z) = 2 − erfc(z).
    /// </summary>
    public static double Erfc(double x)
    {
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                   t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                   t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2.0 - r;
    }
}
