using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.AvgPool3d;

/// <summary>
/// the global average pool as <c>F.adaptive_avg_pool3d</c> to 1.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class AvgPool3dTorch : TorchOp<AvgPool3dOp>
{
    protected override TTensor Run(AvgPool3dOp op, TTensor[] x)
        => F.adaptive_avg_pool3d(x[0].permute(0, 4, 1, 2, 3), 1).flatten(1);
}
