using Attention.Onnx;

namespace Attention.Tests.Models;

/// <summary>Our ONNX writer: what it writes reads back through our reader and runs in ONNX Runtime; bad graphs fail when built.</summary>
public class OnnxGraphBuilderTests
{
    private static readonly float[] W = [1, 2, 3, 4, 5, 6];   // (2, 3)
    private static readonly float[] B = [0.5f, -1, 2];

    private static OnnxGraphBuilder Affine()
    {
        var g = new OnnxGraphBuilder("affine");
        var x = g.AddInput("x", OnnxTensor.Float, "batch", 2);
        var y = g.AddNode("Add", [g.AddNode("MatMul", [x, g.AddInitializer("w", W, 2, 3)]), g.AddInitializer("b", B, 3)]);
        var p = g.AddNode("Softmax", [y], "p", OnnxAttributeValue.Int("axis", -1));
        g.AddOutput(y, OnnxTensor.Float, "batch", 3);
        g.AddOutput(p, OnnxTensor.Float, "batch", 3);
        return g;
    }

    [Fact]
    public void WrittenGraph_ReadsBack_WithInputsOutputsInitializersAndAttributes()
    {
        var m = OnnxModel.Parse(Affine().ToBytes());
        Assert.Equal(8, m.IrVersion);
        Assert.Equal(("", 17L), Assert.Single(m.Opsets));
        var input = Assert.Single(m.Graph.Inputs);
        Assert.Equal(("x", OnnxTensor.Float), (input.Name, input.ElementType));
        Assert.Equal(new long?[] { null, 2 }, input.Shape);                // symbolic "batch" reads back as unknown
        Assert.Equal(2, m.Graph.Outputs.Count);
        Assert.Equal(W, m.Graph.Initializers["w"].ToFloats());
        Assert.Equal(new long[] { 2, 3 }, m.Graph.Initializers["w"].Dims);
        Assert.Equal(["MatMul", "Add", "Softmax"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(-1L, m.Graph.Nodes[2].Attributes["axis"].Int);
    }

    [Fact]
    public void WrittenGraph_RunsInOnnxRuntime_AndComputesXTimesWPlusB()
    {
        using var session = OnnxExportTests.Session(Affine().ToBytes());
        using var x = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new float[] { 1, -1, 0.5f, 2 }, new long[] { 2, 2 });
        using var run = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var results = session.Run(run, ["x"], [x], ["Add_0"]);
        // [1, −1]·W + b = [1−4, 2−5, 3−6] + b;  [0.5, 2]·W + b = [0.5+8, 1+10, 1.5+12] + b
        Assert.Equal(new[] { -2.5f, -4f, -1f, 9f, 10f, 15.5f }, results[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Node_ReadingAValueThatDoesNotExist_Throws_NamingIt()
    {
        var g = new OnnxGraphBuilder("g");
        g.AddInput("x", OnnxTensor.Float, 1);
        var e = Assert.Throws<ArgumentException>(() => g.AddNode("Relu", ["y"]));
        Assert.Contains("\"y\"", e.Message);
    }

    [Fact]
    public void Names_AreUsedOnce()
    {
        var g = new OnnxGraphBuilder("g");
        var x = g.AddInput("x", OnnxTensor.Float, 1);
        Assert.Throws<ArgumentException>(() => g.AddInitializer("x", [1f], 1));
        Assert.Throws<ArgumentException>(() => g.AddNode("Relu", [x], "x"));
        Assert.Throws<ArgumentException>(() => g.AddNode("Relu", [x], null, OnnxAttributeValue.Int("a", 1), OnnxAttributeValue.Int("a", 2)));
    }

    [Fact]
    public void Initializer_WhoseDataDoesNotFillItsDims_Throws_NamingBoth()
    {
        var e = Assert.Throws<ArgumentException>(() => new OnnxGraphBuilder("g").AddInitializer("w", [1f, 2f, 3f], 2, 2));
        Assert.Contains("[2, 2]", e.Message);
        Assert.Contains("got 3", e.Message);
    }

    [Fact]
    public void Graph_WithoutOutputs_CannotBeWritten()
    {
        var g = new OnnxGraphBuilder("g");
        g.AddInput("x", OnnxTensor.Float, 1);
        Assert.Throws<InvalidOperationException>(() => g.ToBytes());
        Assert.Throws<ArgumentException>(() => g.AddOutput("nothing", OnnxTensor.Float));
    }
}
