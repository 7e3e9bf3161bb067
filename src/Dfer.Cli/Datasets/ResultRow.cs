using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.VisualBasic.FileIO;

namespace Dfer.Cli.Datasets;

/// <summary>One video's line in a results file: its scores, or why it failed.</summary>
internal sealed record ResultRow(string Video, string Input, string? Target, string? Label, int Clips,
    float[]? Probabilities, float[]? Logits, string? Error)
{
    public bool Ok => Error is null && Label is not null;
}

/// <summary>
/// A results file of a dataset run: JSON Lines (<c>.jsonl</c>) or CSV (<c>.csv</c>), one row per
/// video, written as each video finishes and flushed, so an interrupted run leaves every finished
/// row behind and <c>--resume</c> can continue from it.
/// </summary>
internal sealed class ResultsFile : IDisposable
{
    private readonly TextWriter _writer;
    private readonly bool _csv, _ownsWriter;
    private readonly IReadOnlyList<string> _classes;

    private ResultsFile(TextWriter writer, bool csv, IReadOnlyList<string> classes, bool ownsWriter = true)
    {
        _writer = writer;
        _csv = csv;
        _classes = classes;
        _ownsWriter = ownsWriter;
    }

    /// <summary>JSON Lines rows on a writer the caller owns (stdout, when no --output is given).</summary>
    public static ResultsFile JsonLines(TextWriter writer, IReadOnlyList<string> classes) => new(writer, false, classes, ownsWriter: false);

    /// <summary>True for a .csv path, false for .jsonl/.json; anything else is a usage error.</summary>
    public static bool IsCsv(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".csv" => true,
            ".jsonl" or ".json" or ".ndjson" => false,
            _ => throw new DferException($"--output {path}: name a .jsonl or .csv file (the extension picks the format)"),
        };
    }

    /// <summary>
    /// Starts the file afresh with <paramref name="kept"/> rows (those of a resumed run), writing to
    /// a temporary file renamed over the old one, so a crash here loses nothing.
    /// </summary>
    public static ResultsFile Create(string path, IReadOnlyList<string> classes, IReadOnlyList<ResultRow> kept)
    {
        bool csv = IsCsv(path);
        string temp = path + ".tmp";
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            using (var w = new StreamWriter(temp, false, new UTF8Encoding(false)))
            {
                var file = new ResultsFile(w, csv, classes);
                if (csv) w.WriteLine(string.Join(",", CsvHeader(classes)));
                foreach (ResultRow row in kept) file.WriteRow(row);
            }
            File.Move(temp, path, overwrite: true);
            var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
            return new ResultsFile(writer, csv, classes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write: {ex.Message}");
        }
    }

    /// <summary>Appends one row and flushes it to disk.</summary>
    public void Append(ResultRow row)
    {
        WriteRow(row);
        _writer.Flush();
    }

    private void WriteRow(ResultRow row)
    {
        if (_csv) _writer.WriteLine(string.Join(",", CsvFields(row).Select(CsvQuote)));
        else _writer.WriteLine(JsonLine(row));
    }

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string JsonLine(ResultRow row)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("video", row.Video);
            json.WriteString("input", row.Input);
            if (row.Target is not null) json.WriteString("target", row.Target);
            if (row.Ok)
            {
                json.WriteString("label", row.Label);
                json.WriteNumber("clips", row.Clips);
                Output.WriteFloats(json, "probabilities", row.Probabilities);
                Output.WriteFloats(json, "logits", row.Logits);
            }
            else json.WriteString("error", row.Error);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static IEnumerable<string> CsvHeader(IReadOnlyList<string> classes) =>
        new[] { "video", "input", "target", "label", "clips" }
            .Concat(classes.Select(c => "p_" + c))
            .Concat(classes.Select(c => "logit_" + c))
            .Append("error");

    private IEnumerable<string> CsvFields(ResultRow row)
    {
        int n = _classes.Count;
        IEnumerable<string> Numbers(float[]? values) =>
            values is null ? Enumerable.Repeat("", n) : values.Select(v => v.ToString("R", CultureInfo.InvariantCulture));
        return new[] { row.Video, row.Input, row.Target ?? "", row.Ok ? row.Label! : "", row.Ok ? row.Clips.ToString(CultureInfo.InvariantCulture) : "" }
            .Concat(Numbers(row.Ok ? row.Probabilities : null))
            .Concat(Numbers(row.Ok ? row.Logits : null))
            .Append(row.Error ?? "");
    }

    private static string CsvQuote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) < 0 && field.Trim() == field ? field : "\"" + field.Replace("\"", "\"\"") + "\"";

    /// <summary>
    /// Reads the rows of an earlier run. A last line cut short by an interruption is dropped (that
    /// video is simply scored again); any other unreadable line is an error naming the line.
    /// </summary>
    public static List<ResultRow> Read(string path, IReadOnlyList<string> classes)
    {
        bool csv = IsCsv(path);
        try
        {
            return csv ? ReadCsv(path, classes) : ReadJsonl(path, classes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot read: {ex.Message}");
        }
    }

    private static List<ResultRow> ReadJsonl(string path, IReadOnlyList<string> classes)
    {
        var rows = new List<ResultRow>();
        string[] lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0) continue;
            try
            {
                using var doc = JsonDocument.Parse(lines[i]);
                rows.Add(FromJson(doc.RootElement, classes.Count));
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
            {
                if (i == lines.Length - 1) break;
                throw DferException.ForFile(path, $"line {i + 1} is not a result row of dfer ({CliConsole.OneLine(ex.Message)}); cannot resume from this file");
            }
        }
        return rows;
    }

    private static ResultRow FromJson(JsonElement e, int classes)
    {
        string? Str(string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        float[]? Floats(string name)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array) return null;
            var values = v.EnumerateArray().Select(x => x.GetSingle()).ToArray();
            return values.Length == classes ? values : throw new FormatException($"'{name}' has {values.Length} values, not {classes}");
        }
        string video = Str("video") ?? throw new KeyNotFoundException("no 'video'");
        string input = Str("input") ?? "";
        string? error = Str("error");
        int clips = e.TryGetProperty("clips", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 0;
        var row = new ResultRow(video, input, Str("target"), Str("label"), clips, Floats("probabilities"), Floats("logits"), error);
        if (error is null && (row.Label is null || row.Probabilities is null || row.Logits is null))
            throw new FormatException("a row without an error must have label, probabilities and logits");
        return row;
    }

    private static List<ResultRow> ReadCsv(string path, IReadOnlyList<string> classes)
    {
        var rows = new List<ResultRow>();
        string[] expected = CsvHeader(classes).ToArray();
        int lineCount = File.ReadAllLines(path).Length;
        using var parser = new TextFieldParser(path) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true };
        parser.SetDelimiters(",");
        string[]? header = parser.EndOfData ? null : parser.ReadFields();
        if (header is null) return rows;
        if (!header.SequenceEqual(expected))
            throw DferException.ForFile(path, $"its header is not that of a dfer results file for these classes ({string.Join(",", expected.Take(6))},...); cannot resume from it");
        int n = classes.Count;
        while (!parser.EndOfData)
        {
            long line = parser.LineNumber;
            try
            {
                string[] f = parser.ReadFields() ?? [];
                if (f.Length == 0) continue;
                if (f.Length != expected.Length) throw new FormatException($"{f.Length} fields, expected {expected.Length}");
                string? error = f[^1].Length > 0 ? f[^1] : null;
                float[]? Floats(int start) => f[start].Length == 0 ? null
                    : f.Skip(start).Take(n).Select(s => float.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
                var row = new ResultRow(f[0], f[1], f[2].Length > 0 ? f[2] : null, f[3].Length > 0 ? f[3] : null,
                    f[4].Length > 0 ? int.Parse(f[4], CultureInfo.InvariantCulture) : 0, Floats(5), Floats(5 + n), error);
                if (error is null && (row.Label is null || row.Probabilities is null || row.Logits is null))
                    throw new FormatException("a row without an error must have label, probabilities and logits");
                rows.Add(row);
            }
            catch (Exception ex) when (ex is MalformedLineException or FormatException or OverflowException)
            {
                if (parser.EndOfData || line >= lineCount) break;
                throw DferException.ForFile(path, $"line {line} is not a result row of dfer ({CliConsole.OneLine(ex.Message)}); cannot resume from this file");
            }
        }
        return rows;
    }

    public void Dispose()
    {
        if (_ownsWriter) _writer.Dispose();
        else _writer.Flush();
    }
}
