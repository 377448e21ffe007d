using System.Text;

namespace Attention.Book;

/// <summary>What kind of repository file a page cites, and so how the site renders it.</summary>
internal enum RepoFileKind { Markdown, Source, Folder }

/// <summary>
/// One site build's state: where things are, and the repository files the pages cite, each given one place in the
/// site (queued to be rendered once) so that no link leaves the site folder.
/// </summary>
internal sealed class SiteContext
{
    /// <summary>The largest repository file copied into the site as a source page.</summary>
    public const long MaxSourceBytes = 512 * 1024;

    private readonly Dictionary<string, string> _placed = new(StringComparer.Ordinal);
    private readonly HashSet<string> _copied = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reserved;

    public SiteContext(string root, string docs, string output,
                       List<(Question Question, AnswerStatus Status, AnswerPage? Page, Experiment? Experiment)> statuses)
    {
        Root = root;
        Docs = docs;
        Output = output;
        Statuses = statuses;
        // names at the site root that docs/ and the builder use: a repository path starting with one goes under repo/
        _reserved = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "assets", "index.html", SiteBuilder.SearchIndexFile, "repo" };
        if (Directory.Exists(docs))
            foreach (var entry in Directory.EnumerateFileSystemEntries(docs))
                _reserved.Add(Path.GetExtension(entry) == ".md" ? Path.ChangeExtension(Path.GetFileName(entry), ".html") : Path.GetFileName(entry));
    }

    public string Root { get; }
    public string Docs { get; }
    public string Output { get; }
    public List<(Question Question, AnswerStatus Status, AnswerPage? Page, Experiment? Experiment)> Statuses { get; }

    /// <summary>Repository files to render into the site: (file or folder, site page, kind).</summary>
    public Queue<(string Source, string Target, RepoFileKind Kind)> Pending { get; } = new();

    /// <summary>Files under docs copied as they are (figures, interactive views).</summary>
    public List<(string Source, string Target)> Copies { get; } = [];

    /// <summary>"page: link" for links shown as text.</summary>
    public List<string> KeptAsText { get; } = [];

    /// <summary>The HTML file of an answer page in the site.</summary>
    public string HtmlOf(AnswerPage page) => Path.Combine(Output, Path.ChangeExtension(Path.GetRelativePath(Docs, page.Path), ".html"));

    /// <summary>
    /// A link as the site needs it, or null when its target cannot be in the site (the caller shows it as text).
    /// External and in-page links stay; a .md file under docs becomes its .html; another file under docs is copied
    /// at the same place; a repository file outside docs is rendered into the site (source highlighted, Markdown as a
    /// page, a folder as a listing) at its repository path, and the link points there.
    /// </summary>
    public string? Rewrite(string url, string sourceDir, string htmlDir)
    {
        if (url.Length == 0 || url.StartsWith('#') || SchemePattern(url)) return url;
        if (url.StartsWith('/')) return null;                                 // absolute: means nothing inside a site folder
        int cut = url.IndexOfAny(['#', '?']);
        string path = cut < 0 ? url : url[..cut], suffix = cut < 0 ? "" : url[cut..];
        if (path.Length == 0) return url;
        var target = Path.GetFullPath(Path.Combine(sourceDir, Uri.UnescapeDataString(path).Replace('/', Path.DirectorySeparatorChar)));
        var siteTarget = Place(target);
        return siteTarget is null ? null : SiteBuilder.Link(htmlDir, siteTarget) + suffix;
    }

    /// <summary>Where <paramref name="target"/> (a repository path) lives in the site, scheduling its copy or rendering; null if it cannot.</summary>
    private string? Place(string target)
    {
        target = Path.TrimEndingDirectorySeparator(target);
        if (SiteBuilder.PathContains(Docs, target))
        {
            if (Directory.Exists(target))
            {
                // a docs folder is its README page (docs/answers → answers/README.html), the docs root the contents
                var readme = Path.Combine(target, "README.md");
                if (File.Exists(readme)) return Path.Combine(Output, Path.ChangeExtension(Path.GetRelativePath(Docs, readme), ".html"));
                return Path.TrimEndingDirectorySeparator(target) == Path.TrimEndingDirectorySeparator(Docs) ? Path.Combine(Output, "index.html") : null;
            }
            var rel = Path.GetRelativePath(Docs, target);
            if (string.Equals(Path.GetExtension(target), ".md", StringComparison.OrdinalIgnoreCase))
                return File.Exists(target) ? Path.Combine(Output, Path.ChangeExtension(rel, ".html")) : null;
            var copy = Path.Combine(Output, rel);
            if (!File.Exists(target)) return File.Exists(copy) ? copy : null;   // a figure of a fresh run is already in place
            if (_copied.Add(target)) Copies.Add((target, copy));
            return copy;
        }
        if (!SiteBuilder.PathContains(Root, target) || SiteBuilder.PathContains(Output, target)) return null;
        if (_placed.TryGetValue(target, out var placed)) return placed;
        var relative = Path.GetRelativePath(Root, target);
        if (relative == "." || relative.Split(Path.DirectorySeparatorChar).Any(s => (s.StartsWith('.') && s != ".") || s is "bin" or "obj")) return null;
        string? site = null;
        RepoFileKind kind;
        if (Directory.Exists(target))
        {
            site = Path.Combine(SitePath(relative), "index.html");
            kind = RepoFileKind.Folder;
        }
        else if (File.Exists(target) && string.Equals(Path.GetExtension(target), ".md", StringComparison.OrdinalIgnoreCase))
        {
            site = Path.ChangeExtension(SitePath(relative), ".html");
            kind = RepoFileKind.Markdown;
        }
        else if (File.Exists(target) && IsText(target))
        {
            site = SitePath(relative) + ".html";
            kind = RepoFileKind.Source;
        }
        else return null;
        _placed[target] = site;
        Pending.Enqueue((target, site, kind));
        return site;
    }

    /// <summary>The site path of a repository path: the same path, under repo/ when its first part is a name the site uses.</summary>
    private string SitePath(string relative)
    {
        var first = relative.Split(Path.DirectorySeparatorChar)[0];
        var asPage = Path.GetExtension(first) == ".md" ? Path.ChangeExtension(first, ".html") : first;
        return _reserved.Contains(first) || _reserved.Contains(asPage) ? Path.Combine(Output, "repo", relative) : Path.Combine(Output, relative);
    }

    /// <summary>A file small enough to show and that reads as UTF-8 text (no NUL byte, decodes strictly).</summary>
    private static bool IsText(string file)
    {
        var info = new FileInfo(file);
        if (info.Length > MaxSourceBytes) return false;
        var bytes = File.ReadAllBytes(file);
        if (Array.IndexOf(bytes, (byte)0) >= 0) return false;
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException) { return false; }
    }

    private static bool SchemePattern(string url)
    {
        int colon = url.IndexOf(':');
        if (colon <= 0 || !char.IsAsciiLetter(url[0])) return false;
        for (int i = 1; i < colon; i++)
            if (!(char.IsAsciiLetterOrDigit(url[i]) || url[i] is '+' or '.' or '-')) return false;
        return true;
    }
}
