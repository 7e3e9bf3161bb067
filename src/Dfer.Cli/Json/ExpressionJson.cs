using System.Text.Json.Serialization;
using Dfer.Faces;
using Dfer.Models;
using Dfer.Pipelines;

namespace Dfer.Cli.Json;

/// <summary><c>dfer infer --model expression --format json</c>: per-clip and per-frame results of every
/// input.</summary>
internal sealed record ExpressionJson(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("classes")] IReadOnlyList<string> Classes,
    [property: JsonPropertyName("results")] IReadOnlyList<ExpressionJson.Report> Results,
    [property: JsonPropertyName("errors")] IReadOnlyList<InputErrorJson> Errors)
{
    internal sealed record Report(
        [property: JsonPropertyName("input")] string Input,
        [property: JsonPropertyName("frames")] int Frames,
        [property: JsonPropertyName("frames_with_face")] int FramesWithFace,
        [property: JsonPropertyName("window")] int Window,
        [property: JsonPropertyName("fps")] double? Fps,
        [property: JsonPropertyName("frame_size")] int[] FrameSize,
        [property: JsonPropertyName("label")] string Label,
        [property: JsonPropertyName("probabilities"), JsonConverter(typeof(FiniteFloatsConverter))]
        float[] Probabilities,
        [property: JsonPropertyName("per_frame")] IReadOnlyList<Frame> PerFrame);

    /// <summary>A frame: where no face was found, <c>face</c> and <c>label</c> are null and there are no
    /// probabilities.</summary>
    internal sealed record Frame(
        [property: JsonPropertyName("frame")] int Index,
        [property: JsonPropertyName("time"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Time,
        [property: JsonPropertyName("face")] Face? Face,
        [property: JsonPropertyName("probabilities"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
            JsonConverter(typeof(FiniteFloatsConverter))] float[]? Probabilities,
        [property: JsonPropertyName("smoothed"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
            JsonConverter(typeof(FiniteFloatsConverter))] float[]? Smoothed,
        [property: JsonPropertyName("label")] string? Label);

    /// <summary>The face box in pixels of the analysed frame, rounded to a tenth; the detector's score to 4
    /// decimals.</summary>
    internal sealed record Face(
        [property: JsonPropertyName("x")] double X,
        [property: JsonPropertyName("y")] double Y,
        [property: JsonPropertyName("width")] double Width,
        [property: JsonPropertyName("height")] double Height,
        [property: JsonPropertyName("score")] double Score);

    public static ExpressionJson From(string model, string backend, string precision, string weights,
        IReadOnlyList<ExpressionReport> reports, IEnumerable<(string Input, string Error)> errors) =>
        new(model, backend, precision, weights, EmotionClasses.Seven, reports.Select(ReportOf).ToList(),
            errors.Select(e => new InputErrorJson(e.Input, e.Error)).ToList());

    private static Report ReportOf(ExpressionReport r) =>
        new(r.Input, r.Frames.Count, r.FramesWithFace, r.Window, r.Fps is double fps ? Math.Round(fps, 3) : null,
            [r.FrameWidth, r.FrameHeight], r.Label, r.Probabilities, r.Frames.Select(f => FrameOf(f, r.Fps)).ToList());

    private static Frame FrameOf(ExpressionFrame f, double? fps)
    {
        double? time = fps is double rate ? Math.Round(f.Index / rate, 3) : null;
        if (f.Face is not FaceBox b) return new Frame(f.Index, time, null, null, null, null);
        var face = new Face(Math.Round(b.X0, 1), Math.Round(b.Y0, 1), Math.Round(b.Width, 1), Math.Round(b.Height, 1),
            Math.Round(b.Score, 4));
        return new Frame(f.Index, time, face, f.Probabilities ?? [], f.Smoothed ?? [], f.Label);
    }
}
