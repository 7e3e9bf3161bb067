using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Dfer.Cli.Commands;
using Dfer.Cli.Json;
using Dfer.Models;

namespace Dfer.Cli.Datasets;

/// <summary>
/// What made a results file, recorded in it (<see cref="ResultsFile"/>): one JSON object,
/// <c>{"dfer_results": 1, "dfer_version", "model", "weights", "weights_sha256", "weights_key", "precision", "backend",
/// "classes", "clip_frames", "clip_size", "clip_resize", "clip_layout", "clip_sampling", "jitter_seed", "dataset",
/// "root", "clip_folder", "face"}</c>. <c>--resume</c> continues a file only when every field of
/// <see cref="Compared"/> is the
/// same as the run's, so rows scored by other weights, another model, precision or protocol never mix with new ones.
/// </summary>
/// <remarks>
/// Not compared: <c>dfer_version</c> and <c>backend</c> (a run interrupted on one machine may go on on another; both
/// compute the same model to within rounding, which <c>dfer validate</c> checks), and <c>weights</c> (the path:
/// the same file may be reached by another path; <c>weights_sha256</c>, its content, is what must match).
/// </remarks>
internal sealed class ResultsMetadata
{
    /// <summary>The field that marks a dfer results file; its value is the format version.</summary>
    public const string FormatKey = "dfer_results";

    /// <summary>The results format this dfer writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>The fields that must be equal for <c>--resume</c> to continue a file.</summary>
    public static readonly IReadOnlyList<string> Compared =
    [
        "model", "weights_sha256", "weights_key", "precision", "classes",
        "clip_frames", "clip_size", "clip_resize", "clip_layout", "clip_sampling", "jitter_seed",
        "dataset", "root", "clip_folder", "face",
    ];

    /// <summary>The longest value shown in a message about a differing field.</summary>
    private const int MaxShownChars = 80;

    // The fields as read (the last of two equal names wins) and the object as it is written.
    private readonly Dictionary<string, JsonElement> _fields = new(StringComparer.Ordinal);
    private readonly string _json;

    private ResultsMetadata(JsonElement root)
    {
        foreach (JsonProperty field in root.EnumerateObject()) _fields[field.Name] = field.Value.Clone();
        _json = root.GetRawText();
    }

    /// <summary>A field's value as JSON text ("null" when absent).</summary>
    public string this[string field] => Get(field) is { } value ? value.GetRawText() : "null";

    /// <summary>A field's value; null when absent or JSON null.</summary>
    private JsonElement? Get(string field) =>
        _fields.TryGetValue(field, out JsonElement value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>
    /// Describes the run about to be made: <paramref name="weightsPath"/> null means generated weights, recorded as
    /// <c>"weights": "generated"</c> and <c>"weights_sha256": "generated (seed N)"</c>; a file is hashed (SHA-256 of
    /// its bytes).
    /// </summary>
    public static ResultsMetadata Describe(IModel model, string precision, string backend, string? weightsPath,
        string? weightsKey,
        long? jitterSeed, DatasetOptions dataset, string face)
    {
        string version = typeof(
            ResultsMetadata).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? "unknown";
        bool csv = dataset.Source is not null && !Directory.Exists(dataset.Source);
        var fields = new ResultsMetadataJson(FormatVersion, version, model.Name, weightsPath ?? "generated",
            weightsPath is null ? $"generated (seed {SharedOptions.GeneratedWeightsSeed})" : Sha256(weightsPath),
            weightsKey,
            precision, backend, model.Classes, model.Protocol.Frames, model.Protocol.Size,
            model.Protocol.Filter.ToString().ToLowerInvariant(), model.Protocol.Layout.ToString().ToLowerInvariant(),
            model.Protocol.Sampling.ToString().ToLowerInvariant(), jitterSeed,
            dataset.Source is null ? null : SharedOptions.FullPath(dataset.Source),
            dataset.Root is null ? null : SharedOptions.FullPath(dataset.Root),
            csv ? dataset.ClipFolder : null, face);
        using var doc = JsonDocument.Parse(DferJson.ToLine(fields, DferJson.Default.ResultsMetadataJson));
        return new ResultsMetadata(doc.RootElement);
    }

    /// <summary>
    /// The metadata object of a results file, as read from it (<paramref name="where"/> names the place for messages);
    /// a <c>dfer_results</c> that is not this dfer's format is a <see cref="DferException"/>.
    /// </summary>
    public static ResultsMetadata Parse(JsonElement element, string where)
    {
        if (!element.TryGetProperty(FormatKey, out JsonElement format) || format.ValueKind != JsonValueKind.Number
            || !format.TryGetInt32(out int version) || version < 1)
            throw new DferException(
                $"{where}: '{FormatKey}' is not a format version (1, 2, ...): not a dfer results file; dfer neither "
                + "resumes from it nor replaces it without --overwrite");
        if (version > FormatVersion)
            throw new DferException(
                $"{where}: written by a newer dfer (results format {version}; this one reads {FormatVersion}): resume "
                + "it with that dfer, or pass --overwrite to start over");
        return new ResultsMetadata(element);
    }

    /// <summary>The object on one line.</summary>
    public string ToJson() => _json;

    /// <summary>
    /// The fields of <see cref="Compared"/> whose values differ from <paramref name="now"/>'s, each as
    /// <c>model "ifdd" there, "m3dfel" now</c>; empty when this file may be continued by that run.
    /// </summary>
    public IReadOnlyList<string> Differences(ResultsMetadata now)
    {
        var differences = new List<string>();
        foreach (string field in Compared)
            if (!Same(Get(field), now.Get(field)))
                differences.Add($"{field} {Shown(this[field])} there, {Shown(now[field])} now");
        return differences;
    }

    private static bool Same(JsonElement? a, JsonElement? b) =>
        a is { } x ? b is { } y && JsonElement.DeepEquals(x, y) : b is null;

    private static string Shown(string json) => json.Length <= MaxShownChars ? json : json[..MaxShownChars] + "...";

    /// <summary>SHA-256 of the file's bytes, in lower-case hex.</summary>
    private static string Sha256(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path,
                $"cannot read to hash it for the results file: {CliConsole.OneLine(ex.Message)}");
        }
    }
}
