using Attention.Book;
using Attention.Book.Experiments;
using Attention.Models;
using Bug = Attention.Book.Experiments.Q50_DebuggingAttention.Bug;

namespace Attention.Tests.Interpret;

public class Q50BugZooTests
{
    [Fact]
    public void BugZoo_EveryBugIsCaughtByItsDetector_AndTheCleanCodePassesAll()
    {
        var result = new Q50_DebuggingAttention().Run(new ExperimentContext { Seed = 1234 });
        foreach (var bug in Q50_DebuggingAttention.EncoderBugs.Concat(Q50_DebuggingAttention.KernelBugs))
        {
            var check = Assert.Single(result.Checks, c => c.Claim.StartsWith(Q50_DebuggingAttention.Describe(bug) + ": caught by", StringComparison.Ordinal));
            Assert.True(check.Holds, $"{check.Claim}: {check.Detail}");
        }
        Assert.All(result.Checks.Where(c => !c.Timing), c => Assert.True(c.Holds, $"{c.Claim}: {c.Detail}"));
    }

    [Fact]
    public void ReadableEncoder_Clean_MatchesBertModel_OnAPaddedSentence()
    {
        var model = BertModel.LoadMiniLm();
        var encoder = new Q50_DebuggingAttention.ReadableEncoder(model.Weights);
        var ids = model.Tokenize(["Debugging attention: a bug zoo, with ünïcode and 3.14."]).Ids;
        var reference = model.Embed(["Debugging attention: a bug zoo, with ünïcode and 3.14."])[0];
        var padded = ids.Concat(new int[3]).ToArray();
        var e = encoder.Embed(padded, ids.Length);
        for (int k = 0; k < e.Length; k++) Assert.True(Math.Abs(e[k] - reference[k]) < 1e-4, $"dim {k}: {e[k]} vs {reference[k]}");
    }

    [Fact]
    public void KernelBugs_CleanRoutinesAgreeWithTheLibrary_BuggyOnesDoNot()
    {
        var rng = new Random(3);
        int d = 8, t = 5;
        float[] G(int n) { var a = new float[n]; Measure.FillNormal(a, rng); return a; }
        var q = G(t * d); var k = G(t * d); var v = G(t * d);
        var full = Q50_DebuggingAttention.CausalAttention(q, k, v, t, t, d);
        Assert.Equal(full, Q50_DebuggingAttention.CachedDecode(q, k, v, t, d), (a, b) => Math.Abs(a - b) < 1e-5f);
        Assert.NotEqual(full, Q50_DebuggingAttention.CachedDecode(q, k, v, t, d, Bug.KvCacheOffByOne), (a, b) => Math.Abs(a - b) < 1e-5f);
        // with L = S the two corners coincide: the bug only shows when L ≠ S
        Assert.Equal(full, Q50_DebuggingAttention.CausalAttention(q, k, v, t, t, d, Bug.CausalWrongCorner));
        Assert.All(Q50_DebuggingAttention.PaddedRow(q[..d], k, v, t, d, 0), x => Assert.Equal(0f, x));
    }
}
