namespace Attention.Book;

/// <summary>Where things live in the repository: its root (the folder holding Attention.slnx) and the answer pages.</summary>
public static class RepoPaths
{
    public const string SolutionFile = "Attention.slnx";

    /// <summary>
    /// The repository root: <paramref name="explicitRoot"/> when given (it must hold Attention.slnx), else the first
    /// folder holding Attention.slnx walking up from the current directory, then from the application's base directory.
    /// </summary>
    public static string FindRoot(string? explicitRoot = null)
    {
        if (explicitRoot is not null)
        {
            var full = Path.GetFullPath(explicitRoot);
            if (!File.Exists(Path.Combine(full, SolutionFile)))
                throw new DirectoryNotFoundException($"Expected a repository root holding {SolutionFile}; '{full}' has none.");
            return full;
        }
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            var found = WalkUp(start);
            if (found is not null) return found;
        }
        throw new DirectoryNotFoundException(
            $"Could not find the repository root ({SolutionFile}) above '{Directory.GetCurrentDirectory()}' or '{AppContext.BaseDirectory}'.");
    }

    /// <summary>The first folder at or above <paramref name="start"/> holding Attention.slnx, or null.</summary>
    public static string? WalkUp(string start)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile))) return dir.FullName;
        return null;
    }

    /// <summary>docs/ under the root.</summary>
    public static string Docs(string root) => Path.Combine(root, "docs");

    /// <summary>docs/answers/ under the root.</summary>
    public static string Answers(string root) => Path.Combine(root, "docs", "answers");

    /// <summary>The name of the folder beside the application that holds the book's sources (<see cref="ShippedBook"/>).</summary>
    public const string ShippedBookFolder = "book";

    /// <summary>
    /// The book's sources beside the application (book/, which the attn tool package and every build of it carry), or
    /// null: a folder laid out like the repository with what the site needs and nothing else — docs/ (the answer pages,
    /// their figures, the questions), README.md, CHANGELOG.md, the source files of src/ and tests/ that the pages cite,
    /// bench/results/ and the notes of data/. <c>attn book</c> builds the site from it outside a checkout. It holds no
    /// <see cref="SolutionFile"/>, so it is never taken for a checkout and its pages are never rewritten.
    /// </summary>
    public static string? ShippedBook()
    {
        var path = Path.Combine(AppContext.BaseDirectory, ShippedBookFolder);
        return Directory.Exists(Answers(path)) ? path : null;
    }

    /// <summary>The answer pages beside the application (book/docs/answers, see <see cref="ShippedBook"/>), or null.</summary>
    public static string? ShippedAnswers() => ShippedBook() is { } book ? Answers(book) : null;

    /// <summary>
    /// The answer pages to read: docs/answers under the repository root when one is found, else the copy beside the
    /// application (<see cref="ShippedAnswers"/>), else null.
    /// </summary>
    public static string? FindAnswers()
    {
        try { return Answers(FindRoot()); }
        catch (DirectoryNotFoundException) { return ShippedAnswers(); }
    }

    /// <summary>Where <c>attn book</c> writes the site by default.</summary>
    public static string DefaultSite(string root) => Path.Combine(root, "site");

    /// <summary>The source file of an experiment class, by the naming convention (it may not exist).</summary>
    public static string ExperimentSource(string root, string className)
        => Path.Combine(root, "src", "Attention.Book", "Experiments", className + ".cs");
}
