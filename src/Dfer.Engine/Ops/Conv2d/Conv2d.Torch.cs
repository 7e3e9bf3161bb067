using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Conv2d;

/// <summary>
/// conv2d (strided, padded, dilated) as <c>F.conv2d</c> on NCHW, then the activation.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class Conv2dTorch : TorchOp<Conv2dOp>
{
    protected override TTensor Run(Conv2dOp c, TTensor[] x)
    {
        var w = W(c.Weight, c.Cout, c.Cin, c.Kernel.H, c.Kernel.W);
        var y = F.conv2d(x[0].permute(0, 3, 1, 2), w, c.Bias == null ? null : W(c.Bias, c.Cout),
            new long[] { c.Stride.H, c.Stride.W }, new long[] { c.Pad.H, c.Pad.W },
                new long[] { c.Dilation.H, c.Dilation.W });
        if (c.Residual) y = y + x[1].permute(0, 3, 1, 2);
        return TorchFunctions.Activate(c.Act, y).permute(0, 2, 3, 1);
    }
}
