using System.Diagnostics;
using Dfer.Cli.Commands;
using Dfer.Cli.Scoring;
using Dfer.Runtime;

namespace Dfer.Cli.Datasets;

/// <summary>What a dataset run produced: every row (those of a resumed run included) and its counts.</summary>
internal sealed record DatasetOutcome(IReadOnlyList<ResultRow> Rows, int Scored, int Resumed, int Failed);

/// <summary>
/// Scores many videos in one run: decodes each with the model's protocol, batches clips across
/// videos, writes a row per video as soon as it is done, keeps going past bad videos, and can
/// continue an interrupted run from its results file.
/// </summary>
internal static class DatasetRunner
{
    /// <summary>How the results file is treated when it already exists.</summary>
    public enum Existing { Refuse, Resume, Overwrite }

    public static DatasetOutcome Run(LoadedModel loaded, IReadOnlyList<DatasetItem> items, int batch, long? jitterSeed,
        string? output, Existing existing, CliConsole console)
    {
        var classes = loaded.Model.Classes;
        var kept = new List<ResultRow>();
        if (output is not null)
        {
            ResultsFile.IsCsv(output);
            if (File.Exists(output))
            {
                switch (existing)
                {
                    case Existing.Refuse:
                        throw new DferException($"--output {output} already exists: pass --resume to continue that run, or --overwrite to start over");
                    case Existing.Resume:
                        kept = ResultsFile.Read(output, classes).Where(r => r.Ok).ToList();
                        break;
                    case Existing.Overwrite:
                        break;
                }
            }
        }
        var done = kept.Select(r => r.Video).ToHashSet(StringComparer.Ordinal);
        var todo = items.Where(i => !done.Contains(i.Name)).ToList();
        if (kept.Count > 0)
            console.Progress($"resuming {output}: {kept.Count} videos already scored, {todo.Count} to go");

        var rows = new List<ResultRow>(kept);
        int failed = 0, scored = 0;
        var watch = Stopwatch.StartNew();
        using (ResultsFile results = output is null ? ResultsFile.JsonLines(console.Out, classes) : ResultsFile.Create(output, classes, kept))
        {
            ProgressDisplay.Run(console, loaded.Model.Name, todo.Count, bar =>
            {
                // Rows go out in dataset order: a video that fails at once waits for the ones before
                // it that are still in a batch (at most one batch's worth), so runs are reproducible.
                var byJob = new Dictionary<ScoreJob, DatasetItem>();
                var order = new Queue<ScoreJob>();
                var finished = new Dictionary<ScoreJob, ResultRow>();
                void Completed(ScoreJob job)
                {
                    DatasetItem item = byJob[job];
                    byJob.Remove(job);
                    string? target = item.Target is int t ? classes[t] : null;
                    if (job.Error is not null)
                    {
                        console.Error(job.Error);
                        failed++;
                        finished[job] = new ResultRow(item.Name, item.Path, target, null, 0, null, null, job.Error);
                    }
                    else
                    {
                        scored++;
                        ClipResult r = job.VideoResult(classes);
                        finished[job] = new ResultRow(item.Name, item.Path, target, r.Label, job.ClipCount, r.Probabilities, r.Logits, null);
                    }
                    while (order.Count > 0 && finished.Remove(order.Peek(), out ResultRow? row))
                    {
                        order.Dequeue();
                        rows.Add(row);
                        results.Append(row);
                        bar.Advance();
                    }
                }

                var batcher = new ClipBatcher(loaded.Session, batch, Completed);
                foreach (DatasetItem item in todo)
                {
                    ScoreJob job;
                    if (item.Error is not null) job = new ScoreJob(item.Path, item.Error);
                    else job = Inputs.ReadVideo(item.Path, loaded.Model, jitterSeed);
                    byJob[job] = item;
                    order.Enqueue(job);
                    batcher.Add(job);
                }
                batcher.Flush();
            });
        }
        double seconds = watch.Elapsed.TotalSeconds;
        string rate = scored > 0 ? $" in {seconds:F1} s ({scored / seconds:F2} videos/s)" : "";
        string resumed = kept.Count > 0 ? $", {kept.Count} from the earlier run" : "";
        string failures = failed > 0 ? $"; {failed} failed (reasons above{(output is null ? "" : " and in " + output)})" : "";
        console.Summary($"{scored + kept.Count} of {items.Count} videos scored{resumed}{rate}{failures}");
        return new DatasetOutcome(rows, scored, kept.Count, failed);
    }
}
