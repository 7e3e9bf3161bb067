using Dfer.Weights;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// face-api's SSD MobileNet v1 in TorchSharp (float64, NCHW), written from its TypeScript: every convolution with
/// TF's 'same' padding made explicit (the odd pixel after), the depthwise layers' batch norm as TF.js computes it
/// (not folded), ReLU6 as a clamp, the six heads reshaped and concatenated as <c>boxPredictionLayer</c> does, the
/// output layer's decoding against <c>Output/extra_dim</c>, and <c>nonMaxSuppression</c> as written (stable sort by
/// descending score, IoU over normalised corners, at most maxResults boxes).
/// </summary>
public sealed class TorchSsdMobileNetV1 : IDisposable
{
    private const double Epsilon = 0.0010000000474974513;
    private static readonly int[] Strides = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];
    private readonly Dictionary<string, Tensor> _w = new();

    public TorchSsdMobileNetV1(StateDict weights)
    {
        Dfer.Reference.TorchRuntime.EnsureLoaded();
        foreach (string name in weights.Names)
        {
            var t = weights[name];
            _w[name] = tensor(t.Data.Select(v => (double)v).ToArray(), t.Shape, ScalarType.Float64);
        }
    }

    /// <summary>One image's detections: every box in Dfer's order (x0, y0, x1, y1, score) and the indices face-api's
    /// NMS selects, in selection order.</summary>
    public sealed record Detections(double[][] Boxes, int[] Selected);

    private static Tensor PadSame(Tensor x, long k, long s)
    {
        long Total(long size) => Math.Max(((size + s - 1) / s - 1) * s + k - size, 0);
        long th = Total(x.shape[2]), tw = Total(x.shape[3]);
        return F.pad(x, new[] { tw / 2, tw - tw / 2, th / 2, th - th / 2 });
    }

    private static Tensor Relu6(Tensor x) => x.clamp(0.0, 6.0);

    /// <summary>pointwiseConvLayer: conv2d 'same', plus the offset, clipped to [0, 6].</summary>
    private Tensor PointwiseLayer(Tensor x, string p, long stride)
    {
        var f = _w[$"{p}/weights"];
        var y = F.conv2d(PadSame(x, f.shape[0], stride), f.permute(3, 2, 0, 1), strides: new[] { stride, stride });
        return Relu6(y + _w[$"{p}/convolution_bn_offset"].reshape(1, -1, 1, 1));
    }

    /// <summary>depthwiseConvLayer: depthwise conv 'same', TF.js's batchNorm, clipped to [0, 6].</summary>
    private Tensor DepthwiseLayer(Tensor x, string p, long stride)
    {
        var f = _w[$"{p}/depthwise_weights"];
        var y = F.conv2d(PadSame(x, 3, stride), f.permute(2, 3, 0, 1), strides: new[] { stride, stride },
            groups: x.shape[1]);
        Tensor V(string n) => _w[$"{p}/BatchNorm/{n}"].reshape(1, -1, 1, 1);
        y = (y - V("moving_mean")) * rsqrt(V("moving_variance") + Epsilon) * V("gamma") + V("beta");
        return Relu6(y);
    }

    /// <summary>boxPredictionLayer: 1×1 convs with biases, reshaped to [N, HWA, 4] and [N, HWA, 3].</summary>
    private (Tensor Box, Tensor Cls) Head(Tensor x, int h)
    {
        string p = $"Prediction/BoxPredictor_{h}";
        Tensor Conv(string n) => F.conv2d(x, _w[$"{p}/{n}/weights"].permute(3, 2, 0, 1), _w[$"{p}/{n}/biases"])
            .permute(0, 2, 3, 1);
        long n = x.shape[0];
        return (Conv("BoxEncodingPredictor").reshape(n, -1, 4), Conv("ClassPredictor").reshape(n, -1, 3));
    }

    /// <summary>The decoded boxes [N, K, 4] in face-api's order (y0, x0, y1, x1) and the scores [N, K] for network
    /// inputs [N, S, S, 3] (already scaled to −1..1).</summary>
    public (Tensor Boxes, Tensor Scores) Forward(Tensor input)
    {
        using var noGrad = no_grad();
        var x = input.permute(0, 3, 1, 2);
        x = PointwiseLayer(x, "MobilenetV1/Conv2d_0_pointwise", 2);
        Tensor? conv11 = null;
        for (int i = 1; i <= 13; i++)
        {
            x = DepthwiseLayer(x, $"MobilenetV1/Conv2d_{i}_depthwise", Strides[i]);
            x = PointwiseLayer(x, $"MobilenetV1/Conv2d_{i}_pointwise", 1);
            if (i == 11) conv11 = x;
        }
        var c = new Tensor[8];
        var y = x;
        for (int i = 0; i < 8; i++)
            y = c[i] = PointwiseLayer(y, $"Prediction/Conv2d_{i}_pointwise", i % 2 == 1 ? 2 : 1);
        var heads = new[] { Head(conv11!, 0), Head(x, 1), Head(c[1], 2), Head(c[3], 3), Head(c[5], 4), Head(c[7], 5) };
        var enc = cat(heads.Select(h => h.Box).ToArray(), 1);
        var cls = cat(heads.Select(h => h.Cls).ToArray(), 1);
        // outputLayer: the anchors' sizes and centres, offsets divided by 10, log-sizes by 5.
        var a = _w["Output/extra_dim"];
        var sizes0 = a[.., .., 2] - a[.., .., 0];
        var sizes1 = a[.., .., 3] - a[.., .., 1];
        var centers0 = a[.., .., 0] + sizes0 / 2;
        var centers1 = a[.., .., 1] + sizes1 / 2;
        var div0 = exp(enc[.., .., 2] / 5) * sizes0 / 2;
        var add0 = enc[.., .., 0] / 10 * sizes0 + centers0;
        var div1 = exp(enc[.., .., 3] / 5) * sizes1 / 2;
        var add1 = enc[.., .., 1] / 10 * sizes1 + centers1;
        var boxes = stack(new[] { add0 - div0, add1 - div1, add0 + div0, add1 + div1 }, -1);
        var scores = sigmoid(cls[.., .., 1..])[.., .., 0];
        return (boxes, scores);
    }

    /// <summary>Every image's detections for inputs [N, S, S, 3] (−1..1), NMS as face-api's locateFaces runs it.
    /// </summary>
    public Detections[] Detect(Tensor input, double minConfidence = 0.5, int maxResults = 100,
        double iouThreshold = 0.5)
    {
        var (boxes, scores) = Forward(input);
        long n = boxes.shape[0], k = boxes.shape[1];
        var result = new Detections[n];
        for (long b = 0; b < n; b++)
        {
            double[] yx = boxes[b].contiguous().data<double>().ToArray();
            double[] s = scores[b].contiguous().data<double>().ToArray();
            var ordered = new double[k][];
            for (long i = 0; i < k; i++)
                ordered[i] = [yx[i * 4 + 1], yx[i * 4], yx[i * 4 + 3], yx[i * 4 + 2], s[i]];
            result[b] = new Detections(ordered, NonMaxSuppression(yx, s, maxResults, iouThreshold, minConfidence));
        }
        return result;
    }

    /// <summary>face-api's nonMaxSuppression over boxes (y0, x0, y1, x1) flattened.</summary>
    public static int[] NonMaxSuppression(double[] boxes, double[] scores, int maxOutputSize, double iouThreshold,
        double scoreThreshold)
    {
        int outputSize = Math.Min(maxOutputSize, scores.Length);
        // LINQ's OrderByDescending is stable, as Array.prototype.sort is.
        var candidates = Enumerable.Range(0, scores.Length).Where(i => scores[i] > scoreThreshold)
            .OrderByDescending(i => scores[i]).ToList();
        var selected = new List<int>();
        foreach (int c in candidates)
        {
            if (selected.Count >= outputSize) break;
            double score = scores[c];
            for (int j = selected.Count - 1; j >= 0; j--)
            {
                double iou = Iou(boxes, c, selected[j]);
                if (iou == 0.0) continue;
                score *= iou <= iouThreshold ? 1 : 0;
                if (score <= scoreThreshold) break;
            }
            if (score == scores[c]) selected.Add(c);
        }
        return selected.ToArray();
    }

    private static double Iou(double[] b, int i, int j)
    {
        double yminI = Math.Min(b[i * 4], b[i * 4 + 2]), xminI = Math.Min(b[i * 4 + 1], b[i * 4 + 3]);
        double ymaxI = Math.Max(b[i * 4], b[i * 4 + 2]), xmaxI = Math.Max(b[i * 4 + 1], b[i * 4 + 3]);
        double yminJ = Math.Min(b[j * 4], b[j * 4 + 2]), xminJ = Math.Min(b[j * 4 + 1], b[j * 4 + 3]);
        double ymaxJ = Math.Max(b[j * 4], b[j * 4 + 2]), xmaxJ = Math.Max(b[j * 4 + 1], b[j * 4 + 3]);
        double areaI = (ymaxI - yminI) * (xmaxI - xminI), areaJ = (ymaxJ - yminJ) * (xmaxJ - xminJ);
        if (areaI <= 0 || areaJ <= 0) return 0.0;
        double inter = Math.Max(Math.Min(ymaxI, ymaxJ) - Math.Max(yminI, yminJ), 0.0)
            * Math.Max(Math.Min(xmaxI, xmaxJ) - Math.Max(xminI, xminJ), 0.0);
        return inter / (areaI + areaJ - inter);
    }

    public void Dispose()
    {
        foreach (var t in _w.Values) t.Dispose();
    }
}
