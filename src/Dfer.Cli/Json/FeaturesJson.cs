using System.Text.Json.Serialization;

namespace Dfer.Cli.Json;

/// <summary>
/// The sidecar <c>F.json</c> of a <c>dfer features</c> <c>F.npy</c> (docs/temporal-encoder.md): what the rows are and,
/// per frame (one per row), its number, time and face box; <c>face</c> is null for a frame without a face, whose row
/// is NaN.
/// </summary>
internal sealed record FeaturesSidecarJson(
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("detector")] string Detector,
    [property: JsonPropertyName("features")] string Features,
    [property: JsonPropertyName("shape")] int[] Shape,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("frames_with_face")] int FramesWithFace,
    [property: JsonPropertyName("fps")] double? Fps,
    [property: JsonPropertyName("frame_size")] int[] FrameSize,
    [property: JsonPropertyName("per_frame")] IReadOnlyList<FeaturesSidecarJson.FrameFacts> PerFrame)
{
    /// <param name="Detected">Whether the detector found the face in this frame (false where the box bridges a gap
    /// between detections).</param>
    internal sealed record FrameFacts(
        [property: JsonPropertyName("frame")] int Index,
        [property: JsonPropertyName("time"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Time,
        [property: JsonPropertyName("face")] ExpressionJson.Face? Face,
        [property: JsonPropertyName("detected")] bool Detected);
}

/// <summary>The first line of a features folder's <c>index.jsonl</c>: what run wrote it (a run resumes only into a
/// folder written with the same settings).</summary>
internal sealed record FeaturesRunJson(
    [property: JsonPropertyName("dfer_features")] FeaturesRunJson.Settings Run)
{
    internal sealed record Settings(
        [property: JsonPropertyName("format_version")] int FormatVersion,
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("weights")] string Weights,
        [property: JsonPropertyName("face")] string Face,
        [property: JsonPropertyName("file_type")] string FileType,
        [property: JsonPropertyName("layer")] string? Layer,
        [property: JsonPropertyName("dataset")] string? Dataset);
}

/// <summary>One video's line of a features folder's <c>index.jsonl</c>: its file, or why it has none.</summary>
internal sealed record FeaturesRowJson(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("file"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? File,
    [property: JsonPropertyName("frames"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Frames,
    [property: JsonPropertyName("frames_with_face"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    int? FramesWithFace,
    [property: JsonPropertyName("target")] int? Target,
    [property: JsonPropertyName("label")] string? Label,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);
