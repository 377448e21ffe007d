namespace Attention.Interpret;

/// <summary>
/// Attention rollout and attention flow (Abnar &amp; Zuidema, 2020, "Quantifying Attention Flow in
/// Transformers", ACL, §3). Both treat a Transformer as a layered graph: T nodes per layer, and an edge
/// from token j in layer ℓ−1 to token i in layer ℓ weighted by the head-averaged attention with the
/// residual connection folded in,
///     Â_ℓ = normalise_rows(0.5·A_ℓ + 0.5·I)                                  (§3, residual)
/// Rollout multiplies these matrices, Ã_ℓ = Â_ℓ·Ã_{ℓ−1} with Ã_0 = I (eq. 1): Ã[i, j] is the share of
/// output i that reaches back to input j if mixing were linear. Flow treats Â as edge capacities and
/// asks how much can pass from input j to an output node (max-flow, §3 "attention flow").
/// Shapes: each layer (T, T), rows are queries, columns keys; results index [output, input].
/// </summary>
public static class AttentionRollout
{
    /// <summary>
    /// Averages a layer's heads: <paramref name="probabilities"/> (H, T, T) row-major → (T, T), keeping only
    /// the first <paramref name="length"/> tokens (the real ones; padding is dropped, not renormalised over).
    /// </summary>
    public static double[,] HeadAverage(ReadOnlySpan<float> probabilities, int heads, int time, int length)
    {
        if (heads <= 0 || time <= 0) throw new ArgumentException($"expected heads and time > 0, got {heads} and {time}");
        if (probabilities.Length != heads * time * time)
            throw new ArgumentException($"expected {heads}×{time}×{time} = {heads * time * time} probabilities, got {probabilities.Length}", nameof(probabilities));
        if (length <= 0 || length > time) throw new ArgumentException($"expected 1 ≤ length ≤ {time}, got {length}", nameof(length));
        var mean = new double[length, length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < length; i++)
                for (int j = 0; j < length; j++)
                    mean[i, j] += probabilities[(h * time + i) * time + j] / (double)heads;
        return mean;
    }

    /// <summary>Â = rows-normalised (1 − r)·A + r·I, the residual-aware attention graph of one layer (r = 0.5 in the paper).</summary>
    public static double[,] WithResidual(double[,] attention, double residual = 0.5)
    {
        int t = CheckSquare(attention, nameof(attention));
        if (!(residual >= 0 && residual <= 1)) throw new ArgumentOutOfRangeException(nameof(residual), residual, "expected a residual weight in [0, 1]");
        var a = new double[t, t];
        for (int i = 0; i < t; i++)
        {
            double sum = 0;
            for (int j = 0; j < t; j++) sum += a[i, j] = (1 - residual) * attention[i, j] + (i == j ? residual : 0);
            if (sum > 0) for (int j = 0; j < t; j++) a[i, j] /= sum;
        }
        return a;
    }

    /// <summary>
    /// Rollout (eq. 1): Ã = Â_L·…·Â_1 over <paramref name="layers"/> (bottom first, each (T, T) head-averaged
    /// attention). Returns (T, T): row i is output token i's distribution over input tokens (rows sum to 1).
    /// </summary>
    public static double[,] Rollout(IReadOnlyList<double[,]> layers, double residual = 0.5)
    {
        int t = CheckLayers(layers);
        var rolled = Identity(t);
        foreach (var layer in layers)
        {
            var a = WithResidual(layer, residual);
            var next = new double[t, t];
            for (int i = 0; i < t; i++)
                for (int k = 0; k < t; k++)
                {
                    double aik = a[i, k];
                    if (aik == 0) continue;
                    for (int j = 0; j < t; j++) next[i, j] += aik * rolled[k, j];
                }
            rolled = next;
        }
        return rolled;
    }

    /// <summary>
    /// Rollout seen from one output node that reads the top layer with <paramref name="outputWeights"/> (T): for
    /// mean pooling 1/T each, for a [CLS] readout one-hot. Returns (T) = weightsᵀ·Ã, a distribution over inputs.
    /// </summary>
    public static double[] Rollout(IReadOnlyList<double[,]> layers, ReadOnlySpan<double> outputWeights, double residual = 0.5)
    {
        var rolled = Rollout(layers, residual);
        int t = rolled.GetLength(0);
        if (outputWeights.Length != t) throw new ArgumentException($"expected {t} output weights, got {outputWeights.Length}", nameof(outputWeights));
        var r = new double[t];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) r[j] += outputWeights[i] * rolled[i, j];
        return r;
    }

    /// <summary>
    /// Attention flow (§3): for every input token j, the maximum flow from node j of the input layer to one output
    /// node, through the layered graph whose edge (layer ℓ−1, k) → (layer ℓ, i) has capacity Â_ℓ[i, k] and whose
    /// top-layer token i reaches the output node through an edge of capacity <paramref name="outputWeights"/>[i].
    /// Returns (T). Unlike rollout, flows are not shares that sum to 1; each is at most Σ outputWeights.
    /// </summary>
    public static double[] Flow(IReadOnlyList<double[,]> layers, ReadOnlySpan<double> outputWeights, double residual = 0.5)
    {
        int t = CheckLayers(layers);
        if (outputWeights.Length != t) throw new ArgumentException($"expected {t} output weights, got {outputWeights.Length}", nameof(outputWeights));
        int l = layers.Count;
        // node (layer ℓ, token i) = ℓ·T + i for ℓ = 0..L; the output node is the last
        int n = (l + 1) * t + 1, sink = n - 1;
        var graph = new FlowGraph(n);
        for (int layer = 1; layer <= l; layer++)
        {
            var a = WithResidual(layers[layer - 1], residual);
            for (int i = 0; i < t; i++)
                for (int k = 0; k < t; k++)
                    if (a[i, k] > 0) graph.AddEdge((layer - 1) * t + k, layer * t + i, a[i, k]);
        }
        for (int i = 0; i < t; i++)
            if (outputWeights[i] > 0) graph.AddEdge(l * t + i, sink, outputWeights[i]);
        var flow = new double[t];
        for (int j = 0; j < t; j++) flow[j] = graph.MaxFlow(j, sink);
        return flow;
    }

    /// <summary>
    /// Flow from every input token to every output token (each output node read alone): (T, T) indexed
    /// [output i, input j], the flow analogue of the rollout matrix.
    /// </summary>
    public static double[,] FlowMatrix(IReadOnlyList<double[,]> layers, double residual = 0.5)
    {
        int t = CheckLayers(layers);
        var m = new double[t, t];
        var w = new double[t];
        for (int i = 0; i < t; i++)
        {
            Array.Clear(w);
            w[i] = 1;
            var f = Flow(layers, w, residual);
            for (int j = 0; j < t; j++) m[i, j] = f[j];
        }
        return m;
    }

    private static double[,] Identity(int t)
    {
        var m = new double[t, t];
        for (int i = 0; i < t; i++) m[i, i] = 1;
        return m;
    }

    private static int CheckSquare(double[,] m, string name)
    {
        ArgumentNullException.ThrowIfNull(m, name);
        int t = m.GetLength(0);
        if (t == 0 || m.GetLength(1) != t) throw new ArgumentException($"expected a non-empty square (T, T) attention matrix, got {m.GetLength(0)}×{m.GetLength(1)}", name);
        return t;
    }

    private static int CheckLayers(IReadOnlyList<double[,]> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ArgumentException("expected at least one layer of attention, got none", nameof(layers));
        int t = CheckSquare(layers[0], nameof(layers));
        for (int i = 1; i < layers.Count; i++)
            if (CheckSquare(layers[i], nameof(layers)) != t)
                throw new ArgumentException($"expected every layer to be {t}×{t}, layer {i} is {layers[i].GetLength(0)}×{layers[i].GetLength(1)}", nameof(layers));
        return t;
    }

    /// <summary>A directed graph with real capacities; max-flow by Edmonds–Karp (shortest augmenting paths).</summary>
    private sealed class FlowGraph(int nodes)
    {
        private readonly List<int>[] _out = Enumerable.Range(0, nodes).Select(_ => new List<int>()).ToArray();
        private readonly List<int> _to = new();
        private readonly List<double> _capacity = new();

        // edge e and its reverse e ^ 1 are stored side by side
        public void AddEdge(int from, int to, double capacity)
        {
            _out[from].Add(_to.Count); _to.Add(to); _capacity.Add(capacity);
            _out[to].Add(_to.Count); _to.Add(from); _capacity.Add(0);
        }

        public double MaxFlow(int source, int sink)
        {
            var residual = _capacity.ToArray();
            var via = new int[_out.Length];
            double total = 0;
            var queue = new Queue<int>();
            while (true)
            {
                Array.Fill(via, -1);
                via[source] = -2;
                queue.Clear();
                queue.Enqueue(source);
                while (queue.Count > 0 && via[sink] == -1)
                {
                    int u = queue.Dequeue();
                    foreach (int e in _out[u])
                        if (residual[e] > 1e-15 && via[_to[e]] == -1) { via[_to[e]] = e; queue.Enqueue(_to[e]); }
                }
                if (via[sink] == -1) return total;
                double push = double.PositiveInfinity;
                for (int v = sink; v != source; v = _to[via[v] ^ 1]) push = Math.Min(push, residual[via[v]]);
                for (int v = sink; v != source; v = _to[via[v] ^ 1]) { residual[via[v]] -= push; residual[via[v] ^ 1] += push; }
                total += push;
            }
        }
    }
}
