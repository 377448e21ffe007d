namespace Attention.Interpret;

/// <summary>
/// The hand-written English sentences under <c>data/sentences/</c> (see its PROVENANCE.md): paraphrase pairs
/// (<c>pairs.tsv</c>, sentence TAB paraphrase) and single sentences (<c>sentences.txt</c>). Lines starting
/// with '#' are comments.
/// </summary>
public sealed class SentenceCorpus
{
    /// <summary>The folder, relative to the data folder (<see cref="Attention.Data.DataDirectory"/>).</summary>
    public const string DataRelativeFolder = "sentences";

    public SentenceCorpus(IReadOnlyList<(string A, string B)> pairs, IReadOnlyList<string> singles)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(singles);
        Pairs = pairs;
        Singles = singles;
    }

    /// <summary>Paraphrase pairs.</summary>
    public IReadOnlyList<(string A, string B)> Pairs { get; }

    /// <summary>Sentences that belong to no pair.</summary>
    public IReadOnlyList<string> Singles { get; }

    /// <summary>Every sentence: both sides of each pair in order, then the singles.</summary>
    public IReadOnlyList<string> All => Pairs.SelectMany(p => new[] { p.A, p.B }).Concat(Singles).ToList();

    private static readonly Lazy<SentenceCorpus> RepoCopy = new(() => Load(FindRepoFolder()));

    /// <summary>The vendored copy (from the data folder), parsed once.</summary>
    public static SentenceCorpus LoadRepoCopy() => RepoCopy.Value;

    /// <summary>Reads <c>pairs.tsv</c> and <c>sentences.txt</c> from <paramref name="folder"/>.</summary>
    /// <exception cref="InvalidDataException">A pair line without exactly one tab, naming the file and line.</exception>
    public static SentenceCorpus Load(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        var pairs = new List<(string, string)>();
        var pairPath = Path.Combine(folder, "pairs.tsv");
        int number = 0;
        foreach (var line in File.ReadLines(pairPath))
        {
            number++;
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split('\t');
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
                throw new InvalidDataException($"{pairPath}:{number}: expected 'sentence<TAB>paraphrase', got {parts.Length} field(s)");
            pairs.Add((parts[0].Trim(), parts[1].Trim()));
        }
        var singles = File.ReadLines(Path.Combine(folder, "sentences.txt"))
            .Where(l => l.Trim().Length > 0 && !l.StartsWith('#')).Select(l => l.Trim()).ToList();
        return new SentenceCorpus(pairs, singles);
    }

    /// <summary>The <c>sentences</c> folder in the data folder (<see cref="Attention.Data.DataDirectory.Find"/>).</summary>
    /// <exception cref="FileNotFoundException">No data folder holds it; the message lists where it looked.</exception>
    public static string FindRepoFolder() => Attention.Data.DataDirectory.Find(DataRelativeFolder);
}
