using Dfer.Backends;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Models;
using Dfer.Models.FaceApi;
using Dfer.Weights;

namespace Dfer.Pipelines;

/// <summary>One frame's result. Probabilities are in Dfer's class order; null where no face was found.</summary>
/// <param name="Index">The frame's number in the input.</param>
/// <param name="Face">The main face's box in the frame; null where it has none.</param>
/// <param name="Probabilities">The expression net's own probabilities for the frame.</param>
/// <param name="Smoothed">The fixed aggregation: the confidence-weighted mean over the window around the frame.</param>
public sealed record ExpressionFrame(int Index, FaceBox? Face, float[]? Probabilities, float[]? Smoothed)
{
    /// <summary>The Temporal Encoder's probabilities for the frame (docs/models/temporal-encoder.md); null without one
    /// or without a face.</summary>
    public float[]? Temporal { get; init; }
    /// <summary>What the frame is reported as: the Temporal Encoder's probabilities when there is one, else the
    /// smoothed ones.</summary>
    public float[]? Aggregated => Temporal ?? Smoothed;
    public string? Label => Aggregated is null ? null : EmotionClasses.Seven[ArgMax(Aggregated)];
    /// <summary>The expression net's pooled features (<see cref="TemporalFeatures.Pooled"/>, 256 values).</summary>
    public float[]? Pooled { get; init; }
    /// <summary>The expression net's logits in Dfer's class order (<see cref="TemporalFeatures.Logits"/>).</summary>
    public float[]? Logits { get; init; }
    /// <summary>True where the detector found the face in this frame; false where the box bridges a gap.</summary>
    public bool Detected { get; init; }
    internal static int ArgMax(
        float[] p)
    { int b = 0; for (int i = 1; i < p.Length; i++) if (p[i] > p[b]) b = i; return b; }
}

/// <summary>The result of one input: every frame, and the clip-level probabilities over the frames with a face. Boxes
/// are in pixels of the analysed frames, FrameWidth × FrameHeight (the first frame's size).</summary>
public sealed record ExpressionReport(string Input, IReadOnlyList<ExpressionFrame> Frames, float[] Probabilities,
    int Window, int FrameWidth, int FrameHeight)
{
    public int FramesWithFace => Frames.Count(f => f.Face is not null);
    /// <summary>Frames where the tracked face was detected (the others with a face are bridged gaps).</summary>
    public int FramesDetected => Frames.Count(f => f.Detected);
    /// <summary>The detector that found the faces ("ssd" or "tiny").</summary>
    public string Detector { get; init; } = "";
    /// <summary>Frames the detector looked at (every <see cref="FaceStageOptions.DetectEvery"/>-th and the
    /// last).</summary>
    public int DetectorRuns { get; init; }
    /// <summary>How many face tracks the video had (the main one is scored).</summary>
    public int Tracks { get; init; }
    /// <summary>Frames per second of the source video when known (timestamps are frame / Fps).</summary>
    public double? Fps { get; init; }
    public string Label => EmotionClasses.Seven[ExpressionFrame.ArgMax(Probabilities)];
    /// <summary>The Temporal Encoder that produced <see cref="Probabilities"/> and each frame's
    /// <see cref="ExpressionFrame.Temporal"/>; null when the fixed mean did.</summary>
    public TemporalEncoder? Temporal { get; init; }
    /// <summary>The clip's fixed mean (the confidence-weighted mean over every face frame), whichever aggregation
    /// produced <see cref="Probabilities"/>.</summary>
    public float[] MeanProbabilities { get; init; } = [];
    /// <summary>The label of <see cref="MeanProbabilities"/>.</summary>
    public string MeanLabel => EmotionClasses.Seven[ExpressionFrame.ArgMax(MeanProbabilities)];
}

/// <summary>Settings of the expression pipeline.</summary>
public sealed record ExpressionOptions
{
    /// <summary>The face stage: detector, tracker, detection step (<see cref="FaceStageOptions"/>; its crop settings
    /// do not apply, the expression net crops as face-api does).</summary>
    public FaceStageOptions Face { get; init; } = new();
    /// <summary>Frames in the centred sliding window of the temporal aggregation (1: none).</summary>
    public int Window { get; init; } = 15;
    /// <summary>Frames per network batch.</summary>
    public int Batch { get; init; } = 8;
}

/// <summary>
/// Recognises the expression of the main face of a video, a frame folder or an image with face-api's
/// pretrained networks running on Dfer's kernels:
/// <list type="number">
/// <item>the face stage shared with the DFER models (docs/faces.md): every frame goes through the face detector
/// (SSD MobileNet v1 by default, or the tiny detector), detections are linked into tracks by overlap and appearance,
/// and the main track (the face with the largest total area) gives a box in every frame from its first to its last
/// detection: detected boxes smoothed over a few frames, gaps of up to <see cref="TrackerOptions.MaxGap"/> frames
/// bridged by interpolating the box;</item>
/// <item>the box is cut out, padded to a centred square with black and resized to 112×112 (as
/// face-api's <c>extractFaceTensors</c> + <c>toBatchTensor(112, true)</c> do) and the expression net
/// gives 7 probabilities, mapped to Dfer's order (fearful → fear, disgusted → disgust, surprised →
/// surprise);</item>
/// <item>aggregation has no parameters to learn: a frame's <c>Smoothed</c> probabilities are the
/// confidence-weighted mean <c>Σ c_s·p_s / Σ c_s</c> over the face frames s of a centred window of
/// <see cref="ExpressionOptions.Window"/> frames, with <c>c_s = max_k p_s[k]</c>, the net's confidence;
/// the clip's are the same mean over every face frame.</item>
/// </list>
/// Frames outside the main track keep null probabilities: they are reported, never filled in.
/// </summary>
public sealed class ExpressionPipeline : IDisposable
{
    private readonly ExpressionOptions _options;
    private readonly FaceStage _faces;
    private readonly IExecutable _expression;
    private readonly TemporalAggregation? _temporal;

    /// <param name="backend">What runs the networks.</param>
    /// <param name="detectorWeights">The face detector's weights.</param>
    /// <param name="expressionWeights">The expression net's weights.</param>
    /// <param name="options">The pipeline's settings; null for the defaults.</param>
    /// <param name="temporal">A Temporal Encoder to aggregate with instead of the fixed mean (see
    /// <see cref="TemporalAggregation"/>); null for the mean.</param>
    public ExpressionPipeline(IBackend backend, StateDict detectorWeights, StateDict expressionWeights,
        ExpressionOptions? options = null, TemporalEncoder? temporal = null)
    {
        _options = options ?? new ExpressionOptions();
        if (_options.Window < 1)
            throw new DferException($"the aggregation window must be at least 1 frame, got {_options.Window}");
        if (_options.Batch < 1) throw new DferException($"the batch must be at least 1, got {_options.Batch}");
        var detector = FaceDetector.Create(backend, detectorWeights,
            _options.Face.Detector with { Batch = _options.Batch });
        try
        {
            _faces = new FaceStage(detector, _options.Face);
            _expression = backend.Compile(FaceExpressionNet.Build(expressionWeights));
            if (temporal is not null) _temporal = new TemporalAggregation(backend, temporal, _options.Batch);
        }
        catch
        {
            if (_faces is not null) _faces.Dispose();
            else detector.Dispose();
            _expression?.Dispose();
            throw;
        }
    }

    /// <summary>Loads both networks from the face-api cache (see <see cref="Weights.TfJs.FaceApiPackage"/>).</summary>
    public static ExpressionPipeline FromCache(IBackend backend, ExpressionOptions? options = null,
        TemporalEncoder? temporal = null)
    {
        options ??= new ExpressionOptions();
        return new(backend, FaceDetector.LoadWeights(options.Face.Detector.Kind),
            Weights.TfJs.FaceApiPackage.Load(Weights.TfJs.FaceApiPackage.ExpressionModel), options, temporal);
    }

    /// <summary>The detector in use ("ssd" or "tiny").</summary>
    public string DetectorName => _faces.Detector.Name;

    /// <summary>Longest side, in pixels, of the frames the CLI analyses: larger inputs are shrunk on decoding (the
    /// detector looks at 416 or 512 pixels, the expression net at 112).</summary>
    public const int AnalysisSide = 640;

    /// <summary>Reads every frame (see <see cref="MediaInput.ReadFrames"/>).</summary>
    public static IReadOnlyList<RgbImage> ReadFrames(string path, int maxSide = 0) =>
        MediaInput.ReadFrames(path, maxSide);

    /// <summary>Runs the pipeline on decoded frames.</summary>
    public ExpressionReport Run(string input, IReadOnlyList<RgbImage> frames, Action<int, int>? progress = null)
    {
        int n = frames.Count;
        var timeline = _faces.Find(frames, done => progress?.Invoke(done, 2 * n));
        var main = timeline.Main;
        var faces = main?.Boxes ?? new FaceBox?[n];
        var probs = new float[n][];
        var pooled = new float[n][];
        var logits = new float[n][];
        var withFace = Enumerable.Range(0, n).Where(i => faces[i] is not null).ToArray();
        int ep = FaceExpressionNet.PaddedSize * FaceExpressionNet.PaddedSize * 3;
        var crop = new float[FaceExpressionNet.Size * FaceExpressionNet.Size * 3];
        for (int start = 0; start < withFace.Length; start += _options.Batch)
        {
            int b = Math.Min(_options.Batch, withFace.Length - start);
            var x = new float[b * ep];
            for (int i = 0; i < b; i++)
            {
                int f = withFace[start + i];
                FaceCrop(frames[f], faces[f]!.Value, crop);
                FaceExpressionNet.Prepare(crop, x.AsSpan(i * ep, ep));
            }
            var outputs = _expression.Run(x, [b, FaceExpressionNet.PaddedSize, FaceExpressionNet.PaddedSize, 3]);
            float[] p = outputs["probabilities"], z = outputs["logits"], pool = outputs["pooled"];
            for (int i = 0; i < b; i++)
            {
                int f = withFace[start + i];
                probs[f] = FaceExpressionNet.ToDferOrder.Select(j => p[i * 7 + j]).ToArray();
                logits[f] = FaceExpressionNet.ToDferOrder.Select(j => z[i * 7 + j]).ToArray();
                pooled[f] = pool.AsSpan(i * TemporalFeatures.PooledSize, TemporalFeatures.PooledSize).ToArray();
                // NaN would make a confident-looking label (ArgMax skips it); the input fails instead.
                if (!probs[f].All(float.IsFinite))
                    throw DferException.ForFile(input,
                        $"the expression net produced non-finite probabilities "
                        + $"({(probs[f].Any(float.IsNaN) ? "NaN" : "Inf")}) for frame {f}; check the face-api weights");
            }
            progress?.Invoke(n + (int)((long)(start + b) * n / Math.Max(1, withFace.Length)), 2 * n);
        }

        float[][]? temporal = _temporal?.Run(input,
            withFace.Select(f => _temporal.Encoder.Config.Features == TemporalFeatures.Logits ? logits[f] : pooled[f])
            .ToArray());
        var perFrame = new float[n][];
        if (temporal is not null)
            for (int i = 0; i < withFace.Length; i++) perFrame[withFace[i]] = temporal[i];

        var result = new ExpressionFrame[n];
        int half = _options.Window / 2;
        for (int i = 0; i < n; i++)
        {
            float[]? smoothed = probs[i] is null ? null
                : WeightedMean(
                Enumerable.Range(Math.Max(0, i - half), Math.Min(n, i + half + 1) - Math.Max(0, i - half))
                .Select(j => probs[j]));
            result[i] = new ExpressionFrame(i, faces[i], probs[i], smoothed)
            {
                Detected = main?.Detected[i] ?? false,
                Temporal = perFrame[i],
                Pooled = pooled[i],
                Logits = logits[i],
            };
        }
        float[] mean = WeightedMean(probs) ?? new float[7];
        float[] clip = temporal is null ? mean : TemporalAggregation.Mean(temporal);
        return new ExpressionReport(input, result, clip, _options.Window, n > 0 ? frames[0].Width : 0,
            n > 0 ? frames[0].Height : 0)
        {
            Detector = _faces.Detector.Name,
            Tracks = timeline.Tracks.Count,
            DetectorRuns = timeline.DetectorRuns,
            Temporal = _temporal?.Encoder,
            MeanProbabilities = mean,
        };
    }

    /// <summary>Σ c·p / Σ c over the non-null vectors, c = max p; null when there are none.</summary>
    internal static float[]? WeightedMean(IEnumerable<float[]?> vectors)
    {
        var sum = new double[7];
        double total = 0;
        foreach (var p in vectors)
        {
            if (p is null) continue;
            double c = p.Max();
            for (int k = 0; k < 7; k++) sum[k] += c * p[k];
            total += c;
        }
        return total > 0 ? sum.Select(v => (float)(v / total)).ToArray() : null;
    }

    /// <summary>The expression net's 112×112 face: the rounded box clipped to the frame, padded to a centred square
    /// with black, resized.</summary>
    internal static void FaceCrop(RgbImage f, FaceBox box, Span<float> dst)
    {
        int x0 = Math.Clamp((int)Math.Round(box.X0), 0, f.Width - 1),
            y0 = Math.Clamp((int)Math.Round(box.Y0), 0, f.Height - 1);
        int x1 = Math.Clamp((int)Math.Round(box.X1), x0 + 1, f.Width),
            y1 = Math.Clamp((int)Math.Round(box.Y1), y0 + 1, f.Height);
        int w = x1 - x0, h = y1 - y0, s = Math.Max(w, h);
        // face-api's padToSquare appends round(diff/2) and prepends the rest.
        int diff = s - Math.Min(w, h), before = diff - (int)Math.Floor(diff * 0.5 + 0.5);
        int ox = w < h ? before : 0, oy = h < w ? before : 0;
        byte[] px = f.Pixels;
        int fw = f.Width;
        FaceApiImage.ResizeBilinear((x, y, c) =>
        {
            int cx = x - ox, cy = y - oy;
            return cx >= 0 && cx < w && cy >= 0 && cy < h ? px[((y0 + cy) * fw + x0 + cx) * 3 + c] : 0f;
        }, s, s, FaceExpressionNet.Size, FaceExpressionNet.Size, dst);
    }

    public void Dispose()
    {
        _faces.Dispose();
        _expression.Dispose();
        _temporal?.Dispose();
    }
}
