using Attention.Tensors;

namespace Attention.Tests.Tensors;

public class TensorTests
{
    private static Tensor Arange(params int[] shape)
    {
        var t = Tensor.Zeros(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = i;
        return t;
    }

    [Fact]
    public void Indexer_FollowsRowMajorLayout()
    {
        var t = Arange(2, 3, 4);
        Assert.Equal(1 * 12 + 2 * 4 + 3, t[1, 2, 3]);
        Assert.Equal(new[] { 12, 4, 1 }, t.Strides.ToArray());
    }

    [Fact]
    public void Transpose_IsAViewThatSharesStorage()
    {
        var t = Arange(2, 3);
        var tt = t.Transpose();
        Assert.Same(t.Storage, tt.Storage);
        Assert.Equal(new[] { 3, 2 }, tt.Shape.ToArray());
        Assert.False(tt.IsContiguous);
        tt[2, 1] = -7f;
        Assert.Equal(-7f, t[1, 2]);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, -7 }, tt.ToArray());
    }

    [Fact]
    public void Permute_MovesAxesLikeNumpyTranspose()
    {
        var t = Arange(2, 3, 4);
        var p = t.Permute(2, 0, 1);
        Assert.Equal(new[] { 4, 2, 3 }, p.Shape.ToArray());
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 4; c++)
                    Assert.Equal(t[a, b, c], p[c, a, b]);
    }

    [Fact]
    public void Reshape_OfContiguous_IsAView_AndInfersMinusOne()
    {
        var t = Arange(2, 6);
        var r = t.Reshape(3, -1);
        Assert.Same(t.Storage, r.Storage);
        Assert.Equal(new[] { 3, 4 }, r.Shape.ToArray());
        r[2, 3] = 100f;
        Assert.Equal(100f, t[1, 5]);
    }

    [Fact]
    public void Reshape_OfTransposed_CopiesInLogicalOrder()
    {
        var t = Arange(2, 3);
        var r = t.Transpose().Reshape(6);
        Assert.NotSame(t.Storage, r.Storage);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, r.ToArray());
    }

    [Fact]
    public void Narrow_IsAViewWithOffset()
    {
        var t = Arange(4, 5);
        var n = t.Narrow(1, 1, 3);
        Assert.Same(t.Storage, n.Storage);
        Assert.Equal(new[] { 4, 3 }, n.Shape.ToArray());
        Assert.Equal(t[2, 3], n[2, 2]);
        n.Fill(-1f);
        Assert.Equal(-1f, t[3, 1]);
        Assert.Equal(4f, t[0, 4]); // outside the narrowed window, untouched
        Assert.Equal(0f, t[0, 0]);
    }

    [Fact]
    public void Select_DropsAxis_AndContiguousCopiesOnlyWhenNeeded()
    {
        var t = Arange(3, 4);
        var row = t.Select(0, 1);
        Assert.True(row.IsContiguous);
        Assert.Same(row, row.Contiguous());
        Assert.Equal(new float[] { 4, 5, 6, 7 }, row.ToArray());
        var col = t.Select(1, 2);
        Assert.False(col.IsContiguous);
        var c = col.Contiguous();
        Assert.NotSame(t.Storage, c.Storage);
        Assert.Equal(new float[] { 2, 6, 10 }, c.ToArray());
    }

    [Fact]
    public void FromArray_WrongLength_ThrowsNamingBothSizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("6", ex.Message);
        Assert.Contains("5", ex.Message);
    }

    [Fact]
    public void Reshape_IncompatibleShape_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => Arange(2, 3).Reshape(4, 2));
        Assert.Contains("(2, 3)", ex.Message);
        Assert.Contains("(4, 2)", ex.Message);
    }

    [Fact]
    public void Indexer_OutOfRange_Throws()
    {
        var t = Arange(2, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => t[2, 0]);
        Assert.Throws<ArgumentException>(() => t[1]);
    }

    [Fact]
    public void Permute_NotAPermutation_Throws() =>
        Assert.Throws<ArgumentException>(() => Arange(2, 3, 4).Permute(0, 0, 1));

    [Fact]
    public void EnsureShape_Mismatch_NamesExpectedAndActual()
    {
        var ex = Assert.Throws<ArgumentException>(() => Arange(2, 3).EnsureShape("query", 3, 2));
        Assert.Contains("expected query of shape (3, 2), got (2, 3)", ex.Message);
    }

    [Fact]
    public void ToString_SmallTensor_PrintsEveryValueInBrackets()
    {
        var s = Arange(2, 3).ToString();
        Assert.Equal("tensor([[0, 1, 2],\n        [3, 4, 5]], shape=(2, 3))", s);
    }

    [Fact]
    public void ToString_LargeTensor_IsElided()
    {
        var s = Arange(100, 100).ToString();
        Assert.Contains("...", s);
        Assert.Contains("9999", s);
        Assert.DoesNotContain("5050", s);
        Assert.True(s.Length < 2000, $"elided text should be short, was {s.Length} chars");
    }

    [Fact]
    public void Scalar_HasRankZeroAndOneElement()
    {
        var t = Tensor.Full(3.5f);
        Assert.Equal(0, t.Rank);
        Assert.Equal(1, t.Length);
        Assert.Equal(3.5f, t[Array.Empty<int>()]);
    }
}
