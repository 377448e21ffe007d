using System.Diagnostics;

namespace Attention.Tests.Browser;

/// <summary>
/// Debian's Chromium, headless, for tests that must see a page the way a reader's browser does (scripts run,
/// console errors reported). <c>.ci/run</c> installs it with apt-get where it is missing and apt-get is there; tests
/// that need it report "skipped", with the reason, where it is not.
/// </summary>
internal static class HeadlessChromium
{
    public static readonly string? Executable = new[] { "chromium", "chromium-browser", "google-chrome" }
        .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(dir => Path.Combine(dir, name)))
        .FirstOrDefault(File.Exists);

    public const string Missing = "no Chromium on this machine (.ci/run installs Debian's chromium where apt-get is available)";

    /// <summary>Loads <paramref name="file"/>, runs its scripts, returns the DOM after them and the console messages.</summary>
    public static (string Dom, IReadOnlyList<string> Console) Load(string file)
    {
        Skip.If(Executable is null, Missing);
        var profile = Directory.CreateTempSubdirectory("chromium-").FullName;
        var start = new ProcessStartInfo(Executable!)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", $"--user-data-dir={profile}",
                                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", "--dump-dom", new Uri(Path.GetFullPath(file)).AbsoluteUri })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var dom = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(120_000)) { process.Kill(true); throw new TimeoutException($"chromium did not finish loading {file} in 120 s"); }
        var console = stderr.Result.Split('\n').Where(l => l.Contains(":CONSOLE", StringComparison.Ordinal)).ToList();
        try { Directory.Delete(profile, true); } catch (IOException) { }
        return (dom, console);
    }
}
