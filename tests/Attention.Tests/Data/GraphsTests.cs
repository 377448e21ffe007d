using Attention.Data;

namespace Attention.Tests.Data;

public class GraphsTests
{
    [Fact]
    public void KarateClub_IsZacharysGraph_TwoClubsOf17_HubsAreTheLeaders()
    {
        var g = Graphs.KarateClub();
        Assert.Equal((34, 78), (g.NodeCount, g.Edges.Count));
        Assert.Equal(17, g.Labels.Count(l => l == 0));
        // the instructor (node 0, Mr. Hi) and the administrator (node 33) have the most friends, in opposite clubs
        var byDegree = Enumerable.Range(0, g.NodeCount).OrderByDescending(i => g.Neighbours[i].Length).Take(2).Order().ToArray();
        Assert.Equal([0, 33], byDegree);
        Assert.NotEqual(g.Labels[0], g.Labels[33]);
        Assert.Equal(2 * g.Edges.Count, g.Neighbours.Sum(n => n.Length));
    }

    [Fact]
    public void LesMiserables_Has77CharactersIn11Groups_ValjeanIsTheHub()
    {
        var g = Graphs.LesMiserables();
        Assert.Equal((77, 254, 11), (g.NodeCount, g.Edges.Count, g.LabelNames.Count));
        int hub = Enumerable.Range(0, g.NodeCount).MaxBy(i => g.Neighbours[i].Length);
        Assert.Equal("Valjean", g.NodeNames[hub]);
        Assert.All(g.Edges, e => Assert.True(e.Weight >= 1 && e.Source < e.Target));
    }

    [Fact]
    public void DenseAdjacency_IsSymmetric_WithSelfLoopsOnRequest()
    {
        var g = Graphs.LesMiserables();
        int n = g.NodeCount;
        var a = g.DenseAdjacency(selfLoops: true);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(1f, a[i * n + i]);
            for (int j = 0; j < n; j++) Assert.Equal(a[i * n + j], a[j * n + i]);
        }
        Assert.Equal(g.Edges.Sum(e => e.Weight) * 2 + n, a.Sum());
    }

    [Theory]
    [InlineData("0\tMr. Hi\n2\tOfficer\n", "0\t1\n", "line 2", "expected node id 1")]
    [InlineData("0\tMr. Hi\n1\tRebel\n", "0\t1\n", "line 2", "club")]
    [InlineData("0\tMr. Hi\n1\tOfficer\n", "1\t0\n", "line 1", "source < target")]
    [InlineData("0\tMr. Hi\n1\tOfficer\n", "0\t1\n0\t1\n", "line 2", "twice")]
    [InlineData("0\tMr. Hi\n1\tOfficer\n", "0\t5\n", "line 1", "node id 0..1")]
    public void DamagedGraphFiles_ThrowNamingFileLineAndExpectation(string nodes, string edges, string where, string what)
    {
        var dir = Directory.CreateTempSubdirectory("graphs-");
        try
        {
            string n = Path.Combine(dir.FullName, "nodes.tsv"), e = Path.Combine(dir.FullName, "edges.tsv");
            File.WriteAllText(n, nodes); File.WriteAllText(e, edges);
            var ex = Assert.Throws<InvalidDataException>(() => Graphs.LoadKarateClub(n, e));
            Assert.Contains(where, ex.Message); Assert.Contains(what, ex.Message);
        }
        finally { dir.Delete(true); }
    }
}
