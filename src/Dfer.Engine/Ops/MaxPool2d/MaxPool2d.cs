namespace Dfer.Ops.MaxPool2d;

/// <summary>
/// 2D max pooling of channels-last input [N,H,W,C] → [N,Ho,Wo,C], padding possibly asymmetric
/// (TF's <c>'same'</c>): <c>y[n,h,w,c] = max over a,b of x[n, h·sh−pt+a, w·sw−pl+b, c]</c>, positions
/// outside x ignored (−∞ padding); <c>Ho = (H + pt + pb − kH)/sh + 1</c>. Each pad is smaller than
/// the kernel, so every window holds at least one element. NaN in a window wins, as in PyTorch.
/// </summary>
public sealed class MaxPool2dOp : Op
{
    public MaxPool2dOp((int H, int W) kernel, (int H, int W) stride, Pad2d pad)
    {
        if (kernel.H < 1 || kernel.W < 1 || stride.H < 1 || stride.W < 1)
            throw new ArgumentException("maxpool2d kernel and stride must be at least 1");
        if (!pad.IsNonNegative || pad.Top >= kernel.H || pad.Bottom >= kernel.H || pad.Left >= kernel.W
            || pad.Right >= kernel.W)
            throw new ArgumentException(
                $"maxpool2d padding {pad} must be non-negative and smaller than the kernel {kernel}");
        Kernel = kernel; Stride = stride; Pad = pad;
    }

    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public Pad2d Pad { get; }

    public override OpKind Kind => MaxPool2dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 4) throw ShapeError(Kind, "expects [N, H, W, C]", x);
        int ho = Pad2d.Extent(x[1], Pad.Top, Pad.Bottom, Kernel.H, Stride.H),
            wo = Pad2d.Extent(x[2], Pad.Left, Pad.Right, Kernel.W, Stride.W);
        if (ho <= 0 || wo <= 0) throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], ho, wo, x[3] };
    }

    /// <summary>One comparison per window element of every output (border windows counted whole).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
        => Tensors.Tensor.ElementCountOf(OutputShape(inputs)) * Kernel.H * Kernel.W;
}
