namespace Dfer.Ops.DepthwiseConv3d;

/// <summary>
/// Depthwise 3D convolution (PyTorch nn.Conv3d with groups = C) over channels-last activations:
/// <c>y[n,t,h,w,c] = bias[c] + Σ_{a,b,d} x[n, t·st−pt+a, h·sh−ph+b, w·sw−pw+d, c] · W[c,0,a,b,d]</c>,
/// x zero outside its extent. Input [N,T,H,W,C] → [N,To,Ho,Wo,C] with <c>To = (T + 2pt − kT)/st + 1</c>
/// (likewise Ho, Wo). Weights keep PyTorch's [C, 1, kT, kH, kW] order; the bias is optional.
/// </summary>
public sealed class DepthwiseConv3dOp : Op
{
    public DepthwiseConv3dOp(int channels, (int T, int H, int W) kernel, (int T, int H, int W) stride,
        (int T, int H, int W) pad, float[] weight, float[]? bias)
    {
        if (channels <= 0) throw new ArgumentException($"dwconv3d needs at least one channel, got {channels}");
        if (kernel.T <= 0 || kernel.H <= 0 || kernel.W <= 0 || stride.T <= 0 || stride.H <= 0 || stride.W <= 0 || pad.T < 0 || pad.H < 0 || pad.W < 0)
            throw new ArgumentException($"dwconv3d: kernel {kernel} and stride {stride} must be positive, padding {pad} non-negative");
        if (weight.Length != (long)channels * kernel.T * kernel.H * kernel.W)
            throw new ArgumentException($"dwconv3d weight has {weight.Length} values, expected [{channels}, 1, {kernel.T}, {kernel.H}, {kernel.W}]");
        if (bias != null && bias.Length != channels) throw new ArgumentException($"dwconv3d bias has {bias.Length} values, expected {channels}");
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

    public override OpKind Kind => DepthwiseConv3dKind.Instance;
    public override int InputCount => 1;


    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 5 || x[4] != Channels) throw ShapeError(Kind, $"expects [N, T, H, W, {Channels}]", x);
        int to = OutExtent(x[1], Kernel.T, Stride.T, Pad.T), ho = OutExtent(x[2], Kernel.H, Stride.H, Pad.H), wo = OutExtent(x[3], Kernel.W, Stride.W, Pad.W);
        if (x[1] + 2 * Pad.T < Kernel.T || x[2] + 2 * Pad.H < Kernel.H || x[3] + 2 * Pad.W < Kernel.W || to <= 0 || ho <= 0 || wo <= 0)
            throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], to, ho, wo, Channels };
    }

    public override long WeightElements => Weight.LongLength + (Bias?.LongLength ?? 0);

    /// <summary>One multiply-add (2 FLOPs) per output element and tap, padding taps included (as PyTorch counts).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) => 2L * Tensors.Tensor.ElementCountOf(OutputShape(inputs)) * Taps;
}
