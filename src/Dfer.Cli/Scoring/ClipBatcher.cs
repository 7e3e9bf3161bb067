using Dfer.Runtime;

namespace Dfer.Cli.Scoring;

/// <summary>
/// Groups clips into batches across job boundaries, so many one-clip videos still run at the
/// requested batch size, and reports each job once, as soon as its last clip is scored (or it failed).
/// On a pipelined backend (<see cref="Session.Pipelined"/>: cuda) one batch is kept in flight: a full
/// batch is submitted (<see cref="Session.Submit"/>) before the previous one is collected, so the next
/// batch's input uploads, and the caller decodes and gathers the batch after it, while the GPU
/// computes; <see cref="CollectInFlight"/> collects it early when the caller has nothing else to do.
/// On any other backend a batch is done when Submit returns, and its jobs are reported right then,
/// before the next batch is even gathered: a results file never lags a finished batch behind.
/// </summary>
/// <remarks>
/// A batch that throws fails only its own jobs: a <see cref="DferException"/> with its message, any
/// other exception (a bug) as an internal error of each job (<see cref="ScoreJob.FailInternal"/>).
/// </remarks>
internal sealed class ClipBatcher(Session session, int batch, Action<ScoreJob> completed)
{
    private readonly List<(ScoreJob Job, int Clip)> _pending = new();
    private readonly HashSet<ScoreJob> _reported = new();
    private (PendingClips Run, List<(ScoreJob Job, int Clip)> Clips, List<ScoreJob> Jobs)? _inFlight;
    private float[]? _buffer;

    /// <summary>Clips scored so far.</summary>
    public long Scored { get; private set; }

    /// <summary>Forward passes run so far.</summary>
    public int Batches { get; private set; }

    /// <summary>Queues every clip of <paramref name="job"/>; a job that already failed completes at once.</summary>
    public void Add(ScoreJob job)
    {
        if (job.Error is not null || job.ClipCount == 0)
        {
            Report(job);
            return;
        }
        for (int c = 0; c < job.ClipCount; c++)
        {
            _pending.Add((job, c));
            if (_pending.Count == batch) Submit();
        }
    }

    /// <summary>Runs whatever is queued and collects every batch in flight: every job added so far is reported when
    /// this returns.</summary>
    public void Flush()
    {
        Submit();
        Collect();
    }

    /// <summary>Submits the queued clips as one batch, then collects the batch that was in flight before it.</summary>
    private void Submit()
    {
        // A job that failed in an earlier batch contributes nothing more.
        _pending.RemoveAll(p => p.Job.Error is not null);
        if (_pending.Count == 0) return;
        int n = _pending.Count, clipLength = session.ClipLength;
        // Sized by what is pending, not by --batch: a generous --batch over a few clips must not allocate for clips
        // that never come.
        if (_buffer is null || _buffer.Length < n * clipLength) _buffer = new float[n * clipLength];
        for (int i = 0; i < n; i++)
        {
            var (job, clip) = _pending[i];
            job.Clip(clip).CopyTo(_buffer.AsSpan(i * clipLength, clipLength));
        }
        var clips = _pending.ToList();
        var jobs = clips.Select(p => p.Job).Distinct().ToList();
        _pending.Clear();
        string source = jobs.Count == 1 ? jobs[0].Source : "batch of " + string.Join(", ", jobs.Select(j => j.Source));
        PendingClips? run = null;
        try
        {
            // Submit copies the clips before it returns, so the buffer is free for the next batch.
            run = session.Submit(_buffer.AsSpan(0, n * clipLength), n, source);
        }
        catch (Exception ex)
        {
            Fail(jobs, ex);
        }
        Collect();
        if (run is null)
        {
            Finish(clips, jobs);
            return;
        }
        _inFlight = (run, clips, jobs);
        // Run is synchronous here: the batch is done, so its jobs are reported now, not when the next batch is
        // submitted.
        if (!session.Pipelined) Collect();
    }

    /// <summary>
    /// Collects the batch in flight now, if there is one (waiting for it): for a caller about to wait for input
    /// anyway, so the jobs that batch completes are reported without waiting for the next batch.
    /// </summary>
    public void CollectInFlight() => Collect();

    /// <summary>Waits for the batch in flight, if any, and reports the jobs it completed.</summary>
    private void Collect()
    {
        if (_inFlight is not { } flight) return;
        _inFlight = null;
        try
        {
            ClipResult[] results = flight.Run.Wait();
            for (int i = 0; i < flight.Clips.Count; i++)
                flight.Clips[i].Job.SetResult(flight.Clips[i].Clip, results[i]);
        }
        catch (Exception ex)
        {
            Fail(flight.Jobs, ex);
        }
        Finish(flight.Clips, flight.Jobs);
    }

    private static void Fail(List<ScoreJob> jobs, Exception ex)
    {
        foreach (ScoreJob job in jobs)
        {
            if (ex is DferException) job.Fail(ex.Message);
            else job.FailInternal(ex);
        }
    }

    private void Finish(List<(ScoreJob Job, int Clip)> clips, List<ScoreJob> jobs)
    {
        Batches++;
        Scored += clips.Count;
        foreach (ScoreJob job in jobs)
            if (job.Done) Report(job);
    }

    // A job split over two batches may fail in the first after the second was submitted: it is reported once.
    private void Report(ScoreJob job)
    {
        if (_reported.Add(job)) completed(job);
    }
}
