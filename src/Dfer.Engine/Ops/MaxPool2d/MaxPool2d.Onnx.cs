using Dfer.Onnx;

namespace Dfer.Ops.MaxPool2d;

/// <summary>
/// maxpool2d in ONNX: the channels-last [N, H, W, C] input transposed to [N, C, H, W], MaxPool with the op's
/// kernel, strides and (possibly asymmetric) pads as [top, left, bottom, right], floor rounding (ceil_mode 0, the
/// op's <c>(H + pt + pb − kH)/sh + 1</c>), transposed back. MaxPool ignores padded positions as the op's −∞
/// padding does, and every window holds an input value since each pad is smaller than the kernel. NaN aside: the op
/// lets a NaN win its window, which ONNX's MaxPool does not promise (finite inputs never make one).
/// </summary>
internal sealed class MaxPool2dOnnx(MaxPool2dOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string x = graph.Node("Transpose", "nchw", new[] { inputs[0] }, OnnxAttribute.Ints("perm", 0, 3, 1, 2));
        var p = op.Pad;
        string y = graph.Node("MaxPool", "pooled", new[] { x },
            OnnxAttribute.Ints("kernel_shape", op.Kernel.H, op.Kernel.W),
            OnnxAttribute.Ints("strides", op.Stride.H, op.Stride.W),
            OnnxAttribute.Ints("pads", p.Top, p.Left, p.Bottom, p.Right),
            OnnxAttribute.Int("ceil_mode", 0));
        graph.Node("Transpose", new[] { y }, new[] { output }, OnnxAttribute.Ints("perm", 0, 2, 3, 1));
    }
}
