using Attention.Data;
using Attention.Alignments;
using Attention.Tensors;

namespace Attention.Tests.Alignment;

public class IbmModel1Tests
{
    // A planted 1-to-1 lexicon e → lex[e] and random word order: target = shuffled translations of the source.
    private static (List<(int[], int[])> Corpus, int[] Lexicon, List<int[]> Positions) Planted(int vocab, int pairs, ulong seed)
    {
        var rng = new Rng(seed);
        var lex = Enumerable.Range(0, vocab).OrderBy(_ => rng.NextDouble()).ToArray();
        var corpus = new List<(int[], int[])>(); var positions = new List<int[]>();
        for (int n = 0; n < pairs; n++)
        {
            int len = 3 + rng.NextInt(5);
            var e = Enumerable.Range(0, vocab).OrderBy(_ => rng.NextDouble()).Take(len).ToArray(); // distinct words
            var perm = Enumerable.Range(0, len).OrderBy(_ => rng.NextDouble()).ToArray();           // target j comes from source perm[j]
            corpus.Add((e, perm.Select(i => lex[e[i]]).ToArray()));
            positions.Add(perm);
        }
        return (corpus, lex, positions);
    }

    [Fact]
    public void Em_LogLikelihood_NeverDecreases()
    {
        var (corpus, _, _) = Planted(12, 200, 3);
        // add noise words so the optimum is not reached in one step
        var rng = new Rng(5);
        var noisy = corpus.Select(p => (p.Item1, p.Item2.Append(rng.NextInt(12)).ToArray())).ToList();
        var trace = new IbmModel1(12, 12).Train(noisy, 15);
        for (int k = 1; k < trace.Length; k++) Assert.True(trace[k] >= trace[k - 1] - 1e-9, $"iteration {k}: {trace[k - 1]} → {trace[k]}");
        Assert.True(trace[^1] > trace[0] + 1, "EM should improve the likelihood from the uniform start");
    }

    [Fact]
    public void Em_RecoversPlantedLexicon_AndViterbiFindsThePositions()
    {
        var (corpus, lex, positions) = Planted(15, 300, 11);
        var model = new IbmModel1(15, 15);
        model.Train(corpus, 20);
        for (int e = 0; e < 15; e++)
        {
            int best = Enumerable.Range(0, 15).MaxBy(f => model.Translation(f, e));
            Assert.Equal(lex[e], best);
        }
        for (int n = 0; n < 20; n++)
        {
            var links = model.Viterbi(corpus[n].Item1, corpus[n].Item2);
            Assert.Equal(positions[n].Select((i, j) => new Link(i, j)), links);
        }
    }

    [Fact]
    public void Translation_RowsSumToOne_AfterEm()
    {
        var (corpus, _, _) = Planted(8, 50, 2);
        var model = new IbmModel1(8, 8);
        model.Train(corpus, 3);
        for (int e = IbmModel1.Null; e < 8; e++)
            Assert.Equal(1.0, Enumerable.Range(0, 8).Sum(f => model.Translation(f, e)), 9);
    }

    [Fact]
    public void EmStep_RejectsWordsOutsideTheVocabulary() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new IbmModel1(3, 3).EmStep([([0, 3], [1])]));
}
