using System.Text.Encodings.Web;
using System.Text.Json;
using Dfer.Runtime;

namespace Dfer.Cli.Profiling;

/// <summary>
/// Writes a profile as a Chrome trace (the JSON Object Format that Perfetto and chrome://tracing
/// open): one complete ("X") event per layer per pass, times in microseconds, one thread per pass.
/// </summary>
internal static class ChromeTrace
{
    public static void Write(string path, ProfileResult profile)
    {
        try
        {
            using var stream = File.Create(path);
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            json.WriteStartObject();
            json.WriteStartArray("traceEvents");
            foreach (TraceEvent e in profile.Trace)
            {
                json.WriteStartObject();
                json.WriteString("name", e.Name);
                json.WriteString("cat", e.Op);
                json.WriteString("ph", "X");
                json.WriteNumber("ts", Math.Round(e.StartUs, 3));
                json.WriteNumber("dur", Math.Round(e.DurationUs, 3));
                json.WriteNumber("pid", 1);
                json.WriteNumber("tid", e.Pass + 1);
                json.WriteStartObject("args");
                json.WriteString("op", e.Op);
                json.WriteNumber("flops", e.Flops);
                json.WriteNumber("bytes", e.Bytes);
                json.WriteNumber("pass", e.Pass);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            // Names for the process and its threads in the viewer.
            WriteMeta(json, "process_name", 0, $"dfer {profile.Model} on {profile.Backend} (batch {profile.Batch})");
            for (int pass = 0; pass < profile.Repeats; pass++) WriteMeta(json, "thread_name", pass + 1, $"pass {pass + 1}");
            json.WriteEndArray();
            json.WriteString("displayTimeUnit", "ms");
            json.WriteEndObject();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write the trace: {ex.Message}");
        }
    }

    private static void WriteMeta(Utf8JsonWriter json, string name, int tid, string value)
    {
        json.WriteStartObject();
        json.WriteString("name", name);
        json.WriteString("ph", "M");
        json.WriteNumber("pid", 1);
        json.WriteNumber("tid", tid);
        json.WriteStartObject("args");
        json.WriteString("name", value);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
