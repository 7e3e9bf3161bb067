using Dfer.Onnx;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// conv3d in ONNX: the channels-last input transposed to ONNX's [N, C, T, H, W], Conv with the folded
/// weights and bias (pads, strides), transposed back to [N, T, H, W, C], then the epilogue: Add of the
/// residual and Relu where the op has them. Runtimes that optimise graphs cancel the transposes
/// between consecutive convolutions.
/// </summary>
internal sealed class Conv3dOnnx(Conv3dOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        var (kt, kh, kw) = op.Kernel;
        string x = graph.Node("Transpose", "ncthw", new[] { inputs[0] }, OnnxAttribute.Ints("perm", 0, 4, 1, 2, 3));
        string w = graph.Floats("weight", op.Weight, op.Cout, op.Cin, kt, kh, kw);
        string b = graph.Floats("bias", op.Bias, op.Cout);
        string y = graph.Node("Conv", "conv", new[] { x, w, b },
            OnnxAttribute.Ints("kernel_shape", kt, kh, kw),
            OnnxAttribute.Ints("strides", op.Stride.T, op.Stride.H, op.Stride.W),
            OnnxAttribute.Ints("pads", op.Pad.T, op.Pad.H, op.Pad.W, op.Pad.T, op.Pad.H, op.Pad.W),
            OnnxAttribute.Ints("dilations", 1, 1, 1),
            OnnxAttribute.Int("group", 1));
        bool last = !op.Residual && !op.Relu;
        string cl = last ? output : graph.Value("nthwc");
        graph.Node("Transpose", new[] { y }, new[] { cl }, OnnxAttribute.Ints("perm", 0, 2, 3, 4, 1));
        if (op.Residual)
        {
            string sum = op.Relu ? graph.Value("residual") : output;
            graph.Node("Add", new[] { cl, inputs[1] }, new[] { sum });
            cl = sum;
        }
        if (op.Relu) graph.Node("Relu", new[] { cl }, new[] { output });
    }
}
