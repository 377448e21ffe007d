using Attention.Autograd;
using Attention.Tensors;
using static Attention.Tests.Autograd.GradCheck;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Tests.Autograd;

/// <summary>Every op's backward against central finite differences (see <see cref="GradCheck"/> for the method and tolerances).</summary>
public class OpGradientTests
{
    // A fresh generator per test (xunit makes one instance per test), so inputs do not depend on test order.
    private readonly Rng _rng = new(2026);

    // ---- matmul ----

    [Fact]
    public void Matmul_BackwardMatchesFiniteDifferences_Plain_Odd() =>
        Check(v => v[0].MatMul(v[1]), [Normal(_rng, 5, 7), Normal(_rng, 7, 3)]);

    [Fact]
    public void Matmul_BackwardMatchesFiniteDifferences_TransposedA_Odd() =>
        Check(v => v[0].MatMul(v[1], transposeA: true), [Normal(_rng, 7, 5), Normal(_rng, 7, 3)]);

    [Fact]
    public void Matmul_BackwardMatchesFiniteDifferences_TransposedB_Odd() =>
        Check(v => v[0].MatMul(v[1], transposeB: true), [Normal(_rng, 5, 7), Normal(_rng, 3, 7)]);

    [Fact]
    public void Matmul_BackwardMatchesFiniteDifferences_BothTransposed_Odd() =>
        Check(v => v[0].MatMul(v[1], true, true), [Normal(_rng, 7, 5), Normal(_rng, 3, 7)]);

    [Fact]
    public void BatchedMatmul_BackwardMatchesFiniteDifferences_Odd() =>
        Check(v => v[0].MatMul(v[1]), [Normal(_rng, 3, 5, 7), Normal(_rng, 3, 7, 4)]);

    [Fact]
    public void BatchedMatmul_BackwardMatchesFiniteDifferences_TwoBatchAxesTransposedB() =>
        Check(v => v[0].MatMul(v[1], transposeB: true), [Normal(_rng, 2, 3, 5, 7), Normal(_rng, 2, 3, 4, 7)]);

    [Fact]
    public void BatchedMatmul_BackwardMatchesFiniteDifferences_TransposedABatched() =>
        Check(v => v[0].MatMul(v[1], transposeA: true), [Normal(_rng, 3, 7, 5), Normal(_rng, 3, 7, 4)]);

    [Fact]
    public void Matmul_SharedWeight_BackwardSumsOverBatch() =>
        Check(v => v[0].MatMul(v[1]), [Normal(_rng, 3, 5, 7), Normal(_rng, 7, 4)]);

    [Fact]
    public void Matmul_SharedWeightTransposed_BackwardSumsOverBatch() =>
        Check(v => v[0].MatMul(v[1], transposeB: true), [Normal(_rng, 3, 5, 7), Normal(_rng, 4, 7)]);

    [Fact]
    public void Matmul_SharedWeightWithTransposedBatchedA_BackwardSumsOverBatch() =>
        Check(v => v[0].MatMul(v[1], transposeA: true), [Normal(_rng, 3, 7, 5), Normal(_rng, 7, 4)]);

    [Fact]
    public void Matmul_SharedLeftMatrix_BackwardSumsOverBatch() =>
        Check(v => v[0].MatMul(v[1]), [Normal(_rng, 5, 7), Normal(_rng, 3, 7, 4)]);

    // ---- binary with broadcasting ----

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(2)] [InlineData(3)]
    public void Binary_BackwardMatchesFiniteDifferences_SameShape(int op) =>
        Check(v => Apply(op, v[0], v[1]), [Normal(_rng, 3, 7), Positive(op, 3, 7)]);

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(2)] [InlineData(3)]
    public void Binary_BackwardMatchesFiniteDifferences_BroadcastBothSides(int op) =>
        Check(v => Apply(op, v[0], v[1]), [Normal(_rng, 3, 1, 5), Positive(op, 4, 1)]);

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(2)] [InlineData(3)]
    public void Binary_BackwardMatchesFiniteDifferences_BiasOverLastAxis(int op) =>
        Check(v => Apply(op, v[0], v[1]), [Normal(_rng, 2, 3, 7), Positive(op, 7)]);

    [Theory]
    [InlineData(0)] [InlineData(1)] [InlineData(2)] [InlineData(3)]
    public void Binary_BackwardMatchesFiniteDifferences_ScalarLeft(int op) =>
        Check(v => Apply(op, v[1], v[0]), [Positive(op, 5, 3), Normal(_rng, 1)]);

    [Fact]
    public void ScalarOps_BackwardMatchesFiniteDifferences() =>
        Check(v => ((2f - v[0] * 3f + 1.5f) / 4f - (-v[0])) * v[0], [Normal(_rng, 3, 5)]);

    private static Var Apply(int op, Var a, Var b) => op switch { 0 => a + b, 1 => a - b, 2 => a * b, _ => a / b };

    // Divisors stay in [0.5, 2] so 1/b is smooth over the step.
    private Tensor Positive(int op, params int[] shape) => op == 3 ? Uniform(_rng, 0.5f, 2f, shape) : Normal(_rng, shape);

    // ---- reductions ----

    [Fact]
    public void Sum_BackwardMatchesFiniteDifferences_AllAxes() => Check(v => v[0].Sum(), [Normal(_rng, 3, 5)]);

    [Fact]
    public void Sum_BackwardMatchesFiniteDifferences_MiddleAxis() => Check(v => v[0].Sum(1), [Normal(_rng, 3, 5, 7)]);

    [Fact]
    public void Sum_BackwardMatchesFiniteDifferences_TwoAxesKeepDim() => Check(v => v[0].Sum([0, 2], keepDim: true), [Normal(_rng, 3, 5, 7)]);

    [Fact]
    public void Mean_BackwardMatchesFiniteDifferences_LastAxis() => Check(v => v[0].Mean(-1), [Normal(_rng, 3, 5, 7)]);

    [Fact]
    public void Mean_BackwardMatchesFiniteDifferences_All() => Check(v => v[0].Mean() * 20f, [Normal(_rng, 3, 7)]);

    [Fact]
    public void Max_BackwardMatchesFiniteDifferences_MiddleAxis() => Check(v => v[0].Max(1), [Distinct(_rng, 3, 5, 7)]);

    [Fact]
    public void Max_BackwardMatchesFiniteDifferences_LastAxisKeepDim() => Check(v => v[0].Max(-1, keepDim: true), [Distinct(_rng, 5, 7)]);

    [Fact]
    public void Max_BackwardMatchesFiniteDifferences_AllElements() => Check(v => v[0].Max() * v[0].Sum(), [Distinct(_rng, 3, 5)]);

    // ---- shape and indexing ----

    [Fact]
    public void Reshape_BackwardMatchesFiniteDifferences() => Check(v => v[0].Reshape(5, -1) * v[1], [Normal(_rng, 3, 5, 7), Normal(_rng, 5, 21)]);

    [Fact]
    public void Transpose_BackwardMatchesFiniteDifferences() => Check(v => v[0].Transpose(0, 2), [Normal(_rng, 3, 5, 7)]);

    [Fact]
    public void Permute_BackwardMatchesFiniteDifferences() => Check(v => v[0].Permute(1, 3, 0, 2), [Normal(_rng, 2, 3, 5, 7)]);

    [Fact]
    public void Slice_BackwardMatchesFiniteDifferences_MiddleAxis() => Check(v => v[0].Slice(1, 2, 3), [Normal(_rng, 3, 7, 5)]);

    [Fact]
    public void Concat_BackwardMatchesFiniteDifferences_MiddleAxis() =>
        Check(v => Var.Concat([v[0], v[1], v[0]], 1), [Normal(_rng, 3, 2, 5), Normal(_rng, 3, 4, 5)]);

    [Fact]
    public void Stack_BackwardMatchesFiniteDifferences_LastAxis() =>
        Check(v => Var.Stack([v[0], v[1]], -1), [Normal(_rng, 3, 5), Normal(_rng, 3, 5)]);

    [Fact]
    public void IndexSelect_BackwardMatchesFiniteDifferences_RepeatedIndices() =>
        Check(v => v[0].IndexSelect(1, [4, 0, 4, 2]), [Normal(_rng, 3, 5, 7)]);

    [Fact]
    public void Embedding_BackwardMatchesFiniteDifferences_RepeatedIds() =>
        Check(v => Var.Embedding(v[0], [1, 6, 1, 0, 3, 6], 2, 3), [Normal(_rng, 7, 5)]);

    [Fact]
    public void Gather_BackwardMatchesFiniteDifferences_MiddleAxis() =>
        Check(v => v[0].Gather(1, [0, 4, 4, 1, 2, 3, 0, 0, 4, 2, 1, 3, 3, 2, 1, 1, 4, 0]), [Normal(_rng, 3, 5, 2)]);

    // ---- unary ----

    [Fact]
    public void Exp_BackwardMatchesFiniteDifferences() => Check(v => v[0].Exp(), [Normal(_rng, 3, 7)]);

    [Fact]
    public void Log_BackwardMatchesFiniteDifferences() => Check(v => v[0].Log(), [Uniform(_rng, 0.5f, 3f, 3, 7)]);

    [Fact]
    public void Sqrt_BackwardMatchesFiniteDifferences() => Check(v => v[0].Sqrt(), [Uniform(_rng, 0.5f, 3f, 3, 7)]);

    [Fact]
    public void Square_BackwardMatchesFiniteDifferences() => Check(v => v[0].Square(), [Normal(_rng, 3, 7)]);

    [Fact]
    public void Tanh_BackwardMatchesFiniteDifferences() => Check(v => v[0].Tanh(), [Normal(_rng, 3, 7)]);

    [Fact]
    public void Sigmoid_BackwardMatchesFiniteDifferences() => Check(v => v[0].Sigmoid(), [Normal(_rng, 3, 7)]);

    [Fact]
    public void Relu_BackwardMatchesFiniteDifferences_AwayFromKink() => Check(v => v[0].Relu(), [AwayFromZero(_rng, 0.05f, 3, 7)]);

    [Fact]
    public void Gelu_BackwardMatchesFiniteDifferences() => Check(v => v[0].Gelu(), [Scaled(Normal(_rng, 5, 7), 2f)]);

    [Fact]
    public void Softplus_BackwardMatchesFiniteDifferences() => Check(v => v[0].Softplus(), [Scaled(Normal(_rng, 5, 7), 3f)]);

    private static Tensor Scaled(Tensor t, float s)
    {
        var a = t.AsSpan();
        for (int i = 0; i < a.Length; i++) a[i] *= s;
        return t;
    }

    // ---- softmax and friends ----

    [Fact]
    public void Softmax_BackwardMatchesFiniteDifferences_LastAxis() => Check(v => v[0].Softmax(), [Normal(_rng, 3, 7)]);

    [Fact]
    public void Softmax_BackwardMatchesFiniteDifferences_MiddleAxis() => Check(v => v[0].Softmax(1), [Normal(_rng, 3, 5, 2)]);

    [Fact]
    public void LogSoftmax_BackwardMatchesFiniteDifferences_LastAxis() => Check(v => v[0].LogSoftmax(), [Normal(_rng, 3, 7)]);

    [Fact]
    public void LogSoftmax_BackwardMatchesFiniteDifferences_FirstAxis() => Check(v => v[0].LogSoftmax(0), [Normal(_rng, 5, 3)]);

    [Fact]
    public void MaskedFill_ThenSoftmax_BackwardMatchesFiniteDifferences_CausalMaskBroadcast()
    {
        // (L, S) = (5, 7), bottom-right causal: query i sees keys j ≤ i + 2.
        var mask = Tensor.Zeros(5, 7);
        for (int i = 0; i < 5; i++) for (int j = i + 3; j < 7; j++) mask[i, j] = 1f;
        Check(v => v[0].MaskedFill(mask, float.NegativeInfinity).Softmax(), [Normal(_rng, 2, 5, 7)]);
    }

    [Fact]
    public void MaskedFill_BackwardMatchesFiniteDifferences_FiniteFill() =>
        Check(v => v[0].MaskedFill(Tensor.FromArray([1f, 0f, 0f, 1f, 0f], 5), -3f), [Normal(_rng, 3, 5)]);

    [Fact]
    public void MaskedFill_BackwardMatchesFiniteDifferences_KeyPaddingMaskBroadcast()
    {
        // key padding (B, 1, S): batch 0 sees 4 keys, batch 1 sees 2.
        var mask = Tensor.FromArray([0f, 0f, 0f, 0f, 1f, 0f, 0f, 1f, 1f, 1f], 2, 1, 5);
        Check(v => v[0].MaskedFill(mask, -1e9f).Softmax(), [Normal(_rng, 2, 3, 5)]);
    }

    [Fact]
    public void RankZeroOperand_BroadcastsAndReceivesSummedGradient() =>
        Check(v => v[0] * v[1].Sum() + v[1].Sum(), [Normal(_rng, 3, 5), Normal(_rng, 2)]);

    [Fact]
    public void LayerNorm_BackwardMatchesFiniteDifferences_Affine() =>
        Check(v => v[0].LayerNorm(v[1], v[2]), [Normal(_rng, 3, 7), Normal(_rng, 7), Normal(_rng, 7)]);

    [Fact]
    public void LayerNorm_BackwardMatchesFiniteDifferences_NoAffine() => Check(v => v[0].LayerNorm(null, null), [Normal(_rng, 2, 3, 9)]);

    [Fact]
    public void RmsNorm_BackwardMatchesFiniteDifferences_Affine() => Check(v => v[0].RmsNorm(v[1]), [Normal(_rng, 3, 7), Normal(_rng, 7)]);

    [Fact]
    public void RmsNorm_BackwardMatchesFiniteDifferences_NoAffine() => Check(v => v[0].RmsNorm(null), [Normal(_rng, 5, 9)]);

    [Fact]
    public void Dropout_BackwardMatchesFiniteDifferences_FixedSeed() =>
        Check(v => v[0].Dropout(0.3f, new Rng(11)), [Normal(_rng, 5, 7)]);

    // ---- losses ----

    [Fact]
    public void CrossEntropy_BackwardMatchesFiniteDifferences_Plain() =>
        Check(v => Var.CrossEntropy(v[0], [2, 0, 6, 3, 3]), [Normal(_rng, 5, 7)]);

    [Fact]
    public void CrossEntropy_BackwardMatchesFiniteDifferences_IgnoreIndexAndSmoothing() =>
        Check(v => Var.CrossEntropy(v[0], [2, -100, 6, 3, -100, 1], labelSmoothing: 0.1f), [Normal(_rng, 2, 3, 7)]);

    [Fact]
    public void Mse_BackwardMatchesFiniteDifferences_BothInputs() => Check(v => Var.Mse(v[0], v[1]), [Normal(_rng, 3, 7), Normal(_rng, 3, 7)]);

    [Fact]
    public void BinaryCrossEntropyWithLogits_BackwardMatchesFiniteDifferences() =>
        Check(v => Var.BinaryCrossEntropyWithLogits(v[0], v[1]), [Scaled(Normal(_rng, 3, 7), 3f), Uniform(_rng, 0f, 1f, 3, 7)]);

    // ---- rows longer than a SIMD vector, so the TensorPrimitives tails in the backwards run ----

    [Fact]
    public void LayerNorm_BackwardMatchesFiniteDifferences_D129() =>
        Check(v => v[0].LayerNorm(v[1], v[2]), [Normal(_rng, 2, 129), Normal(_rng, 129), Normal(_rng, 129)]);

    [Fact]
    public void Relu_BackwardMatchesFiniteDifferences_129() => Check(v => v[0].Relu(), [AwayFromZero(_rng, 0.05f, 129)]);

    [Fact]
    public void Softmax_BackwardMatchesFiniteDifferences_Row127() => Check(v => v[0].Softmax() * 10f, [Normal(_rng, 2, 127)]);

    [Fact]
    public void CrossEntropy_BackwardMatchesFiniteDifferences_C63() =>
        Check(v => Var.CrossEntropy(v[0], [62, 0, 31], labelSmoothing: 0.05f) * 10f, [Normal(_rng, 3, 63)]);

    [Fact]
    public void Binary_BackwardMatchesFiniteDifferences_BiasOverLastAxis_D129() =>
        Check(v => v[0] * v[1] - v[1], [Normal(_rng, 3, 129), Normal(_rng, 129)]);

    // ---- a composite: one attention head written with the ops ----

    [Fact]
    public void ComposedAttention_BackwardMatchesFiniteDifferences() =>
        Check(v => v[0].MatMul(v[1], transposeB: true).Softmax().MatMul(v[2]) * 0.5f,
              [Normal(_rng, 2, 5, 3), Normal(_rng, 2, 7, 3), Normal(_rng, 2, 7, 3)]);
}
