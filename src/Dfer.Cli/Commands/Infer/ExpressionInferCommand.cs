using System.CommandLine;
using System.Globalization;
using Dfer.Backends;
using Dfer.Cli.Json;
using Dfer.Cli.Plots;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Models;
using Dfer.Pipelines;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer infer --model expression INPUT...</c>, the expression mode of <see cref="InferCommand"/>:
/// face-api's pretrained face detector and expression net on each video, frame folder or image (see
/// <see cref="ExpressionPipeline"/>), per-frame and per-clip results, and optionally a timeline plot
/// and an annotated video.
/// </summary>
internal static class ExpressionInferCommand
{
    public const string ModelName = "expression";

    public static bool Handles(string model) => string.Equals(model, ModelName, StringComparison.OrdinalIgnoreCase);

    /// <summary>What the expression pipeline adds to <c>infer</c>'s command line.</summary>
    /// <param name="Temporal">--temporal: the weights of a Temporal Encoder replacing the fixed mean.</param>
    public sealed record Settings(string? Timeline, string? Overlay, int Window, bool Frames, string? Temporal = null);

    public sealed class Parser
    {
        private readonly Option<string?> _timeline = new("--timeline")
        {
            Description = "With --model expression: plot the seven probabilities over time and the face-found mask to "
                + "this .svg or .png (one input)",
            HelpName = "FILE",
        };
        private readonly Option<string?> _overlay = new("--overlay")
        {
            Description = "With --model expression: write the video with the face box and label drawn to this .mp4 "
                + "(one input; needs ffmpeg)",
            HelpName = "FILE",
        };
        private readonly Option<int> _window =
            NumberOptions.Int("--window", new ExpressionOptions().Window, 1, Limits.MaxWindow);
        private readonly Option<bool> _frames = new("--frames")
        {
            Description = "With --model expression and --format table: also print one row per frame",
        };
        private readonly Option<string?> _temporal = new("--temporal")
        {
            Description = "With --model expression: aggregate over time with this Temporal Encoder (.pth or "
                + ".safetensors, its .json config next to it; docs/temporal-encoder.md) instead of the fixed mean",
            HelpName = "WEIGHTS",
        };

        /// <summary>The expression-only options, in the order help lists them.</summary>
        private Option[] Options => [_timeline, _overlay, _window, _frames, _temporal];

        public void AddTo(Command command)
        {
            _window.Description = $"With --model expression: frames in the sliding window of the confidence-weighted "
                + $"temporal mean (1: per frame; at most {Limits.MaxWindow})";
            foreach (Option o in Options) command.Options.Add(o);
        }

        public Settings Get(ParseResult parsed)
            => new(parsed.GetValue(_timeline), parsed.GetValue(_overlay), parsed.GetValue(_window),
            parsed.GetValue(_frames), parsed.GetValue(_temporal));

        /// <summary>Refuses the expression-only options when another model runs: any of them given on the command
        /// line.</summary>
        public void CheckUnused(ParseResult parsed)
        {
            foreach (Option option in Options)
                if (parsed.GetResult(option) is { Implicit: false })
                    throw new DferException($"{option.Name} is an option of --model {ModelName}");
        }
    }

    public static int Run(ScoringOptions scoring, string[] inputs, Settings s, FaceSettings face, CliConsole console)
    {
        if (face.ModeGiven && face.Mode == FaceMode.None)
            throw new DferException(
                $"--model {ModelName} always finds the face (it scores face crops); drop --face none");
        if (face.Stage.AllFaces)
            throw new DferException(
                $"--all-faces applies to the DFER models; --model {ModelName} scores the main face");
        if (inputs.Length == 0) throw new DferException("nothing to score: give a video, frame folder or image");
        if (scoring.Weights is not null || scoring.Key is not null || scoring.GeneratedWeights)
            throw new DferException(
                $"--model {ModelName} runs face-api's pretrained weights from {Weights.TfJs.FaceApiPackage.Directory}; "
                + $"--weights, --key and {SharedOptions.GeneratedWeightsOption} do not apply");
        if (scoring.JitterSeed is not null)
            throw new DferException($"--jitter-seed does not apply to --model {ModelName}: it scores every frame");
        if ((s.Timeline is not null || s.Overlay is not null) && inputs.Length != 1)
            throw new DferException("--timeline and --overlay draw one input; give exactly one");
        if (s.Timeline is not null && Path.GetExtension(s.Timeline).ToLowerInvariant() is not (".svg" or ".png"))
            throw DferException.ForFile(s.Timeline, "the timeline is written as .svg or .png");
        if (s.Overlay is not null && Path.GetExtension(s.Overlay).ToLowerInvariant() != ".mp4")
            throw DferException.ForFile(s.Overlay, "the overlay video is written as .mp4");

        var options = new ExpressionOptions
        {
            Window = s.Window,
            Batch = scoring.Batch,
            Face = face.Stage,
        };
        TemporalEncoder? temporal = s.Temporal is null ? null : TemporalEncoder.Load(s.Temporal);
        using IBackend backend = BackendRegistry.Create(scoring.Backend, scoring.Threads, scoring.Precision);
        using var pipeline = ExpressionPipeline.FromCache(backend, options, temporal);

        var reports = new List<ExpressionReport>();
        var errors = new List<(string Input, string Error)>();
        foreach (string input in inputs)
        {
            if (string.IsNullOrWhiteSpace(input))
            {
                errors.Add((input,
                    "an empty INPUT path (if it came from $(./scripts/make-demo-video.sh), that script failed: see its "
                    + "message above)"));
                continue;
            }
            try
            {
                var (report, frames) = Analyse(pipeline, input, backend, console, "scoring expressions");
                reports.Add(report);
                if (s.Timeline is not null)
                {
                    ExpressionTimeline.Write(report, s.Timeline);
                    console.Summary($"timeline written to {s.Timeline}");
                }
                if (s.Overlay is not null)
                {
                    ExpressionOverlay.Write(report, frames, s.Overlay);
                    console.Summary($"overlay video written to {s.Overlay}");
                }
            }
            catch (DferException e)
            {
                errors.Add((input, e.Message));
            }
        }
        foreach (var (_, error) in errors) console.Error(error);

        if (scoring.Format == Output.Json) WriteJson(console.Out, backend, pipeline.DetectorName, reports, errors);
        else WriteText(console.Out, reports, s.Frames, s.Timeline);
        return errors.Count > 0 ? ExitCodes.InputFailed : ExitCodes.Ok;
    }

    /// <summary>
    /// Decodes one input and runs the pipeline on it (the frame rate probed for a video file); the decoded frames come
    /// back too, for the overlay. A input in which no frame has a face is an error: <paramref name="noFaceNote"/>, if
    /// given, is appended to its message.
    /// </summary>
    internal static (ExpressionReport Report, IReadOnlyList<RgbImage> Frames) Analyse(ExpressionPipeline pipeline,
        string input, IBackend backend, CliConsole console, string activity, string? noFaceNote = null)
    {
        var frames = ExpressionPipeline.ReadFrames(input, ExpressionPipeline.AnalysisSide);
        console.Progress($"{input}: {frames.Count} frame{(frames.Count == 1 ? "" : "s")} decoded; detecting faces and "
            + $"{activity} on {backend.Name}");
        return (Score(pipeline, input, frames, noFaceNote), frames);
    }

    /// <summary>
    /// Runs the pipeline on the decoded <paramref name="frames"/> of <paramref name="input"/> (the frame rate probed
    /// for a video file): the second half of <see cref="Analyse"/>, which the server's video endpoint calls under the
    /// pipeline's lock after decoding outside it. No face in any frame is an error.
    /// </summary>
    internal static ExpressionReport Score(ExpressionPipeline pipeline, string input, IReadOnlyList<RgbImage> frames,
        string? noFaceNote = null)
    {
        var report = pipeline.Run(input, frames)
            with
        { Fps = MediaInput.HasVideoExtension(input) ? FrameRate.Probe(input) : null };
        if (report.FramesWithFace == 0)
            throw DferException.ForFile(input,
                $"no face found in any of its {frames.Count} frame{(frames.Count == 1 ? "" : "s")}{noFaceNote}");
        return report;
    }

    /// <summary>The networks a run used, as the JSON outputs and feature files record them.</summary>
    internal static string WeightsDescription(string detector) =>
        $"@vladmandic/face-api {Weights.TfJs.FaceApiPackage.Version}: "
        + (detector == "ssd" ? Weights.TfJs.FaceApiPackage.SsdDetectorModel
            : Weights.TfJs.FaceApiPackage.DetectorModel)
        + ", face_expression_model";

    private static void WriteJson(TextWriter stdout, IBackend backend, string detector,
        List<ExpressionReport> reports, List<(string Input, string Error)> errors) =>
        Output.WriteJson(stdout, ExpressionJson.From(ModelName, backend.Name, BackendRegistry.PrecisionName(backend),
            WeightsDescription(detector), reports, errors),
            DferJson.Default.ExpressionJson);

    private static void WriteText(TextWriter stdout, List<ExpressionReport> reports, bool frames, string? timeline)
    {
        foreach (var r in reports)
        {
            if (frames)
            {
                var rows = new List<string[]>
                {
                    new[] { "frame", "face (x,y,w,h)", "label", "p(label)" }.Concat(EmotionClasses.Seven).ToArray()
                };
                foreach (var f in r.Frames)
                {
                    if (f.Face is not FaceBox b)
                    {
                        rows.Add(new[] { f.Index.ToString(CultureInfo.InvariantCulture), "no face", "-", "-" }
                            .Concat(Enumerable.Repeat("-", 7)).ToArray());
                        continue;
                    }
                    string box = string.Create(CultureInfo.InvariantCulture,
                        $"{b.X0:0},{b.Y0:0},{b.Width:0},{b.Height:0}");
                    rows.Add(new[] { f.Index.ToString(CultureInfo.InvariantCulture), box, f.Label!,
                        Output.Fixed(f.Aggregated!.Max(), 3) }
                        .Concat(f.Aggregated!.Select(v => Output.Fixed(v, 3))).ToArray());
                }
                Output.WriteTable(stdout, rows, new HashSet<int>(Enumerable.Range(3, 8)) { 0 });
                stdout.WriteLine();
            }
            Output.WriteLine(stdout,
                $"{r.Input}: {r.Label} ({Output.Fixed(r.Probabilities.Max(), 2)}), face in {r.FramesWithFace} "
                + $"of {r.Frames.Count} frames ({r.Detector} detector run on {r.DetectorRuns}, found it in "
                + $"{r.FramesDetected}; boxes between are interpolated)");
            stdout.WriteLine("  "
                + string.Join("  ",
                EmotionClasses.Seven.Select((c, k) => (c, p: r.Probabilities[k])).OrderByDescending(e => e.p)
                .Select(e => $"{e.c} {Output.Fixed(e.p, 2)}")));
            if (r.Temporal is TemporalEncoder t)
                Output.WriteLine(stdout, $"  aggregated by the Temporal Encoder {t.Source} ({t.Describe()}); the "
                    + $"fixed mean says {r.MeanLabel} "
                    + $"({Output.Fixed(r.MeanProbabilities.Max(), 2)})");
            var noFace = r.Frames.Where(f => f.Face is null).Select(f => f.Index).ToList();
            if (noFace.Count > 0) stdout.WriteLine($"  no face in frames {Ranges(noFace)} (not scored)");
            if (timeline is not null) Output.WriteLine(stdout, $"  timeline: {timeline}");
        }
    }

    private static string Ranges(List<int> frames)
    {
        var parts = new List<string>();
        for (int i = 0; i < frames.Count;)
        {
            int j = i;
            while (j + 1 < frames.Count && frames[j + 1] == frames[j] + 1) j++;
            parts.Add(i == j ? $"{frames[i]}" : $"{frames[i]}-{frames[j]}");
            i = j + 1;
        }
        return string.Join(", ", parts);
    }
}
