using Dfer.Media;
using Dfer.Ops;
using Dfer.Ops.AddAct;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.Conv2d;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Nms;
using Dfer.Weights;

namespace Dfer.Models.FaceApi;

/// <summary>
/// face-api's tiny face detector (a Tiny-YOLOv2 with depthwise-separable convolutions, one class)
/// as a Dfer graph built from the package's TF.js weights (<c>tiny_face_detector_model</c>).
/// <para>
/// Input [N, S, S, 3], S a multiple of 32 (416 by default): the frame padded with black at the
/// bottom or right to a square, resized to S×S, normalised as <c>(pixel − mean)/255</c> with mean
/// (117.001, 114.697, 97.404). Layers: conv0 3×3 'valid' (3→16) + leaky ReLU (slope 0.1); then
/// five times a 2×2 max-pool (stride 2, 'same') and a depthwise-separable 3×3 conv (pad 1) + bias +
/// leaky ReLU (16→32→64→128→256→512); a 2×2 max-pool with stride 1 ('same'); conv8 1×1 (512→25)
/// giving an (S/32)×(S/32) grid of 5 anchors × (x, y, w, h, score). <see cref="BoxDecodeOp"/> turns it
/// into boxes relative to the square input and <see cref="NmsOp"/> keeps boxes scoring above the
/// threshold that do not overlap a better one by IoU &gt; 0.4.
/// </para>
/// Outputs: "grid" [N, S/32, S/32, 25], "boxes" [N, K, 5] (x0, y0, x1, y1, score; K = (S/32)²·5) and
/// "keep" [N, K] (1 for the boxes NMS keeps).
/// </summary>
public static class TinyFaceDetector
{
    public const int DefaultInputSize = 416;
    public const double DefaultScoreThreshold = 0.5;
    public const double IouThreshold = 0.4;
    public static readonly double[] MeanRgb = [117.001, 114.697, 97.404];

    /// <summary>Anchor (width, height) in grid cells.</summary>
    public static readonly (float W, float H)[] Anchors =
        [(1.603231f, 2.094468f), (6.041143f, 7.080126f), (2.882459f, 3.518061f), (4.266906f, 5.178857f),
        (9.041765f, 10.66308f)];

    private static readonly int[] Filters = [16, 32, 64, 128, 256, 512];

    public static IReadOnlyList<(string Name, long[] Shape)> Keys
    {
        get
        {
            var k = new List<(string, long[])> { ("conv0/filters", [3, 3, 3, 16]), ("conv0/bias", [16]) };
            for (int i = 1; i <= 5; i++)
            {
                k.Add(($"conv{i}/depthwise_filter", [3, 3, Filters[i - 1], 1]));
                k.Add(($"conv{i}/pointwise_filter", [1, 1, Filters[i - 1], Filters[i]]));
                k.Add(($"conv{i}/bias", [Filters[i]]));
            }
            k.Add(("conv8/filters", [1, 1, 512, 25]));
            k.Add(("conv8/bias", [25]));
            return k;
        }
    }

    /// <summary>The detector's input for one frame: padded with black at the bottom/right to a square, resized to
    /// <paramref name="size"/>² as TF.js does, normalised as <c>(pixel − mean)/255</c>.</summary>
    public static void Input(RgbImage frame, int size, Span<float> dst)
    {
        FaceApiImage.PaddedSquare(frame, size, dst);
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)((dst[i] - MeanRgb[i % 3]) / 255.0);
    }

    public static Graph Build(StateDict w, int inputSize = DefaultInputSize,
        double scoreThreshold = DefaultScoreThreshold)
    {
        if (inputSize < 32 || inputSize % 32 != 0)
            throw new DferException($"the tiny face detector's input size must be a multiple of 32, got {inputSize}");
        w.Validate("face-api tiny_face_detector_model", Keys);
        var g = new Graph();
        int x = g.Add("conv0",
            new Conv2dOp(3, 16, (3, 3), (1, 1), (0, 0), (1, 1), TfJsLayout.ConvFilter(w["conv0/filters"]),
            w["conv0/bias"].Data), Graph.Input);
        x = g.Add("conv0/leaky", new AddActOp(1, Activation.Leaky), x);
        int size = inputSize - 2;
        for (int i = 1; i <= 5; i++)
        {
            x = g.Add($"pool{i}", new MaxPool2dOp((2, 2), (2, 2), Pad2d.Same(size, size, 2, 2, 2, 2)), x);
            size = (size + 1) / 2;
            x = g.Add($"conv{i}",
                FaceExpressionNet.Separable(w, $"conv{i}", Filters[i - 1], Filters[i], 1, Pad2d.Uniform(1),
                Activation.Leaky), x);
        }
        x = g.Add("pool6", new MaxPool2dOp((2, 2), (1, 1), Pad2d.Same(size, size, 2, 2, 1, 1)), x);
        int grid = g.Add("conv8",
            new Conv2dOp(512, 25, (1, 1), (1, 1), (0, 0), (1, 1), TfJsLayout.ConvFilter(w["conv8/filters"]),
            w["conv8/bias"].Data), x);
        int boxes = g.Add("decode",
            new BoxDecodeOp(Anchors.Select(a => a.W).ToArray(), Anchors.Select(a => a.H).ToArray()), grid);
        g.Outputs["grid"] = grid;
        g.Outputs["boxes"] = boxes;
        g.Outputs["keep"] = g.Add("nms", new NmsOp(scoreThreshold, IouThreshold), boxes);
        return g;
    }
}
