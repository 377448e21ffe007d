using ScottPlot;
using SkiaSharp;

namespace Attention.Plots;

/// <summary>
/// Registers the DejaVu Sans font embedded in this assembly with ScottPlot and makes it the default.
/// ScottPlot asks the system for fonts; on a machine without any (a bare container, CI) Skia falls back
/// to an empty typeface and every title, label and tick silently disappears. Shipping the font avoids that.
/// </summary>
public static class BundledFont
{
    /// <summary>The family name charts use.</summary>
    public const string Name = "DejaVu Sans";

    private static readonly Lock Gate = new();
    private static bool _registered;

    /// <summary>Registers the font once per process; safe to call from any thread, any number of times.</summary>
    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered) return;
            var resolver = new EmbeddedFontResolver(
                Load("Attention.Plots.Fonts.DejaVuSans.ttf"),
                Load("Attention.Plots.Fonts.DejaVuSans-Bold.ttf"));
            // first in the list: asked before the system resolver
            Fonts.FontResolvers.Insert(0, resolver);
            Fonts.Default = Name;
            Fonts.Sans = Name;
            _registered = true;
        }
    }

    private static SKTypeface Load(string resource)
    {
        using var stream = typeof(BundledFont).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded font '{resource}' is missing from {typeof(BundledFont).Assembly.GetName().Name}.");
        using var data = SKData.Create(stream);
        return SKTypeface.FromData(data)
            ?? throw new InvalidOperationException($"Embedded font '{resource}' could not be read by Skia.");
    }

    private sealed class EmbeddedFontResolver(SKTypeface regular, SKTypeface bold) : IFontResolver
    {
        public SKTypeface? CreateTypeface(string fontName, bool bold1, bool italic)
            => Matches(fontName) ? (bold1 ? bold : regular) : null;

        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing spacing)
            => Matches(fontName) ? ((int)weight >= (int)FontWeight.SemiBold ? bold : regular) : null;

        private static bool Matches(string fontName) => string.Equals(fontName, Name, StringComparison.OrdinalIgnoreCase);
    }
}
