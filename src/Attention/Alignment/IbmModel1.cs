using Attention.Data;
namespace Attention.Alignments;

/// <summary>
/// IBM Model 1 (Brown et al., 1993, "The Mathematics of Statistical Machine Translation: Parameter Estimation",
/// Computational Linguistics 19(2), §4.1), the non-neural alignment baseline. A target sentence f = f₁…f_m is
/// generated from a source e = e₁…e_l plus a NULL word e₀ by picking, for every fⱼ, a source position uniformly
/// and then a word from the lexical table t(f | e):
///     P(f | e) = ε / (l + 1)^m · Πⱼ Σᵢ₌₀..ₗ t(fⱼ | eᵢ)
/// EM: the E-step spreads each fⱼ over the source words in proportion to t(fⱼ | eᵢ); the M-step renormalises
/// the expected counts per source word. The likelihood is concave in t, so EM never decreases it and reaches the
/// global optimum (Brown et al., 1993, §4.1). There is no notion of position: the model cannot tell two equal
/// source words apart, which is exactly where attention (and IBM Model 2's distortion) help.
/// Words are integer ids; source id <see cref="Null"/> is reserved for NULL.
/// </summary>
public sealed class IbmModel1
{
    /// <summary>The id of the NULL source word (every source sentence gets it at position −1).</summary>
    public const int Null = -1;

    private readonly int _sourceVocab, _targetVocab;
    // t[(e + 1) * V_f + f] = t(f | e); row 0 is NULL
    private double[] _t;

    public IbmModel1(int sourceVocabulary, int targetVocabulary)
    {
        if (sourceVocabulary < 1) throw new ArgumentOutOfRangeException(nameof(sourceVocabulary), sourceVocabulary, "Expected a source vocabulary ≥ 1.");
        if (targetVocabulary < 1) throw new ArgumentOutOfRangeException(nameof(targetVocabulary), targetVocabulary, "Expected a target vocabulary ≥ 1.");
        _sourceVocab = sourceVocabulary;
        _targetVocab = targetVocabulary;
        // uniform start: every t(f | e) = 1/V_f (Brown et al. start EM from uniform tables; any positive start works)
        _t = Enumerable.Repeat(1.0 / targetVocabulary, (sourceVocabulary + 1) * targetVocabulary).ToArray();
    }

    public int SourceVocabulary => _sourceVocab;
    public int TargetVocabulary => _targetVocab;

    /// <summary>t(f | e); e = <see cref="Null"/> for the NULL word.</summary>
    public double Translation(int targetWord, int sourceWord)
    {
        CheckWord(targetWord, _targetVocab, nameof(targetWord));
        if (sourceWord != Null) CheckWord(sourceWord, _sourceVocab, nameof(sourceWord));
        return _t[(sourceWord + 1) * _targetVocab + targetWord];
    }

    /// <summary>
    /// One EM iteration over the corpus (pairs of source ids, target ids). Returns the log-likelihood of the corpus
    /// under the parameters *before* the update, Σ log P(f | e) up to the constant ε:
    ///     Σ_pairs Σⱼ log( Σᵢ₌₀..ₗ t(fⱼ | eᵢ) / (l + 1) )
    /// </summary>
    public double EmStep(IReadOnlyList<(int[] Source, int[] Target)> corpus)
    {
        CheckCorpus(corpus);
        var counts = new double[_t.Length];
        var total = new double[_sourceVocab + 1];
        double logLikelihood = 0;
        foreach (var (e, f) in corpus)
        {
            foreach (int fj in f)
            {
                // E-step: posterior over which source word (or NULL) generated fⱼ
                double z = _t[fj];
                foreach (int ei in e) z += _t[(ei + 1) * _targetVocab + fj];
                logLikelihood += Math.Log(z / (e.Length + 1));
                double pNull = _t[fj] / z;
                counts[fj] += pNull; total[0] += pNull;
                foreach (int ei in e)
                {
                    double p = _t[(ei + 1) * _targetVocab + fj] / z;
                    counts[(ei + 1) * _targetVocab + fj] += p;
                    total[ei + 1] += p;
                }
            }
        }
        // M-step: t(f | e) = c(f, e) / Σ_f c(f, e); rows never seen keep their old values
        for (int e = 0; e <= _sourceVocab; e++)
        {
            if (total[e] <= 0) continue;
            for (int f = 0; f < _targetVocab; f++) _t[e * _targetVocab + f] = counts[e * _targetVocab + f] / total[e];
        }
        return logLikelihood;
    }

    /// <summary>Log-likelihood of the corpus under the current parameters (same formula as <see cref="EmStep"/>).</summary>
    public double LogLikelihood(IReadOnlyList<(int[] Source, int[] Target)> corpus)
    {
        CheckCorpus(corpus);
        double ll = 0;
        foreach (var (e, f) in corpus)
            foreach (int fj in f)
            {
                double z = _t[fj];
                foreach (int ei in e) z += _t[(ei + 1) * _targetVocab + fj];
                ll += Math.Log(z / (e.Length + 1));
            }
        return ll;
    }

    /// <summary>Runs <paramref name="iterations"/> EM steps; returns the log-likelihood before each step and after the last.</summary>
    public double[] Train(IReadOnlyList<(int[] Source, int[] Target)> corpus, int iterations)
    {
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "Expected at least one EM iteration.");
        var trace = new double[iterations + 1];
        for (int k = 0; k < iterations; k++) trace[k] = EmStep(corpus);
        trace[iterations] = LogLikelihood(corpus);
        return trace;
    }

    /// <summary>
    /// The Viterbi alignment, which for Model 1 factorises per target word: aⱼ = argmaxᵢ t(fⱼ | eᵢ) over i ∈ {NULL, 1..l}.
    /// Words aligned to NULL get no link. Ties go to the first source position.
    /// </summary>
    public List<Link> Viterbi(int[] source, int[] target)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        CheckSentence(source, target);
        var links = new List<Link>(target.Length);
        for (int j = 0; j < target.Length; j++)
        {
            double best = _t[target[j]]; int at = -1;
            for (int i = 0; i < source.Length; i++)
            {
                double p = _t[(source[i] + 1) * _targetVocab + target[j]];
                if (p > best) { best = p; at = i; }
            }
            if (at >= 0) links.Add(new Link(at, j));
        }
        return links;
    }

    private void CheckCorpus(IReadOnlyList<(int[] Source, int[] Target)> corpus)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        if (corpus.Count == 0) throw new ArgumentException("Expected a non-empty corpus of sentence pairs.", nameof(corpus));
        foreach (var (e, f) in corpus) CheckSentence(e, f);
    }

    private void CheckSentence(int[] e, int[] f)
    {
        if (e is null || f is null) throw new ArgumentException("Expected sentence pairs with a source and a target array.");
        foreach (int w in e) CheckWord(w, _sourceVocab, "source");
        foreach (int w in f) CheckWord(w, _targetVocab, "target");
    }

    private static void CheckWord(int w, int vocab, string name)
    {
        if ((uint)w >= (uint)vocab) throw new ArgumentOutOfRangeException(name, w, $"Expected a word id in [0, {vocab}).");
    }
}
