using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;

namespace Attention.Models;

/// <summary>Which graph layer a <see cref="NodeClassifier"/> stacks.</summary>
public enum GraphLayerKind { Gcn, Gat, GatV2 }

/// <summary>
/// A two-layer node classifier, the semi-supervised setting of Kipf and Welling (2017) and Veličković et al. (2018):
/// X (N, F) → layer 1 (hidden, ReLU, dropout) → layer 2 (classes) → logits (N, C). GCN layers aggregate with the fixed
/// Â; GAT and GATv2 layers learn α per edge (layer 1 with <c>heads</c> concatenated heads, layer 2 one head).
/// </summary>
public sealed class NodeClassifier : Module
{
    private readonly GcnLayer? _gcn1, _gcn2;
    private readonly GraphAttentionLayer? _gat1, _gat2;
    private readonly Dropout? _dropout;

    /// <summary>The layer kind.</summary>
    public GraphLayerKind Kind { get; }

    /// <summary>Layer 1's attention weights (H, N, N) from the last <see cref="Forward"/>; null for GCN.</summary>
    public Var? LastAttention { get; private set; }

    public NodeClassifier(GraphLayerKind kind, int inFeatures, int hidden, int classes, Rng rng, int heads = 4, float dropout = 0f)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hidden);
        Kind = kind;
        if (kind == GraphLayerKind.Gcn)
        {
            _gcn1 = RegisterModule("layer1", new GcnLayer(inFeatures, hidden, rng));
            _gcn2 = RegisterModule("layer2", new GcnLayer(hidden, classes, rng));
        }
        else
        {
            bool dynamic = kind == GraphLayerKind.GatV2;
            if (hidden % heads != 0) throw new ArgumentException($"hidden: expected a multiple of heads ({heads}), got {hidden}", nameof(hidden));
            _gat1 = RegisterModule("layer1", new GraphAttentionLayer(inFeatures, hidden / heads, heads, rng, dynamic));
            _gat2 = RegisterModule("layer2", new GraphAttentionLayer(hidden, classes, 1, rng, dynamic, concat: false));
        }
        if (dropout > 0) _dropout = RegisterModule("drop", new Dropout(dropout, new Rng(rng.NextUInt64())));
    }

    /// <summary>X (N, F) and the graph's (N, N) adjacency (symmetric weights or 0/1) → logits (N, C).</summary>
    public Var Forward(Var x, Tensor adjacency)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(adjacency);
        Var Drop(Var v) => _dropout is null ? v : _dropout.Forward(v);
        if (_gcn1 is not null)
        {
            var norm = GcnLayer.Normalize(adjacency.Contiguous().AsSpan(), adjacency.Shape[0]);
            return _gcn2!.Forward(Drop(_gcn1.Forward(Drop(x), norm).Relu()), norm);
        }
        var first = _gat1!.Forward(Drop(x), adjacency);
        LastAttention = first.Weights;
        return _gat2!.Forward(Drop(first.Output.Relu()), adjacency).Output;
    }
}
