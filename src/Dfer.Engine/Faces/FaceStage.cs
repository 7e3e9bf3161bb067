using Dfer.Media;

namespace Dfer.Faces;

/// <summary>Whether a model's input goes through the face stage.</summary>
public enum FaceMode
{
    /// <summary>Detect for video files and images, none for frame folders and .npy (folders of a dataset like DFEW
    /// are face crops already).</summary>
    Auto,

    /// <summary>Find, track and crop the face.</summary>
    Detect,

    /// <summary>The frames as they are (whole frames resized by the model's protocol).</summary>
    None,
}

/// <summary>What a <see cref="FaceMode"/> means for one input.</summary>
public static class FaceModes
{
    /// <summary>
    /// <paramref name="mode"/> for <paramref name="path"/>: Detect and None as they are; Auto is Detect for video files
    /// and images, None for frame folders (datasets of face crops) and everything else (.npy clips).
    /// </summary>
    public static FaceMode Resolve(FaceMode mode, string path)
    {
        if (mode != FaceMode.Auto) return mode;
        if (Directory.Exists(path)) return FaceMode.None;
        return MediaInput.HasVideoExtension(path) || MediaInput.HasImageExtension(path) ? FaceMode.Detect
            : FaceMode.None;
    }
}

/// <summary>The face stage's settings (docs/faces.md).</summary>
public sealed record FaceStageOptions
{
    public FaceDetectorOptions Detector { get; init; } = new();
    public TrackerOptions Tracker { get; init; } = new();

    /// <summary>See <see cref="FaceCrop.Square"/>.</summary>
    public double Margin { get; init; } = FaceCrop.DefaultMargin;

    /// <summary>The crops' side before the model's protocol (<see cref="FaceCrop.DefaultSize"/>).</summary>
    public int CropSize { get; init; } = FaceCrop.DefaultSize;

    /// <summary>A video fails when the tracked face is missing from more than this share of its sampled
    /// frames.</summary>
    public double MaxMissing { get; init; } = 0.5;

    /// <summary>Score every track of at least <see cref="MinTrackShare"/> of the frames, not only the main
    /// one.</summary>
    public bool AllFaces { get; init; }

    /// <summary>With <see cref="AllFaces"/>: the least share of the video's frames a track must cover.</summary>
    public double MinTrackShare { get; init; } = 0.25;

    /// <summary>The detector runs on every this-many-th frame (and the last); the tracker bridges the frames between
    /// by interpolating the box. 1: every frame.</summary>
    public int DetectEvery { get; init; } = 3;

    /// <summary>Longest side of the frames the stage analyses (larger frames are shrunk on decoding).</summary>
    public int AnalysisSide { get; init; } = 640;

    /// <summary>Checks the values; one line naming the bad one.</summary>
    public void Validate()
    {
        Tracker.Validate();
        FaceCrop.Square(new FaceBox(0, 0, 1, 1, 1), Margin, 1, 1);
        if (CropSize < 8 || CropSize > 4096)
            throw new DferException($"the crop size must be 8 to 4096 pixels, got {CropSize}");
        if (!(MaxMissing >= 0 && MaxMissing <= 1))
            throw new DferException($"the largest missing share must be in [0, 1], got {MaxMissing}");
        if (!(MinTrackShare >= 0 && MinTrackShare <= 1))
            throw new DferException($"the least track share must be in [0, 1], got {MinTrackShare}");
        if (DetectEvery < 1 || DetectEvery > 1000)
            throw new DferException($"the detection step must be 1 to 1000 frames, got {DetectEvery}");
        if (AnalysisSide < 32)
            throw new DferException($"the analysis side must be at least 32 pixels, got {AnalysisSide}");
    }
}

/// <summary>Where the faces of one video are: its frames' size, every track and the main one.</summary>
public sealed record FaceTimeline(int FrameCount, IReadOnlyList<FaceTrack> Tracks, FaceTrack? Main)
{
    /// <summary>Frames the detector looked at.</summary>
    public int DetectorRuns { get; init; }

    /// <summary>Of those, the frames where it found a face.</summary>
    public int FramesWithDetection { get; init; }
}

/// <summary>One tracked face made into a model's clips.</summary>
/// <param name="Track">The track, its boxes in the analysed frames' pixels.</param>
/// <param name="Clips">The clips, as <see cref="MediaInput.ReadClips(string, ClipProtocol, long?)"/> makes them from
/// face crops.</param>
/// <param name="Sampled">The distinct frames the clips use, in order.</param>
/// <param name="SampledWithFace">How many of <see cref="Sampled"/> have the track's box (detected or bridged).</param>
/// <param name="Crops">The crop of each sampled frame (<see cref="FaceStageOptions.CropSize"/>², before the model's
/// protocol); a frame without the face uses the crop of the nearest frame that has it.</param>
public sealed record FaceClips(FaceTrack Track, float[][] Clips, int[] Sampled, int SampledWithFace,
    IReadOnlyList<RgbImage> Crops)
{
    /// <summary>The source frame number of every frame of every clip, in clip order.</summary>
    public int[][] ClipFrames { get; init; } = [];
}

/// <summary>
/// The face stage shared by every model (docs/faces.md): decode the frames (shrunk to
/// <see cref="FaceStageOptions.AnalysisSide"/>), detect every face in every frame, link them into tracks
/// (<see cref="FaceTracker"/>), and crop the tracked face of each frame a model samples (<see cref="FaceCrop"/>).
/// </summary>
public sealed class FaceStage : IDisposable
{
    private readonly bool _ownsDetector;

    public FaceStage(FaceDetector detector, FaceStageOptions? options = null, bool ownsDetector = true)
    {
        Options = options ?? new FaceStageOptions();
        Options.Validate();
        Detector = detector;
        _ownsDetector = ownsDetector;
    }

    public FaceStageOptions Options { get; }
    public FaceDetector Detector { get; }

    /// <summary>Decodes <paramref name="path"/> (video file, frame folder or image) at the analysis size.</summary>
    public IReadOnlyList<RgbImage> ReadFrames(string path) => MediaInput.ReadFrames(path, Options.AnalysisSide);

    /// <summary>
    /// Detects and tracks the faces of <paramref name="frames"/>: the detector looks at frames 0, k, 2k, … and the
    /// last (k = <see cref="FaceStageOptions.DetectEvery"/>); the tracker links those detections with its gap and
    /// smoothing window converted to detector runs (⌈MaxGap/k⌉ runs, window ⌊SmoothWindow/k⌋ runs made odd), and each
    /// track's box is interpolated linearly across the frames between runs.
    /// </summary>
    /// <param name="frames">The video's frames.</param>
    /// <param name="progress">Called with the number of frames looked at so far.</param>
    public FaceTimeline Find(IReadOnlyList<RgbImage> frames, Action<int>? progress = null)
    {
        int n = frames.Count, k = Options.DetectEvery;
        int[] runs = Enumerable.Range(0, n).Where(i => i % k == 0 || i == n - 1).ToArray();
        var looked = runs.Select(i => frames[i]).ToArray();
        var detections = Detector.Detect(looked, done => progress?.Invoke(done == runs.Length ? n : runs[done]));
        var tracker = Options.Tracker with
        {
            MaxGap = (Options.Tracker.MaxGap + k - 1) / k,
            SmoothWindow = Math.Max(1, Options.Tracker.SmoothWindow / k) | 1,
        };
        var onRuns = FaceTracker.Track(detections, tracker, (t, box) => FaceCrop.Appearance(looked[t], box));
        var tracks = onRuns.Select(t => Expand(t, runs, n)).ToArray();
        return new FaceTimeline(n, tracks, FaceTracker.Main(tracks))
        {
            DetectorRuns = runs.Length,
            FramesWithDetection = detections.Count(d => d.Count > 0),
        };
    }

    /// <summary>A track over detector runs as a track over every frame: run j's box at frame runs[j], the frames
    /// between two runs with boxes interpolated.</summary>
    internal static FaceTrack Expand(FaceTrack track, int[] runs, int frames)
    {
        var boxes = new FaceBox?[frames];
        var detected = new bool[frames];
        for (int j = 0; j < runs.Length; j++)
        {
            boxes[runs[j]] = track.Boxes[j];
            detected[runs[j]] = track.Detected[j];
            if (j == 0 || track.Boxes[j] is not FaceBox b || track.Boxes[j - 1] is not FaceBox a) continue;
            for (int t = runs[j - 1] + 1; t < runs[j]; t++)
                boxes[t] = FaceBox.Lerp(a, b, (double)(t - runs[j - 1]) / (runs[j] - runs[j - 1]));
        }
        return new FaceTrack(track.Id, boxes, detected);
    }

    /// <summary>The tracks to score: the main one, or with <see cref="FaceStageOptions.AllFaces"/> every track covering
    /// at least <see cref="FaceStageOptions.MinTrackShare"/> of the frames (the main one always).</summary>
    /// <exception cref="DferException">No face in any frame.</exception>
    public IReadOnlyList<FaceTrack> Selected(string input, FaceTimeline timeline)
    {
        if (timeline.Main is null)
            throw DferException.ForFile(input,
                $"no face found in any of its {timeline.FrameCount} frames ({Detector.Name} detector); "
                + "if the frames are face crops already, use --face none");
        if (!Options.AllFaces) return [timeline.Main];
        return timeline.Tracks.Where(t => t == timeline.Main
            || t.CoveredCount >= Options.MinTrackShare * timeline.FrameCount).ToArray();
    }

    /// <summary>
    /// The clips of <paramref name="track"/> per <paramref name="protocol"/>: the protocol's frame sampling over all
    /// frames, each sampled frame replaced by its face crop.
    /// </summary>
    /// <exception cref="DferException">The face is missing from more than <see cref="FaceStageOptions.MaxMissing"/> of
    /// the sampled frames, or the video has too few frames for the protocol.</exception>
    public FaceClips Clips(string input, IReadOnlyList<RgbImage> frames, FaceTrack track, ClipProtocol protocol,
        long? jitterSeed = null)
    {
        int[][] clips = MediaInput.SampleClips(input, frames.Count, protocol, jitterSeed);
        int[] sampled = clips.SelectMany(c => c).Distinct().Order().ToArray();
        int withFace = sampled.Count(i => track.Boxes[i] is not null);
        int missing = sampled.Length - withFace;
        if (missing > Options.MaxMissing * sampled.Length)
            throw DferException.ForFile(input,
                $"the face is missing from {missing} of {sampled.Length} sampled frames "
                + $"({100.0 * missing / sampled.Length:0}%, limit {100 * Options.MaxMissing:0}%)");
        var crops = new Dictionary<int, RgbImage>();
        RgbImage CropOf(int i)
        {
            int source = Nearest(track, i);
            if (!crops.TryGetValue(source, out var crop))
            {
                crop = FaceCrop.Crop(frames[source], track.Boxes[source]!.Value, Options.Margin, Options.CropSize);
                crops[source] = crop;
            }
            return crop;
        }
        var prepared = new Dictionary<int, RgbImage>();
        RgbImage Prepared(int i)
        {
            if (!prepared.TryGetValue(i, out var p))
                prepared[i] = p = ClipBuilder.Prepare(CropOf(i), protocol, input);
            return p;
        }
        float[][] built = clips.Select(c => ClipBuilder.Build(c, Prepared, protocol)).ToArray();
        return new FaceClips(track, built, sampled, withFace, sampled.Select(CropOf).ToArray()) { ClipFrames = clips };
    }

    /// <summary>The frame nearest to <paramref name="i"/> (the earlier on a tie) where the track has a box.</summary>
    internal static int Nearest(FaceTrack track, int i)
    {
        for (int d = 0; d < track.Boxes.Length; d++)
        {
            if (i - d >= 0 && track.Boxes[i - d] is not null) return i - d;
            if (i + d < track.Boxes.Length && track.Boxes[i + d] is not null) return i + d;
        }
        throw new InvalidOperationException("a track has at least one box");
    }

    public void Dispose()
    {
        if (_ownsDetector) Detector.Dispose();
    }
}
