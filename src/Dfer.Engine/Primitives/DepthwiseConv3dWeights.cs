namespace Dfer.Primitives;

/// <summary>
/// A depthwise 3D convolution's parameters (PyTorch nn.Conv3d with groups = C): kernel, stride and padding
/// triples, weights in PyTorch's [C, 1, kT, kH, kW] order and an optional bias [C]. Extents are
/// <c>(size + 2p − k)/s + 1</c>. Shared by the dwconv3d and tokenpool ops.
/// </summary>
public sealed class DepthwiseConv3dWeights
{
    public DepthwiseConv3dWeights(int channels, (int T, int H, int W) kernel, (int T, int H, int W) stride,
        (int T, int H, int W) pad, float[] weight, float[]? bias)
    {
        if (channels <= 0) throw new ArgumentException($"dwconv3d needs at least one channel, got {channels}");
        if (kernel.T <= 0 || kernel.H <= 0 || kernel.W <= 0 || stride.T <= 0 || stride.H <= 0 || stride.W <= 0
            || pad.T < 0 || pad.H < 0 || pad.W < 0)
            throw new ArgumentException(
                $"dwconv3d: kernel {kernel} and stride {stride} must be positive, padding {pad} non-negative");
        if (weight.Length != (long)channels * kernel.T * kernel.H * kernel.W)
            throw new ArgumentException(
                $"dwconv3d weight has {weight.Length} values, expected [{channels}, "
                + $"1, {kernel.T}, {kernel.H}, {kernel.W}]");
        if (bias != null && bias.Length != channels)
            throw new ArgumentException($"dwconv3d bias has {bias.Length} values, expected {channels}");
        Channels = channels; Kernel = kernel; Stride = stride; Pad = pad; Weight = weight; Bias = bias;
    }

    public int Channels { get; }
    public (int T, int H, int W) Kernel { get; }
    public (int T, int H, int W) Stride { get; }
    public (int T, int H, int W) Pad { get; }
    /// <summary>[C, 1, kT, kH, kW], as PyTorch stores a groups = C convolution.</summary>
    public float[] Weight { get; }
    /// <summary>[C], or null for none.</summary>
    public float[]? Bias { get; }

    /// <summary>Taps per output element: kT·kH·kW.</summary>
    public int Taps => Kernel.T * Kernel.H * Kernel.W;

    public long WeightElements => Weight.LongLength + (Bias?.LongLength ?? 0);

    /// <summary>The output extents of a (t, h, w) grid, or null when the grid is smaller than the kernel.</summary>
    public (int T, int H, int W)? OutGrid(int t, int h, int w)
    {
        int to = Extent(t, Kernel.T, Stride.T, Pad.T), ho = Extent(h, Kernel.H, Stride.H, Pad.H);
        int wo = Extent(w, Kernel.W, Stride.W, Pad.W);
        if (t + 2 * Pad.T < Kernel.T || h + 2 * Pad.H < Kernel.H || w + 2 * Pad.W < Kernel.W
            || to <= 0 || ho <= 0 || wo <= 0) return null;
        return (to, ho, wo);
    }

    /// <summary>
    /// One multiply-add (2 FLOPs) per output element and tap, padding taps included (as PyTorch counts).
    /// </summary>
    public long Flops(long outputElements) => 2L * outputElements * Taps;

    private static int Extent(int size, int k, int s, int p) => (size + 2 * p - k) / s + 1;
}
