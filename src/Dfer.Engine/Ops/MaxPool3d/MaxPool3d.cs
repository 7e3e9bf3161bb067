using Dfer.Primitives;

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
        Geometry = new Pool3dGeometry(kernel, stride, pad, "maxpool3d");
    }

    /// <summary>The window, shared with the primitives that compute it.</summary>
    public Pool3dGeometry Geometry { get; }
    public (int T, int H, int W) Kernel => Geometry.Kernel;
    public (int T, int H, int W) Stride => Geometry.Stride;
    public (int T, int H, int W) Pad => Geometry.Pad;

    public override OpKind Kind => MaxPool3dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 5) throw ShapeError(Kind, "expects [N, T, H, W, C]", x);
        var g = Geometry.OutGrid(x[1], x[2], x[3]) ?? throw ShapeError(Kind, "input is smaller than the kernel", x);
        return new[] { x[0], g.T, g.H, g.W, x[4] };
    }

    // One comparison per window element of every output (border windows counted whole).
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        Tensors.Tensor.ElementCountOf(OutputShape(inputs)) * Geometry.WindowSize;
}
