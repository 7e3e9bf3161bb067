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
/// "root", "clip_folder", "face"}</c>, and in a <c>--shard I/N</c> run's file <c>"shard": {"index", "count",
/// "dataset_items"}</c> (<see cref="ShardJson"/>). <c>--resume</c> continues a file only when every field of
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

    /// <summary>The field of a shard's file that says which shard it is (absent in a whole run's file).</summary>
    public const string ShardKey = "shard";

    /// <summary>The fields that must be equal for <c>--resume</c> to continue a file.</summary>
    public static readonly IReadOnlyList<string> Compared =
    [
        "model", "weights_sha256", "weights_key", "precision", "classes",
        "clip_frames", "clip_size", "clip_resize", "clip_layout", "clip_sampling", "jitter_seed",
        "dataset", "root", "clip_folder", "face", ShardKey,
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
    /// its bytes). A <c>--shard</c> run (<see cref="DatasetOptions.Shard"/>) records its shard and
    /// <paramref name="datasetItems"/>, the items of the whole dataset.
    /// </summary>
    public static ResultsMetadata Describe(IModel model, string precision, string backend, string? weightsPath,
        string? weightsKey,
        long? jitterSeed, DatasetOptions dataset, string face, int? datasetItems = null)
    {
        ShardJson? shard = dataset.Shard is { } s
            ? new ShardJson(s.Index, s.Count,
                datasetItems ?? throw new ArgumentNullException(nameof(datasetItems), "a shard needs the item count"))
            : null;
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
            csv ? dataset.ClipFolder : null, face, shard);
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

    /// <summary>The model's classes, in its output order, as recorded; null when the field is missing or not a list of
    /// names.</summary>
    public IReadOnlyList<string>? Classes
    {
        get
        {
            if (Get("classes") is not { ValueKind: JsonValueKind.Array } array) return null;
            var names = new List<string>();
            foreach (JsonElement name in array.EnumerateArray())
            {
                if (name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 } text) return null;
                names.Add(text);
            }
            return names.Count > 0 && names.Distinct(StringComparer.Ordinal).Count() == names.Count ? names : null;
        }
    }

    /// <summary>
    /// The shard this file holds and the item count of the whole dataset; null for the file of a whole run. A
    /// <c>shard</c> field that is not <c>{"index": I, "count": N, "dataset_items": M}</c> with 0 &lt;= I &lt; N and
    /// M &gt;= 0 is a <see cref="DferException"/> naming <paramref name="where"/>.
    /// </summary>
    public (DatasetShard Shard, int DatasetItems)? ShardOf(string where)
    {
        if (Get(ShardKey) is not { } field) return null;
        int? Whole(string name) =>
            field.ValueKind == JsonValueKind.Object && field.TryGetProperty(name, out JsonElement v)
            && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0 ? n : null;
        if (Whole("index") is not { } index || Whole("count") is not { } count || Whole("dataset_items") is not { } m
            || count < 1 || count > DatasetShard.MaxCount || index >= count)
            throw new DferException($"{where}: its '{ShardKey}' is not {{\"index\": I, \"count\": N, "
                + $"\"dataset_items\": M}} with 0 <= I < N: not a shard dfer wrote ({Shown(this[ShardKey])})");
        return (new DatasetShard(index, count), m);
    }

    /// <summary>This metadata without its <c>shard</c> field: what the whole run would have recorded, the other fields
    /// kept as written (byte for byte).</summary>
    public ResultsMetadata WithoutShard()
    {
        using var doc = JsonDocument.Parse(_json);
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer,
            new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (JsonProperty field in doc.RootElement.EnumerateObject())
            {
                if (field.NameEquals(ShardKey)) continue;
                writer.WritePropertyName(field.Name);
                writer.WriteRawValue(field.Value.GetRawText(), skipInputValidation: true);
            }
            writer.WriteEndObject();
        }
        using var result = JsonDocument.Parse(buffer.ToArray());
        return new ResultsMetadata(result.RootElement);
    }

    /// <summary>
    /// Every field but <c>shard</c> whose value differs from <paramref name="other"/>'s (all of them, not only
    /// <see cref="Compared"/>: the shards of one run were made by one dfer, on one backend, from one weights file), as
    /// <see cref="Differences"/> words them.
    /// </summary>
    public IReadOnlyList<string> DifferencesBesidesShard(ResultsMetadata other)
    {
        var differences = new List<string>();
        foreach (string field in _fields.Keys.Concat(other._fields.Keys).Distinct(StringComparer.Ordinal))
            if (field != ShardKey && !Same(Get(field), other.Get(field)))
                differences.Add($"{field} {Shown(this[field])} here, {Shown(other[field])} there");
        return differences;
    }

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
