using System.Numerics.Tensors;
using Attention.Kernels;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Autograd;

// Neural-network operations with fused forward/backward pairs (llm.c style): softmax, log-softmax,
// masked fill, layer norm, RMS norm, dropout.
public sealed partial class Var
{
    /// <summary>softmax along <paramref name="axis"/>: y = exp(x − max) / Σ exp(x − max). A slice of all −∞ gives zeros.</summary>
    public Var Softmax(int axis = -1) => SoftmaxCore(axis, log: false);

    /// <summary>log-softmax along <paramref name="axis"/>: y = x − logsumexp(x).</summary>
    public Var LogSoftmax(int axis = -1) => SoftmaxCore(axis, log: true);

    private Var SoftmaxCore(int axis, bool log)
    {
        int ax = NormalizeAxis(axis);
        SplitAt(ax, out int outer, out int n, out int inner);
        var y = NewTensor(Shape);
        // Softmax of an inner axis goes through the last axis: move it there, run the row kernel, move back.
        if (inner == 1)
        {
            if (log) Kernels.Softmax.LogRows(Data, y.AsSpan(), outer, n);
            else Kernels.Softmax.Rows(Data, y.AsSpan(), outer, n);
        }
        else
        {
            var rows = new float[Length];
            Value.Reshape(outer, n, inner).Permute(0, 2, 1).CopyTo(rows);
            if (log) Kernels.Softmax.LogRows(rows, rows, outer * inner, n);
            else Kernels.Softmax.Rows(rows, rows, outer * inner, n);
            Tensor.FromArray(rows, outer, inner, n).Permute(0, 2, 1).CopyTo(y.AsSpan());
        }
        return Make(y, log ? "log_softmax" : "softmax", [this], o =>
        {
            var dy = o._grad!.AsSpan();
            var ys = y.AsSpan();
            var dx = GradBuffer();
            if (inner == 1 && !log)
            {
                // forward: y = softmax(x) per row  ⇒  dx += y ⊙ (dy − y·dy), one SIMD pass per term
                var t = new float[n];
                for (int r = 0; r < outer; r++)
                {
                    var yr = ys.Slice(r * n, n); var dyr = dy.Slice(r * n, n); var dxr = dx.Slice(r * n, n);
                    TensorPrimitives.Subtract(dyr, TensorPrimitives.Dot(yr, dyr), t);
                    TensorPrimitives.FusedMultiplyAdd(yr, t, dxr, dxr);
                }
                return;
            }
            for (int a = 0; a < outer; a++)
                for (int i = 0; i < inner; i++)
                {
                    int b = a * n * inner + i;
                    if (!log)
                    {
                        // forward: y = softmax(x)  ⇒  dx += y ⊙ (dy − Σⱼ yⱼ·dyⱼ)
                        double dot = 0;
                        for (int j = 0; j < n; j++) dot += (double)ys[b + j * inner] * dy[b + j * inner];
                        for (int j = 0; j < n; j++) dx[b + j * inner] += ys[b + j * inner] * (dy[b + j * inner] - (float)dot);
                    }
                    else
                    {
                        // forward: y = x − logsumexp(x)  ⇒  dx += dy − exp(y)·Σⱼ dyⱼ
                        double sum = 0;
                        for (int j = 0; j < n; j++) sum += dy[b + j * inner];
                        for (int j = 0; j < n; j++)
                        {
                            float yj = ys[b + j * inner];
                            float p = float.IsNegativeInfinity(yj) ? 0f : MathF.Exp(yj);
                            dx[b + j * inner] += dy[b + j * inner] - p * (float)sum;
                        }
                    }
                }
        });
    }

    /// <summary>
    /// Replaces the entries where <paramref name="mask"/> is non-zero by <paramref name="value"/>
    /// (e.g. −∞ before a softmax). The mask broadcasts to this shape (causal (L, S) over (B, H, L, S),
    /// key padding (B, 1, 1, S)); filled entries receive no gradient.
    /// </summary>
    public Var MaskedFill(Tensor mask, float value)
    {
        ArgumentNullException.ThrowIfNull(mask);
        int[] shape = Shape.ToArray(), maskShape = mask.Shape.ToArray();
        if (!Broadcast.BroadcastsTo(maskShape, shape))
            throw new ArgumentException($"MaskedFill: mask of shape {Fmt(maskShape)} does not broadcast to {Fmt(shape)}", nameof(mask));
        // Expand the mask once to this shape (1 where filled), so forward and backward are two span passes.
        var keep = new float[Length];
        Broadcast.ExpandAdd(mask.Contiguous().AsSpan(), maskShape, keep, shape);
        for (int i = 0; i < keep.Length; i++) keep[i] = keep[i] != 0f ? 0f : 1f;
        var y = NewTensor(shape);
        var x = Data; var ys = y.AsSpan();
        for (int i = 0; i < ys.Length; i++) ys[i] = keep[i] == 0f ? value : x[i];
        return Make(y, "masked_fill", [this], o =>
        {
            // forward: y = mask ? value : x  ⇒  dx += dy where not masked
            var dx = GradBuffer();
            TensorPrimitives.FusedMultiplyAdd(o._grad!.AsSpan(), keep, dx, dx);
        });
    }

    /// <summary>
    /// Layer normalisation over the last axis (Ba, Kiros and Hinton, 2016):
    /// y = (x − mean) / √(var + ε) · γ + β, var the biased variance. x (…, D); γ and β (D) or null.
    /// </summary>
    public Var LayerNorm(Var? gamma, Var? beta, float eps = 1e-5f)
    {
        int d = CheckNormArgs(gamma, beta, "LayerNorm");
        int rows = d == 0 ? 0 : Length / d;
        var y = NewTensor(Shape);
        var mean = new float[rows];
        var rstd = new float[rows];
        var x = Data; var ys = y.AsSpan();
        var g = (gamma is null ? default : gamma.Data); var bt = (beta is null ? default : beta.Data);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            var yr = ys.Slice(r * d, d);
            float mu = TensorPrimitives.Sum(xr) / d;
            TensorPrimitives.Subtract(xr, mu, yr);
            float var = TensorPrimitives.Dot(yr, yr) / d;
            float s = 1f / MathF.Sqrt(var + eps);
            TensorPrimitives.Multiply(yr, s, yr);
            if (gamma is not null) TensorPrimitives.Multiply(yr, g, yr);
            if (beta is not null) TensorPrimitives.Add(yr, bt, yr);
            mean[r] = mu; rstd[r] = s;
        }
        Var[] parents = gamma is null ? (beta is null ? [this] : [this, beta]) : (beta is null ? [this, gamma] : [this, gamma, beta]);
        return Make(y, "layer_norm", parents, o =>
        {
            // forward: n = (x − μ)·rstd,  y = n ⊙ γ + β  ⇒
            //   dβ += Σ_rows dy,  dγ += Σ_rows dy ⊙ n,  dn = dy ⊙ γ,
            //   dx += rstd · (dn − mean(dn) − n · mean(dn ⊙ n))
            var dy = o._grad!.AsSpan();
            var xs = Data;
            var norm = new float[d];
            var dn = new float[d];
            Span<float> dg = gamma is not null && gamma.RequiresGrad ? gamma.GradBuffer() : default;
            Span<float> db = beta is not null && beta.RequiresGrad ? beta.GradBuffer() : default;
            Span<float> dx = RequiresGrad ? GradBuffer() : default;
            var gs = (gamma is null ? default : gamma.Data);
            for (int r = 0; r < rows; r++)
            {
                var dyr = dy.Slice(r * d, d);
                TensorPrimitives.Subtract(xs.Slice(r * d, d), mean[r], norm);
                TensorPrimitives.Multiply(norm, rstd[r], norm);
                if (!db.IsEmpty) TensorPrimitives.Add(db, dyr, db);
                if (!dg.IsEmpty) TensorPrimitives.FusedMultiplyAdd(dyr, norm, dg, dg);
                if (dx.IsEmpty) continue;
                if (gamma is not null) TensorPrimitives.Multiply(dyr, gs, dn); else dyr.CopyTo(dn);
                float meanDn = TensorPrimitives.Sum(dn) / d;
                float meanDnN = TensorPrimitives.Dot(dn, norm) / d;
                // dn ← dn − meanDn − n·meanDnN, then dx += rstd·dn
                TensorPrimitives.MultiplyAdd(norm, -meanDnN, dn, dn);
                TensorPrimitives.Subtract(dn, meanDn, dn);
                var dxr = dx.Slice(r * d, d);
                TensorPrimitives.MultiplyAdd(dn, rstd[r], dxr, dxr);
            }
        });
    }

    /// <summary>
    /// RMS normalisation over the last axis (Zhang and Sennrich, 2019): y = x / √(mean(x²) + ε) · γ.
    /// x (…, D); γ (D) or null.
    /// </summary>
    public Var RmsNorm(Var? gamma, float eps = 1e-6f)
    {
        int d = CheckNormArgs(gamma, null, "RmsNorm");
        int rows = d == 0 ? 0 : Length / d;
        var y = NewTensor(Shape);
        var rstd = new float[rows];
        var x = Data; var ys = y.AsSpan();
        var g = (gamma is null ? default : gamma.Data);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * d, d);
            float s = 1f / MathF.Sqrt(TensorPrimitives.Dot(xr, xr) / d + eps);
            var yr = ys.Slice(r * d, d);
            TensorPrimitives.Multiply(xr, s, yr);
            if (gamma is not null) TensorPrimitives.Multiply(yr, g, yr);
            rstd[r] = s;
        }
        Var[] parents = gamma is null ? [this] : [this, gamma];
        return Make(y, "rms_norm", parents, o =>
        {
            // forward: n = x·rstd, rstd = (mean(x²) + ε)^(−½),  y = n ⊙ γ  ⇒
            //   dγ += Σ_rows dy ⊙ n,  dn = dy ⊙ γ,  dx += rstd · (dn − n · mean(dn ⊙ n))
            var dy = o._grad!.AsSpan();
            var xs = Data;
            var norm = new float[d];
            var dn = new float[d];
            Span<float> dg = gamma is not null && gamma.RequiresGrad ? gamma.GradBuffer() : default;
            Span<float> dx = RequiresGrad ? GradBuffer() : default;
            var gs = (gamma is null ? default : gamma.Data);
            for (int r = 0; r < rows; r++)
            {
                var dyr = dy.Slice(r * d, d);
                TensorPrimitives.Multiply(xs.Slice(r * d, d), rstd[r], norm);
                if (!dg.IsEmpty) TensorPrimitives.FusedMultiplyAdd(dyr, norm, dg, dg);
                if (dx.IsEmpty) continue;
                if (gamma is not null) TensorPrimitives.Multiply(dyr, gs, dn); else dyr.CopyTo(dn);
                float meanDnN = TensorPrimitives.Dot(dn, norm) / d;
                TensorPrimitives.MultiplyAdd(norm, -meanDnN, dn, dn);
                var dxr = dx.Slice(r * d, d);
                TensorPrimitives.MultiplyAdd(dn, rstd[r], dxr, dxr);
            }
        });
    }

    private int CheckNormArgs(Var? gamma, Var? beta, string op)
    {
        if (Rank == 0) throw new ArgumentException($"{op} expects rank ≥ 1, got a scalar");
        int d = Shape[^1];
        if (gamma is not null && (gamma.Rank != 1 || gamma.Shape[0] != d))
            throw new ArgumentException($"{op}: expected gamma of shape ({d},) for input {Fmt(Shape)}, got {Fmt(gamma.Shape)}", nameof(gamma));
        if (beta is not null && (beta.Rank != 1 || beta.Shape[0] != d))
            throw new ArgumentException($"{op}: expected beta of shape ({d},) for input {Fmt(Shape)}, got {Fmt(beta.Shape)}", nameof(beta));
        return d;
    }

    /// <summary>
    /// Inverted dropout (Srivastava et al., 2014): each element is zeroed with probability
    /// <paramref name="p"/>, drawn from <paramref name="rng"/> in row-major order, and survivors are
    /// scaled by 1/(1 − p) so the expectation is unchanged. Identity when not
    /// <paramref name="training"/> or p = 0; p = 1 gives zeros.
    /// </summary>
    public Var Dropout(float p, Rng rng, bool training = true)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "expected a drop probability in [0, 1]");
        ArgumentNullException.ThrowIfNull(rng);
        if (!training || p == 0f) return this;
        float scale = p == 1f ? 0f : 1f / (1f - p);
        var keep = new float[Length];
        for (int i = 0; i < keep.Length; i++) keep[i] = rng.NextDouble() >= p ? scale : 0f;
        var y = NewTensor(Shape);
        TensorPrimitives.Multiply(Data, keep, y.AsSpan());
        return Make(y, "dropout", [this], o =>
        {
            // forward: y = x ⊙ keep, keep ∈ {0, 1/(1−p)}  ⇒  dx += dy ⊙ keep
            var dx = GradBuffer();
            TensorPrimitives.FusedMultiplyAdd(o._grad!.AsSpan(), keep, dx, dx);
        });
    }
}
