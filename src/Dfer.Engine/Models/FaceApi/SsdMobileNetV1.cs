using Dfer.Media;
using Dfer.Ops;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Nms;
using Dfer.Ops.SepConv2d;
using Dfer.Ops.SsdDecode;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Models.FaceApi;

/// <summary>
/// face-api's SSD MobileNet v1 face detector as a Dfer graph built from the package's TF.js weights
/// (<c>ssd_mobilenetv1_model</c>); the semantics are docs/models/faceapi-ssd.md.
/// <para>
/// Input [N, 512, 512, 3] (<see cref="Input"/>): the frame padded with black at the bottom or right to a square,
/// resized bilinearly to 512×512, scaled to <c>pixel/127.5 − 1</c>. A MobileNet v1 (a 3×3 stride-2 conv, then 13
/// pairs of a 3×3 depthwise conv with batch norm and a 1×1 conv, all TF 'same' with ReLU6) gives a 32×32×512 map
/// (pair 11) and a 16×16×1024 map (pair 13); eight more convs (1×1, then 3×3 stride 2, four times) give 8×8, 4×4,
/// 2×2 and 1×1 maps. Six 1×1 heads predict, per cell, 3 (first map) or 6 anchors × (4 box encodings, 3 class
/// logits); <see cref="SsdDecodeOp"/> decodes the 5118 boxes against the stored anchors and <see cref="NmsOp"/>
/// keeps boxes scoring above the threshold that do not overlap a better one by IoU &gt; 0.5.
/// </para>
/// <para>
/// Folded at build time: each depthwise conv's batch norm into its filter and a bias; each head's box and class
/// convs into one conv. TF's 'same' padding of a 3×3 stride-2 conv on an even size adds a row and column at the
/// bottom and right only; Dfer's conv2d pads symmetrically, so those convs run as a 4×4 conv with padding 1 whose
/// first row and column of taps are zero (the same sums: the extra taps read the top/left padding times zero).
/// </para>
/// Outputs, as <see cref="TinyFaceDetector"/>'s: "boxes" [N, K, 5] (x0, y0, x1, y1, score relative to the padded
/// square, unclamped; K = 5118) and "keep" [N, K] (1 for the boxes NMS keeps; face-api's cap of 100 results is left
/// to the caller, see the doc).
/// </summary>
public static class SsdMobileNetV1
{
    public const int InputSize = 512;
    /// <summary>face-api's <c>SsdMobilenetv1Options.minConfidence</c> default.</summary>
    public const double DefaultScoreThreshold = 0.5;
    /// <summary>The IoU threshold face-api's <c>locateFaces</c> passes to its NMS.</summary>
    public const double IouThreshold = 0.5;
    /// <summary>face-api's <c>maxResults</c> default; the graph keeps every box NMS keeps (see the doc).</summary>
    public const int MaxResults = 100;
    public const int Classes = 3;
    /// <summary>The class whose logistic is the face score (class 0 is the background).</summary>
    public const int FaceClass = 1;
    /// <summary>TF.js batch norm's epsilon in the MobileNet's depthwise layers.</summary>
    public const double BatchNormEpsilon = 0.0010000000474974513;

    /// <summary>Output channels of conv 0 and of MobileNet pairs 1..13.</summary>
    private static readonly int[] Channels = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];
    /// <summary>Depthwise strides of pairs 1..13 (index 0 unused).</summary>
    private static readonly int[] Strides = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];
    /// <summary>The prediction convs 0..7: (kernel, stride, output channels).</summary>
    private static readonly (int K, int S, int Cout)[] Extra =
        [(1, 1, 256), (3, 2, 512), (1, 1, 128), (3, 2, 256), (1, 1, 128), (3, 2, 256), (1, 1, 64), (3, 2, 128)];
    /// <summary>Anchors per cell of heads 0..5.</summary>
    private static readonly int[] HeadAnchors = [3, 6, 6, 6, 6, 6];
    /// <summary>Input channels of heads 0..5 (pair 11, pair 13, prediction convs 1, 3, 5, 7).</summary>
    private static readonly int[] HeadChannels = [512, 1024, 512, 256, 256, 128];

    /// <summary>
    /// Graph constants the TF.js export stores beside the weights (int32 shapes, the preprocessing's factors); the
    /// graph does not read them, but they are part of a valid checkpoint.
    /// </summary>
    private static readonly (string Name, long[] Shape)[] Constants =
    [
        ("Prediction/BoxPredictor_0/stack_1/2", []), ("Postprocessor/Slice/begin", [3]),
        ("Postprocessor/Slice/size", [3]), ("Prediction/BoxPredictor_0/stack_1/1", []),
        ("Prediction/BoxPredictor_1/stack_1/1", []), ("Prediction/BoxPredictor_2/stack_1/1", []),
        ("Prediction/BoxPredictor_3/stack_1/1", []), ("Prediction/BoxPredictor_4/stack_1/1", []),
        ("Preprocessor/mul/x", []), ("Preprocessor/ResizeImage/size", [2]), ("Preprocessor/sub/y", []),
        ("Prediction/BoxPredictor_5/stack_1/1", []), ("concat_1/axis", []),
        ("Prediction/BoxPredictor_0/strided_slice/stack", [1]),
        ("Prediction/BoxPredictor_0/strided_slice/stack_1", [1]), ("Postprocessor/stack/1", []),
        ("Prediction/BoxPredictor_0/stack/3", []),
    ];

    /// <summary>Every TF.js name with its shape for a 512-pixel input (5118 anchors).</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Keys => KeysFor(InputSize);

    /// <summary>The head grids (H = W) for an input of <paramref name="inputSize"/> pixels.</summary>
    public static int[] HeadGrids(int inputSize)
    {
        if (inputSize < 32 || inputSize % 32 != 0)
            throw new DferException($"SSD MobileNet v1's input size must be a multiple of 32, got {inputSize}");
        int s16 = inputSize / 32;
        var g = new int[6];
        g[0] = inputSize / 16;
        g[1] = s16;
        for (int i = 2; i < 6; i++) g[i] = (g[i - 1] + 1) / 2;
        return g;
    }

    /// <summary>The number of boxes (anchors) for an input of <paramref name="inputSize"/> pixels.</summary>
    public static int BoxCount(int inputSize)
    {
        int[] g = HeadGrids(inputSize);
        return Enumerable.Range(0, 6).Sum(i => g[i] * g[i] * HeadAnchors[i]);
    }

    /// <summary>The names and shapes for an input of <paramref name="inputSize"/> pixels (only the anchors'
    /// count depends on it; face-api ships 512).</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> KeysFor(int inputSize)
    {
        var k = new List<(string, long[])>
        {
            ("MobilenetV1/Conv2d_0_pointwise/weights", [3, 3, 3, Channels[0]]),
            ("MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", [Channels[0]]),
        };
        for (int i = 1; i <= 13; i++)
        {
            int cin = Channels[i - 1], cout = Channels[i];
            string d = $"MobilenetV1/Conv2d_{i}_depthwise", p = $"MobilenetV1/Conv2d_{i}_pointwise";
            k.Add(($"{d}/depthwise_weights", [3, 3, cin, 1]));
            foreach (string bn in new[] { "gamma", "beta", "moving_mean", "moving_variance" })
                k.Add(($"{d}/BatchNorm/{bn}", [cin]));
            k.Add(($"{p}/weights", [1, 1, cin, cout]));
            k.Add(($"{p}/convolution_bn_offset", [cout]));
        }
        int c = Channels[13];
        for (int i = 0; i < Extra.Length; i++)
        {
            k.Add(($"Prediction/Conv2d_{i}_pointwise/weights", [Extra[i].K, Extra[i].K, c, Extra[i].Cout]));
            k.Add(($"Prediction/Conv2d_{i}_pointwise/convolution_bn_offset", [Extra[i].Cout]));
            c = Extra[i].Cout;
        }
        for (int h = 0; h < 6; h++)
        {
            string p = $"Prediction/BoxPredictor_{h}";
            k.Add(($"{p}/BoxEncodingPredictor/weights", [1, 1, HeadChannels[h], 4 * HeadAnchors[h]]));
            k.Add(($"{p}/BoxEncodingPredictor/biases", [4 * HeadAnchors[h]]));
            k.Add(($"{p}/ClassPredictor/weights", [1, 1, HeadChannels[h], Classes * HeadAnchors[h]]));
            k.Add(($"{p}/ClassPredictor/biases", [Classes * HeadAnchors[h]]));
        }
        k.Add(("Output/extra_dim", [1, BoxCount(inputSize), 4]));
        k.AddRange(Constants);
        return k;
    }

    /// <summary>The graph for [N, S, S, 3] inputs (S = <paramref name="inputSize"/>, 512 for face-api's weights;
    /// other multiples of 32 need anchors of their own, as generated weights have).</summary>
    public static Graph Build(StateDict w, double scoreThreshold = DefaultScoreThreshold, int inputSize = InputSize)
    {
        w.Validate("face-api ssd_mobilenetv1_model", KeysFor(inputSize));
        var g = new Graph();
        int size = inputSize;
        int x = Pointwise(g, w, "MobilenetV1/Conv2d_0_pointwise", Graph.Input, size, 2, "conv0");
        size = (size + 1) / 2;
        int conv11 = -1;
        for (int i = 1; i <= 13; i++)
        {
            int s = Strides[i];
            x = g.Add($"conv{i}/depthwise", Depthwise(w, $"MobilenetV1/Conv2d_{i}_depthwise", Channels[i - 1], size, s),
                x);
            size = (size + s - 1) / s;
            x = Pointwise(g, w, $"MobilenetV1/Conv2d_{i}_pointwise", x, size, 1, $"conv{i}/pointwise");
            if (i == 11) conv11 = x;
        }
        var heads = new int[6];
        heads[0] = Head(g, w, 0, conv11);
        heads[1] = Head(g, w, 1, x);
        for (int i = 0; i < Extra.Length; i++)
        {
            x = Pointwise(g, w, $"Prediction/Conv2d_{i}_pointwise", x, size, Extra[i].S, $"prediction/conv{i}");
            size = (size + Extra[i].S - 1) / Extra[i].S;
            if (i % 2 == 1) heads[2 + i / 2] = Head(g, w, 2 + i / 2, x);
        }
        int boxes = g.Add("decode", new SsdDecodeOp(6, w["Output/extra_dim"].Data, Classes, FaceClass), heads);
        g.Outputs["boxes"] = boxes;
        g.Outputs["keep"] = g.Add("nms", new NmsOp(scoreThreshold, IouThreshold), boxes);
        return g;
    }

    /// <summary>conv2d 'same' + bias (the folded batch norm's offset) + ReLU6, fused in one op.</summary>
    private static int Pointwise(Graph g, StateDict w, string p, int x, int size, int stride, string name) =>
        g.Add(name, SameConv(w[$"{p}/weights"], stride, size, w[$"{p}/convolution_bn_offset"].Data), x);

    /// <summary>
    /// A TF 'same' convolution of a [k, k, Cin, Cout] filter as Dfer's symmetric-padding conv2d: the padding as
    /// it is when TF splits it evenly, else (one more row and column after) a (k+1)×(k+1) filter with a leading
    /// row and column of zeros and one more padding on each side.
    /// </summary>
    private static Conv2dOp SameConv(StateTensor f, int stride, int size, float[] bias,
        Activation act = Activation.Relu6)
    {
        int k = (int)f.Shape[0], cin = (int)f.Shape[2], cout = (int)f.Shape[3];
        float[] filter = TfJsLayout.ConvFilter(f);
        var pad = Pad2d.Same(size, size, k, k, stride, stride);
        if (pad.Top == pad.Bottom)
            return new Conv2dOp(cin, cout, (k, k), (stride, stride), (pad.Top, pad.Top), (1, 1), filter, bias, act);
        if (pad.Bottom != pad.Top + 1)
            throw new DferException($"unexpected TF 'same' padding {pad} for a {k}x{k} conv on {size} pixels");
        int k1 = k + 1;
        var shifted = new float[(long)cout * cin * k1 * k1];
        for (long oi = 0; oi < (long)cout * cin; oi++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                    shifted[(oi * k1 + a + 1) * k1 + b + 1] = filter[(oi * k + a) * k + b];
        return new Conv2dOp(cin, cout, (k1, k1), (stride, stride), (pad.Bottom, pad.Bottom), (1, 1), shifted, bias,
            act);
    }

    /// <summary>Depthwise 3×3 'same' conv with its batch norm folded in (scale γ/√(σ² + ε) into the filter,
    /// β − μ·scale as the bias) and ReLU6.</summary>
    private static SepConv2dOp Depthwise(StateDict w, string p, int c, int size, int stride)
    {
        float[] filter = TfJsLayout.DepthwiseFilter(w[$"{p}/depthwise_weights"]);
        float[] gamma = w[$"{p}/BatchNorm/gamma"].Data, beta = w[$"{p}/BatchNorm/beta"].Data;
        float[] mean = w[$"{p}/BatchNorm/moving_mean"].Data, variance = w[$"{p}/BatchNorm/moving_variance"].Data;
        var bias = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            double scale = gamma[ch] / Math.Sqrt(variance[ch] + BatchNormEpsilon);
            for (int t = 0; t < 9; t++) filter[ch * 9 + t] = (float)(filter[ch * 9 + t] * scale);
            bias[ch] = (float)(beta[ch] - mean[ch] * scale);
        }
        return new SepConv2dOp(c, (3, 3), (stride, stride), Pad2d.Same(size, size, 3, 3, stride, stride), filter,
            null, c, bias, Activation.Relu6);
    }

    /// <summary>Head <paramref name="h"/>: the box-encoding and class 1×1 convs as one conv, channels
    /// [A·4 encodings | A·3 logits] (the layout <see cref="SsdDecodeOp"/> reads).</summary>
    private static int Head(Graph g, StateDict w, int h, int x)
    {
        string p = $"Prediction/BoxPredictor_{h}";
        float[] box = TfJsLayout.Matrix(w[$"{p}/BoxEncodingPredictor/weights"]);
        float[] cls = TfJsLayout.Matrix(w[$"{p}/ClassPredictor/weights"]);
        int cin = HeadChannels[h], cout = HeadAnchors[h] * (4 + Classes);
        float[] bias = [.. w[$"{p}/BoxEncodingPredictor/biases"].Data, .. w[$"{p}/ClassPredictor/biases"].Data];
        return g.Add($"head{h}", new Conv2dOp(cin, cout, (1, 1), (1, 1), (0, 0), (1, 1), [.. box, .. cls], bias), x);
    }

    /// <summary>
    /// The graph input for one frame: padded with black at the bottom or right to a square, resized bilinearly to
    /// 512×512 as TF.js does, then <c>pixel/127.5 − 1</c>: [512, 512, 3] written at <paramref name="dst"/>.
    /// </summary>
    public static void Input(RgbImage frame, Span<float> dst)
    {
        FaceApiImage.PaddedSquare(frame, InputSize, dst);
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)(dst[i] / 127.5 - 1.0);
    }

    /// <summary>
    /// Random weights with the checkpoint's names and shapes for an input of <paramref name="inputSize"/> pixels:
    /// He-uniform convs, batch norms near identity, small heads, and SSD-style anchors (per head cell, boxes of a
    /// few sizes and aspect ratios centred on the cell).
    /// </summary>
    public static StateDict GenerateWeights(ulong seed, int inputSize = InputSize)
    {
        var rng = new DeterministicRandom(seed);
        var sd = new StateDict("generated ssd_mobilenetv1_model");
        int[] grids = HeadGrids(inputSize);
        foreach (var (name, shape) in KeysFor(inputSize))
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            float[] data;
            if (name == "Output/extra_dim") data = Anchors(rng, grids);
            else if (name.EndsWith("/weights") || name.EndsWith("/depthwise_weights"))
            {
                long fanIn = name.EndsWith("/depthwise_weights") ? shape[0] * shape[1] : shape[0] * shape[1] * shape[2];
                float a = (float)Math.Sqrt((name.Contains("BoxPredictor") ? 1.0 : 6.0) / fanIn);
                data = rng.Uniform(count, -a, a);
            }
            else if (name.EndsWith("/gamma") || name.EndsWith("/moving_variance"))
                data = rng.Uniform(count, 0.5f, 1.5f);
            else if (name.EndsWith("/beta") || name.EndsWith("/moving_mean") || name.EndsWith("/convolution_bn_offset")
                || name.EndsWith("/biases"))
                data = rng.Uniform(count, -0.5f, 0.5f);
            else data = new float[count];
            sd.Add(name, DType.F32, shape, data);
        }
        return sd;
    }

    private static float[] Anchors(DeterministicRandom rng, int[] grids)
    {
        var a = new List<float>();
        for (int h = 0; h < 6; h++)
            for (int r = 0; r < grids[h]; r++)
                for (int c = 0; c < grids[h]; c++)
                    for (int j = 0; j < HeadAnchors[h]; j++)
                    {
                        double cy = (r + 0.5) / grids[h], cx = (c + 0.5) / grids[h];
                        double side = (0.1 + 0.15 * h) * rng.Uniform(0.8f, 1.25f), ratio = rng.Uniform(0.5f, 2f);
                        double bh = side / Math.Sqrt(ratio), bw = side * Math.Sqrt(ratio);
                        a.AddRange([(float)(cy - bh / 2), (float)(cx - bw / 2), (float)(cy + bh / 2),
                            (float)(cx + bw / 2)]);
                    }
        return a.ToArray();
    }
}
