using Dfer.Cli.Datasets;
using Dfer.Cli.Json;
using Dfer.Cli.Scoring;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer infer --model m3dfel|ifdd INPUT...</c>, the clip mode of <see cref="InferCommand"/>: scores
/// the .npy clip batches, frame folders and video files named on the command line (a bad input is
/// reported and skipped; the others are still scored) and prints one row per clip or video.
/// </summary>
internal static class ClipInferCommand
{
    /// <summary>Loads the model, scores <paramref name="inputs"/> in batches, prints the results and disposes the
    /// model.</summary>
    /// <param name="dataset">The dataset options, which must all be unset (they belong to
    /// <see cref="DatasetInferCommand"/>).</param>
    public static int Run(ScoringOptions scoring, string[] inputs, DatasetOptions dataset, FaceSettings face,
        CliConsole console)
    {
        if (inputs.Length == 0)
            throw new DferException(
                "nothing to score: give INPUT files (.npy, frame folders, videos) or --dataset DIR|CSV");
        dataset.CheckUnused();
        SharedOptions.CheckJitter(ModelRegistry.Get(scoring.Model), scoring.JitterSeed);

        using var loaded = scoring.Open(console, InferCommand.GeneratedWeightsNote);
        using var faces = new FaceInputs(face, scoring.Backend, scoring.Threads, console);

        var jobs = new List<ScoreJob>();
        var batcher = new ClipBatcher(loaded.Session, scoring.Batch, job =>
        {
            if (job.Error is not null) console.Error(job.Error);
        });
        foreach (string path in inputs)
        {
            foreach (ScoreJob job in faces.Read(path, loaded.Model, scoring.JitterSeed, console))
            {
                jobs.Add(job);
                batcher.Add(job);
            }
        }
        batcher.Flush();

        if (scoring.Format == Output.Json) WriteJson(console.Out, loaded, jobs);
        else
        {
            // Shown whether or not progress is: it says how the scores were made.
            if (InferJson.SamplingNote(loaded.Model) is string note) console.Summary($"{loaded.Model.Name}: {note}");
            WriteTable(console.Out, loaded.Model, jobs);
        }

        int failed = jobs.Count(j => j.Error is not null);
        if (failed > 0 && jobs.Count > 1)
            console.Progress($"{failed} of {jobs.Count} inputs failed");
        // An input that hit a bug of Dfer's (an internal error) says so in the exit code, after the others were scored.
        if (jobs.Any(j => j.Internal)) return ExitCodes.Internal;
        return failed > 0 ? ExitCodes.InputFailed : ExitCodes.Ok;
    }

    private static void WriteJson(TextWriter stdout, LoadedModel loaded, List<ScoreJob> jobs) =>
        Output.WriteJson(stdout, InferJson.From(loaded, jobs), DferJson.Default.InferJson);

    private static void WriteTable(TextWriter stdout, IModel model, List<ScoreJob> jobs)
    {
        var classes = model.Classes;
        // The face column appears when the face stage cropped any input: "16/16" sampled frames with the face.
        bool faces = jobs.Any(j => j.Error is null && j.Face is { Mode: "detect" });
        // RDFER's key frames: indices into the 64 clip frames, and for a video the source frame numbers.
        bool keys = jobs.Any(j => j.Error is null && j.ClipResults.Any(r => r?.KeyFrames is not null));
        bool sources = keys && jobs.Any(j => j.Error is null && !j.PerClip);
        var header = new[] { "input", "index", "label", "p(label)" }.Concat(classes);
        if (faces) header = header.Append("face");
        if (keys) header = header.Append("key frames");
        if (sources) header = header.Append("key frames (source)");
        var rows = new List<string[]> { header.ToArray() };
        static string List(int[]? v) => v is null ? "-" : string.Join(",", v);
        void Row(string input, string index, ClipResult r, FaceReport? face = null, int[]? source = null)
        {
            float p = r.Probabilities[IndexOf(classes, r.Label)];
            var row = new[] { input, index, r.Label, Output.Fixed(p, 4) }
                .Concat(r.Probabilities.Select(v => Output.Fixed(v, 4)));
            if (faces) row = row.Append(face is null ? "-" : face.Mode == "none" ? "none"
                : $"{face.SampledWithFace}/{face.Sampled!.Length} (face {face.Track})");
            if (keys) row = row.Append(List(r.KeyFrames));
            if (sources) row = row.Append(List(source));
            rows.Add(row.ToArray());
        }
        foreach (ScoreJob job in jobs.Where(j => j.Error is null))
        {
            if (job.PerClip)
                for (int c = 0; c < job.ClipCount; c++) Row(job.Source, c.ToString(), job.ClipResults[c]);
            else
            {
                ClipResult video = job.VideoResult(classes);
                Row(job.Source, "video", video, job.Face, job.KeyFramesSource(video));
            }
        }
        // A header over no rows says nothing the error lines have not.
        if (rows.Count == 1) return;
        var numeric = new HashSet<int>(Enumerable.Range(3, classes.Count + 1)) { 1 };
        Output.WriteTable(stdout, rows, numeric);
    }

    private static int IndexOf(IReadOnlyList<string> classes, string label)
    {
        for (int i = 0; i < classes.Count; i++)
            if (classes[i] == label) return i;
        throw new InvalidOperationException($"label '{label}' is not one of the model's classes");
    }
}
