using Attention.Tensors;

namespace Attention.Data;

/// <summary>A batch of dictionary-lookup graphs stacked block-diagonally into one graph.</summary>
/// <param name="Features">(N, 2k) node features, row-major.</param>
/// <param name="Adjacency">(N, N): row i lists the nodes i attends to (each query: every key of its instance).</param>
/// <param name="Queries">The query nodes, in order.</param>
/// <param name="Targets">For each query, the value (0..k−1) of the key whose attribute it asks for.</param>
/// <param name="AnswerKeys">For each query, the node of that key (the neighbour it should attend to).</param>
/// <param name="Nodes">N.</param>
public sealed record DictionaryLookupBatch(float[] Features, float[] Adjacency, int[] Queries, int[] Targets, int[] AnswerKeys, int Nodes);

/// <summary>
/// Brody, Alon and Yahav's DictionaryLookup problem (2022, "How Attentive are Graph Attention Networks?"): a complete
/// bipartite graph of k keys and k queries. Key j carries an attribute a_j and a value v_j (each a one-hot over k);
/// query i carries only an attribute; its answer is the value of the key with the same attribute. Every query sees
/// every key, so it must attend to a different key than the other queries do: exactly what static attention (GAT)
/// cannot, since GAT ranks the keys alike for every query. Attributes are 0..k−1 on both sides; values are a random
/// permutation per instance, so nothing but attention can find them.
/// </summary>
public static class DictionaryLookupTask
{
    /// <summary>Node features per node: 2k (attribute one-hot, then value one-hot, zero for queries).</summary>
    public static int FeatureWidth(int k) => 2 * k;

    /// <summary><paramref name="instances"/> random instances of size <paramref name="k"/>: nodes [keys 0..k−1, queries 0..k−1] per instance.</summary>
    /// <exception cref="ArgumentOutOfRangeException">k &lt; 2 or instances &lt; 1.</exception>
    public static DictionaryLookupBatch Make(int k, int instances, Rng rng)
    {
        if (k < 2) throw new ArgumentOutOfRangeException(nameof(k), k, "expected k ≥ 2 keys");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(instances);
        ArgumentNullException.ThrowIfNull(rng);
        int per = 2 * k, n = instances * per, f = 2 * k;
        var x = new float[n * f];
        var adjacency = new float[(long)n * n];
        var queries = new int[instances * k];
        var targets = new int[instances * k];
        var answers = new int[instances * k];
        for (int b = 0; b < instances; b++)
        {
            int first = b * per;
            var values = Enumerable.Range(0, k).ToArray();
            for (int i = k - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (values[i], values[j]) = (values[j], values[i]); }
            // queries ask the attributes in a random order, so a query's position says nothing
            var asks = Enumerable.Range(0, k).ToArray();
            for (int i = k - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (asks[i], asks[j]) = (asks[j], asks[i]); }
            for (int key = 0; key < k; key++)
            {
                int node = first + key;
                x[node * f + key] = 1f;
                x[node * f + k + values[key]] = 1f;
            }
            for (int q = 0; q < k; q++)
            {
                int node = first + k + q, attribute = asks[q];
                x[node * f + attribute] = 1f;
                for (int key = 0; key < k; key++) adjacency[(long)node * n + first + key] = 1f;
                queries[b * k + q] = node;
                targets[b * k + q] = values[attribute];
                answers[b * k + q] = first + attribute;
            }
        }
        return new DictionaryLookupBatch(x, adjacency, queries, targets, answers, n);
    }
}
