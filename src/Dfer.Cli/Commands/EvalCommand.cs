using System.CommandLine;
using Dfer.Cli.Datasets;
using Dfer.Cli.Json;
using Dfer.Cli.Scoring;
using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer eval</c>: scores a labelled dataset and reports accuracy as the DFER literature does:
/// UAR, WAR and the confusion matrix.
/// </summary>
internal static class EvalCommand
{
    public sealed record Settings(ScoringOptions Scoring, DatasetOptions Dataset, FaceSettings Face);

    public static Command Create(CliConsole console)
    {
        var scoring = new ScoringOptions.Parser();
        var dataset = new DatasetOptions.Parser(required: true,
            "Also write each video's scores here (.jsonl or .csv); with --resume an interrupted evaluation continues "
            + "from it");
        var command = new Command("eval",
            "Evaluate on a labelled split (DFEW CSV): UAR (mean per-class recall), WAR (accuracy) and the 7x7 "
            + "confusion matrix");
        var face = new FaceSettings.Parser { WithAllFaces = false };
        scoring.AddTo(command);
        dataset.AddTo(command);
        face.AddTo(command);
        command.SetAction(
            parsed => Run(new Settings(scoring.Get(parsed), dataset.Get(parsed), face.Get(parsed)), console));
        return command;
    }

    public static int Run(Settings settings, CliConsole console)
    {
        ScoringOptions scoring = settings.Scoring;
        IModel model = scoring.ResolveModel();
        SharedOptions.CheckJitter(model, scoring.JitterSeed);
        IReadOnlyList<DatasetItem> items = settings.Dataset.List(model);
        if (items.All(i => i.Target is null && i.Error is null))
            throw new DferException(
                $"--dataset {settings.Dataset.Source} has no labels: eval needs a CSV split with a label per video "
                + "(use 'dfer infer --dataset' to only score)");
        if (settings.Dataset.Output is null)
            console.Progress(
                "per-video scores are not kept: add --output FILE to keep them and to be able to --resume");

        using var loaded =
            scoring.Open(console, "the accuracy is that of random weights (pass --weights FILE for the real one)");
        // Without --output the rows are only needed for the metrics, not on stdout.
        var quiet = new CliConsole(TextWriter.Null, console.Err, console.ShowProgress);
        using var faces = new FaceInputs(settings.Face, scoring.Backend, scoring.Threads, console);
        DatasetOutcome outcome = DatasetRunner.Run(loaded.Session, items, scoring.Batch, scoring.JitterSeed,
            settings.Dataset.Output, settings.Dataset.Existing, settings.Dataset.DecodeThreads,
            ResultsMetadata.Describe(loaded.Model, loaded.Precision, loaded.Backend.Name, scoring.Weights, scoring.Key,
            scoring.JitterSeed, settings.Dataset, settings.Face.Describe()),
            settings.Dataset.Output is null ? quiet : console,
            item => faces.ReadVideo(item.Path, loaded.Model, scoring.JitterSeed));

        var classes = model.Classes;
        var pairs = new List<(int, int)>();
        foreach (ResultRow row in outcome.Rows.Where(r => r.Ok && r.Target is not null))
        {
            int target = IndexOf(classes, row.Target!, row.Video), predicted = IndexOf(classes, row.Label!, row.Video);
            pairs.Add((target, predicted));
        }
        var metrics = ClassificationMetrics.Compute(pairs, classes.Count);
        int failed = items.Count - pairs.Count;

        if (scoring.Format == Output.Json) WriteJson(console.Out, loaded, metrics, items.Count, failed, classes);
        else WriteTable(console.Out, metrics, items.Count, failed, classes);
        if (outcome.Internal > 0) return ExitCodes.Internal;
        return outcome.Failed > 0 || failed > 0 ? ExitCodes.InputFailed : ExitCodes.Ok;
    }

    private static int IndexOf(IReadOnlyList<string> classes, string label, string video)
    {
        for (int i = 0; i < classes.Count; i++)
            if (classes[i] == label) return i;
        throw new DferException(
            $"video {video}: class '{label}' in the results file is not one of {string.Join(", ", classes)}");
    }

    private static void WriteJson(TextWriter stdout, LoadedModel loaded, ClassificationMetrics m, int videos,
        int failed, IReadOnlyList<string> classes) =>
        Output.WriteJson(stdout, EvalJson.From(loaded, m, videos, failed, classes), DferJson.Default.EvalJson);

    private static void WriteTable(TextWriter stdout, ClassificationMetrics m, int videos, int failed,
        IReadOnlyList<string> classes)
    {
        string Percent(double v) => double.IsFinite(v) ? Output.Fixed(100 * v, 2) + " %" : "n/a";
        Output.WriteFacts(stdout, new[]
        {
            ("UAR", Percent(m.Uar)),
            ("WAR", Percent(m.War)),
            ("videos", failed > 0 ? $"{m.Total} evaluated of {videos} ({failed} failed, not counted)" : $"{m.Total}"),
        });
        stdout.WriteLine();
        stdout.WriteLine("confusion (rows: true class, columns: predicted)");
        var rows = new List<string[]> { new[] { "" }.Concat(classes).Append("n").Append("recall").ToArray() };
        for (int t = 0; t < classes.Count; t++)
            rows.Add(new[] { classes[t] }
                .Concat(Enumerable.Range(0, classes.Count).Select(p => m.Confusion[t, p].ToString()))
                .Append(m.Support[t].ToString())
                .Append(Percent(m.Recall[t])).ToArray());
        Output.WriteTable(stdout, rows, new HashSet<int>(Enumerable.Range(1, classes.Count + 2)));
    }
}
