using Dfer.Runtime;

namespace Dfer.Cli.Scoring;

/// <summary>
/// Groups clips into batches across job boundaries, so many one-clip videos still run at the
/// requested batch size, and reports each job as soon as its last clip is scored (or it failed).
/// </summary>
internal sealed class ClipBatcher(Session session, int batch, Action<ScoreJob> completed)
{
    private readonly List<(ScoreJob Job, int Clip)> _pending = new();
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
            completed(job);
            return;
        }
        for (int c = 0; c < job.ClipCount; c++)
        {
            _pending.Add((job, c));
            if (_pending.Count == batch) Flush();
        }
    }

    /// <summary>Runs whatever is queued.</summary>
    public void Flush()
    {
        // A job that failed in an earlier batch contributes nothing more.
        _pending.RemoveAll(p => p.Job.Error is not null);
        if (_pending.Count == 0) return;
        int n = _pending.Count, clipLength = session.ClipLength;
        // Sized by what is pending, not by --batch: a generous --batch over a few clips must not allocate for clips that never come.
        if (_buffer is null || _buffer.Length < n * clipLength) _buffer = new float[n * clipLength];
        for (int i = 0; i < n; i++)
        {
            var (job, clip) = _pending[i];
            job.Clip(clip).CopyTo(_buffer.AsSpan(i * clipLength, clipLength));
        }
        var jobs = _pending.Select(p => p.Job).Distinct().ToList();
        string source = jobs.Count == 1 ? jobs[0].Source : "batch of " + string.Join(", ", jobs.Select(j => j.Source));
        try
        {
            ClipResult[] results = session.Run(_buffer.AsSpan(0, n * clipLength), n, source);
            for (int i = 0; i < n; i++) _pending[i].Job.SetResult(_pending[i].Clip, results[i]);
        }
        catch (DferException ex)
        {
            foreach (ScoreJob job in jobs) job.Fail(ex.Message);
        }
        Batches++;
        Scored += n;
        _pending.Clear();
        foreach (ScoreJob job in jobs)
            if (job.Done) completed(job);
    }
}
