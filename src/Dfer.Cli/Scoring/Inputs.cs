using Dfer.Media;
using Dfer.Models;
using Dfer.Tensors;

namespace Dfer.Cli.Scoring;

/// <summary>Turns what the user names on the command line into clips the model takes.</summary>
internal static class Inputs
{
    /// <summary>
    /// Reads one input: an .npy of clips, or a video (a frame folder or a video file) decoded with
    /// the model's own test-time protocol. Problems become a failed job (reported when the batcher completes it), never
    /// an exception: a <see cref="DferException"/> is the input's fault, anything else a bug of Dfer's
    /// (<see cref="ScoreJob.Broken"/>), and either way the other inputs are still scored.
    /// </summary>
    public static ScoreJob Read(string path, IModel model, long? jitterSeed, CliConsole console)
    {
        if (MediaInput.IsVideoInput(path)) return ReadVideo(path, model, jitterSeed);
        return Guarded(path, () =>
        {
            if (!File.Exists(path))
                throw DferException.ForFile(path, "no such file or folder");
            if (!path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                throw DferException.ForFile(path,
                    "not an input Dfer reads: give an .npy of clips, a frame folder or a video file (.mp4, .avi, .mkv, "
                    + ".webm, .mov)");
            return new ScoreJob(path, ReadNpy(path, model, console), perClip: true);
        });
    }

    /// <summary>
    /// Decodes a video (frame folder or video file) into clips with the model's test-time protocol;
    /// a problem becomes a failed job, as in <see cref="Read"/>.
    /// </summary>
    public static ScoreJob ReadVideo(string path, IModel model, long? jitterSeed) =>
        Guarded(path, () => new ScoreJob(path, MediaInput.ReadClips(path, model.Protocol, jitterSeed, out int[][] f),
            perClip: false)
        { ClipFrames = f });

    /// <summary>Runs <paramref name="read"/>, turning whatever it throws into a failed job of
    /// <paramref name="path"/>.</summary>
    public static ScoreJob Guarded(string path, Func<ScoreJob> read)
    {
        try
        {
            return read();
        }
        catch (DferException ex)
        {
            return new ScoreJob(path, ex.Message);
        }
        catch (Exception ex)
        {
            return ScoreJob.Broken(path, ex);
        }
    }

    /// <summary>
    /// Reads and checks an .npy of clips before any of it runs, so that a bad clip fails its whole
    /// file with the clip's index in the file (the session only knows indices within a batch).
    /// </summary>
    private static float[][] ReadNpy(string path, IModel model, CliConsole console)
    {
        var (data, shape) = Npy.ReadFloat32(path);
        int[] clipShape = model.ClipShape;
        int clips;
        if (shape.AsSpan().SequenceEqual(clipShape)) clips = 1;
        else if (shape.Length == clipShape.Length + 1 && shape.AsSpan(1).SequenceEqual(clipShape)) clips = shape[0];
        else throw DferException.ForFile(path,
            $"shape {Output.Shape(shape)} is not {ExpectedShape(clipShape)} "
            + $"(clips, {AxisNames(model)}){ShapeHint(shape, clipShape)}");

        if (clips == 0) console.Warning($"{path}: holds no clips");
        int clipLength = data.Length / Math.Max(clips, 1);
        long outside = 0;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        var result = new float[clips][];
        for (int c = 0; c < clips; c++)
        {
            ReadOnlySpan<float> clip = data.AsSpan(c * clipLength, clipLength);
            for (int i = 0; i < clip.Length; i++)
            {
                float v = clip[i];
                if (!float.IsFinite(v))
                    throw DferException.ForFile(path,
                        $"clip {c} contains {(float.IsNaN(v) ? "NaN" : "Inf")} (at value {i} of the clip)");
                if (v < 0f || v > 1f) outside++;
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
            result[c] = clip.ToArray();
        }
        if (outside > 0)
        {
            string hint = max > 2f ? "; these look like 0-255 pixel values: divide by 255" : "";
            console.Warning(
                $"{path}: {outside} of {data.Length} values lie outside [0, 1] (min {min:R}, max {max:R}); the model "
                + $"expects RGB scaled to [0, 1]{hint}");
        }
        return result;
    }

    /// <summary>Axis names of one clip in the model's layout, for messages.</summary>
    public static string AxisNames(IModel model) => model.Protocol.Layout switch
    {
        ClipLayout.TimeChannel => "frames, RGB, height, width",
        ClipLayout.ChannelTime => "RGB, frames, height, width",
    };

    private static string ExpectedShape(int[] clipShape) => "[B, " + string.Join(", ", clipShape) + "]";

    /// <summary>Names the two layout mistakes people make when exporting clips, when the shape shows one.</summary>
    private static string ShapeHint(int[] shape, int[] clipShape)
    {
        if (shape.Length != clipShape.Length + 1 || clipShape.Length != 4) return "";
        int frames = clipShape[0], channels = clipShape[1], height = clipShape[2], width = clipShape[3];
        if (shape[1] == frames && shape[2] == height && shape[3] == width && shape[4] == channels)
            return "; the frames look channels-last (B, T, H, W, C): transpose with arr.transpose(0, 1, 4, 2, 3)";
        if (shape[1] == channels && shape[2] == frames && shape[3] == height && shape[4] == width)
            return "; channels come before frames (B, C, T, H, W): transpose with arr.transpose(0, 2, 1, 3, 4)";
        return "";
    }
}
