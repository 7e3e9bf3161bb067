using System.Diagnostics;
using Dfer.Backends;
using Dfer.Cli.Json;
using Dfer.Faces;
using Dfer.Media;

namespace Dfer.Cli.Bench;

/// <summary>One clip kind's scores of one detector (kind "all": every clip).</summary>
internal sealed record KindReport(string Kind, int Clips, DetectionScore Raw, DetectionScore Tracked);

/// <summary>What one detector did: its scores and how fast it ran on the benchmark's frames.</summary>
/// <param name="Seconds">Detecting on every frame (the raw columns).</param>
/// <param name="StageSeconds">The face stage's <see cref="FaceStage.Find"/> (the tracked columns): the detector on
/// every <paramref name="DetectEvery"/>-th frame, tracking and interpolation.</param>
internal sealed record DetectorReport(string Detector, int InputSize, int Frames, double Seconds,
    IReadOnlyList<KindReport> Kinds, double StageSeconds = double.NaN, int DetectEvery = 1)
{
    /// <summary>The least score of a detection (<see cref="FaceDetectorOptions.Score"/>).</summary>
    public double Score { get; init; } = double.NaN;

    public double FramesPerSecond => Frames / Seconds;

    /// <summary>Frames per second through the face stage.</summary>
    public double StageFramesPerSecond => Frames / StageSeconds;

    /// <summary>The face stage's frames per second over <see cref="DetectionBench.VideoFps"/>.</summary>
    public double StageRealTime => StageFramesPerSecond / DetectionBench.VideoFps;

    /// <summary>Frames per second over <see cref="DetectionBench.VideoFps"/>: above 1, faster than the video
    /// plays.</summary>
    public double RealTime => FramesPerSecond / DetectionBench.VideoFps;
}

internal sealed record DetectionBenchReport(string Backend, string Device, int Threads, int FramesPerClip, int Clips,
    int Frames, IReadOnlyList<DetectorReport> Detectors);

/// <summary>
/// <c>dfer bench --detector</c> (docs/detection-benchmark.md): every detector on every clip of
/// <see cref="DetectionClips"/>, clip by clip (each clip is rendered once and given to every detector in turn), its
/// detections scored raw and after <see cref="FaceTracker"/>, its <see cref="FaceDetector.Detect"/> calls timed.
/// </summary>
internal static class DetectionBench
{
    /// <summary>The video frame rate the real-time factor is for.</summary>
    public const double VideoFps = 25;

    public sealed record Settings(IReadOnlyList<FaceDetectorKind> Detectors, int TinySize, int Frames, int? Clips,
        string Backend, int Threads, string Format, int DetectEvery = 4, double? Score = null);

    public static int Run(Settings settings, CliConsole console)
    {
        var photos = DetectionClips.LoadTruth();
        var clips = DetectionClips.Clips(photos, settings.Frames);
        if (settings.Clips is int n) clips = clips.Take(n).ToArray();
        using IBackend backend = BackendRegistry.Create(settings.Backend, settings.Threads);
        var detectors = new List<FaceDetector>();
        try
        {
            foreach (var kind in settings.Detectors)
                detectors.Add(FaceDetector.FromCache(backend,
                    new FaceDetectorOptions
                    {
                        Kind = kind,
                        TinyInputSize = settings.TinySize,
                        ScoreThreshold = settings.Score,
                    }));
            var report = Measure(clips, detectors, console, settings.DetectEvery);
            int threads = settings.Threads > 0 ? settings.Threads : Environment.ProcessorCount;
            var full = new DetectionBenchReport(backend.Name, backend.Device, threads, settings.Frames, clips.Count,
                clips.Sum(c => c.Frames), report);
            if (settings.Format == Output.Json)
                Output.WriteJson(console.Out, DetectionBenchJson.From(full), DferJson.Default.DetectionBenchJson);
            else WriteTable(console.Out, full);
            return ExitCodes.Ok;
        }
        finally
        {
            foreach (var d in detectors) d.Dispose();
        }
    }

    /// <summary>Runs every detector on every clip; scores per clip kind, in <see cref="DetectionClips.Kinds"/>
    /// order after "all".</summary>
    internal static IReadOnlyList<DetectorReport> Measure(IReadOnlyList<ClipSpec> clips,
        IReadOnlyList<FaceDetector> detectors, CliConsole console, int detectEvery = 1)
    {
        var stages = detectors.Select(d => new FaceStage(d, new FaceStageOptions { DetectEvery = detectEvery },
            ownsDetector: false)).ToArray();
        var stageSeconds = new double[detectors.Count];
        var raw = detectors.Select(_ => DetectionClips.Kinds.ToDictionary(k => k, _ => new DetectionScore())).ToArray();
        var tracked = detectors.Select(_ => DetectionClips.Kinds.ToDictionary(k => k, _ => new DetectionScore()))
            .ToArray();
        var seconds = new double[detectors.Count];
        var photos = new Dictionary<string, RgbImage>();
        for (int c = 0; c < clips.Count; c++)
        {
            var clip = clips[c];
            if (!photos.TryGetValue(clip.Photo.Photo, out var photo))
            {
                photos.Clear();
                photos[clip.Photo.Photo] = photo = DetectionClips.ReadPhoto(clip.Photo);
            }
            var (frames, truth) = DetectionClips.Render(clip, photo);
            if (c == 0)
                foreach (var d in detectors) d.Detect(frames.Take(d.Options.Batch).ToArray()); // warm-up, untimed
            var line = new List<string>();
            for (int k = 0; k < detectors.Count; k++)
            {
                long start = Stopwatch.GetTimestamp();
                var found = detectors[k].Detect(frames);
                seconds[k] += Stopwatch.GetElapsedTime(start).TotalSeconds;
                start = Stopwatch.GetTimestamp();
                var tracks = stages[k].Find(frames).Tracks;
                stageSeconds[k] += Stopwatch.GetElapsedTime(start).TotalSeconds;
                var clipRaw = new DetectionScore();
                for (int t = 0; t < frames.Length; t++)
                {
                    clipRaw.Add(truth[t], found[t]);
                    var boxes = tracks.Where(tr => tr.Boxes[t] is not null).Select(tr => tr.Boxes[t]!.Value).ToArray();
                    tracked[k][clip.Kind].Add(truth[t], boxes);
                }
                raw[k][clip.Kind].Add(clipRaw);
                line.Add($"{detectors[k].Name} {clipRaw.FramesHit}/{clipRaw.FramesWithFace}");
            }
            console.Progress($"clip {c + 1}/{clips.Count} ({clip.Name}): frames with a face found: "
                + string.Join(", ", line));
        }
        var kinds = DetectionClips.Kinds.Where(k => clips.Any(c => c.Kind == k)).ToArray();
        return detectors.Select((d, k) =>
        {
            var rows = new List<KindReport>();
            DetectionScore allRaw = new(), allTracked = new();
            foreach (var kind in kinds)
            {
                allRaw.Add(raw[k][kind]);
                allTracked.Add(tracked[k][kind]);
                rows.Add(new KindReport(DetectionClips.Name(kind), clips.Count(c => c.Kind == kind), raw[k][kind],
                    tracked[k][kind]));
            }
            rows.Insert(0, new KindReport("all", clips.Count, allRaw, allTracked));
            return new DetectorReport(d.Name, d.InputSize, clips.Sum(c => c.Frames), seconds[k], rows,
                stageSeconds[k], detectEvery)
            { Score = d.Options.Score };
        }).ToArray();
    }

    private static string Percent(double share) => double.IsFinite(share) ? Output.Fixed(100 * share, 1) : "-";

    private static string Number(double value, int decimals) =>
        double.IsFinite(value) ? Output.Fixed(value, decimals) : "-";

    internal static void WriteTable(TextWriter stdout, DetectionBenchReport r)
    {
        var rows = new List<string[]>
        {
            new[] { "detector", "clips", "frames", "frame recall %", "tracked", "face recall %", "tracked",
                "false/frame", "tracked", "mean IoU", "tracked" },
        };
        foreach (var d in r.Detectors)
            foreach (var k in d.Kinds)
                rows.Add([d.Detector, k.Kind, k.Raw.Frames.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Percent(k.Raw.FrameRecall), Percent(k.Tracked.FrameRecall),
                    Percent(k.Raw.FaceRecall), Percent(k.Tracked.FaceRecall),
                    Number(k.Raw.FalsePerFrame, 3), Number(k.Tracked.FalsePerFrame, 3),
                    Number(k.Raw.MeanIou, 3), Number(k.Tracked.MeanIou, 3)]);
        Output.WriteTable(stdout, rows, new HashSet<int>(Enumerable.Range(2, 9)));
        stdout.WriteLine();
        var speed = new List<string[]>
        {
            new[] { "detector", "input", "score", "frames/s", $"real time at {VideoFps:0} fps", "face stage frames/s",
                "real time", "backend", "threads" },
        };
        foreach (var d in r.Detectors)
            speed.Add([d.Detector, $"{d.InputSize}x{d.InputSize}", Number(d.Score, 2), Number(d.FramesPerSecond, 1),
                Number(d.RealTime, 2) + "x", Number(d.StageFramesPerSecond, 1) + $" (every {d.DetectEvery})",
                Number(d.StageRealTime, 2) + "x", $"{r.Backend} on {r.Device}",
                r.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Output.WriteTable(stdout, speed, new HashSet<int> { 2, 3, 4, 5, 6, 8 });
        Output.WriteLine(stdout, $"{r.Clips} clips of {r.FramesPerClip} frames, {DetectionClips.FrameWidth} pixels "
            + $"wide; a match is IoU >= {DetectionScore.MinIou:0.0}; raw: the detector on every frame; tracked: the "
            + "face stage's tracks (the detector on every N-th frame, boxes bridged and interpolated)");
    }
}
