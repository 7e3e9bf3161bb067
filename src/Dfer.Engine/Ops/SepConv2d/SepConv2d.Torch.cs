using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.SepConv2d;

/// <summary>
/// face-api's separable conv: TF's asymmetric 'same' padding as an explicit <c>F.pad</c>, depthwise as a grouped
/// conv2d, pointwise as a 1×1 conv2d, then the activation. Compiled into Dfer.Reference only (the engine does not
/// carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class SepConv2dTorch : TorchOp<SepConv2dOp>
{
    protected override TTensor Run(SepConv2dOp s, TTensor[] x)
    {
        var p = s.Pad;
        var y = F.pad(x[0].permute(0, 3, 1, 2), new long[] { p.Left, p.Right, p.Top, p.Bottom });
        y = F.conv2d(y, W(s.Depthwise, s.Channels, 1, s.Kernel.H, s.Kernel.W), null,
            new long[] { s.Stride.H, s.Stride.W }, groups: s.Channels);
        var bias = s.Bias == null ? null : W(s.Bias, s.Cout);
        if (s.Pointwise != null) y = F.conv2d(y, W(s.Pointwise, s.Cout, s.Channels, 1, 1), bias);
        else if (bias is not null) y = y + bias.reshape(1, -1, 1, 1);
        return TorchFunctions.Activate(s.Act, y).permute(0, 2, 3, 1);
    }
}
