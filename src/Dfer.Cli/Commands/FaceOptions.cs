using System.CommandLine;
using System.Globalization;
using Dfer.Faces;
using Dfer.Media;

namespace Dfer.Cli.Commands;

/// <summary>
/// The face stage's options (docs/faces.md), declared once for infer (all modes), eval and preprocess:
/// <c>--face auto|detect|none</c>, <c>--detector ssd|tiny</c>, <c>--detector-size</c>, <c>--detector-score</c>,
/// <c>--detect-every</c>, <c>--face-margin</c>,
/// <c>--max-missing</c> and <c>--all-faces</c>.
/// </summary>
internal sealed record FaceSettings(FaceMode Mode, FaceStageOptions Stage, bool ModeGiven)
{
    /// <summary>The settings as a results file records them, e.g. "auto; ssd; margin 0.25; max missing 0.5".</summary>
    public string Describe()
    {
        if (Mode == FaceMode.None) return "none";
        var c = System.Globalization.CultureInfo.InvariantCulture;
        string size = Stage.Detector.Kind == FaceDetectorKind.Tiny ? $" {Stage.Detector.TinyInputSize}" : "";
        return $"{Name(Mode)}; {Stage.Detector.Name}{size} every {Stage.DetectEvery}, "
            + $"score {Stage.Detector.Score.ToString(c)}; "
            + $"margin {Stage.Margin.ToString(c)}; "
            + $"max missing {Stage.MaxMissing.ToString(c)}";
    }

    /// <summary>"auto", "detect" or "none".</summary>
    public static string Name(FaceMode mode) => mode.ToString().ToLowerInvariant();

    /// <summary>What <see cref="Mode"/> means for <paramref name="path"/>: auto is detect for video files and images,
    /// none for frame folders and everything else (.npy).</summary>
    public FaceMode For(string path) => FaceModes.Resolve(Mode, path);

    public sealed class Parser
    {
        private readonly Option<string> _face = new("--face")
        {
            Description = "Find, track and crop the face before the model sees the frames: detect, none (whole frames, "
                + "for inputs that are face crops already, like DFEW's frame folders) or auto (detect for video files "
                + "and images, none for frame folders and .npy)",
            HelpName = "auto|detect|none",
            DefaultValueFactory = _ => "auto",
        };
        private readonly Option<string> _detector = new("--detector")
        {
            Description = "The face detector: ssd (SSD MobileNet v1, accurate) or tiny (face-api's tiny detector, "
                + "faster, misses more)",
            HelpName = "ssd|tiny",
            DefaultValueFactory = _ => new FaceDetectorOptions().Name,
        };
        private readonly Option<int> _detectorSize = NumberOptions.Int("--detector-size",
            new FaceDetectorOptions().TinyInputSize, Limits.MinDetectorSize, Limits.MaxDetectorSize,
            check: size => size % 32 == 0 ? null : "not a multiple of 32");
        private readonly Option<double> _detectorScore = ScoreOption();
        private readonly Option<int> _detectEvery =
            NumberOptions.Int("--detect-every", new FaceStageOptions().DetectEvery, 1, 1000);
        private readonly Option<double> _margin = NumberOptions.Real("--face-margin", FaceCrop.DefaultMargin, 0, 3);
        private readonly Option<double> _maxMissing =
            NumberOptions.Real("--max-missing", new FaceStageOptions().MaxMissing, 0, 1);
        private readonly Option<bool> _allFaces = new("--all-faces")
        {
            Description = "With --face detect: score every face track covering at least a quarter of the frames "
                + "separately (one result per track), not only the main face",
        };

        /// <summary>Whether --all-faces is declared (infer's clip mode only).</summary>
        public bool WithAllFaces { get; init; } = true;

        private IEnumerable<Option> Options =>
            WithAllFaces
                ? [_face, _detector, _detectorSize, _detectorScore, _detectEvery, _margin, _maxMissing, _allFaces]
                : [_face, _detector, _detectorSize, _detectorScore, _detectEvery, _margin, _maxMissing];

        public void AddTo(Command command)
        {
            _detectorSize.Description = $"The tiny face detector's input size in pixels, a multiple of 32 from "
                + $"{Limits.MinDetectorSize} to {Limits.MaxDetectorSize} (larger finds smaller faces; the ssd "
                + "detector's is fixed at 512)";
            _detectorSize.HelpName = "PIXELS";
            _detectEvery.Description = "Run the face detector on every N-th frame (and the last); the frames between "
                + "take the tracked box, interpolated (1: every frame; larger is faster)";
            _margin.Description = "The face crop's square side is the face box's longer side times (1 + margin) "
                + $"(default {FaceCrop.DefaultMargin})";
            _maxMissing.Description = "A video fails when the face is missing from more than this share of its "
                + "sampled frames (0 to 1)";
            foreach (Option o in Options) command.Options.Add(o);
        }

        /// <summary><c>--detector-score</c>: the least score of a face; the detector's default unless given.</summary>
        public static Option<double> ScoreOption()
        {
            var option = NumberOptions.Real("--detector-score", FaceDetectorOptions.DefaultScore(FaceDetectorKind.Ssd),
                0.01, 0.99);
            string ssd = FaceDetectorOptions.DefaultScore(FaceDetectorKind.Ssd).ToString(CultureInfo.InvariantCulture),
                tiny = FaceDetectorOptions.DefaultScore(FaceDetectorKind.Tiny).ToString(CultureInfo.InvariantCulture);
            option.Description = $"The least score a detection needs to count as a face (default {ssd} for ssd, "
                + $"{tiny} for tiny; lower finds more faces and more things that are not)";
            option.DefaultValueFactory = null; // the default depends on --detector: the description says both
            return option;
        }

        /// <summary>The score given with <paramref name="option"/>, or null for the detector's default.</summary>
        public static double? Score(ParseResult parsed, Option<double> option) =>
            parsed.GetResult(option) is { Implicit: false } ? parsed.GetValue(option) : null;

        public FaceSettings Get(ParseResult parsed)
        {
            string text = parsed.GetValue(_face)!;
            FaceMode mode = text.ToLowerInvariant() switch
            {
                "auto" => FaceMode.Auto,
                "detect" => FaceMode.Detect,
                "none" => FaceMode.None,
                _ => throw new DferException($"--face {text}: use auto, detect or none"),
            };
            var kind = FaceDetectorOptions.Parse(parsed.GetValue(_detector)!);
            bool sizeGiven = parsed.GetResult(_detectorSize) is { Implicit: false };
            if (sizeGiven && kind != FaceDetectorKind.Tiny)
                throw new DferException("--detector-size sets the tiny detector's input; add --detector tiny");
            bool allFaces = WithAllFaces && parsed.GetValue(_allFaces);
            if (mode == FaceMode.None)
                foreach (Option o in new Option[] { _margin, _maxMissing }.Concat(WithAllFaces ? [_allFaces] : []))
                    if (parsed.GetResult(o) is { Implicit: false })
                        throw new DferException(
                            $"{o.Name} applies to the face stage; it does nothing with --face none");
            var stage = new FaceStageOptions
            {
                Detector = new FaceDetectorOptions
                {
                    Kind = kind,
                    TinyInputSize = parsed.GetValue(_detectorSize),
                    ScoreThreshold = Score(parsed, _detectorScore),
                },
                Margin = parsed.GetValue(_margin),
                MaxMissing = parsed.GetValue(_maxMissing),
                DetectEvery = parsed.GetValue(_detectEvery),
                AllFaces = allFaces,
            };
            return new FaceSettings(mode, stage, parsed.GetResult(_face) is { Implicit: false });
        }
    }
}
