using System.CommandLine;
using Dfer.Cli.Datasets;
using Dfer.Cli.Json;
using Dfer.Cli.Scoring;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer infer</c>: scores .npy clip batches, frame folders and video files named on the command
/// line (a bad input is reported and skipped; the others are still scored), or a whole dataset
/// with <c>--dataset</c>.
/// </summary>
internal static class InferCommand
{
    /// <summary>Settings of one run, as parsed from the command line.</summary>
    public sealed record Settings(ScoringOptions Scoring, string[] Inputs, DatasetOptions Dataset);

    public static Command Create(CliConsole console)
    {
        var scoring = new ScoringOptions.Parser(expression: true);
        var dataset = new DatasetOptions.Parser(required: false,
            "Results file of a --dataset run, one row per video: .jsonl or .csv (default: JSON Lines on stdout)");
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "What to score: .npy clip batches (float32 [B, 16, 3, 112, 112] for m3dfel, [B, 16, 3, 224, 224] for ifdd, or one clip; values in [0, 1]), frame folders (JPEG/PNG frames ordered by the number in their names) or video files (.mp4 .avi .mkv .webm .mov, decoded with FFmpeg)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        // A string argument swallows a mistyped option ("--batchsize 4") as a file name; catch it here
        // so it is a usage error like any unknown option. "./-odd.npy" still names such a file.
        inputs.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-' && !File.Exists(token.Value) && !Directory.Exists(token.Value))
                    result.AddError($"{token.Value}: not an option of 'dfer infer'");
        });
        var command = new Command("infer", "Score face videos: the 7 emotion logits and probabilities of every clip, frame folder or video (--model expression: face-api's pretrained face detector and expression net on any video, frame folder or image)")
        {
            inputs,
        };
        scoring.AddTo(command);
        dataset.AddTo(command);
        var expression = new ExpressionCommand.Parser();
        expression.AddTo(command);
        command.SetAction(parsed =>
        {
            ScoringOptions options = scoring.Get(parsed);
            if (ExpressionCommand.Handles(options.Model))
            {
                var data = dataset.Get(parsed);
                if (data.Source is not null) throw new DferException($"--dataset does not apply to --model {ExpressionCommand.ModelName}; give the videos as INPUT");
                data.CheckUnused();
                return ExpressionCommand.Run(options, parsed.GetValue(inputs)!, expression.Get(parsed), console);
            }
            ExpressionCommand.CheckUnused(parsed);
            return Run(new Settings(options, parsed.GetValue(inputs)!, dataset.Get(parsed)), console);
        });
        return command;
    }

    public static int Run(Settings settings, CliConsole console)
    {
        ScoringOptions scoring = settings.Scoring;
        bool datasetMode = settings.Dataset.Source is not null;
        if (datasetMode == settings.Inputs.Length > 0)
            throw new DferException(datasetMode
                ? "give either INPUT files or --dataset, not both"
                : "nothing to score: give INPUT files (.npy, frame folders, videos) or --dataset DIR|CSV");
        if (!datasetMode) settings.Dataset.CheckUnused();
        SharedOptions.CheckJitter(ModelRegistry.Get(scoring.Model), scoring.JitterSeed);
        IReadOnlyList<DatasetItem>? items = null;
        if (datasetMode) items = settings.Dataset.List(ModelRegistry.Get(scoring.Model));

        using var loaded = scoring.Open(console, "the scores are meaningless (pass --weights FILE for real predictions)");

        if (items is not null)
        {
            DatasetOutcome outcome = DatasetRunner.Run(loaded.Session, items, scoring.Batch, scoring.JitterSeed,
                settings.Dataset.Output, settings.Dataset.Existing, settings.Dataset.DecodeThreads,
                ResultsMetadata.Describe(loaded.Model, loaded.Precision, loaded.Backend.Name, scoring.Weights, scoring.Key, scoring.JitterSeed, settings.Dataset),
                console);
            return outcome.ExitCode;
        }

        var jobs = new List<ScoreJob>();
        var batcher = new ClipBatcher(loaded.Session, scoring.Batch, job =>
        {
            if (job.Error is not null) console.Error(job.Error);
        });
        foreach (string path in settings.Inputs)
        {
            ScoreJob job = Inputs.Read(path, loaded.Model, scoring.JitterSeed, console);
            jobs.Add(job);
            batcher.Add(job);
        }
        batcher.Flush();

        if (scoring.Format == Output.Json) WriteJson(console.Out, loaded, jobs);
        else WriteTable(console.Out, loaded.Model, jobs);

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
        var rows = new List<string[]> { new[] { "input", "index", "label", "p(label)" }.Concat(classes).ToArray() };
        void Row(string input, string index, ClipResult r)
        {
            float p = r.Probabilities[IndexOf(classes, r.Label)];
            rows.Add(new[] { input, index, r.Label, Output.Fixed(p, 4) }
                .Concat(r.Probabilities.Select(v => Output.Fixed(v, 4))).ToArray());
        }
        foreach (ScoreJob job in jobs.Where(j => j.Error is null))
        {
            if (job.PerClip)
                for (int c = 0; c < job.ClipCount; c++) Row(job.Source, c.ToString(), job.ClipResults[c]);
            else Row(job.Source, "video", job.VideoResult(classes));
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
