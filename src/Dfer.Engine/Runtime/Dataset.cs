using Dfer.Media;
using Microsoft.VisualBasic.FileIO;

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
            throw DferException.ForFile(directory, $"holds no frame folders or video files ({string.Join(", ", MediaInput.VideoFileExtensions)})");
        // "7.mp4" is video 7, not 4: the same rule as frame files, whose extension does not count.
        entries.Sort(FrameFolder.CompareFrameNames);
        return entries
            .Select(e => new DatasetItem(System.IO.Path.GetFileName(e), e, null))
            .ToList();
    }

    /// <summary>
    /// A DFEW split file: rows <c>video_name,label</c> (a header row is skipped), video names
    /// zero-padded to five digits under <paramref name="root"/>/<paramref name="clipFolder"/>, labels 1..7
    /// = happy, sad, neutral, angry, surprise, disgust, fear (class index = label − 1). A row that
    /// cannot be used becomes an item with <see cref="DatasetItem.Error"/> set, so it fails alone.
    /// </summary>
    public static IReadOnlyList<DatasetItem> FromCsv(string csv, string root, int classes, string clipFolder = DfewClipFolder)
    {
        if (!File.Exists(csv)) throw DferException.ForFile(csv, "no such file");
        if (!Directory.Exists(root)) throw DferException.ForFile(root, "no such folder (the dataset root given by --root)");
        var items = new List<DatasetItem>();
        try
        {
            using var parser = new TextFieldParser(csv) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = true };
            parser.SetDelimiters(",");
            bool first = true;
            while (!parser.EndOfData)
            {
                long line = parser.LineNumber;
                string[]? fields;
                try
                {
                    fields = parser.ReadFields();
                }
                catch (MalformedLineException ex)
                {
                    items.Add(new DatasetItem($"line {ex.LineNumber}", csv, null, $"{csv}:{ex.LineNumber}: malformed CSV row"));
                    first = false;
                    continue;
                }
                if (fields is null || fields.All(string.IsNullOrEmpty)) continue;
                bool isHeader = first && (fields.Length < 2 || !int.TryParse(fields[1], out _));
                first = false;
                if (isHeader) continue;
                items.Add(Row(csv, line, fields, root, clipFolder, classes));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(csv, $"cannot read: {ex.Message}");
        }
        if (items.Count == 0) throw DferException.ForFile(csv, "lists no videos (expected rows 'video_name,label')");
        return items;
    }

    private static DatasetItem Row(string csv, long line, string[] fields, string root, string clipFolder, int classes)
    {
        string name = fields[0];
        string where = $"{csv}:{line}";
        if (name.Length == 0) return new DatasetItem($"line {line}", csv, null, $"{where}: empty video name");
        string id = name.All(char.IsAsciiDigit) && name.Length < 5 ? name.PadLeft(5, '0') : name;
        string path = System.IO.Path.Combine(root, clipFolder, id);
        if (fields.Length < 2)
            return new DatasetItem(name, path, null, $"{where}: row '{string.Join(",", fields)}' has no label column");
        if (!int.TryParse(fields[1], out int label) || label < 1 || label > classes)
            return new DatasetItem(name, path, null, $"{where}: label '{fields[1]}' of video {name} is not a class id 1..{classes}");
        if (!Directory.Exists(path) && !File.Exists(path))
            return new DatasetItem(name, path, label - 1, $"{where}: the clip of video {name} is missing: {path} does not exist");
        return new DatasetItem(name, path, label - 1);
    }
}
