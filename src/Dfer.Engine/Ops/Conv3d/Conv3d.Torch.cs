using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// conv3d as <c>F.conv3d</c> on PyTorch's NCDHW layout, then the residual and ReLU as M3DFEL's blocks add them.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class Conv3dTorch : TorchOp<Conv3dOp>
{
    protected override TTensor Run(Conv3dOp c, TTensor[] x)
    {
        var w = W(c.Weight, c.Cout, c.Cin, c.Kernel.T, c.Kernel.H, c.Kernel.W);
        var y = F.conv3d(x[0].permute(0, 4, 1, 2, 3), w, W(c.Bias, c.Cout),
            new long[] { c.Stride.T, c.Stride.H, c.Stride.W }, new long[] { c.Pad.T, c.Pad.H, c.Pad.W })
                .permute(0, 2, 3, 4, 1);
        if (c.Residual) y = y + x[1];
        return c.Relu ? F.relu(y) : y;
    }
}
