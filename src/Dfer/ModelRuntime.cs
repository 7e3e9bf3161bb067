extern alias engine;
using engine::Dfer.Backends;
using engine::Dfer.Faces;
using engine::Dfer.Media;
using engine::Dfer.Models;
using engine::Dfer.Pipelines;
using engine::Dfer.Runtime;
using engine::Dfer.Tensors;
using engine::Dfer.Weights;
using EngineError = engine::Dfer.DferException;
using EngineFaceMode = engine::Dfer.Faces.FaceMode;

namespace Dfer;

/// <summary>
/// What a <see cref="DferModel"/> holds: the engine's pieces for one model (backend, compiled graph, face stage)
/// composed as <c>dfer infer</c> composes them (docs/library.md). Not thread-safe: <see cref="DferModel"/> serialises
/// the calls. Problems are the engine's <c>DferException</c>, which <see cref="DferModel"/> turns into the library's.
/// </summary>
internal abstract class ModelRuntime : IDisposable
{
    public const string FramesInput = "frames", ClipsInput = "clips", Expression = "expression";

    protected ModelRuntime(IBackend backend, DferOptions options)
    {
        Backend = backend;
        Options = options;
    }

    public static IReadOnlyList<string> Names { get; } = [.. ModelRegistry.Names, Expression];

    protected IBackend Backend { get; }
    protected DferOptions Options { get; }
    public abstract string Name { get; }
    public abstract IReadOnlyList<string> Classes { get; }
    public abstract IReadOnlyList<int>? ClipShape { get; }
    public string BackendName => Backend.Name;
    public string Precision => BackendRegistry.PrecisionName(Backend);
    public string Device => Backend.Device;

    /// <summary>Checks the options, makes the backend and loads the model on it (disposing the backend on failure).
    /// </summary>
    public static ModelRuntime Open(string model, string? checkpoint, DferOptions options)
    {
        if (options.Threads < 0)
            throw new EngineError($"Threads {options.Threads}: give 0 (every core) or a positive number of threads");
        var precision = PrecisionExtensions.Parse(options.Precision ?? "");
        var detector = new FaceDetectorOptions { Kind = FaceDetectorOptions.Parse(options.Detector ?? "") };
        bool expression = string.Equals(model, Expression, StringComparison.OrdinalIgnoreCase);
        IModel? dfer = expression ? null
            : ModelRegistry.Get(model, options.Classes == ClassOrder.Ferv39k
                ? engine::Dfer.Models.ClassOrder.Ferv39k : engine::Dfer.Models.ClassOrder.Dfew);
        if (expression && checkpoint is not null)
            throw new EngineError(
                "expression runs face-api's pretrained weights (scripts/fetch-face-api.sh): give no checkpoint");
        if (dfer is not null && checkpoint is null)
            throw new EngineError($"{dfer.Name} needs a checkpoint: its original state dict (.pth or .safetensors)");
        IBackend backend = BackendRegistry.Create(options.Backend ?? "", options.Threads, precision);
        try
        {
            if (dfer is null)
                return new ExpressionRuntime(backend, options,
                    ExpressionPipeline.FromCache(backend, new ExpressionOptions
                    {
                        Face = new FaceStageOptions { Detector = detector },
                    }));
            var weights = StateDict.Load(checkpoint!, options.CheckpointKey);
            return new ClipModelRuntime(backend, options, new Session(dfer, weights, backend), detector);
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    /// <summary>A frame as it arrives from a stream, made ready for <see cref="ScoreFrames"/> (shrunk to the
    /// analysis size when faces will be detected in it, so a long stream holds small frames).</summary>
    public abstract RgbImage Arriving(RgbImage frame);

    public abstract VideoResult ScoreVideo(string path, int batch, CancellationToken cancellationToken);

    public abstract VideoResult ScoreFrames(IReadOnlyList<RgbImage> frames, double? framesPerSecond, int batch,
        CancellationToken cancellationToken);

    public abstract IReadOnlyList<ClipScores> ScoreClips(ReadOnlySpan<float> clips, ReadOnlySpan<int> shape,
        int batch, CancellationToken cancellationToken);

    public abstract void Dispose();

    protected static FaceRegion? Region(FaceBox? box) =>
        box is FaceBox b ? new FaceRegion(b.X0, b.Y0, b.Width, b.Height, b.Score) : null;

    protected static IReadOnlyList<RgbImage> Shrunk(IReadOnlyList<RgbImage> frames, int side) =>
        frames.Select(f => MediaInput.Shrink(f, side)).ToArray();

    protected static void CheckNotEmpty(IReadOnlyList<RgbImage> frames)
    {
        if (frames.Count == 0) throw EngineError.ForFile(FramesInput, "no frames given");
    }
}

/// <summary>face-api's expression net over every frame, through <see cref="ExpressionPipeline"/>.</summary>
internal sealed class ExpressionRuntime(IBackend backend, DferOptions options, ExpressionPipeline pipeline)
    : ModelRuntime(backend, options)
{
    public override string Name => Expression;
    public override IReadOnlyList<string> Classes => EmotionClasses.Seven;
    public override IReadOnlyList<int>? ClipShape => null;

    public override RgbImage Arriving(RgbImage frame) => MediaInput.Shrink(frame, ExpressionPipeline.AnalysisSide);

    public override VideoResult ScoreVideo(string path, int batch, CancellationToken cancellationToken)
    {
        var frames = ExpressionPipeline.ReadFrames(path, ExpressionPipeline.AnalysisSide);
        double? fps = MediaInput.HasVideoExtension(path) ? FrameRate.Probe(path) : null;
        return Score(path, frames, fps, cancellationToken);
    }

    public override VideoResult ScoreFrames(IReadOnlyList<RgbImage> frames, double? framesPerSecond, int batch,
        CancellationToken cancellationToken) =>
        Score(FramesInput, Shrunk(frames, ExpressionPipeline.AnalysisSide), framesPerSecond, cancellationToken);

    public override IReadOnlyList<ClipScores> ScoreClips(ReadOnlySpan<float> clips, ReadOnlySpan<int> shape,
        int batch, CancellationToken cancellationToken) =>
        throw EngineError.ForFile(ClipsInput,
            "the expression model scores frames, not clips: use ScoreVideo or ScoreFrames");

    private VideoResult Score(string input, IReadOnlyList<RgbImage> frames, double? fps,
        CancellationToken cancellationToken)
    {
        if (input == FramesInput) CheckNotEmpty(frames);
        cancellationToken.ThrowIfCancellationRequested();
        var report = pipeline.Run(input, frames);
        if (report.FramesWithFace == 0)
            throw EngineError.ForFile(input,
                $"no face found in any of its {frames.Count} frame{(frames.Count == 1 ? "" : "s")}");
        return new VideoResult(input, Name, Classes, report.Label, report.Probabilities)
        {
            Frames = report.Frames.Select(f => new FrameScores(f.Index, Region(f.Face), f.Detected)
            {
                Time = fps is > 0 ? f.Index / fps.Value : null,
                Probabilities = f.Aggregated,
                Label = f.Label,
            }).ToArray(),
            Face = FaceMode.Detect,
            FrameWidth = report.FrameWidth,
            FrameHeight = report.FrameHeight,
        };
    }

    public override void Dispose()
    {
        pipeline.Dispose();
        Backend.Dispose();
    }
}

/// <summary>A DFER model (clips in, scores out) with the face stage made on first use.</summary>
internal sealed class ClipModelRuntime(IBackend backend, DferOptions options, Session session,
    FaceDetectorOptions detector) : ModelRuntime(backend, options)
{
    private FaceStage? _stage;

    public override string Name => session.Model.Name;
    public override IReadOnlyList<string> Classes => session.Model.Classes;
    public override IReadOnlyList<int>? ClipShape => session.Model.ClipShape;
    private ClipProtocol Protocol => session.Model.Protocol;

    /// <summary>The face stage, compiled on the model's backend the first time an input needs it.</summary>
    private FaceStage Stage => _stage ??= new FaceStage(FaceDetector.FromCache(Backend, detector),
        new FaceStageOptions { Detector = detector });

    private bool DetectFrames => Options.Face != FaceMode.None;

    public override RgbImage Arriving(RgbImage frame) =>
        DetectFrames ? MediaInput.Shrink(frame, new FaceStageOptions().AnalysisSide) : frame;

    public override VideoResult ScoreVideo(string path, int batch, CancellationToken cancellationToken)
    {
        if (FaceModes.Resolve(DferModel.ToEngine(Options.Face), path) == EngineFaceMode.None)
        {
            float[][] clips = MediaInput.ReadClips(path, Protocol, null, out int[][] clipFrames);
            return Score(path, clips, clipFrames, null, 0, 0, null, batch, cancellationToken);
        }
        if (!File.Exists(path) && !Directory.Exists(path)) throw EngineError.ForFile(path, "no such file or folder");
        var frames = Stage.ReadFrames(path);
        double? fps = MediaInput.HasVideoExtension(path) ? FrameRate.Probe(path) : null;
        return Detected(path, frames, fps, batch, cancellationToken);
    }

    public override VideoResult ScoreFrames(IReadOnlyList<RgbImage> frames, double? framesPerSecond, int batch,
        CancellationToken cancellationToken)
    {
        CheckNotEmpty(frames);
        if (DetectFrames)
            return Detected(FramesInput, Shrunk(frames, Stage.Options.AnalysisSide), framesPerSecond, batch,
                cancellationToken);
        int[][] clipFrames = MediaInput.SampleClips(FramesInput, frames.Count, Protocol, null);
        var prepared = new Dictionary<int, RgbImage>();
        RgbImage Prepared(int i)
        {
            if (!prepared.TryGetValue(i, out var p))
                prepared[i] = p = ClipBuilder.Prepare(frames[i], Protocol, FramesInput);
            return p;
        }
        float[][] clips = clipFrames.Select(c => ClipBuilder.Build(c, Prepared, Protocol)).ToArray();
        return Score(FramesInput, clips, clipFrames, null, 0, 0, framesPerSecond, batch, cancellationToken);
    }

    /// <summary>The face stage on decoded frames, then the main face's clips.</summary>
    private VideoResult Detected(string input, IReadOnlyList<RgbImage> frames, double? fps, int batch,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var timeline = Stage.Find(frames);
        var track = Stage.Selected(input, timeline)[0];
        cancellationToken.ThrowIfCancellationRequested();
        var faceClips = Stage.Clips(input, frames, track, Protocol);
        return Score(input, faceClips.Clips, faceClips.ClipFrames, track, frames[0].Width, frames[0].Height, fps, batch,
            cancellationToken);
    }

    private VideoResult Score(string input, float[][] clips, int[][] clipFrames, FaceTrack? track, int width,
        int height, double? fps, int batch, CancellationToken cancellationToken)
    {
        var results = new List<ClipResult>(clips.Length);
        int length = session.ClipLength;
        var buffer = new float[Math.Min(batch, clips.Length) * length];
        for (int start = 0; start < clips.Length; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(batch, clips.Length - start);
            for (int i = 0; i < n; i++) clips[start + i].CopyTo(buffer, i * length);
            results.AddRange(Checked(input, session.Run(buffer.AsSpan(0, n * length), n, input), start,
                clips.Length));
        }
        ClipResult video = VideoScores.Mean(results, Classes);
        int[] sampled = clipFrames.SelectMany(c => c).Distinct().Order().ToArray();
        return new VideoResult(input, Name, Classes, video.Label, video.Probabilities)
        {
            Logits = video.Logits,
            Clips = results.Select((r, i) => Scores(r) with { Frames = clipFrames[i] }).ToArray(),
            KeyFrames = results is [var only] ? only.KeyFramesIn(clipFrames[0]) : null,
            Frames = sampled.Select(i => new FrameScores(i, Region(track?.Boxes[i]), track?.Detected[i] ?? false)
            {
                Time = fps is > 0 ? i / fps.Value : null,
            }).ToArray(),
            Face = track is null ? FaceMode.None : FaceMode.Detect,
            FrameWidth = width,
            FrameHeight = height,
        };
    }

    public override IReadOnlyList<ClipScores> ScoreClips(ReadOnlySpan<float> clips, ReadOnlySpan<int> shape,
        int batch, CancellationToken cancellationToken)
    {
        int[] clipShape = session.Model.ClipShape;
        string expected = $"[{string.Join(", ", clipShape)}] or [clips, {string.Join(", ", clipShape)}]";
        int count;
        if (shape.SequenceEqual(clipShape)) count = 1;
        else if (shape.Length == clipShape.Length + 1 && shape[0] >= 0 && shape[1..].SequenceEqual(clipShape))
            count = shape[0];
        else
            throw EngineError.ForFile(ClipsInput,
                $"shape [{string.Join(", ", shape.ToArray())}] is not {Name}'s: give {expected}");
        int length = session.ClipLength;
        if (clips.Length != (long)count * length)
            throw EngineError.ForFile(ClipsInput,
                $"shape [{string.Join(", ", shape.ToArray())}] is {(long)count * length} values, got {clips.Length}");
        if (Session.FirstNonFinite(clips) is long at)
            throw EngineError.ForFile(ClipsInput,
                $"clip {at / length} contains {(float.IsNaN(clips[(int)at]) ? "NaN" : "Inf")} "
                + $"(at value {at % length} of the clip)");
        var scores = new List<ClipScores>(count);
        for (int start = 0; start < count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(batch, count - start);
            scores.AddRange(Checked(ClipsInput, session.Run(clips.Slice(start * length, n * length), n, ClipsInput),
                start, count).Select(Scores));
        }
        return scores;
    }

    /// <summary>The batch's results, refused when a clip's scores are not finite (NaN logits have an arbitrary
    /// label).</summary>
    private static ClipResult[] Checked(string input, ClipResult[] results, int first, int count)
    {
        for (int i = 0; i < results.Length; i++)
            if (results[i].NonFiniteProblem(count > 1 ? $"clip {first + i}" : "this input") is string problem)
                throw EngineError.ForFile(input, problem);
        return results;
    }

    private static ClipScores Scores(ClipResult r) =>
        new(r.Label, r.Probabilities, r.Logits) { KeyFrames = r.KeyFrames };

    public override void Dispose()
    {
        _stage?.Dispose();
        session.Dispose();
        Backend.Dispose();
    }
}
