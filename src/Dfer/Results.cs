namespace Dfer;

/// <summary>
/// One decoded frame: 8-bit RGB, interleaved, row-major, no padding (<c>Width·Height·3</c> bytes; pixel (x, y) at
/// <c>(y·Width + x)·3</c>). The bytes are read when the frame is scored, not copied before.
/// </summary>
public sealed class VideoFrame
{
    /// <summary>Wraps <paramref name="rgb"/> as a <paramref name="width"/> × <paramref name="height"/> frame.</summary>
    /// <exception cref="ArgumentException">A non-positive size, or not exactly <c>width·height·3</c> bytes.</exception>
    public VideoFrame(int width, int height, ReadOnlyMemory<byte> rgb)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"frame size {width}x{height} is not positive", nameof(width));
        if (rgb.Length != (long)width * height * 3)
            throw new ArgumentException(
                $"a {width}x{height} RGB frame needs {(long)width * height * 3} bytes, got {rgb.Length}", nameof(rgb));
        Width = width;
        Height = height;
        Rgb = rgb;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixels, R, G, B per pixel.</summary>
    public ReadOnlyMemory<byte> Rgb { get; }
}

/// <summary>A face box in pixels of the analysed frame (frames are shrunk to a longer side of 640 before detection,
/// see <see cref="VideoResult.FrameWidth"/>), with the detector's score.</summary>
/// <param name="X">Left edge.</param>
/// <param name="Y">Top edge.</param>
/// <param name="Width">Width.</param>
/// <param name="Height">Height.</param>
/// <param name="Score">The detector's confidence, 0 to 1 (interpolated for a frame the tracker bridged).</param>
public sealed record FaceRegion(double X, double Y, double Width, double Height, double Score);

/// <summary>One clip's scores from a DFER model.</summary>
/// <param name="Label">The class of the largest probability.</param>
/// <param name="Probabilities">softmax(<paramref name="Logits"/>), in <see cref="VideoResult.Classes"/> order.</param>
/// <param name="Logits">The model's outputs.</param>
public sealed record ClipScores(string Label, IReadOnlyList<float> Probabilities, IReadOnlyList<float> Logits)
{
    /// <summary>For a clip cut from a video: the source frame number of each of its frames; null for clips given as
    /// tensors.</summary>
    public IReadOnlyList<int>? Frames { get; init; }

    /// <summary>For a model that picks frames (RDFER): the indices, into the clip's frames, of the frames it looked at,
    /// in its order (−1 for a black frame); null for other models.</summary>
    public IReadOnlyList<int>? KeyFrames { get; init; }
}

/// <summary>One frame of a video's timeline.</summary>
/// <param name="Frame">The frame's number in the input (0-based).</param>
/// <param name="Face">The scored face's box in the frame; null where there is none, or without the face stage.</param>
/// <param name="Detected">True where the detector found the face in this frame; false where the tracker bridged a
/// gap.</param>
public sealed record FrameScores(int Frame, FaceRegion? Face, bool Detected)
{
    /// <summary>The frame's time in seconds, where the frame rate is known.</summary>
    public double? Time { get; init; }

    /// <summary>The expression model's probabilities for this frame, aggregated over the frames around it; null for
    /// DFER models (which score clips) and for frames without a face.</summary>
    public IReadOnlyList<float>? Probabilities { get; init; }

    /// <summary>The label of <see cref="Probabilities"/>, or null.</summary>
    public string? Label { get; init; }
}

/// <summary>What a model says about one video.</summary>
/// <param name="Input">What was scored: the path, or "frames" for decoded frames.</param>
/// <param name="Model">The model's name.</param>
/// <param name="Classes">The class labels, in the order of the probabilities.</param>
/// <param name="Label">The video's label (the class of the largest probability).</param>
/// <param name="Probabilities">The video's probabilities: for a DFER model softmax of the mean of its clips' logits
/// (the models' evaluation protocol), for the expression model the confidence-weighted mean over the frames with a
/// face.</param>
public sealed record VideoResult(string Input, string Model, IReadOnlyList<string> Classes, string Label,
    IReadOnlyList<float> Probabilities)
{
    /// <summary>The mean of the clips' logits (DFER models); null for the expression model.</summary>
    public IReadOnlyList<float>? Logits { get; init; }

    /// <summary>Each clip's scores (DFER models; one clip for M3DFEL and RDFER, one per 16 frames for IFDD); empty for
    /// the expression model.</summary>
    public IReadOnlyList<ClipScores> Clips { get; init; } = [];

    /// <summary>For RDFER on a one-clip video: the source frame numbers of the frames it looked at (−1 for a black
    /// frame); null otherwise.</summary>
    public IReadOnlyList<int>? KeyFrames { get; init; }

    /// <summary>The timeline: for the expression model every frame (box and probabilities); for a DFER model the
    /// frames its clips use (with the face box when the face stage ran).</summary>
    public IReadOnlyList<FrameScores> Frames { get; init; } = [];

    /// <summary>Whether the face stage ran (<see cref="FaceMode.Detect"/>) or the whole frames were used
    /// (<see cref="FaceMode.None"/>).</summary>
    public FaceMode Face { get; init; }

    /// <summary>Width of the frames the face boxes refer to (0 without the face stage).</summary>
    public int FrameWidth { get; init; }

    /// <summary>Height of the frames the face boxes refer to (0 without the face stage).</summary>
    public int FrameHeight { get; init; }
}
