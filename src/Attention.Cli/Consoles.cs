using Spectre.Console;

namespace Attention.Cli;

/// <summary>Spectre consoles over the app's writers: colour and live progress only on a real terminal.</summary>
internal static class Consoles
{
    /// <summary>A console writing to <paramref name="writer"/>; plain text, 160 columns, no ANSI when it is not a terminal.</summary>
    public static IAnsiConsole For(TextWriter writer)
    {
        bool terminal = IsTerminal(writer);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 160;
        return console;
    }

    /// <summary>Whether <paramref name="writer"/> is the process's console stream and that stream is not redirected.</summary>
    public static bool IsTerminal(TextWriter writer)
        => (ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected)
        || (ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected);
}
