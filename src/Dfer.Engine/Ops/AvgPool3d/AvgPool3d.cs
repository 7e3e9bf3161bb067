namespace Dfer.Ops.AvgPool3d;

/// <summary>AdaptiveAvgPool3d(1) on channels-last input: <c>y[n,c] = mean over t,h,w of x[n,t,h,w,c]</c>; [N,T,H,W,C]
/// → [N,C].</summary>
public sealed class AvgPool3dOp : Op
{
    public override OpKind Kind => AvgPool3dKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 5) throw ShapeError(Kind, "expects [N, T, H, W, C]", x);
        return new[] { x[0], x[4] };
    }

    public override long Flops(IReadOnlyList<int[]> inputs) => Tensors.Tensor.ElementCountOf(inputs[0]);
}
