using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.DepthwiseConv3d;

/// <summary>
/// the depthwise conv3d as a grouped <c>F.conv3d</c>.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class DepthwiseConv3dTorch : TorchOp<DepthwiseConv3dOp>
{
    protected override TTensor Run(DepthwiseConv3dOp d, TTensor[] x)
    {
        var w = W(d.Weight, d.Channels, 1, d.Kernel.T, d.Kernel.H, d.Kernel.W);
        return F.conv3d(x[0].permute(0, 4, 1, 2, 3), w, d.Bias == null ? null : W(d.Bias, d.Channels),
            new long[] { d.Stride.T, d.Stride.H, d.Stride.W }, new long[] { d.Pad.T, d.Pad.H, d.Pad.W },
                groups: d.Channels).permute(0, 2, 3, 4, 1);
    }
}
