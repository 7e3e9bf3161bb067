using Dfer.Onnx;

namespace Dfer.Ops.Conv2d;

/// <summary>
/// conv2d in ONNX: the channels-last input transposed to ONNX's [N, C, H, W], Conv with the weights [Cout,
/// Cin, kH, kW] (PyTorch's order is ONNX's), the bias where the op has one, pads, strides and dilations;
/// transposed back to [N, H, W, C]; then the epilogue in the op's order: Add of the residual, then the
/// activation (ReLU as Relu, leaky ReLU as LeakyRelu with slope 0.1, ReLU6 as Clip to [0, 6]).
/// </summary>
internal sealed class Conv2dOnnx(Conv2dOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        var (kh, kw) = op.Kernel;
        string x = graph.Node("Transpose", "nchw", new[] { inputs[0] }, OnnxAttribute.Ints("perm", 0, 3, 1, 2));
        var convInputs = new List<string> { x, graph.Floats("weight", op.Weight, op.Cout, op.Cin, kh, kw) };
        if (op.Bias is not null) convInputs.Add(graph.Floats("bias", op.Bias, op.Cout));
        string y = graph.Node("Conv", "conv", convInputs.ToArray(),
            OnnxAttribute.Ints("kernel_shape", kh, kw),
            OnnxAttribute.Ints("strides", op.Stride.H, op.Stride.W),
            OnnxAttribute.Ints("pads", op.Pad.H, op.Pad.W, op.Pad.H, op.Pad.W),
            OnnxAttribute.Ints("dilations", op.Dilation.H, op.Dilation.W),
            OnnxAttribute.Int("group", 1));
        bool act = op.Act != Activation.None;
        string cl = act || op.Residual ? graph.Value("nhwc") : output;
        graph.Node("Transpose", new[] { y }, new[] { cl }, OnnxAttribute.Ints("perm", 0, 2, 3, 1));
        if (op.Residual)
        {
            string sum = act ? graph.Value("residual") : output;
            graph.Node("Add", new[] { cl, inputs[1] }, new[] { sum });
            cl = sum;
        }
        switch (op.Act)
        {
            case Activation.None:
                break;
            case Activation.Relu:
                graph.Node("Relu", new[] { cl }, new[] { output });
                break;
            case Activation.Leaky:
                graph.Node("LeakyRelu", new[] { cl }, new[] { output },
                    OnnxAttribute.Float("alpha", ActivationMath.LeakySlope));
                break;
            case Activation.Relu6:
                graph.Node("Clip", new[] { cl, graph.Scalar("min", 0f), graph.Scalar("max", ActivationMath.Relu6Cap) },
                    new[] { output });
                break;
            default:
                throw new InvalidOperationException($"conv2d: no ONNX epilogue for {op.Act}");
        }
    }
}
