using Dfer.Ops;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Reference;

/// <summary>
/// PyTorch compositions that several ops' oracles share, written as the original models' code writes
/// them (the oracle's counterpart of the engine's primitives): multi-head attention over a packed qkv,
/// M3DFEL's DMIN, IFDD's grid-sampled frame sampling, and face-api's activations.
/// </summary>
public static class TorchFunctions
{
    /// <summary>Multi-head self-attention over qkv [B, N, 3·heads·d] (q, k, v chunks): softmax(q·kᵀ·scale)·v →
    /// [B, N, heads·d].</summary>
    public static TTensor Attention(TTensor qkv, int heads, int headDim, double scale)
    {
        long b = qkv.shape[0], n = qkv.shape[1];
        var parts = qkv.chunk(3, -1).Select(t => t.reshape(b, n, heads, headDim).permute(0, 2, 1, 3)).ToArray();
        var attn = softmax(matmul(parts[0], parts[1].transpose(-1, -2)) * scale, -1);
        return matmul(attn, parts[2]).permute(0, 2, 1, 3).reshape(b, n, heads * headDim);
    }

    /// <summary>
    /// M3DFEL's DMIN on y [B, N, C] as the original does it on [B, C, N] (docs/models/m3dfel.md): instance
    /// statistics over N (unbiased variance), layer statistics over C, mixed by softmaxed weights, then the affine.
    /// </summary>
    public static TTensor Dmin(TTensor y, float[] meanWeight, float[] varWeight, float[] weight, float[] bias,
        double eps)
    {
        long channels = y.shape[2];
        var x = y.transpose(1, 2);
        var meanIn = x.mean(new long[] { 2 }, keepdim: true);
        var varIn = x.var(2, unbiased: true, keepdim: true);
        var meanLn = meanIn.mean(new long[] { 1 }, keepdim: true);
        var varLn = (varIn + meanIn.pow(2)).mean(new long[] { 1 }, keepdim: true) - meanLn.pow(2);
        var wm = softmax(W(meanWeight, 2), 0);
        var wv = softmax(W(varWeight, 2), 0);
        var mean = wm[0] * meanIn + wm[1] * meanLn;
        var variance = wv[0] * varIn + wv[1] * varLn;
        var z = (x - mean) / sqrt(variance + eps) * W(weight, 1, channels, 1) + W(bias, 1, channels, 1);
        return z.transpose(1, 2);
    }

    /// <summary>
    /// IFDD's ISSM sampling as the original code does it (docs/models/ifdd.md): the index normalised by
    /// <c>normalize_grid</c> (2·idx/D − 1), then <c>grid_sample</c> (bilinear, border padding,
    /// align_corners=False) on the frames [B, T, S, C] laid out as a [B, S·C, T, 1] image with x = 0.
    /// </summary>
    public static TTensor FrameSample(TTensor frames, TTensor index, double divisor)
    {
        long b = frames.shape[0], t = frames.shape[1], s = frames.shape[2], c = frames.shape[3], k = index.shape[1];
        var image = frames.reshape(b, t, s * c).permute(0, 2, 1).unsqueeze(-1);
        var g = index * (2.0 / divisor) - 1.0;
        var grid = stack(new[] { zeros_like(g), g }, -1).unsqueeze(2);
        var sampled = F.grid_sample(image, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border,
            align_corners: false);
        return sampled.squeeze(-1).permute(0, 2, 1).reshape(b, k, s, c);
    }

    /// <summary>face-api's activations: ReLU, leaky ReLU with its slope, ReLU6, or none.</summary>
    public static TTensor Activate(Activation act, TTensor y) => act switch
    {
        Activation.Relu => F.relu(y),
        Activation.Leaky => F.leaky_relu(y, ActivationMath.LeakySlope),
        Activation.Relu6 => y.clamp(0.0, (double)ActivationMath.Relu6Cap),
        Activation.Tanh => y.tanh(),
        Activation.Sigmoid => y.sigmoid(),
        Activation.NegAbs => -y.abs(),
        _ => y,
    };
}
