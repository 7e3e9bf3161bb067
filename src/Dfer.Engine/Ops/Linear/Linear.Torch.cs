using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Linear;

/// <summary>
/// linear as <c>F.linear</c>.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class LinearTorch : TorchOp<LinearOp>
{
    protected override TTensor Run(LinearOp op, TTensor[] x)
        => F.linear(x[0], W(op.Weight, op.Out, op.In), op.Bias == null ? null : W(op.Bias, op.Out));
}
