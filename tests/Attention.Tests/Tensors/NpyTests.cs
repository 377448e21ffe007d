using System.Buffers.Binary;
using System.Text;
using Attention.Tensors;

namespace Attention.Tests.Tensors;

public class NpyTests
{
    // Built by hand from the spec (numpy/lib/format.py, "Format Version 1.0"): magic, version 1.0,
    // little-endian uint16 header length, dict literal padded with spaces to end in '\n' at 64 bytes.
    private static byte[] HandBuiltNpy(string dict, byte[] data, int major = 1)
    {
        int prefix = major == 1 ? 10 : 12;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        var header = dict + new string(' ', total - prefix - dict.Length - 1) + "\n";
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1) { var l = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(l, (ushort)header.Length); ms.Write(l); }
        else { var l = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(l, (uint)header.Length); ms.Write(l); }
        ms.Write(Encoding.ASCII.GetBytes(header));
        ms.Write(data);
        return ms.ToArray();
    }

    private static byte[] F4(params float[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), v[i]);
        return b;
    }

    [Fact]
    public void Write_ProducesExactlyTheSpecBytes()
    {
        var t = Tensor.FromArray([1f, -2.5f, 3f, float.NaN, 0f, 1e-30f], 2, 3);
        var ms = new MemoryStream();
        Npy.Write(ms, t);
        var expected = HandBuiltNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", F4(1f, -2.5f, 3f, float.NaN, 0f, 1e-30f));
        Assert.Equal(expected, ms.ToArray());
        Assert.Equal(0, (ms.Length - 24) % 64); // header is 64 bytes; data follows
    }

    [Fact]
    public void Write_OneDimensional_UsesTrailingCommaTuple()
    {
        var ms = new MemoryStream();
        Npy.Write(ms, Tensor.FromArray([7f], 1));
        Assert.Equal(HandBuiltNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", F4(7f)), ms.ToArray());
    }

    [Fact]
    public void RoundTrip_IsBitExact_IncludingTransposedViews()
    {
        var t = new Rng(5).NormalTensor([7, 3, 5]);
        var view = t.Permute(2, 0, 1);
        var ms = new MemoryStream();
        Npy.Write(ms, view);
        ms.Position = 0;
        var back = Npy.Read(ms);
        Assert.Equal(view.Shape.ToArray(), back.Shape.ToArray());
        var a = view.ToArray(); var b = back.ToArray();
        for (int i = 0; i < a.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(a[i]), BitConverter.SingleToInt32Bits(b[i]));
    }

    [Fact]
    public void Read_Version2Header_AndScalarShape()
    {
        var bytes = HandBuiltNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", F4(4.25f), major: 2);
        var t = Npy.Read(new MemoryStream(bytes));
        Assert.Equal(0, t.Rank);
        Assert.Equal(4.25f, t[Array.Empty<int>()]);
    }

    [Fact]
    public void Read_Float64_ConvertsToFloat32()
    {
        var data = new byte[16];
        BinaryPrimitives.WriteDoubleLittleEndian(data, 0.1);
        BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(8), -1e300);
        var t = Npy.Read(new MemoryStream(HandBuiltNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", data)));
        Assert.Equal(0.1f, t[0]);
        Assert.Equal(float.NegativeInfinity, t[1]);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", "fortran_order")]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "big-endian")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", "'<i4'")]
    [InlineData("{'descr': '<f4', 'shape': (2,), }", "fortran_order")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "'x'")]
    public void Read_UnsupportedHeader_ThrowsNamingTheProblem(string dict, string mention)
    {
        var ex = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(HandBuiltNpy(dict, F4(1f, 2f)))));
        Assert.Contains(mention, ex.Message);
    }

    [Fact]
    public void Read_TruncatedData_ThrowsWithExpectedAndActualBytes()
    {
        var bytes = HandBuiltNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", F4(1f, 2f, 3f));
        var ex = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(bytes)));
        Assert.Contains("needs 24 bytes, got 12", ex.Message);
    }

    [Fact]
    public void Read_BadMagicOrTruncatedHeader_Throws()
    {
        Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(Encoding.ASCII.GetBytes("PK\x03\x04 not an npy file"))));
        var good = HandBuiltNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", F4(1f));
        var ex = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(good[..30])));
        Assert.Contains("header", ex.Message);
    }

    [Fact]
    public void Read_UnknownVersion_Throws()
    {
        var bytes = HandBuiltNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", F4(1f));
        bytes[6] = 9;
        var ex = Assert.Throws<InvalidDataException>(() => Npy.Read(new MemoryStream(bytes)));
        Assert.Contains("9.0", ex.Message);
    }
}
