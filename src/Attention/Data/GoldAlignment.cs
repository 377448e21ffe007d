namespace Attention.Data;

/// <summary>One alignment link: source position <see cref="Source"/> ↔ target position <see cref="Target"/> (0-based).</summary>
public readonly record struct Link(int Source, int Target);

/// <summary>
/// A gold word (or character) alignment in the convention of Och &amp; Ney (2000; 2003): Sure links S, which
/// annotators agree on, and Possible links P for the ambiguous ones, with S ⊆ P. <see cref="Possible"/> always
/// holds the Sure links too.
/// </summary>
public sealed class GoldAlignment
{
    public GoldAlignment(int sourceLength, int targetLength, IEnumerable<Link> sure, IEnumerable<Link> possibleOnly)
    {
        if (sourceLength < 1) throw new ArgumentOutOfRangeException(nameof(sourceLength), sourceLength, "Expected a source length ≥ 1.");
        if (targetLength < 1) throw new ArgumentOutOfRangeException(nameof(targetLength), targetLength, "Expected a target length ≥ 1.");
        ArgumentNullException.ThrowIfNull(sure);
        ArgumentNullException.ThrowIfNull(possibleOnly);
        SourceLength = sourceLength;
        TargetLength = targetLength;
        Sure = new HashSet<Link>(sure);
        Possible = new HashSet<Link>(Sure);
        Possible.UnionWith(possibleOnly);
        foreach (var l in Possible)
            if ((uint)l.Source >= (uint)sourceLength || (uint)l.Target >= (uint)targetLength)
                throw new ArgumentException($"Expected links inside {sourceLength}×{targetLength} (source × target); got ({l.Source}, {l.Target}).");
    }

    public int SourceLength { get; }
    public int TargetLength { get; }
    /// <summary>S: the sure links.</summary>
    public HashSet<Link> Sure { get; }
    /// <summary>P ⊇ S: sure and possible links.</summary>
    public HashSet<Link> Possible { get; }
}
