using Attention.Peers;

namespace Attention.Tests.Peers;

public class OnnxModelWriterTests
{
    [Fact]
    public void ProtoWriter_Varint_EncodesSevenBitGroupsLeastSignificantFirst()
    {
        // protobuf's own example: field 1 = 150 is 08 96 01; 300 is AC 02
        Assert.Equal(new byte[] { 0x08, 0x96, 0x01 }, new ProtoWriter().Varint(1, 150).ToArray());
        Assert.Equal(new byte[] { 0x10, 0xAC, 0x02 }, new ProtoWriter().Varint(2, 300).ToArray());
    }

    [Fact]
    public void ProtoWriter_FloatAndString_UseFixed32AndLengthDelimitedWireTypes()
    {
        Assert.Equal(new byte[] { 0x15, 0x00, 0x00, 0x80, 0x3F }, new ProtoWriter().Float(2, 1f).ToArray());
        Assert.Equal(new byte[] { 0x0A, 0x02, (byte)'h', (byte)'i' }, new ProtoWriter().String(1, "hi").ToArray());
    }

    [Fact]
    public void SingleNodeModel_RejectsNegativeDimension_NamingTheTensor()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxModelWriter.SingleNodeModel("Relu", "",
            [new OnnxTensorInfo("x", [1, -3])], [new OnnxTensorInfo("y", [1, 3])], []));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("-3", e.Message);
    }
}
