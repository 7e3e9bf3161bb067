using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Add;

/// <summary>
/// elementwise addition.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class AddTorch : TorchOp<AddOp>
{
    protected override TTensor Run(AddOp op, TTensor[] x)
        => add(x[0], x[1]);
}
