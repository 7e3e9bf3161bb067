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
        Error = error;
    }

    /// <summary>The path messages name.</summary>
    public string Source { get; }

    /// <summary>True for .npy clip batches (a row per clip); false for a video (one row).</summary>
    public bool PerClip { get; }

    public int ClipCount => ClipResults.Length;
    public ClipResult[] ClipResults { get; private set; }
    public string? Error { get; private set; }
    public bool Done => Error is not null || _remaining == 0;

    public ReadOnlySpan<float> Clip(int index) => _clips![index];

    /// <summary>Records one clip's scores; the input is dropped once the last one is in.</summary>
    public void SetResult(int index, ClipResult result)
    {
        if (Error is not null) return;
        ClipResults[index] = result;
        if (--_remaining == 0) _clips = null;
    }

    public void Fail(string message)
    {
        if (Error is not null) return;
        Error = CliConsole.OneLine(message);
        _clips = null;
        ClipResults = [];
    }

    /// <summary>The video's scores: the mean of its clips' logits (see <see cref="VideoScores.Mean"/>).</summary>
    public ClipResult VideoResult(IReadOnlyList<string> classes) => VideoScores.Mean(ClipResults, classes);
}
