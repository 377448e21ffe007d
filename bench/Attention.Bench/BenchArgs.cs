using System.Globalization;

namespace Attention.Bench;

/// <summary>
/// A benchmark verb's options: <c>--name value</c> pairs and bare <c>--flag</c>s, checked against the names the verb
/// knows, so that a mistyped option stops the run with a message instead of being ignored.
/// </summary>
internal sealed class BenchArgs
{
    private readonly Dictionary<string, string?> _given = new(StringComparer.Ordinal);

    /// <exception cref="ArgumentException">An option the verb does not know, or one whose value is missing.</exception>
    public BenchArgs(string verb, string[] args, string[] valued, string[]? flags = null)
    {
        flags ??= [];
        for (int i = 0; i < args.Length; i++)
        {
            if (valued.Contains(args[i]))
            {
                if (i + 1 >= args.Length) throw new ArgumentException($"{verb}: {args[i]} expects a value");
                _given[args[i]] = args[++i];
            }
            else if (flags.Contains(args[i])) _given[args[i]] = null;
            else throw new ArgumentException($"{verb}: unknown option '{args[i]}': expected {string.Join(", ", valued.Select(v => v + " VALUE").Concat(flags))}");
        }
    }

    /// <summary>Whether the flag or option was given.</summary>
    public bool Has(string name) => _given.ContainsKey(name);

    /// <summary>The option's value, or null when it was not given.</summary>
    public string? Text(string name) => _given.GetValueOrDefault(name);

    /// <summary>The option's value as a positive integer, or <paramref name="fallback"/> when it was not given.</summary>
    /// <exception cref="ArgumentException">The value is not a positive integer.</exception>
    public int Int(string name, int fallback)
    {
        if (Text(name) is not string text) return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v : throw new ArgumentException($"{name} expects a positive integer, got '{text}'");
    }
}
