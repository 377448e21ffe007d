using Attention.Onnx;
using Attention.Peers;
using PeerAttribute = Attention.Peers.OnnxAttribute;
using PeerProto = Attention.Peers.ProtoWriter;

namespace Attention.Tests.Models;

/// <summary>Our ONNX reader on models written by an independent writer (the Peers' protobuf writer).</summary>
public class OnnxReaderTests
{
    [Fact]
    public void Reader_RecoversNodeAttributesInputsAndShapes_FromTheWritersModel()
    {
        var bytes = OnnxModelWriter.SingleNodeModel("Attention", "com.microsoft",
            [new OnnxTensorInfo("q", [1, 4, 8]), new OnnxTensorInfo("k", [1, 4, 8])],
            [new OnnxTensorInfo("out", [1, 4, 8])],
            [PeerAttribute.Of("num_heads", 2L), PeerAttribute.Of("scale", 0.25f), PeerAttribute.Of("mode", "fast")]);
        var model = OnnxModel.Parse(bytes);
        Assert.Equal(OnnxModelWriter.IrVersion, model.IrVersion);
        Assert.Contains(("com.microsoft", 1L), model.Opsets);
        var node = Assert.Single(model.Graph.Nodes);
        Assert.Equal(("Attention", "com.microsoft"), (node.OpType, node.Domain));
        Assert.Equal(["q", "k"], node.Inputs);
        Assert.Equal(["out"], node.Outputs);
        Assert.Equal(2L, node.Attributes["num_heads"].Int);
        Assert.Equal(0.25f, node.Attributes["scale"].Float);
        Assert.Equal("fast", System.Text.Encoding.UTF8.GetString(node.Attributes["mode"].Bytes!));
        Assert.Equal([1L, 4L, 8L], model.Graph.Inputs[1].Shape.Select(d => d!.Value));
        Assert.Equal(1, model.Graph.Outputs[0].ElementType);
    }

    [Fact]
    public void Initializers_ReadFromRawData_PackedFloatData_AndInt64Data_Alike()
    {
        float[] values = [1.5f, -2f, 0.25f, 8f, 3f, -0.5f];
        var raw = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        var floatBody = raw;   // a packed repeated float field's body is the values' little-endian bytes

        var graph = new PeerProto().String(2, "g");
        // TensorProto: dims = 1 (repeated int64), data_type = 2, name = 8, raw_data = 9, float_data = 4, int64_data = 7
        graph.Message(5, new PeerProto().Varint(1, 2).Varint(1, 3).Varint(2, 1).String(8, "raw").Bytes(9, raw));
        graph.Message(5, new PeerProto().Varint(1, 2).Varint(1, 3).Varint(2, 1).String(8, "packed").Bytes(4, floatBody));
        var longs = new PeerProto();
        foreach (long v in new long[] { 12, 32, -1 }) longs.Varint(7, v);   // unpacked repeated int64
        graph.Message(5, longs.Varint(1, 3).Varint(2, 7).String(8, "shape"));
        var model = new PeerProto().Varint(1, 8).Message(7, graph).ToArray();

        var g = OnnxModel.Parse(model).Graph;
        Assert.Equal(values, g.Initializers["raw"].ToFloats());
        Assert.Equal(values, g.Initializers["packed"].ToFloats());
        Assert.Equal(new[] { 2, 3 }, g.Initializers["packed"].ToTensor().Shape.ToArray());
        Assert.Equal([12L, 32L, -1L], g.Initializers["shape"].ToInt64s());
    }

    [Fact]
    public void AnInitializerWhoseDataDisagreesWithItsDims_IsRejected()
    {
        var graph = new PeerProto().Message(5, new PeerProto().Varint(1, 4).Varint(2, 1).String(8, "w").Bytes(9, new byte[12]));
        var model = new PeerProto().Varint(1, 8).Message(7, graph).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(model));
        Assert.Contains("\"w\"", e.Message);
        Assert.Contains("16 bytes", e.Message);
    }
}
