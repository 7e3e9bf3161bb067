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
        [property: JsonPropertyName("label")] string Label)
    {
        public Result(string input, int? index, int? clips, ClipResult r)
            : this(input, index, clips, r.Logits, r.Probabilities, r.Label) { }
    }

    public static InferJson From(LoadedModel loaded, IReadOnlyList<ScoreJob> jobs)
    {
        var results = new List<Result>();
        foreach (ScoreJob job in jobs.Where(j => j.Error is null))
        {
            if (job.PerClip)
                for (int c = 0; c < job.ClipCount; c++)
                    results.Add(new Result(job.Source, c, null, job.ClipResults[c]));
            else results.Add(new Result(job.Source, null, job.ClipCount, job.VideoResult(loaded.Model.Classes)));
        }
        var errors = jobs.Where(j => j.Error is not null).Select(j => new InputErrorJson(j.Source, j.Error!)).ToList();
        return new InferJson(loaded.Model.Name, loaded.Backend.Name, loaded.Precision, loaded.Weights.Source, results,
            errors);
    }
}

/// <summary>An input that could not be scored, and why.</summary>
internal sealed record InputErrorJson(
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("error")] string Error);
