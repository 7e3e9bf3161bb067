using System.Globalization;
using System.Text;
using System.Text.Json;
using Dfer.Cli.Commands;
using Dfer.Cli.Json;

namespace Dfer.Cli.Datasets;

/// <summary>One video's line in a results file: its scores, or why it failed.</summary>
internal sealed record ResultRow(string Video, string Input, string? Target, string? Label, int Clips,
    float[]? Probabilities, float[]? Logits, string? Error)
{
    public bool Ok => Error is null && Label is not null;

    /// <summary>What the face stage did (JSON Lines rows only): "none", or "W/S" sampled frames with the face of
    /// S.</summary>
    public string? Face { get; init; }

    /// <summary>RDFER's key frames (JSON Lines rows only): indices into the 64 clip frames, −1 for black.</summary>
    public int[]? KeyFrames { get; init; }

    /// <summary>The same as source frame numbers (JSON Lines rows only).</summary>
    public int[]? KeyFramesSource { get; init; }
}

/// <summary>
/// A results file of a dataset run: JSON Lines (<c>.jsonl</c>) or CSV (<c>.csv</c>), one row per
/// video, written as each video finishes and flushed, so an interrupted run leaves every finished
/// row behind and <c>--resume</c> can continue from it.
/// </summary>
/// <remarks>
/// <para><b>What made it.</b> Every file records the run that made it (<see cref="ResultsMetadata"/>): a JSON Lines
/// file in its first line, <c>{"dfer_results": 1, "model": ..., "weights_sha256": ..., ...}</c>, followed by the rows;
/// a CSV file in a sidecar <c>OUT.csv.meta.json</c> holding the same object, next to a CSV of only the header and
/// rows. <c>jq</c> reads either as is (<c>select(.video)</c> keeps the rows); pandas' <c>read_json(lines=True)</c>
/// reads the first line as a row whose <c>video</c> is NaN (drop it: <c>df.iloc[1:]</c>, or
/// <c>df[df.video.notna()]</c>). CSV keeps its metadata beside it rather than in a leading
/// <c># ...</c> line because a comment line is not CSV: pandas needs <c>comment='#'</c>, which also cuts every field
/// at its first <c>#</c> (a video named <c>clip#2</c> silently becomes <c>clip</c>), and Excel, R's
/// <c>read.csv</c> and csvkit take the line for data; a plain CSV reads right everywhere.</para>
/// <para><b>Reading</b> (<see cref="Read(string, IReadOnlyList{string})"/>) treats the file as untrusted bytes: any
/// content gives rows or one short <see cref="DferException"/>, within <see cref="MaxFileBytes"/> and
/// <see cref="MaxLineChars"/>. Only an unterminated last line (a row being written when the run was interrupted) is
/// dropped, so the video is scored again; a file that is not a dfer results file is refused, never taken for one cut
/// short.</para>
/// </remarks>
internal sealed class ResultsFile : IDisposable
{
    /// <summary>The largest results file read back (256 MiB: about 600,000 rows, 40 times DFEW).</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>The longest line (a CSV record: with its quoted line breaks) read back: 64 Ki characters, far more than
    /// a row of two paths, 14 numbers and an error message.</summary>
    public const int MaxLineChars = 64 << 10;

    /// <summary>The longest text taken from a results file into a message.</summary>
    public const int MaxQuotedChars = 100;

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

    /// <summary>JSON Lines on a writer the caller owns (stdout, when no --output is given): the metadata line, then the
    /// rows.</summary>
    public static ResultsFile JsonLines(TextWriter writer, IReadOnlyList<string> classes, ResultsMetadata metadata)
    {
        writer.WriteLine(metadata.ToJson());
        writer.Flush();
        return new(writer, false, classes, ownsWriter: false);
    }

    /// <summary>True for a .csv path, false for .jsonl/.json; anything else is a usage error.</summary>
    public static bool IsCsv(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".csv" => true,
            ".jsonl" or ".json" or ".ndjson" => false,
            _ => throw new DferException(
                $"--output {path}: name a .jsonl or .csv file (the extension picks the format)"),
        };
    }

    /// <summary>Where a CSV results file keeps its metadata: <c>OUT.csv.meta.json</c>.</summary>
    public static string SidecarOf(string csvPath) => csvPath + ".meta.json";

    /// <summary>
    /// Starts the file afresh with <paramref name="metadata"/> and <paramref name="kept"/> rows (those of a resumed
    /// run), writing to temporary files renamed over the old ones, so a crash here loses nothing. A CSV's old rows go
    /// before its new sidecar comes, so no sidecar ever describes another run's rows.
    /// </summary>
    public static ResultsFile Create(string path, IReadOnlyList<string> classes, IReadOnlyList<ResultRow> kept,
        ResultsMetadata metadata)
    {
        bool csv = IsCsv(path);
        string temp = path + ".tmp";
        try
        {
            string? dir = Path.GetDirectoryName(SharedOptions.FullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            using (var w = new StreamWriter(temp, false, new UTF8Encoding(false)))
            {
                var file = new ResultsFile(w, csv, classes);
                w.WriteLine(csv ? string.Join(",", CsvHeader(classes).Select(CsvQuote)) : metadata.ToJson());
                foreach (ResultRow row in kept) file.WriteRow(row);
            }
            if (csv)
            {
                string sidecar = SidecarOf(path);
                File.WriteAllText(sidecar + ".tmp", metadata.ToJson() + "\n", new UTF8Encoding(false));
                if (kept.Count == 0) File.Delete(path);
                File.Move(sidecar + ".tmp", sidecar, overwrite: true);
            }
            File.Move(temp, path, overwrite: true);
            var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read),
                new UTF8Encoding(false));
            return new ResultsFile(writer, csv, classes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write: {CliConsole.OneLine(ex.Message)}");
        }
    }

    /// <summary>Appends one row and flushes it to disk.</summary>
    public void Append(ResultRow row)
    {
        try
        {
            WriteRow(row);
            _writer.Flush();
        }
        catch (IOException ex)
        {
            throw new DferException($"cannot write the results: {CliConsole.OneLine(ex.Message)}");
        }
    }

    private void WriteRow(ResultRow row)
    {
        if (_csv) _writer.WriteLine(string.Join(",", CsvFields(row).Select(CsvQuote)));
        else _writer.WriteLine(JsonLine(row));
    }

    private static string JsonLine(ResultRow row)
        => DferJson.ToLine(ResultRowJson.From(row), DferJson.Default.ResultRowJson);

    private static IEnumerable<string> CsvHeader(IReadOnlyList<string> classes) =>
        new[] { "video", "input", "target", "label", "clips" }
            .Concat(classes.Select(c => "p_" + c))
            .Concat(classes.Select(c => "logit_" + c))
            .Append("error");

    private IEnumerable<string> CsvFields(ResultRow row)
    {
        int n = _classes.Count;
        IEnumerable<string> Numbers(float[]? values) =>
            values is null ? Enumerable.Repeat("", n)
            : values.Select(v => v.ToString("R", CultureInfo.InvariantCulture));
        return new[] { row.Video, row.Input, row.Target ?? "", row.Ok ? row.Label! : "",
            row.Ok ? row.Clips.ToString(CultureInfo.InvariantCulture) : "" }
            .Concat(Numbers(row.Ok ? row.Probabilities : null))
            .Concat(Numbers(row.Ok ? row.Logits : null))
            .Append(row.Error ?? "");
    }

    private static string CsvQuote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) < 0 && field.Trim() == field ? field : "\""
        + field.Replace("\"", "\"\"") + "\"";

    /// <summary>
    /// Reads the rows of a results file (and checks its metadata, if it has any). A last line cut short by an
    /// interruption is dropped (that video is simply scored again); anything else that is not a dfer results file for
    /// <paramref name="classes"/> is one <see cref="DferException"/> naming the file and the line. Never throws
    /// anything else, whatever the file holds.
    /// </summary>
    public static List<ResultRow> Read(string path, IReadOnlyList<string> classes)
        => ReadWithMetadata(path, classes).Rows;

    /// <summary>As <see cref="Read(string, IReadOnlyList{string})"/>, with the file's metadata: null for a file from
    /// before dfer recorded it.</summary>
    public static (ResultsMetadata? Metadata, List<ResultRow> Rows) ReadWithMetadata(string path,
        IReadOnlyList<string> classes) =>
        ReadCore(path, classes, headOnly: false);

    /// <summary>
    /// Only the metadata of a results file (its first line, or a CSV's sidecar), checking that the file is one: null
    /// for a file from before dfer recorded it.
    /// </summary>
    public static ResultsMetadata? ReadMetadata(string path, IReadOnlyList<string> classes)
        => ReadCore(path, classes, headOnly: true).Metadata;

    /// <summary>
    /// The metadata of a results file read before its classes are known (<c>dfer merge</c> learns them from it): a
    /// JSON Lines file's first line, a CSV's sidecar; null when the file has none (a JSON Lines file whose first line
    /// is not a <c>dfer_results</c> object, a CSV without a sidecar). The rows are not read.
    /// </summary>
    public static ResultsMetadata? ReadMetadataAlone(string path)
    {
        bool csv = IsCsv(path);
        if (Directory.Exists(path)) throw DferException.ForFile(path, "is a folder, not a results file");
        if (!File.Exists(path)) throw DferException.ForFile(path, "no such file");
        if (csv) return ReadSidecar(SidecarOf(path));
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var text = new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false);
            var records = new RecordReader(text, path, csv: false);
            while (records.Next() is { } record)
            {
                if (record.Text.Trim().Length == 0) continue;
                using JsonDocument? head = ParseJsonObject(record.Text);
                if (head is null || !head.RootElement.TryGetProperty(ResultsMetadata.FormatKey, out _)) return null;
                return ResultsMetadata.Parse(head.RootElement, $"{path}: line {records.Line}");
            }
            throw NotResults(path, "it is empty");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot read: {CliConsole.OneLine(ex.Message)}");
        }
    }

    private static (ResultsMetadata? Metadata, List<ResultRow> Rows) ReadCore(string path,
        IReadOnlyList<string> classes, bool headOnly)
    {
        bool csv = IsCsv(path);
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
                throw DferException.ForFile(path,
                    $"is {length} bytes; dfer reads results files of at most {MaxFileBytes >> 20} MiB: not a results "
                    + "file it wrote");
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var text = new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false);
            var records = new RecordReader(text, path, csv);
            return csv ? ReadCsv(path, classes, records, headOnly) : ReadJsonl(path, classes, records, headOnly);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot read: {CliConsole.OneLine(ex.Message)}");
        }
    }

    private static (ResultsMetadata?, List<ResultRow>) ReadJsonl(string path, IReadOnlyList<string> classes,
        RecordReader records, bool headOnly)
    {
        var rows = new List<ResultRow>();
        ResultsMetadata? metadata = null;
        bool first = true;
        while (records.Next() is { } record)
        {
            var (line, terminated) = record;
            if (line.Trim().Length == 0) continue;
            if (first)
            {
                first = false;
                // The metadata line is written whole before any row (Create renames a complete file into place), so a
                // first line that is neither metadata nor a row means another kind of file, never one cut short.
                if (ParseJsonObject(line) is not { } head)
                    throw NotResults(path, $"line {records.Line} is not a JSON object");
                using (head)
                {
                    if (head.RootElement.TryGetProperty(ResultsMetadata.FormatKey, out _))
                    {
                        metadata = ResultsMetadata.Parse(head.RootElement, $"{path}: line {records.Line}");
                        if (headOnly) break;
                        continue;
                    }
                    if (!TryRow(() => FromJson(head.RootElement, classes), out ResultRow? firstRow, out string problem))
                        throw NotResults(path,
                            $"line {records.Line} is neither its '{{\"{ResultsMetadata.FormatKey}\": ...}}' line nor a "
                            + $"result row ({problem})");
                    // A row of a file from before the metadata line: the caller decides (--resume refuses it).
                    if (headOnly) break;
                    rows.Add(firstRow!);
                    continue;
                }
            }
            ResultRow? row = null;
            string? why = null;
            using (JsonDocument? doc = ParseJsonObject(line, out string parseProblem))
            {
                if (doc is null) why = parseProblem;
                else if (!TryRow(() => FromJson(doc.RootElement, classes), out row, out string rowProblem)) why =
                    rowProblem;
            }
            if (why is null)
            {
                rows.Add(row!);
                continue;
            }
            if (!terminated) break;   // the row being written when the run was interrupted
            throw BadLine(path, records.Line, why);
        }
        if (first) throw NotResults(path, "it is empty");
        return (metadata, rows);
    }

    private static (ResultsMetadata?, List<ResultRow>) ReadCsv(string path, IReadOnlyList<string> classes,
        RecordReader records, bool headOnly)
    {
        string[] expected = CsvHeader(classes).ToArray();
        if (records.Next() is not { } headerRecord)
            throw NotResults(path, "it is empty");
        string headerLine = headerRecord.Text;
        if (!TrySplitCsv(headerLine, out List<string> header, out _) || !header.SequenceEqual(expected))
            throw NotResults(path,
                $"its first line is not the header of a dfer results file for these classes "
                + $"({string.Join(",", expected.Take(6))},...)");
        ResultsMetadata? metadata = ReadSidecar(SidecarOf(path));
        var rows = new List<ResultRow>();
        if (headOnly) return (metadata, rows);
        int n = classes.Count;
        while (records.Next() is { } record)
        {
            var (line, terminated) = record;
            if (line.Length == 0) continue;
            string? why;
            ResultRow? row = null;
            if (!TrySplitCsv(line, out List<string> f, out why)) { }
            else if (f.Count != expected.Length) why = $"{f.Count} fields, expected {expected.Length}";
            else TryRow(() => FromCsv(f, classes), out row, out why);
            if (row is not null)
            {
                rows.Add(row);
                continue;
            }
            if (!terminated) break;   // the row being written when the run was interrupted
            throw BadLine(path, records.Line, why ?? "unreadable");
        }
        return (metadata, rows);
    }

    /// <summary>A CSV's sidecar, if there is one; it is small, so it is read whole, within a cap.</summary>
    private static ResultsMetadata? ReadSidecar(string sidecar)
    {
        if (!File.Exists(sidecar)) return null;
        const int MaxSidecarBytes = 1 << 20;
        if (new FileInfo(sidecar).Length > MaxSidecarBytes)
            throw NotResults(sidecar, $"it is larger than {MaxSidecarBytes >> 20} MiB, which no metadata of dfer's is");
        string text = File.ReadAllText(sidecar, new UTF8Encoding(false));
        using JsonDocument? doc = ParseJsonObject(text, out string problem);
        if (doc is null) throw NotResults(sidecar, $"it is not a JSON object ({problem})");
        if (!doc.RootElement.TryGetProperty(ResultsMetadata.FormatKey, out _))
            throw NotResults(sidecar, $"it has no '{ResultsMetadata.FormatKey}' field");
        return ResultsMetadata.Parse(doc.RootElement, sidecar);
    }

    private static DferException NotResults(string path, string why) =>
        DferException.ForFile(path,
        $"not a dfer results file: {why}; dfer neither resumes from it nor replaces it without --overwrite");

    private static DferException BadLine(string path, long line, string why) =>
        DferException.ForFile(path,
        $"line {line} is not a result row of dfer ({Cap(why)}); cannot resume from this file");

    private static JsonDocument? ParseJsonObject(string text) => ParseJsonObject(text, out _);

    /// <summary>The text as a JSON document whose root is an object, or null with why not.</summary>
    private static JsonDocument? ParseJsonObject(string text, out string problem)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            problem = CliConsole.OneLine(ex.Message);
            return null;
        }
        if (doc.RootElement.ValueKind == JsonValueKind.Object)
        {
            // Strings are decoded only when read; one that cannot be would throw later, mid-row.
            if (JsonText.InvalidText(doc.RootElement) is { } invalid)
            {
                problem = invalid;
                doc.Dispose();
                return null;
            }
            problem = "";
            return doc;
        }
        problem = $"a JSON {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object";
        doc.Dispose();
        return null;
    }

    /// <summary>Runs a row parser that reports bad content with <see cref="FormatException"/>.</summary>
    private static bool TryRow(Func<ResultRow> parse, out ResultRow? row, out string problem)
    {
        try
        {
            row = parse();
            problem = "";
            return true;
        }
        catch (FormatException ex)
        {
            row = null;
            problem = ex.Message;
            return false;
        }
    }

    /// <summary>A row object, checked field by field; <see cref="FormatException"/> says what is wrong.</summary>
    private static ResultRow FromJson(JsonElement e, IReadOnlyList<string> classes)
    {
        string? Str(string name)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.String ? v.GetString()
                : throw new FormatException($"'{name}' is not a string");
        }
        float[]? Floats(string name)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Array) throw new FormatException($"'{name}' is not an array");
            int length = v.GetArrayLength();
            if (length != classes.Count)
                throw new FormatException($"'{name}' has {length} values, not {classes.Count}");
            var values = new float[length];
            int i = 0;
            foreach (JsonElement x in v.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetSingle(out float f) || !float.IsFinite(f))
                    throw new FormatException($"'{name}' value {i} is not a finite number");
                values[i++] = f;
            }
            return values;
        }
        int[]? Ints(string name)
        {
            if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.Array) throw new FormatException($"'{name}' is not an array");
            var values = new int[v.GetArrayLength()];
            int i = 0;
            foreach (JsonElement x in v.EnumerateArray())
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out values[i++]))
                    throw new FormatException($"'{name}' value {i - 1} is not a whole number");
            return values;
        }
        int clips = 0;
        if (e.TryGetProperty("clips", out JsonElement c) && c.ValueKind != JsonValueKind.Null)
        {
            if (c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out clips))
                throw new FormatException("'clips' is not a whole number");
        }
        ResultRow row = Checked(Str("video") ?? throw new FormatException("no 'video'"), Str("input") ?? "",
            Str("target"), Str("label"), clips,
            Floats("probabilities"), Floats("logits"), Str("error"), classes);
        // What the face stage did and RDFER's key frames: written with a score only, kept when read back (--resume
        // and dfer merge write the rows they read).
        return row.Ok
            ? row with
            {
                Face = Str("face"),
                KeyFrames = Ints("key_frames"),
                KeyFramesSource = Ints("key_frames_source"),
            }
            : row;
    }

    /// <summary>A CSV record's fields (as many as the header's), checked like a JSON row.</summary>
    private static ResultRow FromCsv(List<string> f, IReadOnlyList<string> classes)
    {
        int n = classes.Count;
        float[]? Floats(int start, string name)
        {
            if (Enumerable.Range(start, n).All(i => f[i].Length == 0)) return null;
            var values = new float[n];
            for (int i = 0; i < n; i++)
                if (!float.TryParse(f[start + i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])
                    || !float.IsFinite(values[i]))
                    throw new FormatException($"{name} {i} is not a finite number");
            return values;
        }
        int clips = 0;
        if (f[4].Length > 0 && !int.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out clips))
            throw new FormatException("'clips' is not a whole number");
        string? Opt(int i) => f[i].Length > 0 ? f[i] : null;
        return Checked(f[0], f[1], Opt(2), Opt(3), clips, Floats(5, "probability"), Floats(5 + n, "logit"),
            Opt(f.Count - 1), classes);
    }

    /// <summary>What every row must satisfy to be taken as a result: a video; a score row's label and target among the
    /// classes.</summary>
    private static ResultRow Checked(string video, string input, string? target, string? label, int clips,
        float[]? probabilities, float[]? logits, string? error, IReadOnlyList<string> classes)
    {
        if (video.Length == 0) throw new FormatException("empty 'video'");
        if (target is not null && !classes.Contains(target))
            throw new FormatException($"target {Quote(target)} is not a class of the model");
        if (error is not null) return new ResultRow(video, input, target, null, 0, null, null, error);
        if (label is null || probabilities is null || logits is null)
            throw new FormatException("a row without an error must have label, probabilities and logits");
        if (!classes.Contains(label)) throw new FormatException($"label {Quote(label)} is not a class of the model");
        if (clips < 1) throw new FormatException("a scored row must have 'clips' of at least 1");
        return new ResultRow(video, input, target, label, clips, probabilities, logits, null);
    }

    /// <summary>Splits one CSV record (RFC 4180: quoted fields may hold commas, quotes doubled, and line
    /// breaks).</summary>
    private static bool TrySplitCsv(string record, out List<string> fields, out string problem)
    {
        fields = new List<string>();
        var field = new StringBuilder();
        int i = 0;
        while (true)
        {
            field.Clear();
            if (i < record.Length && record[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= record.Length)
                    {
                        problem = "a quoted field is not closed";
                        return false;
                    }
                    char c = record[i++];
                    if (c != '"') field.Append(c);
                    else if (i < record.Length && record[i] == '"') { field.Append('"'); i++; }
                    else break;
                }
                if (i < record.Length && record[i] != ',')
                {
                    problem = $"a character after a quoted field (column {i + 1})";
                    return false;
                }
            }
            else
            {
                int end = record.IndexOf(',', i);
                if (end < 0) end = record.Length;
                ReadOnlySpan<char> plain = record.AsSpan(i, end - i);
                if (plain.Contains('"'))
                {
                    problem = $"a quote inside an unquoted field (column {i + 1})";
                    return false;
                }
                field.Append(plain);
                i = end;
            }
            fields.Add(field.ToString());
            if (i >= record.Length) break;
            i++;   // the comma
        }
        problem = "";
        return true;
    }

    /// <summary>A text from a file, for a message: capped, quoted, control characters escaped.</summary>
    internal static string Quote(string text) => SafeText.Quote(text, MaxQuotedChars);

    private static string Cap(string text) => SafeText.Line(text, 2 * MaxQuotedChars);

    public void Dispose()
    {
        if (_ownsWriter) _writer.Dispose();
        else _writer.Flush();
    }

    /// <summary>
    /// Reads a results file a record at a time, within <see cref="MaxLineChars"/> a record and
    /// <see cref="MaxFileBytes"/> characters in all. A CSV record runs on past line breaks inside quotes.
    /// </summary>
    private sealed class RecordReader(TextReader reader, string path, bool csv)
    {
        private readonly StringBuilder _record = new();
        private long _nextLine = 1, _read;

        /// <summary>The line the last record returned starts on (1-based).</summary>
        public long Line { get; private set; }

        /// <summary>The next record without its line break, and whether it had one (false: it ends the file); null at
        /// the end.</summary>
        public (string Text, bool Terminated)? Next()
        {
            _record.Clear();
            Line = _nextLine;
            // CSV: a quote opens a quoted field only at the start of a field; in one, "" is a quote and a lone quote
            // closes it.
            bool any = false, quoted = false, quoteInQuoted = false, fieldStart = true;
            while (true)
            {
                int c = reader.Read();
                if (c < 0) return any ? (Text(), false) : null;
                any = true;
                if (++_read > MaxFileBytes)
                    throw DferException.ForFile(path,
                        $"holds more than {MaxFileBytes >> 20} MiB: not a results file dfer wrote");
                if (csv)
                {
                    if (quoted && quoteInQuoted)
                    {
                        quoteInQuoted = false;
                        quoted = c == '"';
                    }
                    else if (quoted) quoteInQuoted = c == '"';
                    else if (c == '"' && fieldStart) quoted = true;
                    fieldStart = !quoted && c == ',';
                }
                if (c == '\n')
                {
                    _nextLine++;
                    if (!quoted) return (Text(), true);
                }
                if (_record.Length >= MaxLineChars)
                    throw DferException.ForFile(path,
                        $"line {Line} is longer than {MaxLineChars} characters: not a results file dfer wrote");
                _record.Append((char)c);
            }
        }

        private string Text()
        {
            int length = _record.Length;
            if (length > 0 && _record[length - 1] == '\r') length--;
            return _record.ToString(0, length);
        }
    }
}
