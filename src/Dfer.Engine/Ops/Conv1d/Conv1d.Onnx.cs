using Dfer.Onnx;

namespace Dfer.Ops.Conv1d;

/// <summary>
/// conv1d in ONNX: one Conv on the channels-first [B, Cin, L] input (ONNX's own layout, no transpose) with the
/// [Cout, Cin, k] weights, the bias, stride 1 and the op's zeros on both ends of the length.
/// </summary>
internal sealed class Conv1dOnnx(Conv1dOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string w = graph.Floats("weight", op.Weight, op.Cout, op.Cin, op.KernelSize);
        string b = graph.Floats("bias", op.Bias, op.Cout);
        graph.Node("Conv", new[] { inputs[0], w, b }, new[] { output },
            OnnxAttribute.Ints("kernel_shape", op.KernelSize),
            OnnxAttribute.Ints("strides", 1),
            OnnxAttribute.Ints("pads", op.Pad, op.Pad),
            OnnxAttribute.Ints("dilations", 1),
            OnnxAttribute.Int("group", 1));
    }
}
