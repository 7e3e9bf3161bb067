namespace Dfer;

/// <summary>
/// Why the library could not do what was asked, in one line naming the input and the problem, e.g.
/// "clip.mp4: no face found in any of its 75 frames". Every problem with an input (a checkpoint, a video, frames,
/// clips) or an option is this type; other exception types are bugs of Dfer's, except
/// <see cref="OperationCanceledException"/> when a call's cancellation token fires and
/// <see cref="ObjectDisposedException"/> after <see cref="DferModel.Dispose"/>.
/// </summary>
public sealed class DferException : Exception
{
    /// <summary>A problem with <paramref name="input"/>.</summary>
    /// <param name="message">The one-line message.</param>
    /// <param name="input">The input it concerns (a path, "frames", "clips"), or null.</param>
    /// <param name="inner">What the engine threw, if anything.</param>
    public DferException(string message, string? input = null, Exception? inner = null) : base(message, inner)
    {
        Input = input;
    }

    /// <summary>The input the problem concerns: a checkpoint or video path, "frames" or "clips"; null for options.
    /// </summary>
    public string? Input { get; }
}
