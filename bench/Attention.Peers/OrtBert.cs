using Attention.Models;
using Attention.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Attention.Peers;

/// <summary>
/// A PyTorch-exported BERT ONNX graph (inputs input_ids, attention_mask, token_type_ids; output last_hidden_state)
/// run by ONNX Runtime on the CPU, for the differential tests and the side-by-side benchmark of
/// <see cref="BertModel"/>. With <c>withAttention</c> the graph's Softmax outputs are added as graph outputs
/// (<see cref="OnnxModel.WithExtraOutputs"/>), so the runtime also returns each layer's probabilities (B, H, T, T).
/// </summary>
public sealed class OrtBert : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _outputs;

    /// <summary>Names of the Softmax outputs, one per layer, in graph order.</summary>
    public IReadOnlyList<string> SoftmaxOutputs { get; }

    public int Threads { get; }

    public OrtBert(byte[] model, int threads = 1, bool withAttention = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "expected at least 1 thread");
        Threads = threads;
        var graph = OnnxModel.Parse(model).Graph;
        SoftmaxOutputs = graph.Nodes.Where(n => n.OpType == "Softmax").Select(n => n.Outputs[0]).ToArray();
        var bytes = withAttention ? OnnxModel.WithExtraOutputs(model, SoftmaxOutputs) : model;
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        _session = new InferenceSession(bytes, options);
        _outputs = withAttention ? ["last_hidden_state", .. SoftmaxOutputs] : ["last_hidden_state"];
    }

    /// <summary>last_hidden_state (B·T·Hidden, row-major) and, with attention, each layer's probabilities (B·H·T·T).</summary>
    public (float[] Hidden, float[][] Attention) Run(BertBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        long[] shape = [batch.Batch, batch.Length];
        using var ids = OrtValue.CreateTensorValueFromMemory(batch.Ids.Select(v => (long)v).ToArray(), shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(batch.Mask.Select(v => (long)v).ToArray(), shape);
        using var types = OrtValue.CreateTensorValueFromMemory(batch.TypeIds.Select(v => (long)v).ToArray(), shape);
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [ids, mask, types], _outputs);
        var hidden = results[0].GetTensorDataAsSpan<float>().ToArray();
        var attention = new float[results.Count - 1][];
        for (int i = 1; i < results.Count; i++) attention[i - 1] = results[i].GetTensorDataAsSpan<float>().ToArray();
        return (hidden, attention);
    }

    public void Dispose() => _session.Dispose();
}
