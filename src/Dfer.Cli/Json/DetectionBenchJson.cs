using System.Text.Json.Serialization;
using Dfer.Cli.Bench;

namespace Dfer.Cli.Json;

/// <summary><c>dfer bench --detector … --format json</c> (docs/detection-benchmark.md); a share of nothing is
/// null.</summary>
internal sealed record DetectionBenchJson(
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("frame_width")] int FrameWidth,
    [property: JsonPropertyName("frames_per_clip")] int FramesPerClip,
    [property: JsonPropertyName("clips")] int Clips,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("iou_threshold")] double IouThreshold,
    [property: JsonPropertyName("video_fps")] double VideoFps,
    [property: JsonPropertyName("detectors")] IReadOnlyList<DetectionBenchJson.Detector> Detectors)
{
    internal sealed record Detector(
        [property: JsonPropertyName("detector")] string Name,
        [property: JsonPropertyName("input_size")] int InputSize,
        [property: JsonPropertyName("score_threshold"), JsonConverter(typeof(FiniteDoubleConverter))]
        double ScoreThreshold,
        [property: JsonPropertyName("seconds"), JsonConverter(typeof(FiniteDoubleConverter))] double Seconds,
        [property: JsonPropertyName("frames_per_s"), JsonConverter(typeof(FiniteDoubleConverter))]
        double FramesPerS,
        [property: JsonPropertyName("realtime_factor"), JsonConverter(typeof(FiniteDoubleConverter))]
        double RealtimeFactor,
        [property: JsonPropertyName("kinds")] IReadOnlyList<Kind> Kinds,
        [property: JsonPropertyName("detect_every")] int DetectEvery,
        [property: JsonPropertyName("stage_seconds"), JsonConverter(typeof(FiniteDoubleConverter))]
        double StageSeconds,
        [property: JsonPropertyName("stage_frames_per_s"), JsonConverter(typeof(FiniteDoubleConverter))]
        double StageFramesPerS,
        [property: JsonPropertyName("stage_realtime_factor"), JsonConverter(typeof(FiniteDoubleConverter))]
        double StageRealtimeFactor);

    internal sealed record Kind(
        [property: JsonPropertyName("kind")] string Name,
        [property: JsonPropertyName("clips")] int Clips,
        [property: JsonPropertyName("raw")] Score Raw,
        [property: JsonPropertyName("tracked")] Score Tracked);

    internal sealed record Score(
        [property: JsonPropertyName("frames")] int Frames,
        [property: JsonPropertyName("frames_with_face")] int FramesWithFace,
        [property: JsonPropertyName("frames_hit")] int FramesHit,
        [property: JsonPropertyName("faces")] int Faces,
        [property: JsonPropertyName("matched")] int Matched,
        [property: JsonPropertyName("false_detections")] int FalseDetections,
        [property: JsonPropertyName("frame_recall"), JsonConverter(typeof(FiniteDoubleConverter))]
        double FrameRecall,
        [property: JsonPropertyName("face_recall"), JsonConverter(typeof(FiniteDoubleConverter))]
        double FaceRecall,
        [property: JsonPropertyName("false_per_frame"), JsonConverter(typeof(FiniteDoubleConverter))]
        double FalsePerFrame,
        [property: JsonPropertyName("precision"), JsonConverter(typeof(FiniteDoubleConverter))] double Precision,
        [property: JsonPropertyName("mean_iou"), JsonConverter(typeof(FiniteDoubleConverter))] double MeanIou)
    {
        public static Score From(DetectionScore s) => new(s.Frames, s.FramesWithFace, s.FramesHit, s.Faces, s.Matched,
            s.FalseDetections, s.FrameRecall, s.FaceRecall, s.FalsePerFrame, s.Precision, s.MeanIou);
    }

    public static DetectionBenchJson From(DetectionBenchReport r) => new(r.Backend, r.Device, r.Threads,
        DetectionClips.FrameWidth, r.FramesPerClip, r.Clips, r.Frames, DetectionScore.MinIou, DetectionBench.VideoFps,
        r.Detectors.Select(d => new Detector(d.Detector, d.InputSize, d.Score, d.Seconds, d.FramesPerSecond, d.RealTime,
            d.Kinds.Select(k => new Kind(k.Kind, k.Clips, Score.From(k.Raw), Score.From(k.Tracked))).ToArray(),
            d.DetectEvery, d.StageSeconds, d.StageFramesPerSecond, d.StageRealTime))
        .ToArray());
}
