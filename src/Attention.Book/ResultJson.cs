using System.Text.Encodings.Web;
using System.Text.Json;

namespace Attention.Book;

/// <summary>
/// The JSON form of a run, printed by <c>attn show N --json</c>:
/// <c>{"question": N, "metrics": {...}, "checks": [{"claim": "...", "holds": true}], "tables": [...], "figures": ["path"]}</c>
/// plus a few descriptive keys (title, setting, seed, seconds, notes). Non-finite metrics are written as null.
/// </summary>
public static class ResultJson
{
    /// <summary>The run as one line of JSON (no trailing newline).</summary>
    public static string Write(ExperimentRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Result is null)
            throw new ArgumentException($"Run of {run.Experiment.GetType().Name} has no result (it failed: {run.Error?.Message}).", nameof(run));
        var r = run.Result;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteNumber("question", run.Experiment.Question);
            json.WriteString("title", run.Experiment.Title);
            json.WriteString("setting", run.Setting);
            json.WriteNumber("seed", run.Seed);
            json.WriteNumber("seconds", Math.Round(run.Elapsed.TotalSeconds, 3));

            json.WriteStartObject("metrics");
            foreach (var (name, value) in r.Metrics)
            {
                if (double.IsFinite(value)) json.WriteNumber(name, value);
                else json.WriteNull(name);
            }
            json.WriteEndObject();

            json.WriteStartArray("checks");
            foreach (var check in r.Checks)
            {
                json.WriteStartObject();
                json.WriteString("claim", check.Claim);
                json.WriteBoolean("holds", check.Holds);
                if (check.Detail is not null) json.WriteString("detail", check.Detail);
                if (check.Timing) json.WriteBoolean("timing", true);
                json.WriteEndObject();
            }
            json.WriteEndArray();

            json.WriteStartArray("tables");
            foreach (var table in r.Tables)
            {
                json.WriteStartObject();
                json.WriteString("title", table.Title);
                json.WriteStartArray("columns");
                foreach (var c in table.Columns) json.WriteStringValue(c);
                json.WriteEndArray();
                json.WriteStartArray("rows");
                foreach (var row in table.Rows)
                {
                    json.WriteStartArray();
                    foreach (var cell in row) json.WriteStringValue(cell);
                    json.WriteEndArray();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();

            json.WriteStartArray("figures");
            foreach (var figure in r.Figures) json.WriteStringValue(Path.GetFullPath(figure.Path));
            json.WriteEndArray();

            json.WriteStartArray("notes");
            foreach (var note in r.Notes) json.WriteStringValue(note);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
