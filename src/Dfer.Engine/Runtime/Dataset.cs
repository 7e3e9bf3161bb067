using System.Globalization;
using System.Text;
using Dfer.IO;
using Dfer.Media;

namespace Dfer.Runtime;

/// <summary>
/// One video of a dataset: a frame folder or a video file, with its true class when the dataset
/// says (0-based, in the model's class order), or why the dataset entry itself is unusable.
/// </summary>
/// <param name="Name">The id a results file keys on: the CSV's video name, or the entry's file name.</param>
/// <param name="Path">Where its frames are.</param>
/// <param name="Target">True class index, if known.</param>
/// <param name="Error">Set when the entry cannot be used (a bad CSV row, a missing clip), with the reason.</param>
public sealed record DatasetItem(string Name, string Path, int? Target, string? Error = null);

/// <summary>Lists the videos of a dataset: a folder of frame folders and videos, or a DFEW split CSV.</summary>
public static class Dataset
{
    /// <summary>DFEW's layout under its root: the 224×224 face-crop frame folders, one per video id.</summary>
    public const string DfewClipFolder = "Clip/clip_224x224";

    /// <summary>
    /// Every sub-folder (taken as a frame folder) and video file directly inside
    /// <paramref name="directory"/>, in the order frames are sorted (<see cref="FrameFolder"/>: by the
    /// last number in the name, extension excluded, then by name). Other files are ignored.
    /// </summary>
    public static IReadOnlyList<DatasetItem> FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw DferException.ForFile(directory, "no such folder");
        List<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories(directory)
                .Concat(Directory.EnumerateFiles(directory).Where(MediaInput.HasVideoExtension))
                .ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(directory, $"cannot list the folder: {ex.Message}");
        }
        if (entries.Count == 0)
            throw DferException.ForFile(directory,
                $"holds no frame folders or video files ({string.Join(", ", MediaInput.VideoFileExtensions)})");
        // "7.mp4" is video 7, not 4: the same rule as frame files, whose extension does not count.
        entries.Sort(FrameFolder.CompareFrameNames);
        return entries
            .Select(e => new DatasetItem(System.IO.Path.GetFileName(e), e, null))
            .ToList();
    }

    /// <summary>The largest split CSV read (64 MiB); DFEW's are about 200 KB.</summary>
    public const long MaxCsvBytes = 64L << 20;

    /// <summary>The longest CSV line, in characters (4096); a DFEW row is about ten. A longer line becomes a bad
    /// row.</summary>
    public const int MaxCsvLineChars = 4096;

    /// <summary>The most videos one CSV may list (500 000); DFEW lists 16 372, FERV39k 39 000.</summary>
    public const int MaxCsvRows = 500_000;

    /// <summary>
    /// A DFEW split file: rows <c>video_name,label</c> (a header row is skipped), video names
    /// zero-padded to five digits under <paramref name="root"/>/<paramref name="clipFolder"/>, labels 1..7
    /// = happy, sad, neutral, angry, surprise, disgust, fear (class index = label − 1). A row that
    /// cannot be used becomes an item with <see cref="DatasetItem.Error"/> set, so it fails alone:
    /// a malformed row, a line over <see cref="MaxCsvLineChars"/>, a bad label, a name that is not a
    /// plain folder name, a video listed twice, a missing clip.
    /// </summary>
    /// <remarks>
    /// The file is UTF-8 (a byte order mark is skipped); fields may be quoted with <c>"</c> (a doubled
    /// <c>""</c> inside is one quote), are trimmed, and do not span lines; blank lines are skipped.
    /// </remarks>
    /// <exception cref="DferException">The file or root is missing or not of the right kind, the file
    /// is over <see cref="MaxCsvBytes"/>, not UTF-8 text (binary, UTF-16), lists no videos or more
    /// than <see cref="MaxCsvRows"/>: one line naming the file (and line, where there is one).</exception>
    public static IReadOnlyList<DatasetItem> FromCsv(string csv, string root, int classes,
        string clipFolder = DfewClipFolder)
    {
        string text = ReadCsvText(csv);
        if (!Directory.Exists(root))
            throw DferException.ForFile(root, "no such folder (the dataset root given by --root)");
        var items = new List<DatasetItem>();
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        bool first = true;
        long line = 0;
        int at = 0;
        while (at < text.Length)
        {
            int end = text.IndexOf('\n', at);
            if (end < 0) end = text.Length;
            line++;
            ReadOnlySpan<char> row = text.AsSpan(at, end - at);
            at = end + 1;
            if (row.EndsWith("\r")) row = row[..^1];
            string where = $"{csv}:{line}";
            if (row.Length > MaxCsvLineChars)
            {
                items.Add(new DatasetItem($"line {line}", csv, null,
                    $"{where}: line of {row.Length} characters is longer than Dfer's limit of {MaxCsvLineChars} "
                    + "(expected 'video_name,label')"));
                first = false;
            }
            else
            {
                string[]? fields = SplitCsvRow(row);
                if (fields is null)
                {
                    items.Add(new DatasetItem($"line {line}", csv, null,
                        $"{where}: malformed CSV row {SafeText.Quote(row.ToString())} (a quote is not closed, or text "
                        + "follows a closing quote)"));
                    first = false;
                }
                else if (!fields.All(string.IsNullOrEmpty))
                {
                    bool isHeader = first && (fields.Length < 2 || !TryParseLabel(fields[1], out _));
                    first = false;
                    if (!isHeader) items.Add(Row(csv, where, line, fields, root, clipFolder, classes, seen));
                }
            }
            if (items.Count > MaxCsvRows)
                throw DferException.ForFile(where, $"the CSV lists more than Dfer's limit of {MaxCsvRows} videos");
        }
        if (items.Count == 0) throw DferException.ForFile(csv, "lists no videos (expected rows 'video_name,label')");
        return items;
    }

    /// <summary>The whole CSV as text, refusing what is not a bounded UTF-8 text file.</summary>
    private static string ReadCsvText(string csv)
    {
        byte[] bytes = UserFile.ReadAllBytes(csv, MaxCsvBytes,
            length => $"CSV{(length is { } n ? $" of {n} bytes" : "")} is larger than Dfer's limit "
                + $"of {MaxCsvBytes >> 20} MiB for a split file");
        ReadOnlySpan<byte> content = bytes;
        if (content.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) content = content[3..];
        else if (content.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE])
            || content.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
            throw DferException.ForFile(csv, "the CSV is UTF-16 text; save it as UTF-8");
        int nul = content.IndexOf((byte)0);
        if (nul >= 0)
            throw DferException.ForFile($"{csv}:{LineOf(content, nul)}",
                "binary data (a NUL byte): not a CSV text file");
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true)
                .GetString(content);
        }
        catch (DecoderFallbackException ex)
        {
            string line = ex.Index >= 0 && ex.Index < content.Length ? $":{LineOf(content, ex.Index)}" : "";
            throw UserFile.Fail($"{csv}{line}", "not UTF-8 text: save the CSV as UTF-8", ex);
        }
    }

    /// <summary>The 1-based line that byte <paramref name="index"/> lies on.</summary>
    private static long LineOf(ReadOnlySpan<byte> content, int index) => content[..index].Count((byte)'\n') + 1;

    /// <summary>
    /// The fields of one CSV line: comma-separated, each trimmed, a field may be enclosed in double
    /// quotes (<c>""</c> inside is a quote). Null when a quote is left open or text follows a closing one.
    /// </summary>
    internal static string[]? SplitCsvRow(ReadOnlySpan<char> row)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        int i = 0;
        while (true)
        {
            while (i < row.Length && row[i] is ' ' or '\t') i++;
            field.Clear();
            if (i < row.Length && row[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= row.Length) return null;
                    if (row[i] == '"')
                    {
                        if (i + 1 < row.Length && row[i + 1] == '"') { field.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    field.Append(row[i++]);
                }
                while (i < row.Length && row[i] is ' ' or '\t') i++;
                if (i < row.Length && row[i] != ',') return null;
                fields.Add(field.ToString());
            }
            else
            {
                int comma = row[i..].IndexOf(',');
                int stop = comma < 0 ? row.Length : i + comma;
                fields.Add(row[i..stop].Trim([' ', '\t']).ToString());
                i = stop;
            }
            if (i >= row.Length) return fields.ToArray();
            i++; // the comma
        }
    }

    private static bool TryParseLabel(string text, out int label) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out label);

    private static DatasetItem Row(string csv, string where, long line, string[] fields, string root, string clipFolder,
        int classes, Dictionary<string, long> seen)
    {
        string name = fields[0];
        if (name.Length == 0) return new DatasetItem($"line {line}", csv, null, $"{where}: empty video name");
        string shown = SafeText.Quote(name);
        if (!IsPlainName(name))
            return new DatasetItem($"line {line}", csv, null,
                $"{where}: video name {shown} is not a plain folder name (no '/', '\\', '..' or control characters)");
        string id = name.All(char.IsAsciiDigit) && name.Length < 5 ? name.PadLeft(5, '0') : name;
        string path = System.IO.Path.Combine(root, clipFolder, id);
        if (fields.Length < 2)
            return new DatasetItem(name, path, null,
                $"{where}: row {SafeText.Quote(string.Join(",", fields))} has no label column");
        if (!TryParseLabel(fields[1], out int label) || label < 1 || label > classes)
            return new DatasetItem(name, path, null,
                $"{where}: label {SafeText.Quote(fields[1])} of video {shown} is not a class id 1..{classes}");
        if (!seen.TryAdd(id, line))
            return new DatasetItem(name, path, null,
                $"{where}: video {shown} is listed twice (first on line {seen[id]})");
        if (!Directory.Exists(path) && !File.Exists(path))
            return new DatasetItem(name, path, label - 1,
                $"{where}: the clip of video {shown} is missing: {SafeText.Plain(path, 200)} does not exist");
        return new DatasetItem(name, path, label - 1);
    }

    /// <summary>A name that stays inside the clip folder: no separators, no "." or "..", no control
    /// characters.</summary>
    private static bool IsPlainName(string name) =>
        name is not ("." or "..")
        && name.IndexOfAny(['/', '\\']) < 0
        && !name.Any(char.IsControl);
}
