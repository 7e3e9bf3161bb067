using System.Buffers;
using Dfer.Backends;
using Dfer.Media;
using Dfer.Models.FaceApi;
using Dfer.Weights;
using Dfer.Weights.TfJs;

namespace Dfer.Faces;

/// <summary>The face detectors Dfer runs (docs/faces.md compares them).</summary>
public enum FaceDetectorKind
{
    /// <summary>face-api's SSD MobileNet v1 (512×512 input): the accurate one, the default.</summary>
    Ssd,

    /// <summary>face-api's tiny face detector (416×416 input by default): much cheaper, misses
    /// more.</summary>
    Tiny,
}

/// <summary>Which detector and how it is run.</summary>
public sealed record FaceDetectorOptions
{
    public FaceDetectorKind Kind { get; init; } = FaceDetectorKind.Ssd;

    /// <summary>The tiny detector's input side (a multiple of 32); the SSD's is fixed at 512.</summary>
    public int TinyInputSize { get; init; } = TinyFaceDetector.DefaultInputSize;

    /// <summary>Minimum score of a face; null: <see cref="DefaultScore"/> of the kind.</summary>
    public double? ScoreThreshold { get; init; }

    /// <summary>The threshold in use: <see cref="ScoreThreshold"/> or the kind's default.</summary>
    public double Score => ScoreThreshold ?? DefaultScore(Kind);

    /// <summary>
    /// The face stage's default minimum score: 0.3 for SSD, whose own default (face-api's 0.5) misses faces the
    /// detection benchmark shows it finds reliably at 0.3 (frame recall 97.9 % → 98.8 %, no more false boxes per frame
    /// through the tracker; docs/detection-benchmark.md); face-api's 0.5 for the tiny detector, which already reports
    /// more false faces than SSD at 0.5.
    /// </summary>
    public static double DefaultScore(FaceDetectorKind kind) =>
        kind == FaceDetectorKind.Ssd ? 0.3 : TinyFaceDetector.DefaultScoreThreshold;

    /// <summary>Frames per detector run.</summary>
    public int Batch { get; init; } = 8;

    /// <summary>The name the CLI and reports use: "ssd" or "tiny".</summary>
    public string Name => Kind == FaceDetectorKind.Ssd ? "ssd" : "tiny";

    /// <summary>Parses "ssd" or "tiny" (any case).</summary>
    public static FaceDetectorKind Parse(string name) => name.ToLowerInvariant() switch
    {
        "ssd" => FaceDetectorKind.Ssd,
        "tiny" => FaceDetectorKind.Tiny,
        _ => throw new DferException($"unknown face detector '{name}': use ssd or tiny"),
    };
}

/// <summary>
/// A face detector compiled on a backend: frames in, every face above the score threshold out, in the frame's pixels.
/// Both networks share one output contract ("boxes" [N, K, 5] relative to the frame padded to a square at the
/// bottom/right, "keep" [N, K]), so everything after the network is the same code. <see cref="Detect"/> may be called
/// from several threads (calls run one at a time).
/// </summary>
public sealed class FaceDetector : IDisposable
{
    private readonly IExecutable _network;
    private readonly Action<RgbImage, Span<float>> _input;
    private readonly object _gate = new();

    private FaceDetector(FaceDetectorOptions options, IExecutable network, int inputSize,
        Action<RgbImage, Span<float>> input)
    {
        Options = options;
        _network = network;
        InputSize = inputSize;
        _input = input;
    }

    public FaceDetectorOptions Options { get; }

    /// <summary>The square side the network looks at.</summary>
    public int InputSize { get; }

    /// <summary>"ssd" or "tiny".</summary>
    public string Name => Options.Name;

    /// <summary>Compiles the detector from its weights.</summary>
    public static FaceDetector Create(IBackend backend, StateDict weights, FaceDetectorOptions? options = null)
    {
        options ??= new FaceDetectorOptions();
        if (options.Batch < 1) throw new DferException($"the detector batch must be at least 1, got {options.Batch}");
        switch (options.Kind)
        {
            case FaceDetectorKind.Tiny:
                {
                    int size = options.TinyInputSize;
                    var graph = TinyFaceDetector.Build(weights, size, options.Score);
                    return new FaceDetector(options, backend.Compile(graph), size,
                        (frame, dst) => TinyFaceDetector.Input(frame, size, dst));
                }
            case FaceDetectorKind.Ssd:
                {
                    var graph = SsdMobileNetV1.Build(weights, options.Score);
                    return new FaceDetector(options, backend.Compile(graph), SsdMobileNetV1.InputSize,
                        SsdMobileNetV1.Input);
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "unknown detector");
        }
    }

    /// <summary>The face-api package's weights of <paramref name="kind"/> (see <see cref="FaceApiPackage"/>).</summary>
    public static StateDict LoadWeights(FaceDetectorKind kind) => FaceApiPackage.Load(
        kind == FaceDetectorKind.Ssd ? FaceApiPackage.SsdDetectorModel : FaceApiPackage.DetectorModel);

    /// <summary>Compiles the detector with the face-api package's weights.</summary>
    public static FaceDetector FromCache(IBackend backend, FaceDetectorOptions? options = null)
    {
        options ??= new FaceDetectorOptions();
        return Create(backend, LoadWeights(options.Kind), options);
    }

    /// <summary>Every face of every frame, in the frame's pixels, clipped to it; boxes under a pixel are
    /// dropped.</summary>
    public List<FaceBox>[] Detect(IReadOnlyList<RgbImage> frames, Action<int>? progress = null)
    {
        int n = frames.Count, size = InputSize, per = size * size * 3, batch = Options.Batch;
        var detections = new List<FaceBox>[n];
        // Pooled: a fresh batch-sized array per call is tens of megabytes of new pages to fault in.
        float[] x = ArrayPool<float>.Shared.Rent(Math.Min(batch, Math.Max(n, 1)) * per);
        try
        {
            for (int start = 0; start < n; start += batch)
            {
                int b = Math.Min(batch, n - start), first = start;
                // The frames of a batch are prepared on all cores (the network's own kernels use them next).
                Parallel.For(0, b, i => _input(frames[first + i], x.AsSpan(i * per, per)));
                IReadOnlyDictionary<string, float[]> outs;
                lock (_gate) outs = _network.Run(x.AsSpan(0, b * per), [b, size, size, 3]);
                float[] boxes = outs["boxes"], keep = outs["keep"];
                int k = keep.Length / b;
                for (int i = 0; i < b; i++)
                    detections[start + i] = Boxes(frames[start + i], boxes.AsSpan(i * k * 5, k * 5),
                        keep.AsSpan(i * k, k));
                progress?.Invoke(start + b);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(x);
        }
        return detections;
    }

    /// <summary>The kept boxes of one frame, scaled from the padded square to pixels and clipped to the
    /// frame.</summary>
    internal static List<FaceBox> Boxes(RgbImage frame, ReadOnlySpan<float> boxes, ReadOnlySpan<float> keep)
    {
        double s = Math.Max(frame.Width, frame.Height);
        var list = new List<FaceBox>();
        for (int j = 0; j < keep.Length; j++)
        {
            if (keep[j] != 1f) continue;
            int o = j * 5;
            var box = new FaceBox(Math.Max(0, boxes[o] * s), Math.Max(0, boxes[o + 1] * s),
                Math.Min(frame.Width, boxes[o + 2] * s), Math.Min(frame.Height, boxes[o + 3] * s), boxes[o + 4]);
            if (box.Width >= 1 && box.Height >= 1 && double.IsFinite(box.Area)) list.Add(box);
        }
        return list;
    }

    public void Dispose() => _network.Dispose();
}
