using Dfer.Runtime;

namespace Dfer.Cli.Scoring;

/// <summary>
/// One thing to score: an .npy of clips (a result per clip) or a video (one result, the mean of
/// its clips). It is scored completely or not at all, so no consumer mistakes part of it for all of it.
/// </summary>
internal sealed class ScoreJob
{
    private float[][]? _clips;
    private int _remaining;

    public ScoreJob(string source, float[][] clips, bool perClip)
    {
        Source = source;
        _clips = clips;
        PerClip = perClip;
        ClipResults = new ClipResult[clips.Length];
        _remaining = clips.Length;
    }

    /// <summary>A job that failed before it could be scored (unreadable input).</summary>
    public ScoreJob(string source, string error)
    {
        Source = source;
        ClipResults = [];
        Error = Cap(CliConsole.OneLine(error));
    }

    /// <summary>
    /// A job whose input broke Dfer itself (an exception that is not a <see cref="DferException"/>, i.e. a bug): it
    /// fails like an unreadable input, so the rest of a batch is still scored, but marks the run as hit by a bug.
    /// </summary>
    public static ScoreJob Broken(string source, Exception bug)
    {
        var job = new ScoreJob(source, InternalError(source, bug));
        job.Internal = true;
        return job;
    }

    /// <summary>The longest error message a job keeps (rows of a results file carry it); longer ones are cut.</summary>
    public const int MaxErrorLength = 2000;

    /// <summary>What the face stage did for this input (null where it does not apply: .npy clips).</summary>
    public FaceReport? Face { get; set; }

    /// <summary>For a video: the source frame number of every frame of every clip (null for .npy clips).</summary>
    public int[][]? ClipFrames { get; init; }

    /// <summary>
    /// For a one-clip video scored by a model that picks frames (RDFER): the source frame numbers of the frames it
    /// looked at (−1 for a black frame), or null.
    /// </summary>
    public int[]? KeyFramesSource(ClipResult video) => ClipFrames is [var frames] ? video.KeyFramesIn(frames) : null;

    /// <summary>The path messages name.</summary>
    public string Source { get; }

    /// <summary>True for .npy clip batches (a row per clip); false for a video (one row).</summary>
    public bool PerClip { get; }

    public int ClipCount => ClipResults.Length;
    public ClipResult[] ClipResults { get; private set; }
    public string? Error { get; private set; }

    /// <summary>The error was a bug in Dfer (<see cref="FailInternal"/>), not a problem with the input.</summary>
    public bool Internal { get; private set; }

    public bool Done => Error is not null || _remaining == 0;

    public ReadOnlySpan<float> Clip(int index) => _clips![index];

    /// <summary>
    /// Records one clip's scores; the input is dropped once the last one is in. Scores that are not finite fail the
    /// job (<see cref="ClipResult.NonFiniteProblem"/>): every path that scores (infer's inputs, a dataset's videos,
    /// eval) gets its results through here, so none reports the arbitrary label of NaN logits.
    /// </summary>
    public void SetResult(int index, ClipResult result)
    {
        if (Error is not null) return;
        string what = ClipResults.Length > 1 && PerClip ? $"clip {index} of this input" : "this input";
        if (result.NonFiniteProblem(what) is string problem)
        {
            Fail(DferException.ForFile(Source, problem).Message);
            return;
        }
        ClipResults[index] = result;
        if (--_remaining == 0) _clips = null;
    }

    public void Fail(string message)
    {
        if (Error is not null) return;
        Error = Cap(CliConsole.OneLine(message));
        _clips = null;
        ClipResults = [];
    }

    /// <summary>Fails the job with a bug of Dfer's (see <see cref="Broken"/>).</summary>
    public void FailInternal(Exception bug)
    {
        if (Error is not null) return;
        Fail(InternalError(Source, bug));
        Internal = true;
    }

    /// <summary>"path: internal error: System.OverflowException: message", on one line.</summary>
    public static string InternalError(string source, Exception bug) =>
        $"{source}: internal error: {bug.GetType().FullName}: {CliConsole.OneLine(bug.Message)}";

    private static string Cap(string message) =>
        message.Length <= MaxErrorLength ? message
        : $"{message[..MaxErrorLength]}... ({message.Length - MaxErrorLength} more characters)";

    /// <summary>The video's scores: the mean of its clips' logits (see <see cref="VideoScores.Mean"/>).</summary>
    public ClipResult VideoResult(IReadOnlyList<string> classes) => VideoScores.Mean(ClipResults, classes);
}
