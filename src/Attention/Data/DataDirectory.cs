namespace Attention.Data;

/// <summary>
/// Where the vendored datasets (CMU dictionary, MNIST, spoken digits, KJV, graphs, sentences) are read from. One
/// mechanism, searched in this order:
/// <list type="number">
/// <item><see cref="Explicit"/>, when a program sets it;</item>
/// <item>the environment variable <c>ATTN_DATA</c> (<see cref="EnvironmentVariable"/>), a folder;</item>
/// <item><c>data/</c> beside the application (<see cref="AppContext.BaseDirectory"/>): the build copies the datasets
/// there, and the <c>attn</c> tool package carries them;</item>
/// <item>a developer fallback: a <c>data/</c> folder holding the file in the current folder or any folder above it,
/// then above the application's folder.</item>
/// </list>
/// The library package does not carry the datasets (they are about 8 MB): set <c>ATTN_DATA</c> to a folder holding
/// them (a copy of the source repository's <c>data/</c>), or pass a path to the loaders' <c>Load</c> methods.
/// </summary>
public static class DataDirectory
{
    /// <summary>The environment variable naming the data folder.</summary>
    public const string EnvironmentVariable = "ATTN_DATA";

    /// <summary>The folder name beside the application and in the developer fallback.</summary>
    public const string FolderName = "data";

    private static string? _explicit;

    /// <summary>A data folder that wins over every other place (null: not set).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static string? Explicit
    {
        get => _explicit;
        set
        {
            if (value is not null && !Directory.Exists(value))
                throw new DirectoryNotFoundException($"expected an existing data folder, got '{value}', which does not exist");
            _explicit = value is null ? null : Path.GetFullPath(value);
        }
    }

    /// <summary>
    /// The full path of <paramref name="relativePath"/> (a file or a folder, relative to the data folder, e.g.
    /// <c>cmudict/cmudict.txt.gz</c>), from the first place in the search order that holds it.
    /// </summary>
    /// <param name="relativePath">Path under the data folder.</param>
    /// <param name="walkStart">When given, the developer fallback walks up from here only, and the application's
    /// own <c>data/</c> is not consulted (for callers that name where to look).</param>
    /// <exception cref="FileNotFoundException">No place holds it; the message lists every place searched and how to fix it.</exception>
    public static string Find(string relativePath, string? walkStart = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(relativePath);
        if (Path.IsPathRooted(relativePath))
            throw new ArgumentException($"expected a path relative to the data folder, got the rooted path '{relativePath}'", nameof(relativePath));
        var looked = new List<string>();
        string? found = null;
        bool Try(string folder, string label)
        {
            var path = Path.GetFullPath(Path.Combine(folder, relativePath));
            looked.Add($"{label}: {path}");
            if (!File.Exists(path) && !Directory.Exists(path)) return false;
            found = path;
            return true;
        }

        if (_explicit is not null && Try(_explicit, "DataDirectory.Explicit")) return found!;
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env) && Try(env, EnvironmentVariable)) return found!;
        if (string.IsNullOrWhiteSpace(env)) looked.Add($"{EnvironmentVariable}: not set");
        if (walkStart is null && Try(Path.Combine(AppContext.BaseDirectory, FolderName), "beside the application")) return found!;

        var starts = walkStart is null ? new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory } : new[] { walkStart };
        foreach (var start in starts)
        {
            for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            {
                var path = Path.Combine(dir.FullName, FolderName, relativePath);
                if (File.Exists(path) || Directory.Exists(path)) return path;
            }
            looked.Add($"{FolderName}/{relativePath} in '{Path.GetFullPath(start)}' and every folder above it");
        }
        throw new FileNotFoundException(
            $"expected the dataset file {relativePath} in a data folder; looked at {string.Join("; ", looked)}; found none. " +
            $"Set {EnvironmentVariable} to a folder holding it (the source repository's data/ folder), or pass the file's path to the loader",
            relativePath);
    }
}
