using System.Diagnostics;
using System.Net.Http;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Attention.Tests.Browser;

/// <summary>
/// One headless Chromium driven over the DevTools protocol (a WebSocket; no package): navigate, wait for the load
/// event, evaluate script, move and click the real mouse, and collect what the page reported — uncaught exceptions,
/// console errors and failed loads (Log entries) — since the last navigation.
/// </summary>
internal sealed class ChromiumSession : IDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly Dictionary<int, TaskCompletionSource<JsonElement>> _pending = [];
    private readonly List<(string Method, JsonElement Params)> _events = [];
    private readonly SemaphoreSlim _eventSignal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private int _nextId;

    private ChromiumSession(Process process, string profile, Uri endpoint)
    {
        _process = process;
        _profile = profile;
        _socket.Options.KeepAliveInterval = TimeSpan.Zero;
        _socket.ConnectAsync(endpoint, CancellationToken.None).Wait(TimeSpan.FromSeconds(30));
        _reader = Task.Run(ReadLoop);
        Send("Page.enable");
        Send("Runtime.enable");
        Send("Log.enable");
    }

    /// <summary>Starts Chromium (skips the test where there is none) with a fresh profile and one blank page.</summary>
    public static ChromiumSession Start(int width = 1280, int height = 900)
    {
        Skip.If(HeadlessChromium.Executable is null, HeadlessChromium.Missing);
        var profile = Directory.CreateTempSubdirectory("chromium-cdp-").FullName;
        var start = new ProcessStartInfo(HeadlessChromium.Executable!) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                                  $"--user-data-dir={profile}", "--remote-debugging-port=0", $"--window-size={width},{height}", "about:blank" })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" on stderr once it is up
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("DevTools listening on ", StringComparison.Ordinal))
                listening.TrySetResult(line["DevTools listening on ".Length..].Trim());
        };
        process.BeginErrorReadLine();
        if (!listening.Task.Wait(TimeSpan.FromSeconds(60)))
        {
            try { process.Kill(true); } catch (InvalidOperationException) { }
            throw new TimeoutException("chromium did not open its DevTools endpoint within 60 s");
        }
        var browser = new Uri(listening.Task.Result);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var targets = JsonDocument.Parse(http.GetStringAsync($"http://{browser.Host}:{browser.Port}/json/list").Result).RootElement;
        var page = targets.EnumerateArray().First(t => t.GetProperty("type").GetString() == "page");
        return new ChromiumSession(process, profile, new Uri(page.GetProperty("webSocketDebuggerUrl").GetString()!));
    }

    /// <summary>Sends a DevTools command and waits for its result; a protocol error throws.</summary>
    public JsonElement Send(string method, object? parameters = null, double timeoutSeconds = 60)
    {
        int id;
        var done = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_pending)
        {
            id = ++_nextId;
            _pending[id] = done;
        }
        var message = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        _socket.SendAsync(message, WebSocketMessageType.Text, true, CancellationToken.None).Wait();
        if (!done.Task.Wait(TimeSpan.FromSeconds(timeoutSeconds)))
            throw new TimeoutException($"chromium did not answer {method} within {timeoutSeconds} s");
        return done.Task.Result;
    }

    /// <summary>Opens <paramref name="file"/> and waits for its load event; forgets what earlier pages reported.</summary>
    public void Navigate(string file)
    {
        lock (_events) _events.Clear();
        var url = new Uri(Path.GetFullPath(file)).AbsoluteUri;
        var result = Send("Page.navigate", new { url });
        if (result.TryGetProperty("errorText", out var error) && error.GetString() is { Length: > 0 } text)
            throw new InvalidOperationException($"chromium could not open {file}: {text}");
        WaitForEvent("Page.loadEventFired", 60);
    }

    /// <summary>Waits until an event named <paramref name="method"/> has arrived since the last navigation.</summary>
    public JsonElement WaitForEvent(string method, double timeoutSeconds = 30)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            lock (_events)
                foreach (var (m, p) in _events)
                    if (m == method) return p;
            var left = TimeSpan.FromSeconds(timeoutSeconds) - deadline.Elapsed;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"no {method} within {timeoutSeconds} s");
            _eventSignal.Wait(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page (promises awaited) and returns its value as JSON.</summary>
    public JsonElement Evaluate(string expression)
    {
        var result = Send("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result.TryGetProperty("exceptionDetails", out var details))
            throw new InvalidOperationException("script failed in the page: " + details.ToString());
        var value = result.GetProperty("result");
        return value.TryGetProperty("value", out var v) ? v.Clone() : default;
    }

    /// <summary>Evaluates an expression that returns a JSON string and parses it.</summary>
    public JsonElement EvaluateJson(string expression) => JsonDocument.Parse(Evaluate(expression).GetString()!).RootElement.Clone();

    /// <summary>Polls <paramref name="condition"/> (a boolean expression) until it holds; false after the timeout.</summary>
    public bool WaitUntil(string condition, double timeoutSeconds = 10)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < timeoutSeconds)
        {
            if (Evaluate(condition) is { ValueKind: JsonValueKind.True }) return true;
            Thread.Sleep(50);
        }
        return false;
    }

    public void MouseMove(double x, double y) => Send("Input.dispatchMouseEvent", new { type = "mouseMoved", x, y });

    public void Click(double x, double y)
    {
        MouseMove(x, y);
        Send("Input.dispatchMouseEvent", new { type = "mousePressed", x, y, button = "left", clickCount = 1 });
        Send("Input.dispatchMouseEvent", new { type = "mouseReleased", x, y, button = "left", clickCount = 1 });
    }

    /// <summary>Types <paramref name="text"/> into the focused element as the keyboard would (input events fire).</summary>
    public void Type(string text) => Send("Input.insertText", new { text });

    /// <summary>What the page reported since the last navigation: exceptions, console errors, failed loads (each one line).</summary>
    public List<string> Problems()
    {
        var problems = new List<string>();
        lock (_events)
            foreach (var (method, p) in _events)
            {
                switch (method)
                {
                    case "Runtime.exceptionThrown":
                        var d = p.GetProperty("exceptionDetails");
                        problems.Add("exception: " + (d.TryGetProperty("exception", out var ex) && ex.TryGetProperty("description", out var desc)
                            ? desc.GetString() : d.GetProperty("text").GetString()));
                        break;
                    case "Runtime.consoleAPICalled" when p.GetProperty("type").GetString() is "error" or "assert" or "warning":
                        problems.Add($"console.{p.GetProperty("type").GetString()}: " +
                                     string.Join(" ", p.GetProperty("args").EnumerateArray().Select(a =>
                                         a.TryGetProperty("value", out var v) ? v.ToString() : a.TryGetProperty("description", out var ds) ? ds.GetString() : "?")));
                        break;
                    case "Log.entryAdded" when p.GetProperty("entry").GetProperty("level").GetString() is "error" or "warning":
                        var entry = p.GetProperty("entry");
                        problems.Add($"log {entry.GetProperty("level").GetString()}: {entry.GetProperty("text").GetString()}" +
                                     (entry.TryGetProperty("url", out var u) ? $" ({u.GetString()})" : ""));
                        break;
                }
            }
        return problems;
    }

    private async Task ReadLoop()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var r = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var root = JsonDocument.Parse(message.ToArray()).RootElement.Clone();
                message.SetLength(0);
                if (root.TryGetProperty("id", out var idElement))
                {
                    TaskCompletionSource<JsonElement>? waiter;
                    lock (_pending)
                    {
                        _pending.Remove(idElement.GetInt32(), out waiter);
                    }
                    if (waiter is null) continue;
                    if (root.TryGetProperty("error", out var error)) waiter.TrySetException(new InvalidOperationException("DevTools: " + error));
                    else waiter.TrySetResult(root.GetProperty("result"));
                }
                else if (root.TryGetProperty("method", out var method))
                {
                    lock (_events) _events.Add((method.GetString()!, root.TryGetProperty("params", out var p) ? p : default));
                    _eventSignal.Release();
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (WebSocketException) { }
        lock (_pending)
            foreach (var waiter in _pending.Values) waiter.TrySetException(new InvalidOperationException("chromium closed the DevTools connection"));
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _socket.Abort(); } catch (WebSocketException) { }
        try { if (!_process.HasExited) _process.Kill(true); _process.WaitForExit(10_000); } catch (InvalidOperationException) { }
        _process.Dispose();
        _socket.Dispose();
        try { Directory.Delete(_profile, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
