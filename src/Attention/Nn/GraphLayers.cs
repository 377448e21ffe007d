using Attention.Autograd;
using Attention.Tensors;

namespace Attention.Nn;

/// <summary>
/// Graph convolution (Kipf and Welling, 2017): H' = Â·H·W + b with Â = D^(−1/2)(A + I)D^(−1/2), a fixed average
/// over each neighbourhood weighted by degrees, the baseline that graph attention replaces with learned weights.
/// H (N, F) → (N, F'); Â (N, N) from <see cref="Normalize"/>.
/// </summary>
public sealed class GcnLayer : Module
{
    /// <summary>F → F', no bias (the bias is added after the aggregation).</summary>
    public Linear Linear { get; }
    /// <summary>(F').</summary>
    public Var Bias { get; }

    public GcnLayer(int inFeatures, int outFeatures, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        Linear = RegisterModule("linear", new Linear(inFeatures, outFeatures, rng, bias: false));
        Bias = RegisterParameter("bias", Var.Parameter(Tensor.Zeros(outFeatures)));
    }

    /// <summary>Â = D^(−1/2)(A + I)D^(−1/2) for a symmetric (N × N) row-major adjacency A (weights or 0/1; its diagonal is replaced by 1).</summary>
    /// <exception cref="ArgumentException">A is not square, not symmetric, or has a negative or non-finite entry.</exception>
    public static Tensor Normalize(ReadOnlySpan<float> adjacency, int nodes)
    {
        if (nodes < 1 || adjacency.Length != (long)nodes * nodes)
            throw new ArgumentException($"adjacency: expected {nodes} × {nodes} = {(long)nodes * nodes} entries, got {adjacency.Length}", nameof(adjacency));
        var a = adjacency.ToArray();
        for (int i = 0; i < nodes; i++)
        {
            a[i * nodes + i] = 1f;
            for (int j = 0; j < nodes; j++)
            {
                float v = a[i * nodes + j];
                if (!(float.IsFinite(v) && v >= 0)) throw new ArgumentException($"adjacency[{i},{j}]: expected a finite weight ≥ 0, got {v}", nameof(adjacency));
                if (v != a[j * nodes + i]) throw new ArgumentException($"adjacency: expected a symmetric matrix, got [{i},{j}] = {v} but [{j},{i}] = {a[j * nodes + i]}", nameof(adjacency));
            }
        }
        var inv = new float[nodes];
        for (int i = 0; i < nodes; i++)
        {
            double degree = 0;
            for (int j = 0; j < nodes; j++) degree += a[i * nodes + j];
            inv[i] = (float)(1 / Math.Sqrt(degree));
        }
        for (int i = 0; i < nodes; i++)
            for (int j = 0; j < nodes; j++) a[i * nodes + j] *= inv[i] * inv[j];
        return Tensor.FromArray(a, nodes, nodes);
    }

    /// <summary>H (N, F), Â (N, N) → (N, F').</summary>
    public Var Forward(Var h, Tensor normalized)
    {
        ArgumentNullException.ThrowIfNull(h);
        ArgumentNullException.ThrowIfNull(normalized);
        GraphAttentionLayer.CheckGraph(h, normalized);
        return Var.Constant(normalized).MatMul(Linear.Forward(h)) + Bias;
    }
}

/// <summary>What a graph attention layer returns: the new features and the weights α (H, N, N), α[h, i, j] the
/// share of node j in node i's update (0 off the neighbourhood; each row sums to 1).</summary>
public sealed record GraphAttentionResult(Var Output, Var Weights);

/// <summary>
/// Graph attention, one layer with H heads (GAT: Veličković et al., 2018; GATv2: Brody et al., 2022). Node i
/// attends over its neighbourhood N(i), itself included:
/// <code>
///   GAT:    e_ij = LeakyReLU(a_dstᵀ·W h_i + a_srcᵀ·W h_j)          (static: the ranking of j is the same for every i)
///   GATv2:  e_ij = aᵀ·LeakyReLU(W_dst h_i + W_src h_j)            (dynamic: the nonlinearity comes before a)
///   α_ij = softmax over j ∈ N(i) of e_ij;    h'_i = Σ_j α_ij · W_src h_j  (+ bias), heads concatenated or averaged
/// </code>
/// GAT's score is a sum of a term in i and a term in j, so argmax_j e_ij is the same j for every query i: Brody et al.
/// call this static attention and show it cannot learn some simple lookups that GATv2 can.
/// H (N, F) → (N, H·F') when concatenating, (N, F') when averaging. Dense: the (N × N) mask costs O(N²) per head, which
/// is what small graphs want; <see cref="EdgeSoftmax"/> is the sparse form of the same softmax.
/// </summary>
public sealed class GraphAttentionLayer : Module
{
    /// <summary>Heads H.</summary>
    public int Heads { get; }
    /// <summary>Features per head F'.</summary>
    public int HeadFeatures { get; }
    /// <summary>True for GATv2's dynamic attention.</summary>
    public bool Dynamic { get; }
    /// <summary>True to concatenate the heads, false to average them (the paper's choice for an output layer).</summary>
    public bool Concat { get; }
    /// <summary>The LeakyReLU slope for negative inputs (0.2 in both papers).</summary>
    public float NegativeSlope { get; }
    /// <summary>W_src: F → H·F' (also the messages).</summary>
    public Linear Source { get; }
    /// <summary>W_dst for GATv2 (F → H·F'); null for GAT, where one W serves both ends.</summary>
    public Linear? Target { get; }
    /// <summary>GAT: (H, F') for the source end; GATv2: the vector a (H, F').</summary>
    public Var AttentionSource { get; }
    /// <summary>GAT: (H, F') for the target end; null for GATv2.</summary>
    public Var? AttentionTarget { get; }
    /// <summary>(H·F') or (F').</summary>
    public Var Bias { get; }

    public GraphAttentionLayer(int inFeatures, int headFeatures, int heads, Rng rng, bool dynamic = false, bool concat = true, float negativeSlope = 0.2f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentNullException.ThrowIfNull(rng);
        if (!(negativeSlope >= 0 && negativeSlope < 1)) throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "expected a slope in [0, 1)");
        (Heads, HeadFeatures, Dynamic, Concat, NegativeSlope) = (heads, headFeatures, dynamic, concat, negativeSlope);
        Source = RegisterModule("src", new Linear(inFeatures, heads * headFeatures, rng, bias: false));
        if (dynamic) Target = RegisterModule("dst", new Linear(inFeatures, heads * headFeatures, rng, bias: false));
        float bound = MathF.Sqrt(6f / (headFeatures + 1));
        AttentionSource = RegisterParameter("att_src", Var.Parameter(rng.UniformTensor([heads, headFeatures], -bound, bound)));
        if (!dynamic) AttentionTarget = RegisterParameter("att_dst", Var.Parameter(rng.UniformTensor([heads, headFeatures], -bound, bound)));
        Bias = RegisterParameter("bias", Var.Parameter(Tensor.Zeros(concat ? heads * headFeatures : headFeatures)));
    }

    /// <summary>H (N, F) and an (N, N) adjacency (nonzero = edge; self loops are added) → the new features and α.</summary>
    /// <exception cref="ArgumentException">h is not (N, F) for this layer, or the adjacency is not (N, N).</exception>
    public GraphAttentionResult Forward(Var h, Tensor adjacency)
    {
        ArgumentNullException.ThrowIfNull(h);
        ArgumentNullException.ThrowIfNull(adjacency);
        CheckGraph(h, adjacency);
        int n = h.Shape[0], heads = Heads, f = HeadFeatures;
        var src = Source.Forward(h).Reshape(n, heads, f).Permute(1, 0, 2);                 // (H, N, F')  W_src h_j
        Var scores;
        if (!Dynamic)
        {
            var toSrc = (src * AttentionSource.Unsqueeze(1)).Sum(2);                          // (H, N)  a_srcᵀ W h_j
            var toDst = (src * AttentionTarget!.Unsqueeze(1)).Sum(2);                         // (H, N)  a_dstᵀ W h_i
            scores = LeakyRelu(toDst.Unsqueeze(2) + toSrc.Unsqueeze(1));                      // (H, N_i, N_j)
        }
        else
        {
            var dst = Target!.Forward(h).Reshape(n, heads, f).Permute(1, 0, 2);                // (H, N, F')  W_dst h_i
            var pair = LeakyRelu(dst.Unsqueeze(2) + src.Unsqueeze(1));                        // (H, N_i, N_j, F')
            scores = (pair * AttentionSource.Reshape(heads, 1, 1, f)).Sum(3);                 // (H, N_i, N_j)
        }
        var weights = scores.MaskedFill(NonEdges(adjacency), float.NegativeInfinity).Softmax(-1);
        var messages = weights.MatMul(src);                                                   // (H, N, F')
        var output = Concat ? messages.Permute(1, 0, 2).Reshape(n, heads * f) : messages.Mean(0);
        return new GraphAttentionResult(output + Bias, weights);
    }

    private Var LeakyRelu(Var x) => NegativeSlope == 0 ? x.Relu() : x.Relu() - (-x).Relu() * NegativeSlope;

    /// <summary>(1, N, N): 1 where i and j are not joined (and i ≠ j), the entries the softmax must not see.</summary>
    private static Tensor NonEdges(Tensor adjacency)
    {
        int n = adjacency.Shape[0];
        var a = adjacency.Contiguous().AsSpan();
        var mask = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) mask[i * n + j] = i != j && a[i * n + j] == 0 ? 1f : 0f;
        return Tensor.FromArray(mask, 1, n, n);
    }

    internal static void CheckGraph(Var h, Tensor adjacency)
    {
        if (h.Rank != 2) throw new ArgumentException($"h: expected node features (N, F), got shape {Tensor.FormatShape(h.Shape)}", nameof(h));
        int n = h.Shape[0];
        if (adjacency.Rank != 2 || adjacency.Shape[0] != n || adjacency.Shape[1] != n)
            throw new ArgumentException($"adjacency: expected ({n}, {n}) for {n} nodes, got shape {Tensor.FormatShape(adjacency.Shape)}", nameof(adjacency));
    }

    /// <summary>
    /// The sparse form of the neighbourhood softmax: α_e = exp(s_e − m_t) / Σ_{e' → t} exp(s_e' − m_t) over the edges e
    /// that end at the same target t (m_t their max). scores and targets have one entry per directed edge (self loops
    /// included as edges); the result equals the dense masked softmax at those entries.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ or a target is outside [0, nodeCount).</exception>
    public static float[] EdgeSoftmax(ReadOnlySpan<float> scores, ReadOnlySpan<int> targets, int nodeCount)
    {
        if (scores.Length != targets.Length) throw new ArgumentException($"expected one target per score, got {scores.Length} scores and {targets.Length} targets", nameof(targets));
        var max = new float[nodeCount];
        Array.Fill(max, float.NegativeInfinity);
        for (int e = 0; e < scores.Length; e++)
        {
            if ((uint)targets[e] >= (uint)nodeCount) throw new ArgumentException($"targets[{e}]: expected a node in [0, {nodeCount}), got {targets[e]}", nameof(targets));
            max[targets[e]] = Math.Max(max[targets[e]], scores[e]);
        }
        var sum = new double[nodeCount];
        var alpha = new float[scores.Length];
        for (int e = 0; e < scores.Length; e++) { alpha[e] = MathF.Exp(scores[e] - max[targets[e]]); sum[targets[e]] += alpha[e]; }
        for (int e = 0; e < scores.Length; e++) alpha[e] = (float)(alpha[e] / sum[targets[e]]);
        return alpha;
    }
}
