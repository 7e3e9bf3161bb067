using Dfer.Ops;
using Dfer.Ops.AddAct;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Nms;
using Dfer.Ops.SepConv2d;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Reference;

/// <summary>
/// The face-api networks' ops written with PyTorch operators (float64): TF's asymmetric 'same'
/// padding as an explicit <c>F.pad</c>, depthwise convolution as a grouped <c>conv2d</c>, the
/// pointwise one as a 1×1 <c>conv2d</c>, max-pool padding as −∞, box decoding with broadcast
/// sigmoid/exp over the grid, and NMS from a broadcast IoU matrix and a stable sort.
/// </summary>
internal static class TorchFaceApiOps
{
    private static TTensor W(float[] data, params long[] shape) =>
        tensor(data.Select(v => (double)v).ToArray(), shape, ScalarType.Float64);

    private static TTensor Act(Activation act, TTensor y) => act switch
    {
        Activation.Relu => F.relu(y),
        Activation.Leaky => F.leaky_relu(y, ActivationMath.LeakySlope),
        _ => y,
    };

    public static TTensor SepConv2d(SepConv2dOp s, TTensor x)
    {
        var p = s.Pad;
        var y = F.pad(x.permute(0, 3, 1, 2), new long[] { p.Left, p.Right, p.Top, p.Bottom });
        y = F.conv2d(y, W(s.Depthwise, s.Channels, 1, s.Kernel.H, s.Kernel.W), null, new long[] { s.Stride.H, s.Stride.W }, groups: s.Channels);
        var bias = s.Bias == null ? null : W(s.Bias, s.Cout);
        if (s.Pointwise != null) y = F.conv2d(y, W(s.Pointwise, s.Cout, s.Channels, 1, 1), bias);
        else if (bias is not null) y = y + bias.reshape(1, -1, 1, 1);
        return Act(s.Act, y).permute(0, 2, 3, 1);
    }

    public static TTensor MaxPool2d(MaxPool2dOp m, TTensor x)
    {
        var p = m.Pad;
        var y = F.pad(x.permute(0, 3, 1, 2), new long[] { p.Left, p.Right, p.Top, p.Bottom }, PaddingModes.Constant, double.NegativeInfinity);
        return F.max_pool2d(y, new long[] { m.Kernel.H, m.Kernel.W }, new long[] { m.Stride.H, m.Stride.W }).permute(0, 2, 3, 1);
    }

    public static TTensor AddAct(AddActOp a, TTensor[] x)
    {
        var sum = x[0];
        for (int i = 1; i < x.Length; i++) sum = sum + x[i];
        return Act(a.Act, sum);
    }

    public static TTensor BoxDecode(BoxDecodeOp b, TTensor x)
    {
        long n = x.shape[0], gh = x.shape[1], gw = x.shape[2], a = b.Anchors;
        var t = x.reshape(n, gh, gw, a, 5);
        var col = arange(gw, ScalarType.Float64).reshape(1, 1, gw, 1);
        var row = arange(gh, ScalarType.Float64).reshape(1, gh, 1, 1);
        var cx = (col + sigmoid(t[.., .., .., .., 0])) / gw;
        var cy = (row + sigmoid(t[.., .., .., .., 1])) / gh;
        var w = exp(t[.., .., .., .., 2]) * W(b.AnchorWidths, 1, 1, 1, a) / gw;
        var h = exp(t[.., .., .., .., 3]) * W(b.AnchorHeights, 1, 1, 1, a) / gh;
        var x0 = cx - w / 2;
        var y0 = cy - h / 2;
        return stack(new[] { x0, y0, x0 + w, y0 + h, sigmoid(t[.., .., .., .., 4]) }, -1).reshape(n, gh * gw * a, 5);
    }

    public static TTensor Nms(NmsOp op, TTensor x)
    {
        long n = x.shape[0], k = x.shape[1];
        var keep = zeros(n, k, ScalarType.Float64);
        for (long b = 0; b < n; b++)
        {
            var boxes = x[b];
            TTensor C(int i) => boxes[.., i];
            var ix = (minimum(C(2).unsqueeze(1), C(2).unsqueeze(0)) - maximum(C(0).unsqueeze(1), C(0).unsqueeze(0))).clamp_min(0);
            var iy = (minimum(C(3).unsqueeze(1), C(3).unsqueeze(0)) - maximum(C(1).unsqueeze(1), C(1).unsqueeze(0))).clamp_min(0);
            var inter = ix * iy;
            var area = (C(2) - C(0)) * (C(3) - C(1));
            var iou = (inter / (area.unsqueeze(1) + area.unsqueeze(0) - inter)).data<double>().ToArray();
            // Descending score, the higher index first among equals: a stable sort of the reversed list.
            var scores = C(4).flip(0);
            var (_, idx) = sort(scores, descending: true, stable: true);
            var order = idx.data<long>().Select(i => k - 1 - i).ToList();
            var s = C(4).data<double>().ToArray();
            var alive = order.Where(i => s[i] > op.ScoreThreshold).ToList();
            while (alive.Count > 0)
            {
                long best = alive[0];
                keep[b, best] = 1.0;
                alive = alive.Skip(1).Where(i => !(iou[best * k + i] > op.IouThreshold)).ToList();
            }
        }
        return keep;
    }
}
