using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Slice;

/// <summary>
/// a slice along one axis as <c>narrow</c>.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class SliceTorch : TorchOp<SliceOp>
{
    protected override TTensor Run(SliceOp op, TTensor[] x)
        => x[0].narrow(op.Axis, op.Start, op.Length);
}
