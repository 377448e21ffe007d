namespace Attention.Data;

/// <summary>Finds a file vendored under the repository's <c>data/</c> folder, looking up from the working
/// directory and from the running binary for the folder that holds Attention.slnx.</summary>
internal static class RepoData
{
    /// <exception cref="FileNotFoundException">No repository root above the start(s) holds <paramref name="relativePath"/>.</exception>
    public static string Find(string relativePath, string? start = null)
    {
        var starts = start is null ? new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory } : new[] { start };
        foreach (var s in starts)
            for (var dir = new DirectoryInfo(Path.GetFullPath(s)); dir is not null; dir = dir.Parent)
            {
                if (!File.Exists(Path.Combine(dir.FullName, "Attention.slnx"))) continue;
                var path = Path.Combine(dir.FullName, relativePath);
                if (File.Exists(path)) return path;
                break;
            }
        throw new FileNotFoundException(
            $"expected {relativePath} under a repository root (a folder holding Attention.slnx) above '{string.Join("' or '", starts)}', found none");
    }

    /// <summary>A uniform number in [0, 1) fixed by (index, seed) alone: SplitMix64 of the two mixed.</summary>
    public static double UnitHash(long index, ulong seed)
    {
        ulong z = seed ^ ((ulong)index * 0x9E3779B97F4A7C15UL);
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
