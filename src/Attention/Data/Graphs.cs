using System.Globalization;

namespace Attention.Data;

/// <summary>An undirected edge, <see cref="Source"/> &lt; <see cref="Target"/>, with a positive weight (1 when unweighted).</summary>
public sealed record GraphEdge(int Source, int Target, float Weight);

/// <summary>
/// A small undirected graph with one class label per node, for graph attention (GAT, GATv2) against GCN.
/// Nodes are 0..NodeCount−1; <see cref="Neighbours"/> lists both directions of every edge, sorted.
/// </summary>
public sealed class Graph
{
    /// <summary>What the graph is ("karate club", "Les Misérables").</summary>
    public string Name { get; }
    /// <summary>Number of nodes.</summary>
    public int NodeCount => NodeNames.Count;
    /// <summary>One name per node.</summary>
    public IReadOnlyList<string> NodeNames { get; }
    /// <summary>Each node's class, an index into <see cref="LabelNames"/>.</summary>
    public IReadOnlyList<int> Labels { get; }
    /// <summary>The class names.</summary>
    public IReadOnlyList<string> LabelNames { get; }
    /// <summary>Every undirected edge once, sorted by (Source, Target).</summary>
    public IReadOnlyList<GraphEdge> Edges { get; }
    /// <summary>Neighbours[i]: the nodes joined to i, ascending.</summary>
    public IReadOnlyList<int[]> Neighbours { get; }

    internal Graph(string name, IReadOnlyList<string> nodeNames, IReadOnlyList<int> labels, IReadOnlyList<string> labelNames, IReadOnlyList<GraphEdge> edges)
    {
        Name = name; NodeNames = nodeNames; Labels = labels; LabelNames = labelNames; Edges = edges;
        var lists = Enumerable.Range(0, nodeNames.Count).Select(_ => new List<int>()).ToArray();
        foreach (var e in edges) { lists[e.Source].Add(e.Target); lists[e.Target].Add(e.Source); }
        Neighbours = lists.Select(l => l.Order().ToArray()).ToArray();
    }

    /// <summary>The (NodeCount × NodeCount) row-major adjacency matrix: the edge weight in both directions, 0 elsewhere,
    /// and 1 on the diagonal when <paramref name="selfLoops"/> (each node attends to itself, as in GAT).</summary>
    public float[] DenseAdjacency(bool selfLoops = false, bool weighted = true)
    {
        int n = NodeCount;
        var a = new float[n * n];
        foreach (var e in Edges) a[e.Source * n + e.Target] = a[e.Target * n + e.Source] = weighted ? e.Weight : 1f;
        if (selfLoops) for (int i = 0; i < n; i++) a[i * n + i] = 1f;
        return a;
    }
}

/// <summary>
/// The two real graphs vendored in <c>data/graphs/</c> (see PROVENANCE.md there): Zachary's karate club (34 members,
/// 78 friendships, the two clubs it split into) and the Les Misérables co-appearance graph (77 characters, 254 links
/// weighted by shared chapters, 11 groups). Every line is checked; a damaged file throws
/// <see cref="InvalidDataException"/> naming the file, the line and what was expected.
/// </summary>
public static class Graphs
{
    private static readonly Lazy<Graph> Karate = new(() => LoadKarateClub(DataDirectory.Find("graphs/karate-nodes.tsv"), DataDirectory.Find("graphs/karate-edges.tsv")));
    private static readonly Lazy<Graph> Miserables = new(() => LoadLesMiserables(DataDirectory.Find("graphs/miserables-nodes.tsv"), DataDirectory.Find("graphs/miserables-edges.tsv")));

    /// <summary>Zachary's karate club (1977): labels 0 = "Mr. Hi", 1 = "Officer".</summary>
    public static Graph KarateClub() => Karate.Value;

    /// <summary>The Les Misérables co-appearance graph (Knuth, 1993): labels are the 11 groups.</summary>
    public static Graph LesMiserables() => Miserables.Value;

    /// <summary>Reads the karate files: nodes <c>id&lt;TAB&gt;club</c>, edges <c>u&lt;TAB&gt;v</c>.</summary>
    public static Graph LoadKarateClub(string nodesPath, string edgesPath)
    {
        string[] clubs = ["Mr. Hi", "Officer"];
        var nodes = ReadNodes(nodesPath, 2, f =>
        {
            int label = Array.IndexOf(clubs, f[1]);
            return label >= 0 ? (f[0], label) : throw new FormatException($"expected a club \"Mr. Hi\" or \"Officer\", found \"{f[1]}\"");
        });
        return new Graph("karate club", nodes.Select(n => n.Name).ToArray(), nodes.Select(n => n.Label).ToArray(), clubs,
                         ReadEdges(edgesPath, nodes.Count, weighted: false));
    }

    /// <summary>Reads the Les Misérables files: nodes <c>id&lt;TAB&gt;name&lt;TAB&gt;group</c>, edges <c>u&lt;TAB&gt;v&lt;TAB&gt;weight</c>.</summary>
    public static Graph LoadLesMiserables(string nodesPath, string edgesPath)
    {
        var nodes = ReadNodes(nodesPath, 3, f =>
            int.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out int g) && g <= 100
                ? (f[1], g) : throw new FormatException($"expected a group 0..100, found \"{f[2]}\""));
        int groups = nodes.Max(n => n.Label) + 1;
        return new Graph("Les Misérables", nodes.Select(n => n.Name).ToArray(), nodes.Select(n => n.Label).ToArray(),
                         Enumerable.Range(0, groups).Select(g => $"group {g}").ToArray(), ReadEdges(edgesPath, nodes.Count, weighted: true));
    }

    private static List<(string Name, int Label)> ReadNodes(string path, int fields, Func<string[], (string, int)> parse)
    {
        var nodes = new List<(string, int)>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            var f = text.Split('\t');
            try
            {
                if (f.Length != fields) throw new FormatException($"expected {fields} tab-separated fields, found {f.Length}");
                if (f[0] != nodes.Count.ToString(CultureInfo.InvariantCulture)) throw new FormatException($"expected node id {nodes.Count} (ids in order from 0), found \"{f[0]}\"");
                nodes.Add(parse(f));
            }
            catch (FormatException e) { throw new InvalidDataException($"{path}, line {line}: {e.Message}"); }
        }
        if (nodes.Count == 0) throw new InvalidDataException($"{path}: expected at least one node, found an empty file");
        return nodes;
    }

    private static List<GraphEdge> ReadEdges(string path, int nodeCount, bool weighted)
    {
        var edges = new List<GraphEdge>();
        var seen = new HashSet<(int, int)>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            var f = text.Split('\t');
            try
            {
                int fields = weighted ? 3 : 2;
                if (f.Length != fields) throw new FormatException($"expected {fields} tab-separated fields, found {f.Length}");
                int u = Node(f[0], nodeCount), v = Node(f[1], nodeCount);
                if (u >= v) throw new FormatException($"expected source < target, found {u} ≥ {v}");
                if (!seen.Add((u, v))) throw new FormatException($"edge {u}–{v} appears twice");
                float w = 1f;
                if (weighted && !(float.TryParse(f[2], NumberStyles.Float, CultureInfo.InvariantCulture, out w) && float.IsFinite(w) && w > 0))
                    throw new FormatException($"expected a positive finite weight, found \"{f[2]}\"");
                edges.Add(new GraphEdge(u, v, w));
            }
            catch (FormatException e) { throw new InvalidDataException($"{path}, line {line}: {e.Message}"); }
        }
        return edges;
    }

    private static int Node(string field, int nodeCount) =>
        int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int id) && id < nodeCount
            ? id : throw new FormatException($"expected a node id 0..{nodeCount - 1}, found \"{field}\"");
}
