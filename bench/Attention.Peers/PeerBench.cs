namespace Attention.Peers;

/// <summary>The side-by-side peer benchmark behind `attn bench` (stub until the peers work lands).</summary>
public static class PeerBench
{
    /// <summary>Runs the benchmark (short unless <paramref name="full"/>), writes Markdown/JSON results into
    /// <paramref name="resultsDirectory"/> and a readable table to <paramref name="log"/>. Returns the Markdown path.</summary>
    public static string Run(bool full, string resultsDirectory, TextWriter log)
        => throw new NotImplementedException("filled by the peers work");
}
