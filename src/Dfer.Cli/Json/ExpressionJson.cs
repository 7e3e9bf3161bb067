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
        [property: JsonPropertyName("aggregation")] string Aggregation,
        [property: JsonPropertyName("temporal"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        Temporal? Temporal,
        [property: JsonPropertyName("mean_probabilities"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
            JsonConverter(typeof(FiniteFloatsConverter))] float[]? MeanProbabilities,
        [property: JsonPropertyName("per_frame")] IReadOnlyList<Frame> PerFrame);

    /// <summary>The Temporal Encoder that aggregated (docs/models/temporal-encoder.md).</summary>
    internal sealed record Temporal(
        [property: JsonPropertyName("weights")] string Weights,
        [property: JsonPropertyName("features")] string Features,
        [property: JsonPropertyName("layers")] int Layers,
        [property: JsonPropertyName("d_model")] int DModel,
        [property: JsonPropertyName("heads")] int Heads,
        [property: JsonPropertyName("dim_feedforward")] IReadOnlyList<int> FeedForward,
        [property: JsonPropertyName("norm_first")] bool NormFirst,
        [property: JsonPropertyName("activation")] string Activation,
        [property: JsonPropertyName("window")] int Window,
        [property: JsonPropertyName("positional")] string Positional,
        [property: JsonPropertyName("final_norm")] bool FinalNorm);

    /// <summary>A frame: where no face was found, <c>face</c> and <c>label</c> are null and there are no
    /// probabilities. <c>probabilities</c> are the expression net's own, or the Temporal Encoder's when one aggregates
    /// (then <c>expression_net</c> holds the net's); <c>smoothed</c> is always the fixed mean; <c>label</c> follows
    /// the aggregation (the Temporal Encoder's probabilities, or the smoothed ones).</summary>
    internal sealed record Frame(
        [property: JsonPropertyName("frame")] int Index,
        [property: JsonPropertyName("time"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Time,
        [property: JsonPropertyName("face")] Face? Face,
        [property: JsonPropertyName("probabilities"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
            JsonConverter(typeof(FiniteFloatsConverter))] float[]? Probabilities,
        [property: JsonPropertyName("smoothed"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
            JsonConverter(typeof(FiniteFloatsConverter))] float[]? Smoothed,
        [property: JsonPropertyName("expression_net"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull),
            JsonConverter(typeof(FiniteFloatsConverter))] float[]? ExpressionNet,
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
            [r.FrameWidth, r.FrameHeight], r.Label, r.Probabilities, r.Temporal is null ? "mean" : "temporal",
            r.Temporal is TemporalEncoder t ? TemporalOf(t) : null, r.Temporal is null ? null : r.MeanProbabilities,
            r.Frames.Select(f => FrameOf(f, r.Fps)).ToList());

    /// <summary>A box as the JSON outputs write it (see <see cref="Face"/>); null for none.</summary>
    internal static Face? FaceOf(FaceBox? box) => box is FaceBox b
        ? new Face(Math.Round(b.X0, 1), Math.Round(b.Y0, 1), Math.Round(b.Width, 1), Math.Round(b.Height, 1),
            Math.Round(b.Score, 4))
        : null;

    internal static Temporal TemporalOf(TemporalEncoder t) =>
        new(t.Source, t.Config.Features, t.Layers, t.DModel, t.Config.Heads, t.FeedForward, t.Config.NormFirst,
            t.Config.Activation, t.Config.Window, t.Config.Positional.ToString().ToLowerInvariant(), t.FinalNorm);

    private static Frame FrameOf(ExpressionFrame f, double? fps)
    {
        double? time = fps is double rate ? Math.Round(f.Index / rate, 3) : null;
        if (FaceOf(f.Face) is not Face face) return new Frame(f.Index, time, null, null, null, null, null);
        return f.Temporal is null
            ? new Frame(f.Index, time, face, f.Probabilities ?? [], f.Smoothed ?? [], null, f.Label)
            : new Frame(f.Index, time, face, f.Temporal, f.Smoothed ?? [], f.Probabilities ?? [], f.Label);
    }
}
