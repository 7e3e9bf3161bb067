using Dfer.Primitives;

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
        Weights = new DepthwiseConv3dWeights(channels, kernel, stride, pad, weight, bias);
    }

    /// <summary>The parameters, shared with the primitives that compute the convolution.</summary>
    public DepthwiseConv3dWeights Weights { get; }
    public int Channels => Weights.Channels;
    public (int T, int H, int W) Kernel => Weights.Kernel;
    public (int T, int H, int W) Stride => Weights.Stride;
    public (int T, int H, int W) Pad => Weights.Pad;
    /// <summary>[C, 1, kT, kH, kW], as PyTorch stores a groups = C convolution.</summary>
    public float[] Weight => Weights.Weight;
    /// <summary>[C], or null for none.</summary>
    public float[]? Bias => Weights.Bias;

    /// <summary>Taps per output element: kT·kH·kW.</summary>
    public int Taps => Weights.Taps;

    public override OpKind Kind => DepthwiseConv3dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 5 || x[4] != Channels) throw ShapeError(Kind, $"expects [N, T, H, W, {Channels}]", x);
        var g = Weights.OutGrid(x[1], x[2], x[3]) ?? throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], g.T, g.H, g.W, Channels };
    }

    public override long WeightElements => Weights.WeightElements;

    /// <summary>One multiply-add (2 FLOPs) per output element and tap, padding taps included (as PyTorch
    /// counts).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
        => Weights.Flops(Tensors.Tensor.ElementCountOf(OutputShape(inputs)));
}
