using Dfer.Reference;
using static Dfer.Reference.TorchTensors;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Conv1d;

/// <summary>
/// conv1d as <c>F.conv1d</c> on its own [B, Cin, L] layout.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class Conv1dTorch : TorchOp<Conv1dOp>
{
    protected override TTensor Run(Conv1dOp op, TTensor[] x)
        => F.conv1d(x[0], W(op.Weight, op.Cout, op.Cin, op.KernelSize), W(op.Bias, op.Cout), padding: op.Pad);
}
