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

    // ---------- subgraphs (control flow) ----------

    /// <summary>acc ← acc ⊙ w three times in a Loop whose body reads w from the outer graph; every acc also a scan output.</summary>
    private static OnnxGraphBuilder PowerLoop()
    {
        var g = new OnnxGraphBuilder("power");
        var x = g.AddInput("x", OnnxTensor.Float, 2);
        var w = g.AddInitializer("w", [2f, 3f], 2);
        var always = g.AddNode("Cast", [g.Int64Scalar(1)], "always", OnnxAttributeValue.Int("to", 9));
        var body = g.Subgraph("power_body");
        body.AddInput("i", OnnxTensor.Int64);
        var cond = body.AddInput("cond", 9);
        var acc = body.AddInput("acc", OnnxTensor.Float, 2);
        var next = body.AddNode("Mul", [acc, w], "acc_next");
        var condOut = body.AddNode("Identity", [cond], "cond_out");
        var scan = body.AddNode("Identity", [next], "acc_scan");
        body.AddOutput(condOut, 9);
        body.AddOutput(next, OnnxTensor.Float, 2);
        body.AddOutput(scan, OnnxTensor.Float, 2);
        var outputs = g.AddNode("Loop", [g.Int64Scalar(3), always, x], ["final", "all"], [OnnxAttributeValue.Graph("body", body)]);
        g.AddOutput(outputs[0], OnnxTensor.Float, 2);
        g.AddOutput(outputs[1], OnnxTensor.Float, 3, 2);
        return g;
    }

    [Fact]
    public void LoopWithASubgraphBody_RunsInOnnxRuntime_ReadingAnOuterWeight()
    {
        using var session = OnnxExportTests.Session(PowerLoop().ToBytes());
        using var x = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(new float[] { 1, -1 }, new long[] { 2 });
        using var run = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var results = session.Run(run, ["x"], [x], ["final", "all"]);
        Assert.Equal(new[] { 8f, -27f }, results[0].GetTensorDataAsSpan<float>().ToArray());                // [1, −1] ⊙ [2, 3]³
        Assert.Equal(new[] { 2f, -3f, 4f, -9f, 8f, -27f }, results[1].GetTensorDataAsSpan<float>().ToArray()); // after each of the 3 steps
    }

    [Fact]
    public void LoopWithASubgraphBody_ReadsBack_WithTheBodyAsAGraphAttribute_AndItsWeightInTheOuterGraph()
    {
        var m = OnnxModel.Parse(PowerLoop().ToBytes());
        var loop = Assert.Single(m.Graph.Nodes, n => n.OpType == "Loop");
        var body = loop.Attributes["body"].Graph;
        Assert.NotNull(body);
        Assert.Equal("power_body", body.Name);
        Assert.Equal(["i", "cond", "acc"], body.Inputs.Select(i => i.Name));
        Assert.Equal(["cond_out", "acc_next", "acc_scan"], body.Outputs.Select(o => o.Name));
        Assert.Equal(["Mul", "Identity", "Identity"], body.Nodes.Select(n => n.OpType));
        Assert.Equal(["acc", "w"], body.Nodes[0].Inputs);
        Assert.Empty(body.Initializers);
        Assert.Equal(new[] { 2f, 3f }, m.Graph.Initializers["w"].ToFloats());
        Assert.Equal(new long[] { 3, 2 }, m.Graph.Outputs[1].Shape.Select(d => d!.Value));
    }

    [Fact]
    public void Subgraph_SeesOuterValues_ButNotTheReverse_AndNamesAreUniqueAcrossGraphs()
    {
        var g = new OnnxGraphBuilder("outer");
        var x = g.AddInput("x", OnnxTensor.Float, 1);
        var body = g.Subgraph("body");
        var inner = body.AddNode("Relu", [x], "inner");                                           // outer x is visible inside
        Assert.True(body.HasValue(x));
        Assert.False(g.HasValue(inner));
        Assert.Contains("\"inner\"", Assert.Throws<ArgumentException>(() => g.AddNode("Relu", [inner])).Message);
        Assert.Throws<ArgumentException>(() => body.AddNode("Relu", [x], "x"));                    // no shadowing of an outer name
        Assert.Throws<ArgumentException>(() => g.AddNode("Relu", [x], "inner"));                  // nor the reverse
        Assert.Throws<ArgumentException>(() => g.Subgraph("body"));
        Assert.Throws<ArgumentException>(() => OnnxAttributeValue.Graph("body", g));               // a top-level graph is no attribute
        var nested = body.Subgraph("nested");
        nested.AddOutput(nested.AddNode("Relu", [x], "deep"), OnnxTensor.Float, 1);
        // a graph attribute belongs to a node of the graph its subgraph was made from
        Assert.Throws<ArgumentException>(() => g.AddNode("If", [x], null, OnnxAttributeValue.Graph("then_branch", nested)));
        Assert.Throws<InvalidOperationException>(() => body.ToBytes());
        Assert.Throws<InvalidOperationException>(() => body.AddMetadata("k", "v"));
    }

    [Fact]
    public void Subgraph_ConstantsAndWeights_AreStoredOnceInTheTopLevelGraph()
    {
        var g = new OnnxGraphBuilder("outer");
        var x = g.AddInput("x", OnnxTensor.Float, 1);
        var body = g.Subgraph("body");
        Assert.Equal(g.Scalar(2f), body.Scalar(2f));
        var w = body.AddInitializer("w_inner", [1f], 1);
        Assert.True(g.HasValue(w));
        Assert.Throws<ArgumentException>(() => g.AddInitializer("w_inner", [1f], 1));
        body.AddOutput(body.AddNode("Mul", [x, w]), OnnxTensor.Float, 1);
        g.AddOutput(g.AddNode("If", [g.AddNode("Cast", [g.Int64Scalar(1)], null, OnnxAttributeValue.Int("to", 9))], ["y"],
                              [OnnxAttributeValue.Graph("then_branch", body), OnnxAttributeValue.Graph("else_branch", body)])[0], OnnxTensor.Float, 1);
        var m = OnnxModel.Parse(g.ToBytes());
        Assert.Contains("w_inner", m.Graph.Initializers.Keys);
        Assert.Empty(m.Graph.Nodes.Single(n => n.OpType == "If").Attributes["then_branch"].Graph!.Initializers);
    }

    [Fact]
    public void SubgraphsNestedBeyondTheReadersLimit_AreInvalidData_NotAStackOverflow()
    {
        static byte[] Nested(int depth)
        {
            var graphs = new List<OnnxGraphBuilder> { new("level0") };
            for (int k = 1; k <= depth; k++) graphs.Add(graphs[^1].Subgraph($"level{k}"));
            var x = graphs[0].AddInput("x", OnnxTensor.Float, 1);
            graphs[^1].AddOutput(graphs[^1].AddNode("Relu", [x]), OnnxTensor.Float, 1);
            for (int k = depth - 1; k >= 0; k--)
            {
                var output = graphs[k].AddNode("Loop", ["", ""], [$"out{k}"], [OnnxAttributeValue.Graph("body", graphs[k + 1])]);
                graphs[k].AddOutput(output[0], OnnxTensor.Float, 1);
            }
            return graphs[0].ToBytes();
        }
        Assert.NotNull(OnnxModel.Parse(Nested(OnnxGraph.MaxNesting)).Graph.Nodes[0].Attributes["body"].Graph);
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(Nested(OnnxGraph.MaxNesting + 1)));
        Assert.Contains("nested", e.Message);
    }
}
