namespace Dfer.Media;

/// <summary>
/// The engine's entry point for videos: a folder of frame images or a video file in, the model's
/// clips out, exactly as the original PyTorch pipelines build them (Pillow decode and resize,
/// torchvision crop and ToTensor, the official frame sampling).
/// </summary>
public static class MediaInput
{
    private static readonly string[] VideoExtensions = [".mp4", ".avi", ".mkv", ".webm", ".mov"];

    /// <summary>
    /// True for an existing directory, or a path whose extension is a video extension (.mp4 .avi .mkv
    /// .webm .mov, case-insensitive), whether or not the file exists (reading it then says if not).
    /// </summary>
    public static bool IsVideoInput(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Directory.Exists(path) || HasVideoExtension(path);
    }

    /// <summary>
    /// Decodes one video (frame folder or video file) into its clips per the protocol: each array holds
    /// <see cref="ClipProtocol.ClipElements"/> floats in the protocol's layout.
    /// </summary>
    /// <param name="path">A folder of .jpg/.jpeg/.png frames (see <see cref="FrameFolder"/>) or a video file.</param>
    /// <param name="protocol">How the model wants its clips.</param>
    /// <param name="jitterSeed">
    /// null: M3DFEL's deterministic sampling <c>int(N·i/T)</c>. A value: the official jittered
    /// sampling after Python's <c>random.seed(jitterSeed)</c>. Only for <see cref="FrameSampling.Spread"/>.
    /// </param>
    /// <returns>One clip for Spread; ⌊N/T⌋ clips for Windows.</returns>
    /// <exception cref="DferException">A one-line error naming the folder or file: missing, empty, not
    /// an image or video, corrupt or truncated, ffmpeg missing, or too few frames for Windows.</exception>
    /// <exception cref="ArgumentException">An invalid protocol, or a jitter seed with Windows sampling.</exception>
    public static float[][] ReadClips(string path, ClipProtocol protocol, long? jitterSeed = null) =>
        ReadClips(path, protocol, jitterSeed, out _);

    /// <inheritdoc cref="ReadClips(string, ClipProtocol, long?)"/>
    /// <param name="path">A frame folder or video file.</param>
    /// <param name="protocol">The model's clip protocol.</param>
    /// <param name="jitterSeed">As for the overload without <paramref name="frames"/>.</param>
    /// <param name="frames">The source frame number (0-based, in decoding or file-name order) of every frame of every
    /// clip.</param>
    public static float[][] ReadClips(string path, ClipProtocol protocol, long? jitterSeed, out int[][] frames)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(protocol);
        if (protocol.Frames <= 0 || protocol.Size <= 0)
        {
            throw new ArgumentException(
                $"a clip needs positive frames and size, got {protocol.Frames} and {protocol.Size}", nameof(protocol));
        }
        if (jitterSeed is not null && protocol.Sampling != FrameSampling.Spread)
        {
            throw new ArgumentException("jitter applies only to Spread sampling (M3DFEL's)", nameof(jitterSeed));
        }

        int count;
        Func<int, RgbImage> prepared;
        if (Directory.Exists(path))
        {
            FrameFolder folder = FrameFolder.Open(path);
            count = folder.Files.Count;
            prepared = Cached(i => ClipBuilder.Prepare(folder.Decode(i), protocol, folder.Files[i]));
        }
        else if (File.Exists(path))
        {
            if (!HasVideoExtension(path))
            {
                throw DferException.ForFile(path,
                    $"not a video: expected a folder of frames or a {string.Join('/', VideoExtensions)} file");
            }
            VideoDecoder video = VideoDecoder.Read(path, frame => ClipBuilder.Prepare(frame, protocol, path));
            count = video.Count;
            prepared = video.Prepared;
        }
        else
        {
            throw DferException.ForFile(path, "no such file or folder");
        }

        int[][] clips = SampleClips(path, count, protocol, jitterSeed);
        frames = clips;
        return clips.Select(indices => ClipBuilder.Build(indices, prepared, protocol)).ToArray();
    }

    /// <summary>
    /// Which frames of a <paramref name="count"/>-frame video make its clips (<see cref="FrameSampling"/>): one clip
    /// for Spread, ⌊N/T⌋ for Windows.
    /// </summary>
    /// <exception cref="DferException">Fewer frames than a Windows clip needs.</exception>
    public static int[][] SampleClips(string path, int count, ClipProtocol protocol, long? jitterSeed)
    {
        switch (protocol.Sampling)
        {
            case FrameSampling.Spread:
                PythonRandom? rng = jitterSeed is long seed ? new PythonRandom(seed) : null;
                return [FrameSampler.Spread(count, protocol.Frames, rng)];
            case FrameSampling.Windows:
                return FrameSampler.Windows(count, protocol.Frames)
                    ?? throw DferException.ForFile(path, $"needs at least {protocol.Frames} frames, has {count}");
            default:
                throw new ArgumentOutOfRangeException(nameof(protocol), protocol.Sampling, "unknown frame sampling");
        }
    }

    /// <summary>
    /// Reads every frame of a video file, a frame folder or one image. With <paramref name="maxSide"/>
    /// &gt; 0, a frame whose longer side exceeds it is shrunk to that size (Pillow's antialiased bilinear,
    /// aspect kept) as it is decoded, so a long video takes frames·maxSide²·¾·3 bytes at most, not its
    /// full resolution.
    /// </summary>
    /// <exception cref="DferException">Missing, unreadable or corrupt input (one line naming it).</exception>
    public static IReadOnlyList<RgbImage> ReadFrames(string path, int maxSide = 0)
    {
        RgbImage Shrink(RgbImage f) => MediaInput.Shrink(f, maxSide);
        if (Directory.Exists(path))
        {
            var folder = FrameFolder.Open(path);
            return Enumerable.Range(0, folder.Files.Count).Select(i => Shrink(folder.Decode(i))).ToArray();
        }
        if (HasVideoExtension(path))
        {
            // A zero raw budget makes the decoder shrink every frame as it arrives.
            var video = VideoDecoder.Read(path, Shrink, maxSide > 0 ? 0 : long.MaxValue);
            return Enumerable.Range(0, video.Count).Select(video.Prepared).ToArray();
        }
        return new[] { Shrink(ImageDecoder.Decode(path)) };
    }

    /// <summary>
    /// <paramref name="frame"/> shrunk so that its longer side is at most <paramref name="maxSide"/> (Pillow's
    /// antialiased bilinear, aspect kept), or the frame itself when it fits or <paramref name="maxSide"/> ≤ 0: what
    /// <see cref="ReadFrames"/> does to each decoded frame, for frames that arrive already decoded.
    /// </summary>
    public static RgbImage Shrink(RgbImage frame, int maxSide)
    {
        int side = Math.Max(frame.Width, frame.Height);
        if (maxSide <= 0 || side <= maxSide) return frame;
        double s = (double)maxSide / side;
        return PilResize.Resize(frame, Math.Max(1, (int)Math.Round(frame.Width * s)),
            Math.Max(1, (int)Math.Round(frame.Height * s)), ResizeFilter.Bilinear);
    }

    /// <summary>The middle frame of a frame folder (shrunk like <see cref="ReadFrames"/>), or null for an empty
    /// folder.</summary>
    public static RgbImage? ReadMiddleFrame(string folderPath, int maxSide)
    {
        var folder = FrameFolder.Open(folderPath);
        return folder.Files.Count == 0 ? null : ReadFrames(folder.Files[folder.Files.Count / 2], maxSide)[0];
    }

    /// <summary>True when <paramref name="path"/> names an image file by its extension (.jpg .jpeg .png, any
    /// case).</summary>
    public static bool HasImageExtension(string path)
    {
        string ext = Path.GetExtension(path);
        return ImageExtensions.Any(e => string.Equals(e, ext, StringComparison.OrdinalIgnoreCase));
    }

    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png"];

    /// <summary>The video file extensions Dfer decodes, lower case with the dot.</summary>
    public static IReadOnlyList<string> VideoFileExtensions => VideoExtensions;

    /// <summary>True when <paramref name="path"/> ends in one of <see cref="VideoFileExtensions"/> (any
    /// case).</summary>
    public static bool HasVideoExtension(string path)
    {
        string ext = Path.GetExtension(path);
        return VideoExtensions.Any(e => string.Equals(e, ext, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Decodes and prepares each frame once, however many clip slots repeat it.</summary>
    private static Func<int, RgbImage> Cached(Func<int, RgbImage> make)
    {
        var cache = new Dictionary<int, RgbImage>();
        return i =>
        {
            if (!cache.TryGetValue(i, out RgbImage? image))
            {
                image = make(i);
                cache[i] = image;
            }
            return image;
        };
    }
}
