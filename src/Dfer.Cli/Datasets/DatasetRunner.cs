using System.Diagnostics;
using Dfer.Cli.Commands;
using Dfer.Cli.Scoring;
using Dfer.Runtime;

namespace Dfer.Cli.Datasets;

/// <summary>What a dataset run produced: every row (those of a resumed run included) and its counts.</summary>
internal sealed record DatasetOutcome(IReadOnlyList<ResultRow> Rows, int Scored, int Resumed, int Failed);

/// <summary>
/// Scores many videos in one run: decodes each with the model's protocol (on background threads,
/// ahead of the forward passes), batches clips across videos, writes a row per video as soon as it is
/// done, keeps going past bad videos, and can continue an interrupted run from its results file.
/// </summary>
internal static class DatasetRunner
{
    /// <summary>How the results file is treated when it already exists.</summary>
    public enum Existing { Refuse, Resume, Overwrite }

    /// <summary>
    /// Decoding threads without --decode-threads: 1, or 2 with 4 or more logical cores.
    /// </summary>
    /// <remarks>
    /// Decoding a video is single-threaded (frame images, resize, crop; a video file's ffmpeg is a
    /// process of its own), so one thread already overlaps decoding with the forward passes, which
    /// is all there is to gain when the forward pass is the slower of the two. A second one helps
    /// when decoding is the slower: a GPU backend, whose forward pass leaves the cores idle while the
    /// main thread waits on the device. More is not the default because every decoder takes a core
    /// from the cpu backend, whose forward pass already runs one thread per core (--threads 0; there
    /// the overlap gains little: on 2 cores, 12 videos of M3DFEL took the same wall time with 0 and 1
    /// decoder), and no measurement says more pays on a GPU. The summary line reports how long the
    /// forward passes waited for decoding, and --decode-threads N asks for more.
    /// </remarks>
    public static int DefaultDecodeThreads => Math.Clamp(Environment.ProcessorCount / 2, 1, 2);

    /// <summary>
    /// How many clips may be decoded ahead of the forward pass: two batches' worth. One fills the next
    /// forward pass the moment the current one ends, the other absorbs videos that decode slowly.
    /// Memory: these, plus the batch the batcher is filling (M3DFEL: 2.4 MB a clip and one clip a
    /// video; IFDD: 9.6 MB a clip, several a video), plus, at worst, one long video per decoder that
    /// turned out to hold more clips than there was room for.
    /// </summary>
    public static int DecodeAheadClips(int batch) => 2 * batch;

    public static DatasetOutcome Run(LoadedModel loaded, IReadOnlyList<DatasetItem> items, int batch, long? jitterSeed,
        string? output, Existing existing, int? decodeThreads, CliConsole console)
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
        TimeSpan waited = TimeSpan.Zero;
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
                // Videos decode on background threads, in dataset order and bounded ahead of the
                // forward passes, which run here. A bad video is a failed job (ReadVideo turns its
                // DferException into one); anything else is a bug, rethrown here by Value as it was
                // thrown in the decoder, so it ends the run as before. Leaving this block, normally or
                // not, stops the decoders.
                using var decoded = new OrderedPrefetch<DatasetItem, ScoreJob>(todo,
                    (item, _) => item.Error is not null ? new ScoreJob(item.Path, item.Error) : Inputs.ReadVideo(item.Path, loaded.Model, jitterSeed),
                    budget: DecodeAheadClips(batch), workers: decodeThreads ?? DefaultDecodeThreads, weight: job => job.ClipCount);
                foreach (Prefetched<ScoreJob> result in decoded.Consume())
                {
                    ScoreJob job = result.Value;
                    byJob[job] = todo[result.Index];
                    order.Enqueue(job);
                    batcher.Add(job);
                }
                batcher.Flush();
                waited = decoded.Waited;
            });
        }
        double seconds = watch.Elapsed.TotalSeconds;
        // The time the forward passes had nothing to do but wait for a decoded video (with
        // --decode-threads 0: all the decoding): the number that says whether more decoders would help.
        string rate = scored > 0 ? $" in {seconds:F1} s ({scored / seconds:F2} videos/s; waited {waited.TotalSeconds:F1} s for decoding)" : "";
        string resumed = kept.Count > 0 ? $", {kept.Count} from the earlier run" : "";
        string failures = failed > 0 ? $"; {failed} failed (reasons above{(output is null ? "" : " and in " + output)})" : "";
        console.Summary($"{scored + kept.Count} of {items.Count} videos scored{resumed}{rate}{failures}");
        return new DatasetOutcome(rows, scored, kept.Count, failed);
    }
}
