using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Reshape;

/// <summary>
/// reshape as PyTorch's reshape.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class ReshapeTorch : TorchOp<ReshapeOp>
{
    protected override TTensor Run(ReshapeOp op, TTensor[] x)
        => x[0].reshape(op.Shape.Select(d => (long)d).ToArray());
}
