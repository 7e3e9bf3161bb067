using System.Diagnostics;
using Dfer.Cli.Scoring;
using Dfer.Runtime;

namespace Dfer.Cli.Datasets;

/// <summary>
/// What a dataset run produced: every row (those of a resumed run included) and its counts; <paramref name="Internal"/>
/// of the <paramref name="Failed"/> failed for a bug of Dfer's rather than their input (exit code 3).
/// </summary>
internal sealed record DatasetOutcome(IReadOnlyList<ResultRow> Rows, int Scored, int Resumed, int Failed,
    int Internal = 0)
{
    /// <summary>3 if a video hit a bug, 1 if one failed, else 0.</summary>
    public int ExitCode => Internal > 0 ? ExitCodes.Internal : Failed > 0 ? ExitCodes.InputFailed : ExitCodes.Ok;
}

/// <summary>
/// Scores many videos in one run: decodes each with the model's protocol (on background threads,
/// ahead of the forward passes), batches clips across videos, writes a row per video as soon as it is
/// done, keeps going past bad videos (and past videos that hit a bug: their rows say "internal error"),
/// and can continue an interrupted run from its results file, if that file was made by the same run.
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

    /// <param name="session">The model, compiled.</param>
    /// <param name="metadata">What this run is, recorded in the results and compared with a file to resume.</param>
    /// <param name="decode">Turns a dataset item into a job (default: <see cref="Inputs.ReadVideo"/> with the model's
    /// protocol); whatever it throws fails that item alone.</param>
    public static DatasetOutcome Run(Session session, IReadOnlyList<DatasetItem> items, int batch, long? jitterSeed,
        string? output, Existing existing, int? decodeThreads, ResultsMetadata metadata, CliConsole console,
        Func<DatasetItem, ScoreJob>? decode = null)
    {
        var classes = session.Model.Classes;
        decode ??= item => Inputs.ReadVideo(item.Path, session.Model, jitterSeed);
        var kept = new List<ResultRow>();
        if (output is not null)
        {
            ResultsFile.IsCsv(output);
            if (File.Exists(output))
            {
                switch (existing)
                {
                    case Existing.Refuse:
                        throw new DferException(
                            $"--output {output} already exists: pass --resume to continue that run, or --overwrite to "
                            + "start over");
                    case Existing.Resume:
                        kept = Resumable(output, classes, metadata, items);
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
        int failed = 0, scored = 0, bugs = 0;
        TimeSpan waited = TimeSpan.Zero;
        var watch = Stopwatch.StartNew();
        using (ResultsFile results = output is null ? ResultsFile.JsonLines(console.Out, classes, metadata)
            : ResultsFile.Create(output, classes, kept, metadata))
        {
            ProgressDisplay.Run(console, session.Model.Name, todo.Count, bar =>
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
                    ClipResult? r = null;
                    if (job.Error is null)
                    {
                        try
                        {
                            r = job.VideoResult(classes);
                        }
                        catch (Exception ex)
                        {
                            job.FailInternal(ex);
                        }
                    }
                    if (r is null)
                    {
                        console.Error(job.Error!);
                        failed++;
                        if (job.Internal) bugs++;
                        finished[job] = new ResultRow(item.Name, item.Path, target, null, 0, null, null, job.Error);
                    }
                    else
                    {
                        scored++;
                        finished[job] = new ResultRow(item.Name, item.Path, target, r.Label, job.ClipCount,
                            r.Probabilities, r.Logits, null)
                        { Face = job.Face?.Short, KeyFrames = r.KeyFrames, KeyFramesSource = job.KeyFramesSource(r) };
                    }
                    while (order.Count > 0 && finished.Remove(order.Peek(), out ResultRow? row))
                    {
                        order.Dequeue();
                        rows.Add(row);
                        results.Append(row);
                        bar.Advance();
                    }
                }

                var batcher = new ClipBatcher(session, batch, Completed);
                // Videos decode on background threads, in dataset order and bounded ahead of the
                // forward passes, which run here. A bad video is a failed job; so is one whose decoding
                // threw anything else (a bug: an "internal error" row, and the run goes on, so that
                // --resume retries it rather than stopping there every time). Leaving this block,
                // normally or not, stops the decoders.
                using var decoded = new OrderedPrefetch<DatasetItem, ScoreJob>(todo,
                    (item, _) => item.Error is not null ? new ScoreJob(item.Path, item.Error)
                        : Inputs.Guarded(item.Path, () => decode(item)),
                    budget: DecodeAheadClips(batch), workers: decodeThreads ?? DefaultDecodeThreads, weight: job
                    => job.ClipCount);
                // While the forward passes wait for decoding, a batch in flight (cuda) is collected, so its rows are
                // written then rather than when the next batch fills up.
                foreach (Prefetched<ScoreJob> result in decoded.Consume(idle: batcher.CollectInFlight))
                {
                    DatasetItem item = todo[result.Index];
                    ScoreJob job = result.Error is { } bug ? ScoreJob.Broken(item.Path, bug) : result.Value;
                    byJob[job] = item;
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
        string rate = scored > 0
            ? $" in {seconds:F1} s ({scored / seconds:F2} videos/s; waited {waited.TotalSeconds:F1} s for decoding)"
            : "";
        string resumed = kept.Count > 0 ? $", {kept.Count} from the earlier run" : "";
        string internals =
            bugs > 0 ? $", {bugs} of them for an internal error (a bug of dfer's: please report it)" : "";
        string failures = failed > 0
            ? $"; {failed} failed (reasons above{(output is null ? "" : " and in " + output)}){internals}" : "";
        console.Summary($"{scored + kept.Count} of {items.Count} videos scored{resumed}{rate}{failures}");
        return new DatasetOutcome(rows, scored, kept.Count, failed, bugs);
    }

    /// <summary>
    /// The scored rows of <paramref name="output"/> that a run described by <paramref name="metadata"/> may keep: the
    /// file must be a dfer results file made by the same run (model, weights, precision, protocol, dataset; see
    /// <see cref="ResultsMetadata.Compared"/>) and hold only videos of <paramref name="items"/>. Anything else is
    /// refused, with the file left as it is.
    /// </summary>
    private static List<ResultRow> Resumable(string output, IReadOnlyList<string> classes, ResultsMetadata metadata,
        IReadOnlyList<DatasetItem> items)
    {
        // The metadata first: a file of another run is refused for that, whatever its rows hold.
        ResultsMetadata? previous = ResultsFile.ReadMetadata(output, classes);
        if (previous is null)
        {
            string where = ResultsFile.IsCsv(output) ? $"no {Path.GetFileName(ResultsFile.SidecarOf(output))} beside it"
                : "no '{\"dfer_results\": ...}' first line";
            throw DferException.ForFile(output,
                $"has {where}: it comes from a dfer that did not record what made its rows, so --resume cannot tell "
                + "whether they match this run; pass --overwrite to start over");
        }
        IReadOnlyList<string> differences = previous.Differences(metadata);
        if (differences.Count > 0)
            throw DferException.ForFile(output,
                $"was made by a different run ({string.Join("; ", differences)}); resume with the same settings, or "
                + "pass --overwrite to start over");
        var rows = ResultsFile.Read(output, classes);
        var listed = items.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var strangers =
            rows.Where(r => !listed.Contains(r.Video)).Select(r => r.Video).Distinct(StringComparer.Ordinal).ToList();
        if (strangers.Count > 0)
            throw DferException.ForFile(output,
                $"has rows of {strangers.Count} video{(strangers.Count == 1 ? "" : "s")} that --dataset does not list "
                + $"(first {ResultsFile.Quote(strangers[0])}): the dataset changed since; resume with the same "
                + "dataset, or pass --overwrite to start over");
        return rows.Where(r => r.Ok).ToList();
    }
}
