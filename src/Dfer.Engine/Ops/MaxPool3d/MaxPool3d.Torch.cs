using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.MaxPool3d;

/// <summary>
/// 3D max pooling as <c>F.max_pool3d</c> on NCDHW.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class MaxPool3dTorch : TorchOp<MaxPool3dOp>
{
    protected override TTensor Run(MaxPool3dOp op, TTensor[] x)
        => F.max_pool3d(x[0].permute(0, 4, 1, 2, 3), new long[] { op.Kernel.T, op.Kernel.H, op.Kernel.W },
            new long[] { op.Stride.T, op.Stride.H, op.Stride.W }, new long[] { op.Pad.T, op.Pad.H, op.Pad.W })
                .permute(0, 2, 3, 4, 1);
}
