using System.Text.Json.Serialization;
using Dfer.Cli.Datasets;

namespace Dfer.Cli.Json;

/// <summary>
/// A row of a JSON Lines results file (<see cref="ResultsFile"/>): a scored video has label, clips,
/// probabilities and logits; a failed one its error instead. Target only where the dataset has labels.
/// </summary>
internal sealed record ResultRowJson(
    [property: JsonPropertyName("video")] string Video,
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("target"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Target,
    [property: JsonPropertyName("label"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Label,
    [property: JsonPropertyName("clips"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Clips,
    [property: JsonPropertyName("probabilities"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
        JsonConverter(typeof(FiniteFloatsConverter))] float[]? Probabilities,
    [property: JsonPropertyName("logits"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
        JsonConverter(typeof(FiniteFloatsConverter))] float[]? Logits,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error,
    [property: JsonPropertyName("face"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    string? Face = null,
    [property: JsonPropertyName("key_frames"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    int[]? KeyFrames = null,
    [property: JsonPropertyName("key_frames_source"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    int[]? KeyFramesSource = null)
{
    public static ResultRowJson From(ResultRow row) => row.Ok
        ? new(row.Video, row.Input, row.Target, row.Label, row.Clips, row.Probabilities ?? [], row.Logits ?? [], null,
            row.Face, row.KeyFrames, row.KeyFramesSource)
        // A row that is not a score is an error row, its message written even if it has none.
        : new(row.Video, row.Input, row.Target, null, null, null, null, row.Error ?? "");
}

/// <summary>The metadata object of a results file (<see cref="ResultsMetadata"/>), every field written, null
/// included, except <c>shard</c>, which only a <c>--shard</c> run's file has.</summary>
internal sealed record ResultsMetadataJson(
    [property: JsonPropertyName(ResultsMetadata.FormatKey)] int Format,
    [property: JsonPropertyName("dfer_version")] string DferVersion,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("weights_sha256")] string WeightsSha256,
    [property: JsonPropertyName("weights_key")] string? WeightsKey,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("classes")] IReadOnlyList<string> Classes,
    [property: JsonPropertyName("clip_frames")] int ClipFrames,
    [property: JsonPropertyName("clip_size")] int ClipSize,
    [property: JsonPropertyName("clip_resize")] string ClipResize,
    [property: JsonPropertyName("clip_layout")] string ClipLayout,
    [property: JsonPropertyName("clip_sampling")] string ClipSampling,
    [property: JsonPropertyName("jitter_seed")] long? JitterSeed,
    [property: JsonPropertyName("dataset")] string? Dataset,
    [property: JsonPropertyName("root")] string? Root,
    [property: JsonPropertyName("clip_folder")] string? ClipFolder,
    [property: JsonPropertyName("face")] string Face,
    [property: JsonPropertyName(ResultsMetadata.ShardKey), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    ShardJson? Shard = null);

/// <summary>Which shard of a dataset run a results file holds (<see cref="DatasetShard"/>): <c>{"index": I,
/// "count": N, "dataset_items": M}</c>, M the items of the whole dataset, so that <c>dfer merge</c> knows how many
/// rows each shard must have.</summary>
internal sealed record ShardJson(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("dataset_items")] int DatasetItems);
