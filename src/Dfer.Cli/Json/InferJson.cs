using System.Text.Json.Serialization;
using Dfer.Cli.Commands;
using Dfer.Cli.Scoring;
using Dfer.Runtime;

namespace Dfer.Cli.Json;

/// <summary><c>dfer infer --format json</c> of clip models: one object per run.</summary>
internal sealed record InferJson(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("classes")] IReadOnlyList<string> Classes,
    [property: JsonPropertyName("sampling"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    string? Sampling,
    [property: JsonPropertyName("results")] IReadOnlyList<InferJson.Result> Results,
    [property: JsonPropertyName("errors")] IReadOnlyList<InputErrorJson> Errors)
{
    /// <summary>A clip of an .npy has its index in the file; a video has the number of clips it was scored
    /// from.</summary>
    internal sealed record Result(
        [property: JsonPropertyName("input")] string Input,
        [property: JsonPropertyName("index"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Index,
        [property: JsonPropertyName("clips"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Clips,
        [property: JsonPropertyName("logits"), JsonConverter(typeof(FiniteFloatsConverter))] float[] Logits,
        [property: JsonPropertyName("probabilities"), JsonConverter(typeof(FiniteFloatsConverter))]
        float[] Probabilities,
        [property: JsonPropertyName("label")] string Label,
        [property: JsonPropertyName("face"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        FaceJson? Face = null,
        [property: JsonPropertyName("key_frames"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        int[]? KeyFrames = null,
        [property: JsonPropertyName("key_frames_source"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        int[]? KeyFramesSource = null)
    {
        public Result(string input, int? index, int? clips, ClipResult r, FaceJson? face = null,
            int[]? keyFramesSource = null)
            : this(input, index, clips, r.Logits, r.Probabilities, r.Label, face, r.KeyFrames, keyFramesSource) { }
    }

    /// <summary>What the face stage did for a video: <c>{"mode": "none"}</c>, or with detect the detector, the
    /// scored track, and per sampled frame its number and face box (null where the face was missing).</summary>
    internal sealed record FaceJson(
        [property: JsonPropertyName("mode")] string Mode,
        [property: JsonPropertyName("detector"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Detector,
        [property: JsonPropertyName("track"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Track,
        [property: JsonPropertyName("sampled_frames"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        int? SampledFrames,
        [property: JsonPropertyName("frames_with_face"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        int? FramesWithFace,
        [property: JsonPropertyName("boxes"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        IReadOnlyList<FaceBoxJson>? Boxes)
    {
        public static FaceJson? From(FaceReport? r) => r is null ? null
            : r.Mode == "none" ? new FaceJson("none", null, null, null, null, null)
            : new FaceJson(r.Mode, r.Detector, r.Track, r.Sampled!.Length, r.SampledWithFace,
                r.Sampled.Select((f, i) => FaceBoxJson.From(f, r.Boxes![i])).ToArray());
    }

    /// <summary>One sampled frame's face box in pixels of the analysed frames (x, y: top-left corner).</summary>
    internal sealed record FaceBoxJson(
        [property: JsonPropertyName("frame")] int Frame,
        [property: JsonPropertyName("x")] double? X,
        [property: JsonPropertyName("y")] double? Y,
        [property: JsonPropertyName("width")] double? Width,
        [property: JsonPropertyName("height")] double? Height)
    {
        public static FaceBoxJson From(int frame, Faces.FaceBox? b) => b is { } v
            ? new FaceBoxJson(frame, Math.Round(v.X0, 2), Math.Round(v.Y0, 2), Math.Round(v.Width, 2),
                Math.Round(v.Height, 2))
            : new FaceBoxJson(frame, null, null, null, null);
    }

    /// <summary>What a model that picks frames does that the output should say (RDFER: the synopsis frames, without
    /// the original's random offsets); null for the others.</summary>
    public static string? SamplingNote(Dfer.Models.IModel model) => model is Dfer.Models.Rdfer
        ? $"synopsis frames {string.Join(",", Dfer.Models.Rdfer.SynopsisFrames)} of 64 (the original's random offsets "
            + "of 0-2 are off); key_frames index the 64 clip frames, -1 = black frame"
        : null;

    public static InferJson From(LoadedModel loaded, IReadOnlyList<ScoreJob> jobs)
    {
        var results = new List<Result>();
        foreach (ScoreJob job in jobs.Where(j => j.Error is null))
        {
            if (job.PerClip)
                for (int c = 0; c < job.ClipCount; c++)
                    results.Add(new Result(job.Source, c, null, job.ClipResults[c]));
            else
            {
                ClipResult video = job.VideoResult(loaded.Model.Classes);
                results.Add(new Result(job.Source, null, job.ClipCount, video, FaceJson.From(job.Face),
                    job.KeyFramesSource(video)));
            }
        }
        var errors = jobs.Where(j => j.Error is not null).Select(j => new InputErrorJson(j.Source, j.Error!)).ToList();
        return new InferJson(loaded.Model.Name, loaded.Backend.Name, loaded.Precision, loaded.Weights.Source,
            loaded.Model.Classes, SamplingNote(loaded.Model), results, errors);
    }
}

/// <summary>An input that could not be scored, and why.</summary>
internal sealed record InputErrorJson(
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("error")] string Error);
