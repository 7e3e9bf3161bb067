using System.Text;
using System.Text.Json;
using Dfer.Cli.Json;

namespace Dfer.Cli.Features;

/// <summary>
/// A features folder's <c>index.jsonl</c> (docs/temporal-encoder.md, "Feature files"): a first line saying what run
/// wrote the folder (<see cref="FeaturesRunJson"/>), then a line per video as soon as its file is complete
/// (<see cref="FeaturesRowJson"/>: its file, or why it failed). A run resumes from it: videos with a line and a file
/// are kept, failed ones are tried again, and a last line cut short by an interruption is dropped.
/// </summary>
internal sealed class FeatureIndex : IDisposable
{
    public const string FileName = "index.jsonl";

    /// <summary>The largest index read back (256 MiB, some two million videos).</summary>
    public const long MaxBytes = 256L << 20;

    private readonly StreamWriter _writer;

    private FeatureIndex(StreamWriter writer) { _writer = writer; }

    /// <summary>The videos already done (by name) of a resumed run.</summary>
    public IReadOnlySet<string> Done { get; private init; } = new HashSet<string>();

    /// <summary>How many lines of videos the resumed index kept.</summary>
    public int Kept { get; private init; }

    /// <summary>Starts a new index in <paramref name="folder"/>, or resumes the one there.</summary>
    /// <param name="run">This run's first line, compared with the existing one's when resuming.</param>
    public static FeatureIndex Open(string folder, string run, bool resume)
    {
        string path = Path.Combine(folder, FileName);
        var kept = new List<string>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        if (resume && File.Exists(path))
        {
            string[] lines = ReadLines(path);
            if (lines.Length == 0 || lines[0] != run)
                throw DferException.ForFile(path,
                    "was written by a run with other settings (model, detector, file type, layer or dataset); "
                    + "resume with the same options, or pass --overwrite to start over");
            for (int i = 1; i < lines.Length; i++)
            {
                if (lines[i].Length == 0) continue;
                (string? name, string? file, bool failed) = ParseRow(lines[i]);
                if (name is null)
                {
                    // A line cut short by an interruption can only be the last one.
                    if (i == lines.Length - 1) continue;
                    throw DferException.ForFile($"{path}:{i + 1}", "not a line Dfer wrote (cannot resume from it)");
                }
                if (failed || file is null || !File.Exists(Path.Combine(folder, file)) || !done.Add(name)) continue;
                kept.Add(lines[i]);
            }
        }
        StreamWriter writer;
        try
        {
            // The kept lines go to a new file that replaces the old one whole, so an interruption here loses nothing.
            string fresh = path + ".partial";
            File.WriteAllText(fresh, string.Concat(kept.Prepend(run).Select(l => l + "\n")), new UTF8Encoding(false));
            File.Move(fresh, path, overwrite: true);
            writer = new StreamWriter(path, append: true, new UTF8Encoding(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write the index: {ex.Message}");
        }
        return new FeatureIndex(writer) { Done = done, Kept = kept.Count };
    }

    /// <summary>Adds a video's line and flushes it to disk.</summary>
    public void Add(FeaturesRowJson row) =>
        WriteLine(FileName, DferJson.ToLine(row, DferJson.Default.FeaturesRowJson));

    private void WriteLine(string path, string line)
    {
        try
        {
            _writer.Write(line);
            _writer.Write('\n');
            _writer.Flush();
        }
        catch (IOException ex)
        {
            throw DferException.ForFile(path, $"cannot write the index: {ex.Message}");
        }
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxBytes)
                throw DferException.ForFile(path, $"index of {info.Length} bytes is larger than Dfer's limit of "
                    + $"{MaxBytes >> 20} MiB");
            return File.ReadAllText(path, new UTF8Encoding(false, true)).Split('\n');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw DferException.ForFile(path, $"cannot read the index to resume from: {ex.Message}");
        }
    }

    /// <summary>The name, file and failure of a video's line; a null name for a line that is not one.</summary>
    private static (string? Name, string? File, bool Failed) ParseRow(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            JsonElement e = doc.RootElement;
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("name", out JsonElement name)
                || name.ValueKind != JsonValueKind.String)
                return (null, null, false);
            string? file = e.TryGetProperty("file", out JsonElement f) && f.ValueKind == JsonValueKind.String
                ? f.GetString() : null;
            // Only a plain file name inside the folder counts.
            if (file is not null && (file.Length == 0 || file != Path.GetFileName(file) || file is "." or ".."))
                file = null;
            return (name.GetString(), file, e.TryGetProperty("error", out _));
        }
        catch (JsonException)
        {
            return (null, null, false);
        }
    }

    public void Dispose() => _writer.Dispose();
}
