using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Attention.Cli.Quiz;

/// <summary>The store could not be read (corrupt, wrong format, unreadable): it is left exactly as it was.</summary>
public sealed class QuizStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Quiz progress in one small JSON file (default: <c>LocalApplicationData/attn/quiz.json</c>).
/// Saving writes a temporary file beside it, flushes it to disk and then atomically replaces the store, keeping the
/// previous version as <c>FILE.bak</c>: a crash mid-write leaves either the old store or the new one, never half of
/// one. An unreadable store is reported (<see cref="QuizStoreException"/>) and never overwritten by a save.
/// </summary>
public sealed class QuizStore
{
    public const int FormatVersion = 1;

    /// <summary>The store file.</summary>
    public string Path { get; }

    /// <summary>The previous version, kept by every save.</summary>
    public string BackupPath => Path + ".bak";

    public QuizStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The default store: <c>attn/quiz.json</c> in the user's local data directory.</summary>
    public static string DefaultPath()
    {
        var dir = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(dir)) dir = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return System.IO.Path.Combine(dir, "attn", "quiz.json");
    }

    /// <summary>
    /// The progress by question. No store yet: empty. A store missing while its backup exists (a crash between the two
    /// renames of a replace): the backup. Anything unreadable throws <see cref="QuizStoreException"/> naming the file.
    /// </summary>
    public Dictionary<int, CardProgress> Load()
    {
        string file = File.Exists(Path) ? Path : File.Exists(BackupPath) ? BackupPath : "";
        if (file.Length == 0) return [];
        string text;
        try { text = File.ReadAllText(file, Encoding.UTF8); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuizStoreException($"cannot read the quiz store {file}: {e.Message}", e);
        }
        try { return Parse(text); }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException or OverflowException)
        {
            throw new QuizStoreException(
                $"the quiz store {file} is unreadable ({e.Message}); it was left as it is: repair or move it, " +
                $"or pass --store with another file (the previous version, if any, is {BackupPath})", e);
        }
    }

    /// <summary>Writes <paramref name="progress"/> atomically (temp file, flush, replace; the old store becomes the backup).</summary>
    public void Save(IReadOnlyDictionary<int, CardProgress> progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(dir);
        var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(Path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                var bytes = Serialize(progress);
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            if (File.Exists(Path)) File.Replace(temp, Path, BackupPath, ignoreMetadataErrors: true);
            else File.Move(temp, Path);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Forgets all progress; the old store is kept as the backup.</summary>
    public void Reset() => Save(new Dictionary<int, CardProgress>());

    internal static byte[] Serialize(IReadOnlyDictionary<int, CardProgress> progress)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("version", FormatVersion);
            json.WriteStartObject("cards");
            foreach (var (q, p) in progress.OrderBy(kv => kv.Key))
            {
                json.WriteStartObject(q.ToString(CultureInfo.InvariantCulture));
                json.WriteNumber("repetitions", p.Repetitions);
                json.WriteNumber("easiness", p.Easiness);
                json.WriteNumber("intervalDays", p.IntervalDays);
                json.WriteString("due", p.Due.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
                json.WriteNumber("reviews", p.Reviews);
                json.WriteNumber("lastGrade", p.LastGrade);
                json.WriteString("lastReviewed", p.LastReviewed.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    internal static Dictionary<int, CardProgress> Parse(string text)
    {
        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("expected a JSON object");
        int version = root.GetProperty("version").GetInt32();
        if (version != FormatVersion) throw new FormatException($"expected format version {FormatVersion}; got {version}");
        var cards = new Dictionary<int, CardProgress>();
        foreach (var card in root.GetProperty("cards").EnumerateObject())
        {
            if (!int.TryParse(card.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int q) || q is < 1 or > Attention.Book.Questions.Count)
                throw new FormatException($"expected question numbers 1..{Attention.Book.Questions.Count} as keys; got '{card.Name}'");
            var v = card.Value;
            var p = new CardProgress
            {
                Repetitions = v.GetProperty("repetitions").GetInt32(),
                Easiness = v.GetProperty("easiness").GetDouble(),
                IntervalDays = v.GetProperty("intervalDays").GetInt32(),
                Due = DateTimeOffset.Parse(v.GetProperty("due").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                Reviews = v.GetProperty("reviews").GetInt32(),
                LastGrade = v.GetProperty("lastGrade").GetInt32(),
                LastReviewed = DateTimeOffset.Parse(v.GetProperty("lastReviewed").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
            };
            if (p.Repetitions < 0 || p.IntervalDays < 0 || p.Reviews < 0 || p.LastGrade is < 0 or > Sm2.MaxGrade
                || !double.IsFinite(p.Easiness) || p.Easiness < Sm2.MinimumEasiness)
                throw new FormatException($"question {q} holds values out of range");
            cards[q] = p;
        }
        return cards;
    }
}
