using Dfer.Weights;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// face-api's FaceExpressionNet in TorchSharp (float64, NCHW), written from what its TypeScript
/// computes with TF.js ops: <c>(pixel − mean)/255</c>, four dense blocks of TF-'same'-padded 3×3
/// convolutions (the first a full conv, the rest <c>separableConv2d</c> + bias), ReLUs over the
/// running branch sums, a 7×7 average pool, <c>matMul</c> + bias and softmax. TF weights are
/// permuted to PyTorch's layouts here, independently of the engine's loader.
/// </summary>
public sealed class TorchFaceExpressionNet : IDisposable
{
    private static readonly double[] Mean = [122.782, 117.001, 104.298];
    private readonly Dictionary<string, Tensor> _w = new();

    public TorchFaceExpressionNet(StateDict weights)
    {
        Dfer.Reference.TorchRuntime.EnsureLoaded();
        foreach (string name in weights.Names)
        {
            var t = weights[name];
            _w[name] = tensor(t.Data.Select(v => (double)v).ToArray(), t.Shape, ScalarType.Float64);
        }
    }

    /// <summary>TF's 'same' padding: output ceil(n/s), total padding split with the extra at the end.</summary>
    private static Tensor SamePad(Tensor x, int k, int s)
    {
        long h = x.shape[2], w = x.shape[3];
        long ph = Math.Max((h + s - 1) / s * s - s + k - h, 0), pw = Math.Max((w + s - 1) / s * s - s + k - w, 0);
        return F.pad(x, new[] { pw / 2, pw - pw / 2, ph / 2, ph - ph / 2 });
    }

    private Tensor Separable(Tensor x, string p, int stride)
    {
        var dw = _w[$"{p}/depthwise_filter"].permute(2, 3, 0, 1);  // [kH, kW, C, 1] → [C, 1, kH, kW]
        var pw = _w[$"{p}/pointwise_filter"].permute(3, 2, 0, 1);  // [1, 1, C, O] → [O, C, 1, 1]
        var y = F.conv2d(SamePad(x, 3, stride), dw, null, new long[] { stride, stride }, groups: x.shape[1]);
        return F.conv2d(y, pw, _w[$"{p}/bias"]);
    }

    private Tensor DenseBlock(Tensor x, string p, bool first)
    {
        var o1 = first
            ? F.relu(F.conv2d(SamePad(x, 3, 2), _w[$"{p}/conv0/filters"].permute(3, 2, 0, 1), _w[$"{p}/conv0/bias"],
            new long[] { 2, 2 }))
            : F.relu(Separable(x, $"{p}/conv0", 2));
        var o2 = Separable(o1, $"{p}/conv1", 1);
        var o3 = Separable(F.relu(o1 + o2), $"{p}/conv2", 1);
        var o4 = Separable(F.relu(o1 + o2 + o3), $"{p}/conv3", 1);
        return F.relu(o1 + o2 + o3 + o4);
    }

    /// <summary>Logits [N, 7] (face-api label order) for RGB faces given as pixel values [N, 112, 112, 3] in
    /// 0..255.</summary>
    public Tensor Logits(Tensor pixels)
    {
        using var noGrad = no_grad();
        var mean = tensor(Mean, new long[] { 1, 1, 1, 3 }, ScalarType.Float64);
        var x = ((pixels.to_type(ScalarType.Float64) - mean) / 255.0).permute(0, 3, 1, 2);
        for (int d = 0; d < 4; d++) x = DenseBlock(x, $"dense{d}", d == 0);
        x = F.avg_pool2d(x, new long[] { 7, 7 }, new long[] { 2, 2 }).flatten(1);
        return matmul(x, _w["fc/weights"]) + _w["fc/bias"];
    }

    public void Dispose()
    {
        foreach (var t in _w.Values) t.Dispose();
    }
}
