namespace Dfer.Ops.MaxPool3d;

/// <summary>
/// Max pooling over t, h, w of channels-last input [N,T,H,W,C] → [N,To,Ho,Wo,C]:
/// <c>y[n,t,h,w,c] = max over a,b,d of x[n, t·st−pt+a, h·sh−ph+b, w·sw−pw+d, c]</c>, positions outside x
/// ignored (−∞ padding); extents <c>(size + 2p − k)/s + 1</c>. Padding is at most half the kernel, as in
/// PyTorch, so every window holds at least one element.
/// </summary>
public sealed class MaxPool3dOp : Op
{
    public MaxPool3dOp((int T, int H, int W) kernel, (int T, int H, int W) stride, (int T, int H, int W) pad)
    {
        if (kernel.T < 1 || kernel.H < 1 || kernel.W < 1) throw new ArgumentException("maxpool3d kernel must be at least 1 on every axis");
        if (stride.T < 1 || stride.H < 1 || stride.W < 1) throw new ArgumentException("maxpool3d stride must be at least 1 on every axis");
        if (pad.T < 0 || pad.H < 0 || pad.W < 0 || 2 * pad.T > kernel.T || 2 * pad.H > kernel.H || 2 * pad.W > kernel.W)
            throw new ArgumentException("maxpool3d padding must be between 0 and half the kernel");
        Kernel = kernel; Stride = stride; Pad = pad;
    }

    public (int T, int H, int W) Kernel { get; }
    public (int T, int H, int W) Stride { get; }
    public (int T, int H, int W) Pad { get; }

    public override OpKind Kind => MaxPool3dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 5) throw ShapeError(Kind, "expects [N, T, H, W, C]", x);
        int to = OutExtent(x[1], Kernel.T, Stride.T, Pad.T);
        int ho = OutExtent(x[2], Kernel.H, Stride.H, Pad.H);
        int wo = OutExtent(x[3], Kernel.W, Stride.W, Pad.W);
        if (to <= 0 || ho <= 0 || wo <= 0 || x[1] + 2 * Pad.T < Kernel.T || x[2] + 2 * Pad.H < Kernel.H || x[3] + 2 * Pad.W < Kernel.W)
            throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], to, ho, wo, x[4] };
    }

    // One comparison per window element of every output (border windows counted whole).
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        Tensors.Tensor.ElementCountOf(OutputShape(inputs)) * Kernel.T * Kernel.H * Kernel.W;
}
