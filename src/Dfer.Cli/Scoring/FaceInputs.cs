using Dfer.Backends;
using Dfer.Cli.Commands;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Models;

namespace Dfer.Cli.Scoring;

/// <summary>What the face stage did for one scored input (reported in the table and JSON).</summary>
/// <param name="Mode">"detect" or "none".</param>
/// <param name="Detector">"ssd" or "tiny" with detect, else null.</param>
/// <param name="Track">The scored track's number (0 is the first face that appeared).</param>
/// <param name="Sampled">The distinct frames the model's clips use.</param>
/// <param name="SampledWithFace">How many of them had the face (detected or bridged).</param>
/// <param name="Boxes">The face box of each sampled frame, in pixels of the analysed frames; null where
/// missing.</param>
internal sealed record FaceReport(string Mode, string? Detector = null, int? Track = null, int[]? Sampled = null,
    int SampledWithFace = 0, FaceBox?[]? Boxes = null)
{
    public static readonly FaceReport NoneUsed = new("none");

    /// <summary>"detect (ssd, face 0): 16 of 16 sampled frames" or "none".</summary>
    public string Short => Mode == "none" ? "none" : $"{SampledWithFace}/{Sampled!.Length}";
}

/// <summary>
/// Reads inputs through the face stage when <see cref="FaceSettings"/> say so for them: the video is decoded at the
/// analysis size, faces are detected and tracked, and the model's clips are made of face crops
/// (<see cref="FaceStage.Clips"/>). The detector is compiled on a backend of its own the first time an input needs it
/// (the model's session may be running on another thread). Safe to call from several decoding threads.
/// </summary>
internal sealed class FaceInputs(FaceSettings settings, string backendName, int threads, CliConsole console)
    : IDisposable
{
    private readonly object _gate = new();
    private IBackend? _backend;
    private FaceStage? _stage;
    private bool _checkUnavailable;
    private int _cropsSeen;

    /// <summary>After this many frame folders that look like face crops, the rest of a run is not checked (a
    /// dataset of crops, like DFEW, pays for three detector runs, not one per video).</summary>
    internal const int CropChecks = 3;

    public FaceSettings Settings => settings;

    /// <summary>The compiled face stage (made on first use).</summary>
    public FaceStage Stage
    {
        get
        {
            lock (_gate)
            {
                if (_stage is not null) return _stage;
                _backend = BackendRegistry.Create(backendName, threads);
                var detector = FaceDetector.FromCache(_backend, settings.Stage.Detector);
                _stage = new FaceStage(detector, settings.Stage);
                return _stage;
            }
        }
    }

    /// <summary>The jobs of one input: one per scored face track with detect (several with --all-faces), else the
    /// plain read. Problems become failed jobs, as in <see cref="Inputs.Read"/>.</summary>
    public IReadOnlyList<ScoreJob> Read(string path, IModel model, long? jitterSeed, CliConsole console)
    {
        if (settings.For(path) != FaceMode.Detect) return [Plain(path, Inputs.Read(path, model, jitterSeed, console))];
        try
        {
            return Detect(path, model, jitterSeed, allTracks: true);
        }
        catch (DferException ex)
        {
            return [new ScoreJob(path, ex.Message)];
        }
        catch (Exception ex)
        {
            return [ScoreJob.Broken(path, ex)];
        }
    }

    /// <summary>One job per video, the main face only (dataset runs).</summary>
    public ScoreJob ReadVideo(string path, IModel model, long? jitterSeed)
    {
        if (settings.For(path) != FaceMode.Detect) return Plain(path, Inputs.ReadVideo(path, model, jitterSeed));
        return Inputs.Guarded(path, () => Detect(path, model, jitterSeed, allTracks: false)[0]);
    }

    /// <summary>A job read without the face stage: marked so, and its folder checked for looking like crops.</summary>
    private ScoreJob Plain(string path, ScoreJob job)
    {
        job.Face = FaceReport.NoneUsed;
        if (job.Error is null) WarnIfNotCrops(path);
        return job;
    }

    private IReadOnlyList<ScoreJob> Detect(string path, IModel model, long? jitterSeed, bool allTracks)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw DferException.ForFile(path, "no such file or folder");
        var stage = Stage;
        var frames = stage.ReadFrames(path);
        var timeline = stage.Find(frames);
        var tracks = stage.Selected(path, timeline);
        if (!allTracks) tracks = [tracks[0]];
        var jobs = new List<ScoreJob>();
        foreach (var track in tracks)
        {
            try
            {
                var clips = stage.Clips(path, frames, track, model.Protocol, jitterSeed);
                jobs.Add(new ScoreJob(path, clips.Clips, perClip: false)
                {
                    Face = Report(stage, clips),
                    ClipFrames = clips.ClipFrames,
                });
            }
            catch (DferException ex) when (tracks.Count > 1)
            {
                jobs.Add(new ScoreJob(path, $"{ex.Message} (face {track.Id})"));
            }
        }
        return jobs;
    }

    internal static FaceReport Report(FaceStage stage, FaceClips clips) => new("detect", stage.Detector.Name,
        clips.Track.Id, clips.Sampled, clips.SampledWithFace,
        clips.Sampled.Select(i => clips.Track.Boxes[i]).ToArray());

    /// <summary>
    /// With --face auto on a frame folder (taken as face crops): looks at its middle frame and warns when no face fills
    /// it (none found, or the largest one's longer side under 40 % of the frame's shorter side), suggesting --face
    /// detect. Skipped when the face-api weights are not fetched, and once <see cref="CropChecks"/> folders of the run
    /// have looked like crops.
    /// </summary>
    private void WarnIfNotCrops(string path)
    {
        if (settings.Mode != FaceMode.Auto || !Directory.Exists(path) || _checkUnavailable
            || Volatile.Read(ref _cropsSeen) >= CropChecks)
            return;
        FaceStage stage;
        try
        {
            stage = Stage;
        }
        catch (DferException)
        {
            _checkUnavailable = true;
            return;
        }
        if (MediaInput.ReadMiddleFrame(path, stage.Options.AnalysisSide) is not RgbImage frame) return;
        var faces = stage.Detector.Detect([frame])[0];
        double longest = faces.Count == 0 ? 0 : faces.Max(f => Math.Max(f.Width, f.Height));
        if (longest >= 0.4 * Math.Min(frame.Width, frame.Height))
        {
            Interlocked.Increment(ref _cropsSeen);
            return;
        }
        console.Warning($"{path}: the frames do not look like face crops ("
                + (faces.Count == 0 ? "no face found in the middle frame" : "the face fills little of the frame")
                + "); the model sees whole frames: add --face detect to crop the face");
    }

    public void Dispose()
    {
        _stage?.Dispose();
        _backend?.Dispose();
    }
}
