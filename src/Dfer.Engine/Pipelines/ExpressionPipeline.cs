using Dfer.Backends;
using Dfer.Media;
using Dfer.Models;
using Dfer.Models.FaceApi;
using Dfer.Weights;

namespace Dfer.Pipelines;

/// <summary>A face box in image pixels (x0, y0 inclusive corner; x1, y1 exclusive), with the detector's
/// score.</summary>
public readonly record struct FaceBox(double X0, double Y0, double X1, double Y1, double Score)
{
    public double Width => X1 - X0;
    public double Height => Y1 - Y0;
    public double Area => Math.Max(0, Width) * Math.Max(0, Height);

    public double Iou(FaceBox o)
    {
        double iw = Math.Max(0, Math.Min(X1, o.X1) - Math.Max(X0, o.X0)),
            ih = Math.Max(0, Math.Min(Y1, o.Y1) - Math.Max(Y0, o.Y0));
        double inter = iw * ih, union = Area + o.Area - inter;
        return union > 0 ? inter / union : 0;
    }
}

/// <summary>One frame's result. Probabilities are in Dfer's class order; null where no face was found.</summary>
public sealed record ExpressionFrame(int Index, FaceBox? Face, float[]? Probabilities, float[]? Smoothed)
{
    public string? Label => Smoothed is null ? null : EmotionClasses.Seven[ArgMax(Smoothed)];
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
    /// <summary>Frames per second of the source video when known (timestamps are frame / Fps).</summary>
    public double? Fps { get; init; }
    public string Label => EmotionClasses.Seven[ExpressionFrame.ArgMax(Probabilities)];
}

/// <summary>Settings of the expression pipeline.</summary>
public sealed record ExpressionOptions
{
    /// <summary>Detector input size (a multiple of 32; face-api's default 416).</summary>
    public int DetectorSize { get; init; } = TinyFaceDetector.DefaultInputSize;
    /// <summary>Minimum detector score of a face (face-api's default 0.5).</summary>
    public double ScoreThreshold { get; init; } = TinyFaceDetector.DefaultScoreThreshold;
    /// <summary>Frames in the centred sliding window of the temporal aggregation (1: none).</summary>
    public int Window { get; init; } = 15;
    /// <summary>Weight of the new detection in the box's exponential smoothing (1: no smoothing).</summary>
    public double BoxSmoothing { get; init; } = 0.5;
    /// <summary>Frames a track survives without a detection before the next face starts a new one.</summary>
    public int MaxGap { get; init; } = 12;
    /// <summary>Frames per network batch.</summary>
    public int Batch { get; init; } = 8;
}

/// <summary>
/// Recognises the expression of the main face of a video, a frame folder or an image with face-api's
/// pretrained networks running on Dfer's kernels:
/// <list type="number">
/// <item>every frame goes through the tiny face detector (padded to a square with black at the bottom
/// or right, resized bilinearly to the detector size as TF.js does, boxes decoded and NMS applied by
/// the graph's own ops);</item>
/// <item>the largest face starts a track; later frames take the detection that overlaps the track
/// most, if its IoU with the track is at least 0.2 (otherwise the tracked face counts as not found in
/// that frame, even when other faces are), and the box is smoothed exponentially
/// (<see cref="ExpressionOptions.BoxSmoothing"/>); after <see cref="ExpressionOptions.MaxGap"/>
/// frames without the tracked face the track ends and the largest face starts a new one;</item>
/// <item>the box is cut out, padded to a centred square with black and resized to 112×112 (as
/// face-api's <c>extractFaceTensors</c> + <c>toBatchTensor(112, true)</c> do) and the expression net
/// gives 7 probabilities, mapped to Dfer's order (fearful → fear, disgusted → disgust, surprised →
/// surprise);</item>
/// <item>aggregation has no parameters to learn: a frame's <c>Smoothed</c> probabilities are the
/// confidence-weighted mean <c>Σ c_s·p_s / Σ c_s</c> over the face frames s of a centred window of
/// <see cref="ExpressionOptions.Window"/> frames, with <c>c_s = max_k p_s[k]</c>, the net's confidence;
/// the clip's are the same mean over every face frame.</item>
/// </list>
/// Frames without a face keep null probabilities: they are reported, never filled in.
/// </summary>
public sealed class ExpressionPipeline : IDisposable
{
    private readonly ExpressionOptions _options;
    private readonly IExecutable _detector, _expression;

    public ExpressionPipeline(IBackend backend, StateDict detectorWeights, StateDict expressionWeights,
        ExpressionOptions? options = null)
    {
        _options = options ?? new ExpressionOptions();
        if (_options.Window < 1)
            throw new DferException($"the aggregation window must be at least 1 frame, got {_options.Window}");
        if (_options.Batch < 1) throw new DferException($"the batch must be at least 1, got {_options.Batch}");
        _detector = backend.Compile(
            TinyFaceDetector.Build(detectorWeights, _options.DetectorSize, _options.ScoreThreshold));
        try { _expression = backend.Compile(FaceExpressionNet.Build(expressionWeights)); }
        catch { _detector.Dispose(); throw; }
    }

    /// <summary>Loads both networks from the face-api cache (see <see cref="Weights.TfJs.FaceApiPackage"/>).</summary>
    public static ExpressionPipeline FromCache(IBackend backend, ExpressionOptions? options = null) =>
        new(backend, Weights.TfJs.FaceApiPackage.Load(Weights.TfJs.FaceApiPackage.DetectorModel),
            Weights.TfJs.FaceApiPackage.Load(Weights.TfJs.FaceApiPackage.ExpressionModel), options);

    /// <summary>Longest side, in pixels, of the frames the CLI analyses: larger inputs are shrunk on decoding (the
    /// detector looks at 416 pixels, the expression net at 112).</summary>
    public const int AnalysisSide = 640;

    /// <summary>
    /// Reads every frame of a video file, a frame folder or one image. With <paramref name="maxSide"/>
    /// &gt; 0, a frame whose longer side exceeds it is shrunk to that size (Pillow's antialiased bilinear,
    /// aspect kept) as it is decoded, so a long video takes frames·maxSide²·¾·3 bytes at most, not its
    /// full resolution.
    /// </summary>
    /// <exception cref="DferException">Missing, unreadable or corrupt input (one line naming it).</exception>
    public static IReadOnlyList<RgbImage> ReadFrames(string path, int maxSide = 0)
    {
        RgbImage Shrink(RgbImage f)
        {
            int side = Math.Max(f.Width, f.Height);
            if (maxSide <= 0 || side <= maxSide) return f;
            double s = (double)maxSide / side;
            return PilResize.Resize(f, Math.Max(1, (int)Math.Round(f.Width * s)),
                Math.Max(1, (int)Math.Round(f.Height * s)), ResizeFilter.Bilinear);
        }
        if (Directory.Exists(path))
        {
            var folder = FrameFolder.Open(path);
            return Enumerable.Range(0, folder.Files.Count).Select(i => Shrink(folder.Decode(i))).ToArray();
        }
        if (MediaInput.HasVideoExtension(path))
        {
            // A zero raw budget makes the decoder shrink every frame as it arrives.
            var video = VideoDecoder.Read(path, Shrink, maxSide > 0 ? 0 : long.MaxValue);
            return Enumerable.Range(0, video.Count).Select(video.Prepared).ToArray();
        }
        return new[] { Shrink(ImageDecoder.Decode(path)) };
    }

    /// <summary>Runs the pipeline on decoded frames.</summary>
    public ExpressionReport Run(string input, IReadOnlyList<RgbImage> frames, Action<int, int>? progress = null)
    {
        int n = frames.Count;
        var detections = new List<FaceBox>[n];
        int size = _options.DetectorSize, per = size * size * 3;
        for (int start = 0; start < n; start += _options.Batch)
        {
            int b = Math.Min(_options.Batch, n - start);
            var x = new float[b * per];
            for (int i = 0; i < b; i++) DetectorInput(frames[start + i], size, x.AsSpan(i * per, per));
            var outs = _detector.Run(x, [b, size, size, 3]);
            float[] boxes = outs["boxes"], keep = outs["keep"];
            int k = keep.Length / b;
            for (int i = 0; i < b; i++)
            {
                var f = frames[start + i];
                double s = Math.Max(f.Width, f.Height);
                var list = new List<FaceBox>();
                for (int j = 0; j < k; j++)
                {
                    if (keep[i * k + j] != 1f) continue;
                    int o = (i * k + j) * 5;
                    var box = new FaceBox(Math.Max(0, boxes[o] * s), Math.Max(0, boxes[o + 1] * s),
                        Math.Min(f.Width, boxes[o + 2] * s), Math.Min(f.Height, boxes[o + 3] * s), boxes[o + 4]);
                    if (box.Width >= 1 && box.Height >= 1) list.Add(box);
                }
                detections[start + i] = list;
            }
            progress?.Invoke(Math.Min(n, start + b), 2 * n);
        }

        var faces = Track(detections);
        var probs = new float[n][];
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
            float[] p = _expression.Run(x, [b, FaceExpressionNet.PaddedSize, FaceExpressionNet.PaddedSize, 3])[
                "probabilities"];
            for (int i = 0; i < b; i++)
            {
                int f = withFace[start + i];
                probs[f] = FaceExpressionNet.ToDferOrder.Select(j => p[i * 7 + j]).ToArray();
                // NaN would make a confident-looking label (ArgMax skips it); the input fails instead.
                if (!probs[f].All(float.IsFinite))
                    throw DferException.ForFile(input,
                        $"the expression net produced non-finite probabilities "
                        + $"({(probs[f].Any(float.IsNaN) ? "NaN" : "Inf")}) for frame {f}; check the face-api weights");
            }
            progress?.Invoke(n + (int)((long)(start + b) * n / Math.Max(1, withFace.Length)), 2 * n);
        }

        var result = new ExpressionFrame[n];
        int half = _options.Window / 2;
        for (int i = 0; i < n; i++)
        {
            float[]? smoothed = probs[i] is null ? null
                : WeightedMean(
                Enumerable.Range(Math.Max(0, i - half), Math.Min(n, i + half + 1) - Math.Max(0, i - half))
                .Select(j => probs[j]));
            result[i] = new ExpressionFrame(i, faces[i], probs[i], smoothed);
        }
        float[] clip = WeightedMean(probs) ?? new float[7];
        return new ExpressionReport(input, result, clip, _options.Window, n > 0 ? frames[0].Width : 0,
            n > 0 ? frames[0].Height : 0);
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

    /// <summary>Picks and smooths the tracked face of each frame (see the class summary).</summary>
    internal FaceBox?[] Track(IReadOnlyList<List<FaceBox>> detections)
    {
        var faces = new FaceBox?[detections.Count];
        FaceBox? track = null;
        int lastSeen = int.MinValue / 2;
        double a = _options.BoxSmoothing;
        for (int t = 0; t < detections.Count; t++)
        {
            var c = detections[t];
            if (c.Count == 0) continue;
            bool continuing = track is not null && t - lastSeen <= _options.MaxGap;
            FaceBox chosen;
            if (continuing)
            {
                chosen = c.MaxBy(d => d.Iou(track!.Value));
                // Another face while the tracked one is briefly missed: the tracked face is not found here.
                if (chosen.Iou(track!.Value) < 0.2) continue;
            }
            else chosen = c.MaxBy(d => d.Area);
            track = continuing
                ? new FaceBox(a * chosen.X0 + (1 - a) * track!.Value.X0, a * chosen.Y0 + (1 - a) * track.Value.Y0,
                    a * chosen.X1 + (1 - a) * track.Value.X1, a * chosen.Y1 + (1 - a) * track.Value.Y1, chosen.Score)
                : chosen;
            lastSeen = t;
            faces[t] = track;
        }
        return faces;
    }

    /// <summary>
    /// TF's legacy bilinear resize (<c>resizeBilinear</c> with align_corners and half-pixel centres
    /// off): output pixel (x, y) samples the source at (x·sw/dw, y·sh/dh), where the source is
    /// <paramref name="sample"/>(sx, sy, c) over a sw×sh grid.
    /// </summary>
    internal static void ResizeBilinear(Func<int, int, int, float> sample, int sw, int sh, int dw, int dh,
        Span<float> dst) => FaceApiImage.ResizeBilinear(sample, sw, sh, dw, dh, dst);

    /// <summary>The detector's input for one frame: padded with black at the bottom/right to a square, resized,
    /// normalised.</summary>
    internal static void DetectorInput(RgbImage f, int size, Span<float> dst)
    {
        int s = Math.Max(f.Width, f.Height);
        byte[] px = f.Pixels;
        int w = f.Width, h = f.Height;
        ResizeBilinear((x, y, c) => x < w && y < h ? px[(y * w + x) * 3 + c] : 0f, s, s, size, size, dst);
        var mean = TinyFaceDetector.MeanRgb;
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)((dst[i] - mean[i % 3]) / 255.0);
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
        ResizeBilinear((x, y, c) =>
        {
            int cx = x - ox, cy = y - oy;
            return cx >= 0 && cx < w && cy >= 0 && cy < h ? px[((y0 + cy) * fw + x0 + cx) * 3 + c] : 0f;
        }, s, s, FaceExpressionNet.Size, FaceExpressionNet.Size, dst);
    }

    public void Dispose()
    {
        _detector.Dispose();
        _expression.Dispose();
    }
}
